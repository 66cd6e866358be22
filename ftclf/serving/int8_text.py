"""Text that calibrates the dynamic int8 recipe's smoothing: the built-in samples' sentences (offline, shipped with ftclf),
one at a time and as the pairs they are written in, so both input shapes a head sees are covered."""

from __future__ import annotations

import torch

from ..config import PREDICT_BATCH_SIZE
from ..data import TokenExample
from ..samples import samples
from ..tasks import read_examples


def calibration_texts() -> list[str | tuple[str, str]]:
    """Every sample sentence alone, and every sample pair as a pair."""
    texts: list[str | tuple[str, str]] = []
    for sample in samples():
        for example in read_examples(sample.path, sample.task):
            if isinstance(example, TokenExample):
                texts.append(" ".join(example.words))
                continue
            parts = tuple(t for t in example.texts() if t)  # one text, or a pair's two
            texts += list(parts)
            if len(parts) == 2:
                texts.append(tuple(parts))
    return texts


def calibration_batches(tokenizer, input_names: list[str], batch_size: int = PREDICT_BATCH_SIZE,
                        max_length: int = 128) -> list[dict[str, torch.Tensor]]:
    """The calibration text, tokenized into padded batches of the encoder's ``input_names``."""
    texts = calibration_texts()
    singles = [t for t in texts if isinstance(t, str)]
    pairs = [t for t in texts if not isinstance(t, str)]
    batches = []
    for group, as_pairs in ((singles, False), (pairs, True)):
        for start in range(0, len(group), batch_size):
            chunk = group[start:start + batch_size]
            args = ([a for a, _ in chunk], [b for _, b in chunk]) if as_pairs else (chunk,)
            encoded = tokenizer(*args, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
            batches.append({k: v for k, v in encoded.items() if k in input_names})
    return batches
