"""Calibrated probabilities: a head's confidence should be its accuracy (a chart that says 90 % is
right 9 times in 10).

Fitted after training on the validation split (or the out-of-fold predictions of small data), in
two steps, each applied to the scores any backend returns:

1. **temperature scaling** (Guo et al., 2017): one scalar ``T`` fitted by NLL with L-BFGS, and the
   task's probability function reads ``scores / T`` (softmax; a CRF's forward-backward marginals with
   every emission and transition score divided by ``T``). It never changes the argmax (or the
   Viterbi path);
2. where one temperature is not enough, a **monotone map of the shown confidence** (the top
   probability; an entity's confidence for token tasks), chosen only when it calibrates better on
   held-out folds of validation. A map of the top probability is the identity up to 1/2 and passes
   through (1/2, 1/2): where two labels tie, both sides of the tie show the same probabilities, so a
   change of input (or an int8 backend's rounding) that flips a near-tie moves the chart by as little
   as it moves the scores. It never moves the top class off the top: calibration never changes a
   decision. Only an explicitly saved operating-point ``threshold`` (binary heads) does.

Every reported "after" figure is cross-fitted: the calibration fitted on k-1 folds, measured on the
fold left out, with a bootstrap 90 % interval (small splits are noisy). The result is stored in the
saved head's ``config.json`` (section ``calibration``, versioned; heads without one load as before).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from .errors import ConfigError, DataError, ModelFormatError
from .metrics import ece_interval, expected_calibration_error, probability_metrics, reliability
from .threads import one_thread

CALIBRATION_VERSION = 1
#: folds of the cross-fitted measurement and of the choice between methods
FOLDS = 5
#: the monotone map needs this many confidences to fit (out-of-fold small data gets a temperature only)
MIN_MAP_ROWS = 200
#: validation scores kept in the head for the operating-point panel (binary heads)
MAX_KEPT_SCORES = 5000
#: "beta": anchored beta calibration of the top probability (text heads); "platt": Platt scaling of an
#: entity's confidence (token heads; a text head saved with it before the anchor still loads)
METHODS = ("temperature", "temperature+beta", "temperature+platt", "temperature+isotonic", "temperature+label-platt")
#: cross-fitting is repeated over this many random fold splits (one split of a few hundred examples is noisy)
REPEATS = 5
#: token heads fit their temperature on at most this many validation sentences
TOKEN_FIT_SENTENCES = 600


@dataclass
class Calibration:
    """How a head's scores become honest probabilities, and what that was measured to do."""

    #: scores are divided by it before the task's probability function
    temperature: float = 1.0
    #: "temperature", or "temperature+beta" / "temperature+platt" / "temperature+isotonic" (then ``map_x`` -> ``map_y``, linear
    #: between knots, maps the shown confidence)
    method: str = "temperature"
    map_x: list[float] = field(default_factory=list)
    map_y: list[float] = field(default_factory=list)
    #: binary heads: predict ``labels[1]`` when its calibrated probability is at least this (None: argmax)
    threshold: float | None = None
    #: what it was fitted on, in words, and how many confidences that gave
    fitted_on: str = ""
    examples: int = 0
    #: {"before": {...}, "after": {...}}: ece (or entity_ece), its 90 % interval, nll, brier
    metrics: dict = field(default_factory=dict)
    #: {"before": [[confidence, accuracy, count], ...], "after": [...]}: the reliability diagram's points
    reliability: dict = field(default_factory=dict)
    #: binary heads: {"gold": [label id, ...], "positive": [calibrated p(labels[1]), ...]} on validation
    validation: dict = field(default_factory=dict)
    #: multi-label heads (``ftclf.label_calibration``): Platt scaling per label of the tempered scores,
    #: ``sigmoid(scales[j] * score_j / T + shifts[j])`` ("temperature+label-platt"; empty: none) ...
    scales: list[float] = field(default_factory=list)
    shifts: list[float] = field(default_factory=list)
    #: ... and each label's decision threshold on its calibrated probability (empty: 0.5 for every label)
    thresholds: list[float] = field(default_factory=list)
    version: int = CALIBRATION_VERSION

    # ------------------------------------------------------------------ apply
    def map_confidence(self, confidence: np.ndarray | float) -> np.ndarray | float:
        """The monotone map of a shown confidence (identity without one)."""
        if not self.map_x:
            return confidence
        return np.interp(confidence, self.map_x, self.map_y)

    def label_scores(self, scores: torch.Tensor) -> torch.Tensor:
        """A multi-label head's scores (..., num_labels) divided by the temperature and mapped per label:
        the sigmoid of these is the calibrated probability of each label."""
        z = scores / self.temperature
        if self.scales:
            z = z * torch.as_tensor(self.scales, dtype=z.dtype, device=z.device) + torch.as_tensor(
                self.shifts, dtype=z.dtype, device=z.device)
        return z

    def map_top(self, probs: torch.Tensor) -> torch.Tensor:
        """Probability rows (..., num_labels) with the top probability mapped and the others rescaled to
        sum to one; the top class stays on top (the map is clipped at the runner-up)."""
        if not self.map_x or probs.size(-1) < 2:
            return probs
        top, where = probs.max(-1, keepdim=True)
        second = probs.scatter(-1, where, -1.0).max(-1, keepdim=True).values
        mapped = torch.as_tensor(self.map_confidence(top.detach().cpu().double().numpy()), dtype=probs.dtype,
                                 device=probs.device)
        rest = 1 - top
        floor = second / (rest + second).clamp_min(1e-12)  # where the top would tie with the runner-up
        mapped = torch.maximum(mapped, torch.minimum(floor + 1e-6, top))  # the top class stays on top
        share = torch.where(rest > 0, probs / rest.clamp_min(1e-12), torch.full_like(probs, 1 / (probs.size(-1) - 1)))
        return (share * (1 - mapped)).scatter(-1, where, mapped)

    def choose(self, logits: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
        """Label ids: the argmax of the scores, or for a binary head with a saved threshold, ``1`` where
        ``p(labels[1]) >= threshold``."""
        if self.threshold is not None and probs.size(-1) == 2:
            return (probs[..., 1] >= self.threshold).long()
        return logits.argmax(-1)

    # -------------------------------------------------------------- persist
    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> Calibration:
        """A calibration from config.json, checked (ModelFormatError names what is wrong)."""
        def wrong(what: str) -> ModelFormatError:
            return ModelFormatError(f"expected a valid 'calibration' section in config.json, found {what}; "
                                    "recalibrate the head (ftclf calibrate) or re-save it")

        if not isinstance(raw, dict):
            raise wrong(f"a JSON {type(raw).__name__}")
        version = raw.get("version", 1)
        if not isinstance(version, int) or version > CALIBRATION_VERSION:
            raise ModelFormatError(f"expected calibration version <= {CALIBRATION_VERSION}, found {version!r}; upgrade ftclf")
        known = {f for f in cls.__dataclass_fields__}
        try:
            cal = cls(**{k: v for k, v in raw.items() if k in known})
            cal.temperature = float(cal.temperature)
            cal.map_x, cal.map_y = [float(v) for v in cal.map_x], [float(v) for v in cal.map_y]
            cal.threshold = None if cal.threshold is None else float(cal.threshold)
            cal.scales, cal.shifts = [float(v) for v in cal.scales], [float(v) for v in cal.shifts]
            cal.thresholds = [float(v) for v in cal.thresholds]
        except (TypeError, ValueError):
            raise wrong("values of the wrong type") from None
        if not (np.isfinite(cal.temperature) and cal.temperature > 0):
            raise wrong(f"temperature {cal.temperature!r} (it must be a positive number)")
        if cal.method not in METHODS:
            raise wrong(f"method {cal.method!r} (one of {', '.join(METHODS)})")
        if len(cal.map_x) != len(cal.map_y) or any(np.diff(cal.map_x) < 0) or any(np.diff(cal.map_y) < 0):
            raise wrong("a confidence map that is not monotone")
        if cal.threshold is not None and not 0 <= cal.threshold <= 1:
            raise wrong(f"threshold {cal.threshold!r} (it must lie in [0, 1])")
        if len(cal.scales) != len(cal.shifts) or not all(np.isfinite(cal.scales + cal.shifts)) or any(
                a <= 0 for a in cal.scales):
            raise wrong("per-label scales and shifts that do not match (positive scales, one shift each)")
        if not all(0 <= t <= 1 for t in cal.thresholds):
            raise wrong(f"thresholds {cal.thresholds!r} (each must lie in [0, 1])")
        return cal

    def with_threshold(self, threshold: float | None) -> Calibration:
        """A copy with this operating point (None: back to the argmax)."""
        if threshold is not None and not 0 <= float(threshold) <= 1:
            raise ConfigError(f"expected a threshold in [0, 1], got {threshold!r}; pick a probability")
        return Calibration(**{**self.to_dict(), "threshold": None if threshold is None else float(threshold)})

    def summary(self) -> str:
        """One line for people: the temperature, the map, and the cross-fitted ECE with its interval."""
        after = self.metrics.get("after", {})
        before = self.metrics.get("before", {})
        key = "entity_ece" if "entity_ece" in after else "ece"
        parts = [f"T = {self.temperature:.3g}" + (f", then a {self.method.split('+')[1].replace('label-', 'per-label ')} map" if "+" in self.method else "")]
        if key in after:
            parts.append(f"{key.replace('_', ' ').upper() if key == 'ece' else 'entity ECE'} "
                         f"{before.get(key, float('nan')):.3f} → {after[key]:.3f} "
                         f"(90 % interval {after[key + '_low']:.3f}–{after[key + '_high']:.3f}, "
                         f"{self.examples:,} {'entities' if key == 'entity_ece' else 'label probabilities' if self.thresholds else 'examples'}, "
                         "cross-fitted)")
        if self.threshold is not None:
            parts.append(f"threshold {self.threshold:.3f}")
        if self.thresholds:
            parts.append(f"thresholds per label {min(self.thresholds):.2f}–{max(self.thresholds):.2f}")
        return "; ".join(parts)


# --------------------------------------------------------------------------- fitting
class ScoreRows:
    """The validation scores of a head, one entry per example ((num_labels,) or (n_words, num_labels)),
    and their gold ids; probabilities of any subset at any temperature, by the head's own function."""

    def __init__(self, head, scores: Sequence[torch.Tensor], gold: Sequence) -> None:
        self.head = head
        self.scores = [s.detach().float().cpu() for s in scores]
        self.gold = list(gold)
        self.per_word = self.scores[0].dim() == 2  # token heads' rows: one per word

    def _batch(self, idx: Sequence[int]):
        rows = [self.scores[i] for i in idx]
        if not self.per_word:
            return torch.stack(rows), None, torch.tensor([self.gold[i] for i in idx])
        length = max(r.size(0) for r in rows)
        scores = torch.zeros(len(rows), length, rows[0].size(-1))
        mask = torch.zeros(len(rows), length, dtype=torch.bool)
        gold = torch.zeros(len(rows), length, dtype=torch.long)
        for b, (i, r) in enumerate(zip(idx, rows)):
            scores[b, : r.size(0)], mask[b, : r.size(0)] = r, True
            if self.gold[i] is not None:
                gold[b, : r.size(0)] = torch.tensor(self.gold[i])
        return scores, mask, gold

    @torch.no_grad()
    def probs(self, idx: Sequence[int], temperature: float) -> list[torch.Tensor]:
        """Probability rows of the examples ``idx`` at ``temperature`` (per word for token heads),
        computed in length-sorted batches."""
        idx = list(idx)
        out: list = [None] * len(idx)
        order = sorted(range(len(idx)), key=lambda j: self.scores[idx[j]].size(0)) if self.per_word else range(len(idx))
        order = list(order)
        for start in range(0, len(order), 512):
            part = order[start : start + 512]
            scores, mask, _ = self._batch([idx[j] for j in part])
            p = self.head.log_probs(scores, mask, temperature).exp()
            for j, row, n in zip(part, p, (mask.sum(1).tolist() if mask is not None else [None] * len(part))):
                out[j] = row if n is None else row[:n]
        return out

    def smoothed_nll(self, idx: Sequence[int], temperature: float) -> float:
        """What the temperature is fitted to: :func:`_smoothed_nll` of the examples ``idx`` (per word for
        token heads)."""
        logp = torch.cat([p.clamp_min(1e-12).log().reshape(-1, p.size(-1)) for p in self.probs(idx, temperature)])
        return float(_smoothed_nll(logp, torch.cat([torch.as_tensor(self.gold[i]).reshape(-1) for i in idx])))

    def fit_temperature(self, idx: Sequence[int]) -> float:
        """The temperature that minimises the NLL of the gold labels of ``idx``: L-BFGS on log T for
        text heads; a bounded 1-D search for token heads (a CRF's forward-backward is costly to
        differentiate through), on at most TOKEN_FIT_SENTENCES sentences."""
        if self.per_word:
            from scipy.optimize import minimize_scalar

            idx = list(idx)
            if len(idx) > TOKEN_FIT_SENTENCES:
                idx = sorted(np.random.default_rng(0).choice(idx, TOKEN_FIT_SENTENCES, replace=False).tolist())
            found = minimize_scalar(lambda log_t: self.smoothed_nll(idx, float(np.exp(log_t))), bounds=(-3.0, 3.0),
                                    method="bounded", options={"xatol": 1e-2})
            return float(np.exp(found.x))
        scores, _, gold = self._batch(idx)
        log_t = torch.zeros((), requires_grad=True)
        optimizer = torch.optim.LBFGS([log_t], lr=0.5, max_iter=50, line_search_fn="strong_wolfe")

        def closure():
            optimizer.zero_grad()
            loss = _smoothed_nll(self.head.log_probs(scores, None, log_t.clamp(-4, 4).exp()), gold)
            loss.backward()
            return loss

        optimizer.step(closure)
        return float(log_t.detach().clamp(-4, 4).exp())


def _smoothed_nll(logp: torch.Tensor, gold: torch.Tensor) -> torch.Tensor:
    """Mean NLL of log-probability rows (n, num_labels) against gold labels smoothed by one example's worth
    of doubt (1/(n+1) of the mass spread over every label): a validation split the head gets all right would
    otherwise drive the temperature to zero and every probability to 100 %, which no finite sample can show."""
    eps = 1.0 / (len(gold) + 1)
    return -(1 - eps) * logp.gather(-1, gold[:, None]).mean() - eps * logp.mean()


def entity_confidence(word_probs, ids: Sequence[int], first: int, last: int) -> float:
    """An entity's confidence: the mean probability of its words' predicted tags."""
    return float(sum(float(word_probs[k][ids[k]]) for k in range(first, last + 1)) / (last - first + 1))


# monotone maps of the shown confidence: (confidence, correct, floor) -> knots (x, y), or None. Maps of a text
# head's top probability are anchored (``anchored=True``): the identity up to 1/2, through (1/2, 1/2) and
# above it from there (two labels can tie only where the top probability is at most 1/2).
TIE = 0.5


def _isotonic(confidence: np.ndarray, correct: np.ndarray, floor: float, anchored: bool = False):
    """Isotonic regression of correctness on confidence (linear between its knots)."""
    from sklearn.isotonic import IsotonicRegression

    if anchored:
        above = confidence > TIE
        if above.sum() < 2:
            return None
        confidence, correct, floor = confidence[above], correct[above], TIE
    iso = IsotonicRegression(y_min=floor, y_max=_ceiling(len(confidence)), increasing=True, out_of_bounds="clip")
    iso.fit(confidence, correct.astype(np.float64))
    x, y = [float(v) for v in iso.X_thresholds_], [float(v) for v in iso.y_thresholds_]
    return ([0.0, TIE] + x, [0.0, TIE] + y) if anchored else (x, y)


def _platt(confidence: np.ndarray, correct: np.ndarray, floor: float, anchored: bool = False):
    """Logistic regression of correctness on logit(confidence) (Platt scaling of the shown confidence:
    two numbers), written as knots; None when it would not be increasing. For entity confidences."""
    from sklearn.linear_model import LogisticRegression

    if correct.all() or not correct.any():
        return None
    model = LogisticRegression(C=1e4).fit(_logit(confidence)[:, None], correct)
    slope, bias = float(model.coef_[0, 0]), float(model.intercept_[0])
    if slope <= 0:
        return None
    x = _grid(floor)
    return _knots(x, 1 / (1 + np.exp(-(slope * _logit(x) + bias))), floor, len(confidence))


def _beta(confidence: np.ndarray, correct: np.ndarray, floor: float, anchored: bool = True):
    """Beta calibration (Kull et al., 2017) of the top probability p, anchored at the tie:
    ``logit(q) = a ln(2p) - b ln(2(1 - p))`` with a, b >= 0 fitted by log-loss on the rows above 1/2
    (a = b = 1 is the identity; a = b = s a temperature 1/s on the top label). Monotone, continuous,
    q(1/2) = 1/2, and the identity below 1/2."""
    from scipy.optimize import minimize

    above = confidence > TIE
    p, y = confidence[above], correct[above].astype(np.float64)
    if len(p) < 2 or y.all() or not y.any():
        return None
    features = np.stack([np.log(2 * p), -np.log(np.clip(2 * (1 - p), 1e-12, None))], 1)

    def loss(ab):
        z = features @ ab
        return float(np.mean(np.logaddexp(0, z) - y * z)), features.T @ (1 / (1 + np.exp(-z)) - y) / len(y)

    ab = minimize(loss, np.ones(2), jac=True, method="L-BFGS-B", bounds=[(0, None), (0, None)]).x
    x = _grid(TIE)
    q = 1 / (1 + np.exp(-(ab[0] * np.log(2 * x) - ab[1] * np.log(np.clip(2 * (1 - x), 1e-12, None)))))
    x, y = _knots(x, q, TIE, len(confidence))
    return [0.0] + x, [0.0] + y


def _grid(start: float) -> np.ndarray:
    """Knots from ``start`` to 1, denser towards 1 (where confidences crowd)."""
    return np.unique(np.concatenate([np.linspace(start, 0.9, 40), 1 - np.geomspace(0.1, 1e-7, 80), [1.0]]))


def _knots(x: np.ndarray, y: np.ndarray, floor: float, n: int):
    y = np.maximum.accumulate(np.clip(y, floor, _ceiling(n)))
    return [float(v) for v in x], [float(v) for v in y]


#: the maps a head's shown confidence may get: text heads map their top probability (anchored at the
#: tie), token heads their entities' confidences
TEXT_MAPS = {"beta": _beta, "isotonic": _isotonic}
TOKEN_MAPS = {"platt": _platt, "isotonic": _isotonic}


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def _ceiling(n: int) -> float:
    """No map says certain: at most 1 - 1/(2n) after n examples."""
    return 1 - 0.5 / max(n, 1)


def noise_floor(confidence: np.ndarray, draws: int = 100, seed: int = 0) -> float:
    """The ECE a perfectly calibrated head with these confidences would show on this many examples
    (each prediction right with probability its confidence): what sampling noise alone gives."""
    rng = np.random.default_rng(seed)
    return float(np.mean([expected_calibration_error(confidence, rng.random(len(confidence)) < confidence)
                          for _ in range(draws)]))


def _measure(task, probs, gold, conf, hit) -> dict:
    """The task's calibration error (ECE of the top probability, or of entity confidences), NLL and Brier
    score of its probability rows (one per text, or per word)."""
    out: dict = {}
    if len(conf):
        out[task.calibration_error] = expected_calibration_error(conf, hit)
    out.update(probability_metrics(*task.probability_rows(probs, gold)))
    return out


def _gather(per_example: list[tuple[np.ndarray, np.ndarray]], idx: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    return (np.concatenate([per_example[i][0] for i in idx]), np.concatenate([per_example[i][1] for i in idx]))


def _mean(results: list[dict]) -> dict:
    return {k: round(float(np.mean([r[k] for r in results])), 5) for k in results[0]}




def fit_calibration(clf, decoded: Sequence, gold: Sequence, fitted_on: str = "validation", folds: int = FOLDS,
                    repeats: int = REPEATS, seed: int = 0, threshold: float | None = None) -> Calibration:
    """Fit a :class:`Calibration` for ``clf`` from its decoded validation predictions (``Decoded`` with
    their raw ``scores``) and the gold label ids (one per text, or one list per sentence).

    The method (temperature alone, or followed by a Platt or isotonic map of the shown confidence) is
    the one with the lowest cross-fitted ECE, averaged over ``repeats`` random ``folds``-fold splits;
    the "after" figures are that average, so no figure is measured on data its map was fitted on.
    Text heads refit the temperature on every fold; token heads share one temperature (fitted on at
    most TOKEN_FIT_SENTENCES sentences: a CRF's forward-backward is the costly part). A task may fit its
    own kind (``TaskSpec.fit_calibration``: multi-label heads calibrate and threshold each label)."""
    if not decoded or any(d.scores is None for d in decoded):
        raise DataError("expected validation predictions with their scores to calibrate on, got none; "
                        "pass labelled validation examples")
    with one_thread():
        own = clf.task.fit_calibration(clf, decoded, gold, fitted_on=fitted_on, folds=folds, repeats=repeats, seed=seed)
        return own if own is not None else _fit(clf, decoded, gold, fitted_on, folds, repeats, seed, threshold)


def _fit(clf, decoded, gold, fitted_on, folds, repeats, seed, threshold) -> Calibration:
    task = clf.task
    rows = ScoreRows(clf.head, [d.scores for d in decoded], gold)
    n, ids, floor = len(rows.scores), [d.ids for d in decoded], 1.0 / len(clf.labels)
    everyone = list(range(n))

    def confidences(probs, idx):
        return task.shown_confidences(probs, [rows.gold[i] for i in idx], [ids[i] for i in idx], clf.labels)

    raw = rows.probs(everyone, 1.0)
    raw_conf, raw_hit = confidences(raw, everyone)
    before = {k: round(float(v), 5) for k, v in _measure(task, raw, rows.gold, raw_conf, raw_hit).items()}
    key = task.calibration_error

    temperature = rows.fit_temperature(everyone)
    tuned = rows.probs(everyone, temperature)
    tuned_conf, tuned_hit = confidences(tuned, everyone)
    can_map = len(tuned_conf) >= MIN_MAP_ROWS
    per_example = [confidences([tuned[i]], [i]) for i in everyone] if task.shared_temperature else []
    k = min(folds, n // 10)
    maps, anchored = task.calibration_maps()
    methods = ["temperature"] + ([f"temperature+{m}" for m in maps] if can_map else [])
    measured: dict[str, list[dict]] = {m: [] for m in methods}
    held_out: dict[str, tuple] = {}
    if k >= 2:
        for repeat in range(repeats):
            order = np.random.default_rng(seed + repeat).permutation(n)
            parts = {m: {"probs": [None] * n, "conf": [], "hit": []} for m in methods}
            for f in range(k):
                test = sorted(order[f::k].tolist())
                train = sorted(set(everyone) - set(test))
                if task.shared_temperature:  # one temperature: the confidences are read once
                    t, test_probs = temperature, [tuned[i] for i in test]
                    train_conf, train_hit = _gather(per_example, train)
                    test_conf, test_hit = _gather(per_example, test)
                else:
                    t = rows.fit_temperature(train)
                    train_conf, train_hit = confidences(rows.probs(train, t), train)
                    test_probs = rows.probs(test, t)
                    test_conf, test_hit = confidences(test_probs, test)
                for method in methods:
                    knots = maps[method.split("+")[1]](train_conf, train_hit, floor, anchored) if "+" in method else None
                    cal = Calibration(t, method, *(knots or ([], [])))
                    for i, p in zip(test, test_probs):
                        parts[method]["probs"][i] = task.calibrated_rows(cal, p)
                    parts[method]["conf"].append(np.asarray(cal.map_confidence(test_conf), dtype=np.float64))
                    parts[method]["hit"].append(test_hit)
            for method, part in parts.items():
                conf, hit = np.concatenate(part["conf"]), np.concatenate(part["hit"])
                measured[method].append(_measure(task, part["probs"], rows.gold, conf, hit))
                if repeat == 0:
                    held_out[method] = (conf, hit)
    if k >= 2 and key in measured["temperature"][0]:
        method = min(methods, key=lambda m: np.mean([r[key] for r in measured[m]]))
    else:
        method = "temperature"
    knots = maps[method.split("+")[1]](tuned_conf, tuned_hit, floor, anchored) if "+" in method else None
    cal = Calibration(temperature, method, *(knots or ([], [])), threshold=threshold, fitted_on=fitted_on,
                      examples=int(len(raw_conf)))
    if k >= 2:
        after = _mean(measured[method])
        conf, hit = held_out[method]
    else:  # too few to hold any out: the fitted figures, said to be in-sample
        conf, hit = np.asarray(cal.map_confidence(tuned_conf), dtype=np.float64), tuned_hit
        final = [task.calibrated_rows(cal, p) for p in tuned]
        after = {k_: round(float(v), 5) for k_, v in _measure(task, final, rows.gold, conf, hit).items()}
        after["in_sample"] = True
    if len(conf):  # the interval of the first split's held-out figure, moved to the repeats' mean
        low, high = ece_interval(conf, hit)
        shift = after[key] - expected_calibration_error(conf, hit)
        after.update({f"{key}_low": round(max(0.0, low + shift), 5), f"{key}_high": round(high + shift, 5),
                      f"{key}_floor": round(noise_floor(conf), 5)})
        low, high = ece_interval(raw_conf, raw_hit)
        before.update({f"{key}_low": round(low, 5), f"{key}_high": round(high, 5),
                       f"{key}_floor": round(noise_floor(raw_conf), 5)})
    cal.metrics = {"before": before, "after": after,
                   "compared": {m: _mean(v)[key] for m, v in measured.items() if v and key in v[0]}}
    cal.reliability = {"before": reliability(raw_conf, raw_hit), "after": reliability(conf, hit)}
    if task.operating_point(clf.labels):  # the scores the threshold picker reads
        keep = everyone[:MAX_KEPT_SCORES]
        cal.validation = {"gold": [int(rows.gold[i]) for i in keep],
                          "positive": [round(float(cal.map_top(tuned[i])[1]), 5) for i in keep]}
    return cal


def calibrate_decoded(clf, decoded: Sequence) -> list:
    """Decoded predictions (with their raw ``scores``) with probabilities as ``clf.calibration`` gives
    them (one batched pass, no encoder), the task's way (``TaskSpec.calibrate_decoded``)."""
    if clf.calibration is None or not decoded:
        return list(decoded)
    return clf.task.calibrate_decoded(clf, decoded)


#: the metric keys calibration adds (``ece_low``, ``nll_uncalibrated``, ``temperature`` …)
FIGURE_PREFIXES = ("ece", "entity_ece", "nll", "brier", "temperature")


def without_figures(metrics: dict) -> dict:
    """``metrics`` without the calibration figures (before new ones replace them)."""
    return {k: v for k, v in metrics.items() if not k.startswith(FIGURE_PREFIXES)}


def calibration_figures(calibration: Calibration | None) -> dict:
    """The calibration's cross-fitted figures as flat metrics (``ece`` or ``entity_ece``, its interval,
    ``nll``, ``brier``) and the uncalibrated ECE as ``*_uncalibrated``."""
    if calibration is None:
        return {}
    after, before = calibration.metrics.get("after", {}), calibration.metrics.get("before", {})
    out = {k: v for k, v in after.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    for key in ("ece", "entity_ece", "nll", "brier"):
        if key in before:
            out[f"{key}_uncalibrated"] = before[key]
    out["temperature"] = round(calibration.temperature, 5)
    decisions = calibration.metrics.get("decisions", {})  # multi-label heads: metrics at the tuned thresholds
    out.update({k: v for k, v in decisions.items() if isinstance(v, (int, float)) and not isinstance(v, bool)})
    return out


def shown_figures(clf, decoded: Sequence, gold: Sequence) -> dict:
    """The task's calibration error (``ece``, ``entity_ece``), NLL and Brier score of the probabilities ``clf`` shows
    (calibrated when it is) on labelled examples: what ``ftclf evaluate`` reports beside accuracy."""
    task = clf.task
    own = task.shown_calibration(clf, decoded, gold)
    if own is not None:
        return own
    with one_thread():
        probs = [d.probs for d in decoded]
        conf, hit = task.shown_confidences(probs, gold, [d.ids for d in decoded], clf.labels, clf.calibration)
        out = _measure(task, probs, gold, conf, hit)
    return {k: round(float(v), 5) for k, v in out.items()}
