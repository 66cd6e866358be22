"""Label lists, seeded samples and stratified validation splits."""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from typing import TypeVar

from .errors import DataError

T = TypeVar("T")


def sort_labels(labels: Iterable[str]) -> list[str]:
    """Distinct labels in a stable order: integers numerically, anything else alphabetically."""
    labels = set(labels)
    if all(re.fullmatch(r"-?\d+", label) for label in labels):
        return sorted(labels, key=int)
    return sorted(labels)


def sample(examples: list[T], n: int | None, seed: int) -> list[T]:
    """A seeded sample of at most n examples, in original order."""
    if n is None or n >= len(examples):
        return examples
    keep = sorted(random.Random(seed).sample(range(len(examples)), n))
    return [examples[i] for i in keep]


def split_train_validation(
    examples: list[T], fraction: float, seed: int, max_validation: int | None = None,
    stratum: Callable[[T], Hashable] | None = None,
) -> tuple[list[T], list[T]]:
    """Seeded (train, validation) split; with ``stratum``, every stratum (label) keeps its share
    in both parts."""
    if len(examples) < 4:
        raise DataError(
            f"expected at least 4 examples to carve a validation split, found {len(examples)}; "
            "add data or pass a validation file"
        )
    rng = random.Random(seed)
    n_val = max(1, round(len(examples) * fraction))
    if max_validation:
        n_val = min(n_val, max_validation)
    if stratum is None:
        order = list(range(len(examples)))
        rng.shuffle(order)
        chosen = set(order[:n_val])
    else:
        groups = defaultdict(list)
        for i, e in enumerate(examples):
            groups[stratum(e)].append(i)
        chosen = set()
        for key in sorted(groups):
            idx = groups[key]
            rng.shuffle(idx)
            take = min(len(idx) - 1, max(1, round(len(idx) * n_val / len(examples))))
            chosen.update(idx[:take])
    if not chosen:
        raise DataError(
            f"expected classes with at least 2 examples to carve a validation split from, found {len(groups)} classes "
            f"among {len(examples)} examples, each too small; add examples per class or pass a validation file"
        )
    train = [e for i, e in enumerate(examples) if i not in chosen]
    val = [e for i, e in enumerate(examples) if i in chosen]
    return train, val
