"""Frozen-encoder features, computed once and cached on disk.

With the encoder frozen, its output for a text never changes, so a head can train for many
epochs on cached vectors instead of running the encoder every epoch. The cache key covers the
encoder's weights fingerprint, what the task feeds the encoder (e.g. the pair mode), max length
and a hash of the texts; both poolings (cls and mean) are stored from the same pass, so switching
pooling costs nothing. Files are safetensors (float16, to halve the disk footprint), written
atomically; a damaged file is recomputed, never trusted.
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from ..config import PASS_BATCH_SIZE
from ..distributed import Placement
from ..encoders import POOLINGS
from ..tokenization import Item, collate, length_sorted_batches

CACHE_VERSION = 2
logger = logging.getLogger(__name__)


def cache_dir() -> Path:
    return Path(os.environ.get("FTCLF_CACHE", Path.home() / ".cache" / "ftclf")) / "features"


def texts_hash(examples: Sequence) -> str:
    """Hash of what the encoder reads (not the labels)."""
    digest = hashlib.sha256()
    for e in examples:
        digest.update("\x1f".join(e.texts()).encode())
        digest.update(b"\x00")
    return digest.hexdigest()[:16]


def cache_key(clf, examples: Sequence) -> str:
    parts = [str(CACHE_VERSION), clf.encoder_ref.fingerprint, clf.task.cache_key(clf.model_config),
             str(clf.max_length), texts_hash(examples)]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


@torch.no_grad()
def compute_features(clf, items: Sequence[Item], batch_size: int = PASS_BATCH_SIZE, on_progress=None,
                     desc: str = "encoding", where: Placement | None = None) -> dict[str, torch.Tensor]:
    """Run the encoder once over items: {name: (rows, hidden)}, every item's feature rows (one per
    text, one per word for token tasks) laid end to end in item order. Under several processes
    (``where``) each encodes every ``world``-th item and all of them get every item's rows."""
    where = where or Placement()
    clf.eval()
    mine = list(range(where.rank, len(items), where.world))
    batches = [[mine[i] for i in ids] for ids in length_sorted_batches([items[i] for i in mine], batch_size)]
    per_item: list = [None] * len(items)
    pad = clf.tokenizer.pad_token_id or 0
    for done, ids in enumerate(tqdm(batches, desc=desc, unit="batch", leave=False, disable=not where.is_main), 1):
        feats = clf.features(collate([items[i] for i in ids], pad).to(clf.device), POOLINGS)
        for row, i in enumerate(ids):
            n = clf.task.feature_rows(items[i])
            per_item[i] = {k: (v[row, :n] if v.dim() == 3 else v[row : row + 1]).float().cpu() for k, v in feats.items()}
        if on_progress is not None:
            on_progress(done, len(batches))
    if where.world > 1:  # every process gets the others' rows
        for i, rows in where.gather([(i, per_item[i]) for i in mine]):
            per_item[i] = rows
    return {k: torch.cat([p[k] for p in per_item]) for k in per_item[0]}


def cached_features(clf, examples: Sequence, items: Sequence[Item], batch_size: int = PASS_BATCH_SIZE, on_progress=None,
                    desc: str = "encoding", where: Placement | None = None) -> dict[str, torch.Tensor]:
    """compute_features, read from / written to the on-disk cache (written by the main process;
    read only when every process can read it)."""
    where = where or Placement()
    path = cache_dir() / f"{cache_key(clf, examples)}.safetensors"
    features = None
    if where.all_true(path.is_file()):
        try:
            features = {k: v.float() for k, v in load_file(str(path)).items()}
        except Exception:  # a damaged cache file is recomputed, never trusted
            path.unlink(missing_ok=True)
    if where.all_true(features is not None):
        if on_progress is not None:
            on_progress(1, 1)  # done at once: progress still reports the step
        return features
    features = compute_features(clf, items, batch_size, on_progress, desc, where)
    if not where.is_main:
        return features
    tmp = path.with_suffix(f".tmp-{uuid.uuid4().hex[:8]}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file({k: v.half().contiguous() for k, v in features.items()}, str(tmp))
        os.replace(tmp, path)
    except OSError as exc:  # caching is an optimisation: a read-only or full disk only costs the next run time
        logger.warning("could not cache encoder features in %s (%s); keeping them in memory only", path.parent, exc)
        tmp.unlink(missing_ok=True) if tmp.parent.is_dir() else None
    return {k: v.half().float() for k, v in features.items()}


class FeatureTable:
    """Cached features of items, served in minibatches: (batch, hidden) per text, or
    (batch, n_words, hidden) padded per sentence for token tasks."""

    def __init__(self, clf, items: Sequence[Item], features: dict[str, torch.Tensor]) -> None:
        self.items, self.features = items, features
        self.per_word = bool(items) and items[0].word_index is not None  # token items: one row per word
        self.offsets = [0]
        for item in items:
            self.offsets.append(self.offsets[-1] + clf.task.feature_rows(item))

    def __len__(self) -> int:
        return len(self.items)

    def rows(self, ids: Sequence[int], device) -> dict[str, torch.Tensor]:
        if not self.per_word:
            index = torch.tensor([self.offsets[i] for i in ids])
            return {k: v[index].to(device) for k, v in self.features.items()}
        return {
            k: torch.nn.utils.rnn.pad_sequence([v[self.offsets[i] : self.offsets[i + 1]] for i in ids], batch_first=True).to(device)
            for k, v in self.features.items()
        }
