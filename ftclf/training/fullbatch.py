"""Small-data head fitting: full-batch L-BFGS to convergence, weight decay chosen by k-fold
cross-validation.

With a few dozen examples a carved validation split is both too small to decide anything (two
examples score 1.0 after one step) and a tenth of the data thrown away. Here every example
trains: for each candidate weight decay the head is fitted to convergence on k-1 folds and scored
on the k-th (out-of-fold predictions, so each example is scored by a head that never saw it; the
candidates run as a path from the strongest decay down, each fit warm-started from the last); the
candidate with the best cross-validated metric (ties: the stronger decay, the simpler head) is
then fitted on all the data. The head's loss is whatever the head defines (cross-entropy, or the
CRF's negative log-likelihood), so any head trains here; only the objective's smoothness matters,
hence dropout is off while fitting.
"""

from __future__ import annotations

import copy
import random
import time
from collections import defaultdict
from dataclasses import dataclass

import torch

from ..errors import TrainingCancelled
from ..evaluation import score_logits
from ..threads import one_thread
from .events import EventHandler, TrainingEvent, TrainResult

#: Candidate weight decays (an L2 penalty on the head's weight matrices, biases excluded).
WEIGHT_DECAYS = (1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1)
#: Folds of the cross-validation (fewer when the smallest class has fewer examples).
FOLDS = 5


@dataclass
class CrossValidation:
    """What model selection found: the folds, every candidate's metric, the winner."""

    folds: int
    metric_name: str
    scores: dict[float, float]
    weight_decay: float
    #: the chosen candidate's out-of-fold scores: (example ids, logits, label mask) per fold
    out_of_fold: list | None = None

    def describe(self) -> str:
        if not self.scores:
            return f"weight decay {self.weight_decay:g} (too few examples per class to cross-validate)"
        return (f"weight decay {self.weight_decay:g} chosen by {self.folds}-fold cross-validation "
                f"({self.metric_name} {self.scores[self.weight_decay]:.3f})")


def folds_of(strata: list, k: int, seed: int) -> list[list[int]]:
    """``k`` folds of example indices, each stratum (label) dealt round-robin across the folds."""
    groups = defaultdict(list)
    for i, s in enumerate(strata):
        groups[s].append(i)
    rng, folds, turn = random.Random(seed), [[] for _ in range(k)], 0
    for key in sorted(groups, key=str):
        idx = groups[key]
        rng.shuffle(idx)
        for i in idx:
            folds[turn % k].append(i)
            turn += 1
    return [sorted(f) for f in folds if f]


def _parameters(clf) -> list[torch.nn.Parameter]:
    return [p for n, p in clf.named_parameters() if not n.startswith("encoder.") and p.requires_grad]


def _fit(clf, batch, weight_decay: float, max_iter: int) -> float:
    """Fit the head on one full batch (x, labels, mask) with L-BFGS; returns the final loss."""
    features, labels, mask, shapes = batch
    params = _parameters(clf)
    decayed = [p for p in params if p.dim() >= 2]
    optimizer = torch.optim.LBFGS(params, lr=1.0, max_iter=max_iter, history_size=20,
                                  tolerance_grad=1e-5, tolerance_change=1e-8, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = clf.head(clf.head_input(features, shapes), labels, mask).loss
        loss = loss + 0.5 * weight_decay * sum((p * p).sum() for p in decayed)
        loss.backward()
        return loss

    return float(optimizer.step(closure).detach())




@one_thread()
def fit_head_cv(clf, make_batch, n: int, strata: list, seed: int, emit: EventHandler, cancel, result: TrainResult,
                t0: float, max_iter: int = 100) -> CrossValidation:
    """Choose the weight decay by cross-validation, then fit the head on all ``n`` examples.

    ``make_batch(ids)`` gives the full batch of those examples: (encoder features, collated labels,
    label mask, word shapes or None). The head (and word-shape embedding) are left fitted;
    ``result.history`` gets one row per candidate.
    """
    counts = defaultdict(int)
    for s in strata:
        counts[s] += 1
    k = min(FOLDS, min(counts.values())) if counts else 0
    initial = copy.deepcopy(clf.head_state_dict())
    clf.eval()  # dropout off: L-BFGS needs a deterministic objective
    scores: dict[float, float] = {}
    out_of_fold: dict[float, list] = {}
    if k >= 2:
        folds = folds_of(strata, k, seed)
        total, done = len(WEIGHT_DECAYS) * len(folds), 0
        chunks: dict[float, list] = {d: [] for d in WEIGHT_DECAYS}
        kept: dict[float, list] = {d: [] for d in WEIGHT_DECAYS}
        for fold in folds:
            held = set(fold)
            train_part = make_batch([i for i in range(n) if i not in held])
            features, labels, mask, shapes = make_batch(fold)
            clf.load_state_dict(initial, strict=False)
            for decay in sorted(WEIGHT_DECAYS, reverse=True):  # a regularization path: each fit starts
                _fit(clf, train_part, decay, max_iter)           # from the stronger decay's solution
                with torch.no_grad():
                    logits = clf.head(clf.head_input(features, shapes), mask=mask).logits
                chunks[decay].append((logits, labels))
                kept[decay].append((fold, logits, mask))
                done += 1
                if cancel is not None and cancel.is_set():
                    raise TrainingCancelled("expected the run to keep a head, but it was cancelled while choosing "
                                            "the weight decay, before it had one; train again")
                emit(TrainingEvent("train", done, total, done / total, None, elapsed=time.perf_counter() - t0,
                                   detail="cross-validation"))
        for c, decay in enumerate(WEIGHT_DECAYS):
            scores[decay] = score_logits(clf, chunks[decay])[clf.task.metric]
            out_of_fold[decay] = kept[decay]
            step = (c + 1) * len(folds)
            result.history.append({"epoch": c + 1, "step": step, "loss": None, "weight_decay": decay,
                                   result.metric_name: scores[decay]})
            emit(TrainingEvent("eval", step, total, float(c + 1), None, scores[decay], result.metric_name,
                               elapsed=time.perf_counter() - t0, detail=f"weight decay {decay:g}"))
        best = max(scores.values())
        chosen = max(d for d, s in scores.items() if s >= best - 1e-12)  # ties: the stronger decay
    else:
        chosen = 1e-2
    clf.load_state_dict(initial, strict=False)
    _fit(clf, make_batch(list(range(n))), chosen, max_iter)
    result.best_metric = scores.get(chosen)
    return CrossValidation(folds=k if k >= 2 else 0, metric_name=result.metric_name, scores=scores, weight_decay=chosen,
                           out_of_fold=out_of_fold.get(chosen))
