"""Frozen-encoder training: the head learns on cached encoder features (seconds per epoch).

A task-agnostic minibatch loop over cached vectors: AdamW on the head's weights only, an
evaluation per epoch, early stopping on the validation metric, the best head restored.
"""

from __future__ import annotations

import copy
import math
import time

import torch
from tqdm.auto import tqdm

from .config import TrainingConfig
from .evaluation import classification_metrics, tag_rows, token_metrics
from .events import EventHandler, TrainingEvent, TrainResult
from .features import cached_features
from .tokenization import collate, encode_for_training


def device_of_run() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class _FeatureBatches:
    """Minibatches of cached features for the head: sequence (N, F) rows or padded word rows."""

    def __init__(self, clf, items: list[dict], feats: dict[str, torch.Tensor]) -> None:
        self.clf, self.items, self.feats = clf, items, feats
        if clf.is_token:
            sizes = [len(it["word_index"]) for it in items]
            self.offsets = [0]
            for n in sizes:
                self.offsets.append(self.offsets[-1] + n)

    def __len__(self) -> int:
        return len(self.items)

    def batch(self, ids: list[int], device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        clf = self.clf
        if not clf.is_token:
            feats = {k: v[ids].to(device) for k, v in self.feats.items()}
            labels = torch.tensor([self.items[i]["labels"] for i in ids], device=device)
            return clf.head_features(feats), labels, None
        rows = [self.feats["words"][self.offsets[i] : self.offsets[i + 1]] for i in ids]
        words = torch.nn.utils.rnn.pad_sequence(rows, batch_first=True).to(device)  # (batch, n_words, hidden)
        padded = collate([{"labels": self.items[i]["labels"], "word_shape": self.items[i]["word_shape"]} for i in ids])
        labels = padded["labels"].to(device)
        return clf.head_features({"words": words}, padded["word_shape"].to(device)), labels, labels != -100


def _score(clf, data: _FeatureBatches, device, batch_size: int = 512) -> float:
    """Validation metric of the current head on cached features."""
    clf.eval()
    gold, pred = [], []
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            ids = list(range(start, min(start + batch_size, len(data))))
            x, labels, mask = data.batch(ids, device)
            predicted, _ = clf.decode(clf.head_forward(x).logits, mask)
            if clf.is_token:
                g, p = tag_rows(clf.spec.labels, labels.tolist(), predicted)
                gold += g
                pred += p
            else:
                gold.extend(labels.tolist())
                pred.extend(predicted)
    clf.train()
    if clf.is_token:
        return token_metrics(gold, pred)["f1"]
    return classification_metrics(gold, pred, clf.spec.labels)["accuracy"]


def train_frozen(clf, train_ex, val_ex, cfg: TrainingConfig, emit: EventHandler, cancel, result: TrainResult) -> None:
    device = device_of_run()
    clf.to(device)
    t0 = time.perf_counter()

    def progress(what):
        return lambda done, total: emit(TrainingEvent("features", done, total, metric_name=what, elapsed=time.perf_counter() - t0))

    train_items, val_items = encode_for_training(clf, train_ex), encode_for_training(clf, val_ex)
    train = _FeatureBatches(clf, train_items, cached_features(clf, train_ex, train_items, on_progress=progress("train"), desc="encoding train"))
    val = _FeatureBatches(clf, val_items, cached_features(clf, val_ex, val_items, on_progress=progress("validation"), desc="encoding validation"))
    params = [p for n, p in clf.named_parameters() if not n.startswith("encoder.")]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(train) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    generator = torch.Generator().manual_seed(cfg.seed)
    best_state, bad_evals, step = None, 0, 0
    t_train = time.perf_counter()
    clf.train()
    clf.encoder.eval()
    for epoch in range(cfg.epochs):
        order = torch.randperm(len(train), generator=generator).tolist()
        losses = []
        for start in tqdm(range(0, len(order), cfg.batch_size), desc=f"epoch {epoch + 1}", leave=False, unit="batch"):
            x, labels, mask = train.batch(order[start : start + cfg.batch_size], device)
            loss = clf.head_forward(x, labels, mask).loss
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
        metric = _score(clf, val, device)
        mean_loss = sum(losses) / max(1, len(losses))
        result.history.append({"epoch": epoch + 1, "step": step, "loss": mean_loss, result.metric_name: metric})
        emit(TrainingEvent("eval", step, total, epoch + 1, mean_loss, metric, result.metric_name,
                           eta_seconds=(time.perf_counter() - t_train) / step * (total - step), elapsed=time.perf_counter() - t0))
        if result.best_metric is None or metric > result.best_metric:
            result.best_metric, bad_evals = metric, 0
            best_state = copy.deepcopy({k: v for k, v in clf.head_state_dict().items()})
        else:
            bad_evals += 1
        if result.cancelled or (cfg.patience and bad_evals >= cfg.patience):
            result.stopped_early = not result.cancelled
            break
    if best_state is not None:
        clf.load_state_dict(best_state, strict=False)
    clf.eval()


