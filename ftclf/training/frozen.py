"""Frozen-encoder training: the head learns on cached encoder features (seconds per epoch).

Two ways to fit the head, neither knowing tasks or heads beyond "the head returns a loss":

* ``lbfgs`` (small data): full-batch L-BFGS to convergence, weight decay by k-fold
  cross-validation (``fullbatch``); every example trains, the reported metrics are out-of-fold;
* ``adamw``: minibatch AdamW on the head's weights only, an evaluation per epoch, early stopping
  on the validation metric. The best epoch is restored only when the validation split is large
  enough to tell epochs apart (``MIN_SELECTION``); ties keep the later epoch.
"""

from __future__ import annotations

import copy
import math
import time

import torch
from tqdm.auto import tqdm

from ..config import TrainingConfig
from ..distributed import Placement
from ..errors import TrainingCancelled
from ..evaluation import score_logits
from ..inference import decode_rows, join_windows
from ..tokenization import collate_labels, pad
from .events import EventHandler, TrainingEvent, TrainResult
from .features import FeatureTable, cached_features, compute_features
from .fullbatch import fit_head_cv

#: A validation split smaller than this cannot tell epochs apart (one example moves the metric by
#: more than a point): the loop then trains its whole schedule and keeps the last weights.
MIN_SELECTION = 100


def device_of_run() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _raw_batch(clf, table: FeatureTable, ids: list[int], device):
    """(encoder features, collated labels, label mask, word shapes or None) of the items ``ids``."""
    items = [table.items[i] for i in ids]
    labels = collate_labels(items).to(device)
    shapes = pad([it.word_shape for it in items], 0).to(device) if clf.shape_embedding is not None else None
    return table.rows(ids, device), labels, clf.task.label_mask(labels), shapes


def _head_batch(clf, table: FeatureTable, ids: list[int], device):
    """(head input, collated labels, label mask) of the items ``ids``."""
    features, labels, mask, shapes = _raw_batch(clf, table, ids, device)
    return clf.head_input(features, shapes), labels, mask


@torch.no_grad()
def _validation_metric(clf, table: FeatureTable, device, batch_size: int = 512) -> float:
    clf.eval()

    def chunks():
        for start in range(0, len(table), batch_size):
            x, labels, mask = _head_batch(clf, table, list(range(start, min(start + batch_size, len(table)))), device)
            yield clf.head(x).logits, labels

    metric = score_logits(clf, chunks())[clf.task.metric]
    _train_head(clf)
    return metric


def _train_head(clf) -> None:
    """Training mode for everything but the encoder, which stays in eval mode (it may be serving
    other heads meanwhile)."""
    for name, module in clf.named_children():
        if name != "encoder":
            module.train()


def _features(clf, examples, what: str, emit: EventHandler, t0: float, cancel, cache: bool = True,
              where: Placement | None = None) -> FeatureTable:
    items = clf.task.encode(clf.tokenizer, examples, clf.model_config, clf.max_length, clf.model_config.label2id)

    def progress(done: int, total: int) -> None:
        if cancel is not None and cancel.is_set():  # the encoder pass is the long part of a frozen run
            raise TrainingCancelled(f"expected the run to keep a head, but it was cancelled while encoding the {what} "
                                    "texts, before it had one; train again")
        emit(TrainingEvent("features", done, total, elapsed=time.perf_counter() - t0, detail=what))

    compute = cached_features if cache else (lambda clf, examples, items, **kw: compute_features(clf, items, **kw))
    return FeatureTable(clf, items, compute(clf, examples, items, on_progress=progress, desc=f"encoding {what}",
                                            where=where))


