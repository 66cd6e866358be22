"""Metrics as pure functions over label lists (offline: no metric needs the hub).

Classification: accuracy, macro-F1 (and positive-class F1 for binary tasks), per-class
precision / recall / F1 / support and the confusion matrix. Tagging: strict entity-level
precision / recall / F1 on IOB2 (computed by seqeval in strict mode), overall and per type,
token accuracy and the rate of invalid IOB2 transitions in the predictions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import DataError
from .iob import invalid_transitions


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], num_labels: int) -> np.ndarray:
    """counts[i, j] = examples of true class i predicted as j -> (num_labels, num_labels)."""
    counts = np.zeros((num_labels, num_labels), dtype=np.int64)
    np.add.at(counts, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    return counts


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else 0.0


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str]) -> dict:
    if len(y_true) != len(y_pred):
        raise DataError(f"expected as many predictions as gold labels ({len(y_true)}), got {len(y_pred)}")
    if not len(y_true):
        raise DataError("expected at least one example to evaluate, got none")
    cm = confusion_matrix(y_true, y_pred, len(labels))
    tp = np.diag(cm).astype(float)
    per_class = {}
    for i, label in enumerate(labels):
        precision, recall = _ratio(tp[i], cm[:, i].sum()), _ratio(tp[i], cm[i].sum())
        per_class[label] = {
            "precision": precision,
            "recall": recall,
            "f1": _ratio(2 * precision * recall, precision + recall),
            "support": int(cm[i].sum()),
        }
    result = {
        "accuracy": _ratio(tp.sum(), cm.sum()),
        "f1": float(np.mean([c["f1"] for c in per_class.values()])),
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
        "labels": list(labels),
        "examples": int(cm.sum()),
    }
    if len(labels) == 2:
        result["f1_positive"] = per_class[labels[1]]["f1"]
    return result


def token_metrics(true_tags: Sequence[Sequence[str]], pred_tags: Sequence[Sequence[str]]) -> dict:
    from seqeval.metrics import classification_report
    from seqeval.scheme import IOB2

    if len(true_tags) != len(pred_tags) or any(len(t) != len(p) for t, p in zip(true_tags, pred_tags)):
        raise DataError("expected one predicted tag per gold tag in every sentence, got different lengths")
    if not true_tags:
        raise DataError("expected at least one sentence to evaluate, got none")
    report = classification_report(
        [list(t) for t in true_tags], [list(p) for p in pred_tags],
        mode="strict", scheme=IOB2, output_dict=True, zero_division=0,
    )
    per_type = {
        k: {"precision": float(v["precision"]), "recall": float(v["recall"]), "f1": float(v["f1-score"]),
            "support": int(v["support"])}
        for k, v in report.items() if not k.endswith(" avg")
    }
    micro = report.get("micro avg", {"precision": 0.0, "recall": 0.0, "f1-score": 0.0})
    n_tokens = sum(len(t) for t in true_tags)
    correct = sum(a == b for t, p in zip(true_tags, pred_tags) for a, b in zip(t, p))
    invalid = sum(invalid_transitions(p) for p in pred_tags)
    return {
        "precision": float(micro["precision"]),
        "recall": float(micro["recall"]),
        "f1": float(micro["f1-score"]),
        "per_type": per_type,
        "token_accuracy": _ratio(correct, n_tokens),
        "invalid_transition_rate": _ratio(invalid, n_tokens),
        "sentences": len(true_tags),
        "tokens": n_tokens,
    }


# --------------------------------------------------------------------------- calibration
#: equal-width bins of the confidence for the expected calibration error and the reliability diagram
CALIBRATION_BINS = 15


def _bin_of(confidence: np.ndarray, bins: int) -> np.ndarray:
    return np.minimum((np.asarray(confidence, dtype=np.float64) * bins).astype(np.int64), bins - 1)


def reliability(confidence: Sequence[float], correct: Sequence[bool], bins: int = CALIBRATION_BINS) -> list[list]:
    """[mean confidence, accuracy, count] of each non-empty equal-width bin of ``confidence``: the
    points of a reliability diagram."""
    conf, hit = np.asarray(confidence, dtype=np.float64), np.asarray(correct, dtype=np.float64)
    which = _bin_of(conf, bins)
    count = np.bincount(which, minlength=bins)
    mean_conf = np.bincount(which, conf, minlength=bins)
    mean_hit = np.bincount(which, hit, minlength=bins)
    return [[round(float(mean_conf[b] / count[b]), 5), round(float(mean_hit[b] / count[b]), 5), int(count[b])]
            for b in range(bins) if count[b]]


def expected_calibration_error(confidence: Sequence[float], correct: Sequence[bool], bins: int = CALIBRATION_BINS) -> float:
    """ECE: the count-weighted mean |accuracy - mean confidence| over equal-width confidence bins
    (Guo et al., 2017); 0 for a head whose confidence is its accuracy."""
    conf, hit = np.asarray(confidence, dtype=np.float64), np.asarray(correct, dtype=np.float64)
    if not len(conf):
        raise DataError("expected at least one prediction to measure calibration on, got none")
    which = _bin_of(conf, bins)
    gap = np.bincount(which, conf - hit, minlength=bins)
    return float(np.abs(gap).sum() / len(conf))


def ece_interval(confidence: Sequence[float], correct: Sequence[bool], level: float = 0.9, samples: int = 1000,
                 seed: int = 0, bins: int = CALIBRATION_BINS) -> tuple[float, float]:
    """A ``level`` interval of the ECE by the basic bootstrap (examples resampled with replacement; the
    interval is reflected about the estimate, 2·ECE - quantiles, because resampling adds noise and
    noise only ever raises an ECE: the plain percentile interval would sit above the truth). Small
    splits are noisy: a perfectly calibrated head shows an ECE of a few points on a few hundred examples."""
    conf, hit = np.asarray(confidence, dtype=np.float64), np.asarray(correct, dtype=np.float64)
    n = len(conf)
    which = _bin_of(conf, bins)
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=samples).astype(np.float64)  # (samples, n)
    onehot = np.zeros((n, bins))
    onehot[np.arange(n), which] = 1.0
    gaps = weights @ (onehot * (conf - hit)[:, None])  # (samples, bins)
    values = np.abs(gaps).sum(1) / n
    low, high = np.quantile(values, [(1 - level) / 2, 1 - (1 - level) / 2])
    estimate = expected_calibration_error(conf, hit, bins)
    return max(0.0, 2 * estimate - float(high)), 2 * estimate - float(low)


def probability_metrics(probs: np.ndarray, gold: Sequence[int]) -> dict:
    """NLL (mean -log p(gold)) and Brier score (mean squared distance of the probability vector from
    the one-hot gold, summed over classes) of probability rows ``probs`` (n, num_labels)."""
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(gold, dtype=np.int64)
    if not len(y):
        raise DataError("expected at least one prediction to measure calibration on, got none")
    picked = np.clip(p[np.arange(len(y)), y], 1e-12, 1.0)
    onehot = np.zeros_like(p)
    onehot[np.arange(len(y)), y] = 1.0
    return {"nll": float(-np.log(picked).mean()), "brier": float(((p - onehot) ** 2).sum(1).mean())}
