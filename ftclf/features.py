"""Frozen-encoder features, computed once and cached on disk.

With the encoder frozen, its output for a text never changes, so a head can train for many
epochs on cached vectors instead of running the encoder every epoch. The cache key covers the
encoder's weights fingerprint, task, pair mode, max length and a hash of the texts; both
poolings (cls and mean) are stored from the same pass, so switching pooling costs nothing.
Files are safetensors (float16, to halve the disk footprint), written atomically.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from .config import POOLINGS
from .data import data_hash
from .tokenization import length_sorted_batches

CACHE_VERSION = 1


def cache_dir() -> Path:
    return Path(os.environ.get("FTCLF_CACHE", Path.home() / ".cache" / "ftclf")) / "features"


def cache_key(clf, examples) -> str:
    parts = [
        str(CACHE_VERSION), clf.encoder_fingerprint, clf.task,
        clf.spec.pair_mode if clf.task == "pair" else "-", str(clf.max_length), data_hash(examples),
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


@torch.no_grad()
def compute_features(clf, items: list[dict], batch_size: int = 64, on_progress=None, desc: str = "encoding") -> dict[str, torch.Tensor]:
    """Run the encoder once over items.

    Sequence/pair: {"cls": (N, hidden), "mean": (N, hidden)} (+ "_b" keys for concat pairs).
    Token: {"words": (total_words, hidden)} with items' words laid end to end.
    """
    clf.eval()
    batches = length_sorted_batches(items, batch_size)
    per_item: list = [None] * len(items)
    for done, ids in enumerate(tqdm(batches, desc=desc, unit="batch", leave=False), 1):
        batch = clf.batch_inputs([items[i] for i in ids])
        feats = clf.encode_features(**batch, poolings=POOLINGS)
        for row, i in enumerate(ids):
            if clf.is_token:
                per_item[i] = {"words": feats["words"][row, : len(items[i]["word_index"])].float().cpu()}
            else:
                per_item[i] = {k: v[row].float().cpu() for k, v in feats.items()}
        if on_progress is not None:
            on_progress(done, len(batches))
    if clf.is_token:
        return {"words": torch.cat([p["words"] for p in per_item])}
    return {k: torch.stack([p[k] for p in per_item]) for k in per_item[0]}


def cached_features(clf, examples, items: list[dict], batch_size: int = 64, on_progress=None, desc: str = "encoding") -> dict[str, torch.Tensor]:
    """compute_features, read from / written to the on-disk cache."""
    path = cache_dir() / f"{cache_key(clf, examples)}.safetensors"
    if path.is_file():
        try:
            return {k: v.float() for k, v in load_file(str(path)).items()}
        except Exception:  # a damaged cache file is recomputed, never trusted
            path.unlink(missing_ok=True)
    features = compute_features(clf, items, batch_size, on_progress, desc)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp-{uuid.uuid4().hex[:8]}")
    try:
        save_file({k: v.half().contiguous() for k, v in features.items()}, str(tmp))
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)  # caching is an optimisation: a read-only disk is fine
    return {k: v.half().float() for k, v in features.items()}
