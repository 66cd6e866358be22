"""Multi-label heads: calibrated probabilities per label, and a decision threshold per label.

A multi-label head answers one independent probability per label (a sigmoid of its score). Fitted
after training on the validation split (or the out-of-fold predictions of small data):

1. **calibration per label**: one shared temperature ``T`` (binary cross-entropy over every label of
   every text, L-BFGS), then, where it calibrates better on held-out folds, **Platt scaling per label**
   of the tempered score, ``p_j = sigmoid(a_j · z_j / T + b_j)`` (labels with fewer than
   MIN_LABEL_ROWS positives or negatives keep ``a_j = 1, b_j = 0``);
2. **a threshold per label**: the one that maximises that label's F1 on the calibrated validation
   probabilities (halfway between the two probabilities it separates); 0.5 for a label without
   validation positives. A label is predicted when its probability reaches its threshold.

Every reported figure is cross-fitted: calibration and thresholds fitted on k-1 folds of validation,
measured on the fold left out, so the micro-F1 a head reports was not tuned on the texts it was
measured on. The stored calibration and thresholds are then fitted on all of validation.

The shown probability of a label is calibrated as a probability of that label being present: its
ECE reads every (text, label) pair as a binary prediction (confidence max(p, 1 - p), right when the
0.5 side matches the gold).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .calibration import FOLDS, REPEATS, Calibration, noise_floor
from .errors import DataError
from .metrics import ece_interval, expected_calibration_error, reliability

#: Platt scaling of a label needs this many validation positives and negatives
MIN_LABEL_ROWS = 20
METHODS = ("temperature", "temperature+label-platt")
DEFAULT_THRESHOLD = 0.5


def multi_hot(gold: Sequence[Sequence[int]], num_labels: int) -> np.ndarray:
    y = np.zeros((len(gold), num_labels), dtype=bool)
    for row, ids in enumerate(gold):
        y[row, list(ids)] = True
    return y


def label_confidences(probs: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(confidence, correct) of every (text, label) probability read as a binary prediction."""
    p = np.asarray(probs, dtype=np.float64).ravel()
    return np.maximum(p, 1 - p), (p >= 0.5) == np.asarray(y, dtype=bool).ravel()


def label_measure(probs: np.ndarray, y: np.ndarray) -> dict:
    """ECE of the per-label probabilities, their mean binary NLL and Brier score."""
    p = np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1 - 1e-12)
    y = np.asarray(y, dtype=np.float64)
    conf, hit = label_confidences(p, y)
    return {"ece": expected_calibration_error(conf, hit),
            "nll": float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean()),
            "brier": float(((p - y) ** 2).mean())}


def f1_threshold(p: np.ndarray, y: np.ndarray) -> float:
    """The threshold that maximises F1 of one label's probabilities ``p`` against gold ``y`` (halfway
    between the last probability predicted positive and the next); DEFAULT_THRESHOLD without positives."""
    positives = int(y.sum())
    if positives == 0:
        return DEFAULT_THRESHOLD
    order = np.argsort(-p, kind="stable")
    ps, tp = p[order], np.cumsum(y[order])
    f1 = 2 * tp / (np.arange(1, len(p) + 1) + positives)
    k = int(np.argmax(f1))  # predict the first k + 1 probabilities
    cut = ps[k] if k + 1 == len(ps) else (ps[k] + ps[k + 1]) / 2
    return float(np.clip(cut, 1e-4, 1 - 1e-4))


def tune_thresholds(probs: np.ndarray, y: np.ndarray) -> list[float]:
    return [f1_threshold(probs[:, j], y[:, j]) for j in range(probs.shape[1])]