def train_frozen(clf, train_ex, val_ex, cfg: TrainingConfig, emit: EventHandler, cancel, result: TrainResult,
                 cache: bool = True, t0: float | None = None, where: Placement | None = None) -> None:
    """Fit the head on the encoder's features. ``cache``: read/write the on-disk feature cache
    (off when the encoder was just tuned by this run). Under several processes (``where``) the
    encoder pass is shared out and the head is fitted once, by the main process."""
    where = where or Placement()
    device = device_of_run()
    clf.to(device)
    t0 = time.perf_counter() if t0 is None else t0
    train = _features(clf, train_ex, "train", emit, t0, cancel, cache, where)
    val = _features(clf, val_ex, "validation", emit, t0, cancel, cache, where) if val_ex else None
    if not where.is_main:
        return
    if cfg.head_fit == "lbfgs":
        _fit_lbfgs(clf, train, train_ex, cfg, emit, cancel, result, t0, device)
    else:
        _fit_adamw(clf, train, val, cfg, emit, cancel, result, t0, device)
    clf.eval()


def _fit_lbfgs(clf, train: FeatureTable, train_ex, cfg, emit, cancel, result, t0, device) -> None:
    strata = [item.label if isinstance(item.label, int) else 0 for item in train.items]  # token tasks: plain folds
    cv = fit_head_cv(clf, lambda ids: _raw_batch(clf, train, ids, device), len(train), strata, cfg.seed, emit, cancel,
                     result, t0)
    result.selection = cv.describe()
    if cv.out_of_fold is not None:  # the cross-validated predictions stand in for a validation split
        decoded: list = [None] * len(train)
        for ids, logits, mask in cv.out_of_fold:
            for i, row in zip(ids, decode_rows(clf.head, logits, mask)):
                decoded[i] = row
        result.validation_examples = list(train_ex)
        result.validation_predictions = [d for d, _ in join_windows(train.items, decoded, len(train_ex))]


def _fit_adamw(clf, train: FeatureTable, val: FeatureTable, cfg, emit, cancel, result, t0, device) -> None:
    params = [p for n, p in clf.named_parameters() if not n.startswith("encoder.")]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(train) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    generator = torch.Generator().manual_seed(cfg.seed)
    best_state, bad_evals, step = None, 0, 0
    selecting = len(val) >= MIN_SELECTION
    result.selection = (f"best of {cfg.epochs} epochs on {len(val)} validation examples" if selecting else
                        f"all {cfg.epochs} epochs, last weights kept: {len(val)} validation examples are too few "
                        f"(under {MIN_SELECTION}) to choose an epoch")
    t_train = time.perf_counter()
    clf.eval()
    _train_head(clf)
    for epoch in range(cfg.epochs):
        order = torch.randperm(len(train), generator=generator).tolist()
        losses = []
        for start in tqdm(range(0, len(order), cfg.batch_size), desc=f"epoch {epoch + 1}", leave=False, unit="batch"):
            x, labels, mask = _head_batch(clf, train, order[start : start + cfg.batch_size], device)
            loss = clf.head(x, labels, mask).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            step += 1
            if cancel is not None and cancel.is_set():
                result.cancelled = True
                break
            if step % max(1, steps_per_epoch // 10) == 0:
                rate = (time.perf_counter() - t_train) / step
                emit(TrainingEvent("train", step, total, step / steps_per_epoch, sum(losses[-20:]) / len(losses[-20:]),
                                   eta_seconds=rate * (total - step), elapsed=time.perf_counter() - t0))
        metric = _validation_metric(clf, val, device)
        mean_loss = sum(losses) / max(1, len(losses))
        result.history.append({"epoch": epoch + 1, "step": step, "loss": mean_loss, result.metric_name: metric})
        emit(TrainingEvent("eval", step, total, epoch + 1, mean_loss, metric, result.metric_name,
                           eta_seconds=(time.perf_counter() - t_train) / step * (total - step), elapsed=time.perf_counter() - t0))
        improved = result.best_metric is None or metric > result.best_metric
        if improved or metric == result.best_metric:  # ties keep the later epoch
            result.best_metric = metric
            best_state = copy.deepcopy(clf.head_state_dict())
        bad_evals = 0 if improved else bad_evals + 1
        if result.cancelled or (selecting and cfg.patience and bad_evals >= cfg.patience):
            result.stopped_early = not result.cancelled
            break
    if selecting and best_state is not None:
        clf.load_state_dict(best_state, strict=False)
