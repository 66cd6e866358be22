"""Frozen-encoder training: the head learns on cached encoder features (seconds per epoch).

A minibatch loop that knows nothing of tasks or heads beyond "the head returns a loss": AdamW on
the head's weights only, an evaluation per epoch, early stopping on the validation metric, the
best head restored.
"""

from __future__ import annotations

import copy
import math
import time

import torch
from tqdm.auto import tqdm

from ..config import TrainingConfig
from ..errors import TrainingCancelled
from ..evaluation import score_logits
from ..tokenization import collate_labels, pad
from .events import EventHandler, TrainingEvent, TrainResult
from .features import FeatureTable, cached_features


def device_of_run() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _head_batch(clf, table: FeatureTable, ids: list[int], device):
    """(head input, collated labels, label mask) of the items ``ids``."""
    items = [table.items[i] for i in ids]
    shapes = pad([it.word_shape for it in items], 0).to(device) if clf.shape_embedding is not None else None
    labels = collate_labels(items).to(device)
    x = clf.head_input(table.rows(ids, device), shapes)
    return x, labels, clf.task.label_mask(labels)


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


def _features(clf, examples, cfg: TrainingConfig, what: str, emit: EventHandler, t0: float, cancel) -> FeatureTable:
    items = clf.task.encode(clf.tokenizer, examples, clf.model_config, clf.max_length, clf.model_config.label2id)

    def progress(done: int, total: int) -> None:
        if cancel is not None and cancel.is_set():  # the encoder pass is the long part of a frozen run
            raise TrainingCancelled(f"expected the run to keep a head, but it was cancelled while encoding the {what} "
                                    "texts, before it had one; train again")
        emit(TrainingEvent("features", done, total, elapsed=time.perf_counter() - t0, detail=what))

    return FeatureTable(clf, items, cached_features(clf, examples, items, on_progress=progress, desc=f"encoding {what}"))


def train_frozen(clf, train_ex, val_ex, cfg: TrainingConfig, emit: EventHandler, cancel, result: TrainResult) -> None:
    device = device_of_run()
    clf.to(device)
    t0 = time.perf_counter()
    train = _features(clf, train_ex, cfg, "train", emit, t0, cancel)
    val = _features(clf, val_ex, cfg, "validation", emit, t0, cancel)
    params = [p for n, p in clf.named_parameters() if not n.startswith("encoder.")]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(train) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    generator = torch.Generator().manual_seed(cfg.seed)
    best_state, bad_evals, step = None, 0, 0
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
        if result.best_metric is None or metric > result.best_metric:
            result.best_metric, bad_evals = metric, 0
            best_state = copy.deepcopy(clf.head_state_dict())
        else:
            bad_evals += 1
        if result.cancelled or (cfg.patience and bad_evals >= cfg.patience):
            result.stopped_early = not result.cancelled
            break
    if best_state is not None:
        clf.load_state_dict(best_state, strict=False)
    clf.eval()