class _Scores:
    """The validation scores (n, num_labels) and gold multi-hot rows, and the calibrations fitted on them."""

    def __init__(self, scores: torch.Tensor, y: np.ndarray) -> None:
        self.z = scores.detach().double().cpu()
        self.y = torch.as_tensor(y, dtype=torch.float64)

    def temperature(self, idx) -> float:
        z, y = self.z[idx], self.y[idx]
        log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([log_t], lr=0.5, max_iter=100, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(z / log_t.exp(), y)
            loss.backward()
            return loss

        opt.step(closure)
        return float(np.clip(log_t.exp().item(), 0.05, 20.0))

    def platt(self, idx, temperature: float) -> tuple[list[float], list[float]]:
        z, y = self.z[idx] / temperature, self.y[idx]
        scales, shifts = [], []
        for j in range(z.size(1)):
            pos = int(y[:, j].sum())
            if min(pos, len(idx) - pos) < MIN_LABEL_ROWS:
                scales.append(1.0)
                shifts.append(0.0)
                continue
            a, b = _platt(z[:, j], y[:, j])
            scales.append(float(max(a, 1e-3)))  # a monotone map: a higher score never lowers the probability
            shifts.append(float(b))
        return scales, shifts

    def fit(self, idx, method: str) -> Calibration:
        t = self.temperature(idx)
        if method == "temperature":
            return Calibration(t, "temperature")
        scales, shifts = self.platt(idx, t)
        return Calibration(t, method, scales=scales, shifts=shifts)

    def probs(self, idx, cal: Calibration) -> np.ndarray:
        return torch.sigmoid(cal.label_scores(self.z[idx])).numpy()


def _platt(z: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(a, b) minimising the binary cross-entropy of sigmoid(a·z + b) against y (L-BFGS from (1, 0))."""
    ab = torch.tensor([1.0, 0.0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([ab], lr=0.5, max_iter=100, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(ab[0] * z + ab[1], y)
        loss.backward()
        return loss

    opt.step(closure)
    a, b = ab.tolist()
    return a, b


def fit_label_calibration(clf, decoded: Sequence, gold: Sequence, fitted_on: str = "validation",
                          folds: int = FOLDS, repeats: int = REPEATS, seed: int = 0) -> Calibration:
    """Per-label calibration and thresholds of a multi-label head from its decoded validation predictions
    (``Decoded`` with raw ``scores``) and the gold label-id sets. ``metrics["decisions"]`` holds the cross-fitted task metrics
    at the tuned thresholds (what the head reports), ``metrics["before"]`` / ``["after"]`` the ECE, NLL
    and Brier score of the raw and the calibrated probabilities."""
    if not decoded or any(d.scores is None for d in decoded):
        raise DataError("expected validation predictions with their scores to calibrate on, got none; "
                        "pass labelled validation examples")
    task, labels = clf.task, clf.labels
    rows = _Scores(torch.stack([d.scores for d in decoded]), multi_hot(gold, len(labels)))
    y = rows.y.numpy().astype(bool)
    n, everyone = len(decoded), np.arange(len(decoded))
    raw = rows.probs(everyone, Calibration())
    before = {k: round(float(v), 5) for k, v in label_measure(raw, y).items()}
    methods = list(METHODS)
    k = min(folds, n // 10)
    measured: dict[str, list[dict]] = {m: [] for m in methods}
    held_out: dict[str, np.ndarray] = {}
    decisions: dict[str, np.ndarray] = {}
    if k >= 2:
        for repeat in range(repeats):
            order = np.random.default_rng(seed + repeat).permutation(n)
            parts = {m: np.zeros_like(raw) for m in methods}
            chosen = {m: np.zeros_like(y) for m in methods}
            for f in range(k):
                test = np.sort(order[f::k])
                train = np.setdiff1d(everyone, test)
                for method in methods:
                    cal = rows.fit(train, method)
                    thresholds = np.asarray(tune_thresholds(rows.probs(train, cal), y[train]))
                    parts[method][test] = rows.probs(test, cal)
                    chosen[method][test] = parts[method][test] >= thresholds
            for method in methods:
                measured[method].append(label_measure(parts[method], y))
                if repeat == 0:
                    held_out[method], decisions[method] = parts[method], chosen[method]
        method = min(methods, key=lambda m: np.mean([r["ece"] for r in measured[m]]))
    else:
        method = methods[0]
    cal = rows.fit(everyone, method)
    final = rows.probs(everyone, cal)
    cal.thresholds = tune_thresholds(final, y)
    cal.fitted_on, cal.examples = fitted_on, int(y.size)
    if k >= 2:
        after = {key: round(float(np.mean([r[key] for r in measured[method]])), 5) for key in measured[method][0]}
        probs, chosen = held_out[method], decisions[method]
    else:  # too few to hold any out: in-sample figures, said to be
        after = {key: round(float(v), 5) for key, v in label_measure(final, y).items()}
        after["in_sample"] = True
        probs, chosen = final, final >= np.asarray(cal.thresholds)
    conf, hit = label_confidences(probs, y)
    low, high = ece_interval(conf, hit)
    shift = after["ece"] - expected_calibration_error(conf, hit)
    after.update({"ece_low": round(max(0.0, low + shift), 5), "ece_high": round(high + shift, 5),
                  "ece_floor": round(noise_floor(conf), 5)})
    raw_conf, raw_hit = label_confidences(raw, y)
    low, high = ece_interval(raw_conf, raw_hit)
    before.update({"ece_low": round(low, 5), "ece_high": round(high, 5), "ece_floor": round(noise_floor(raw_conf), 5)})
    predicted = [np.flatnonzero(row).tolist() for row in chosen]
    scores = {**task.metrics(gold, predicted, labels), **task.probability_metrics(gold, torch.as_tensor(probs), labels)}
    scores["decided_on"] = ("thresholds tuned on the other folds of validation" if k >= 2
                            else "thresholds tuned on these same examples (too few to hold any out)")
    cal.metrics = {"before": before, "after": after, "decisions": scores,
                   "compared": {m: round(float(np.mean([r["ece"] for r in v])), 5) for m, v in measured.items() if v}}
    cal.reliability = {"before": reliability(raw_conf, raw_hit), "after": reliability(conf, hit)}
    return cal
