"""What to label next: the unlabelled texts a head would learn most from.

Uncertainty with diversity (Zhdanov, 2019, "Diverse mini-batch active learning"; small-text's
``EmbeddingKMeans``): every text of the pool is scored by the head's uncertainty (``margin``: one minus the
gap between its two most probable labels; ``entropy``: the entropy of its probabilities over the most it can
be), the ``PREFILTER`` × k most uncertain are clustered into k groups of the head's own input vectors
(k-means weighted by uncertainty), and each group gives its member nearest the centre. k near-duplicates of
one confusing text would teach the head once; k texts from k groups teach it k things. One encoder pass
gives both the probabilities and the vectors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .errors import DataError

STRATEGIES = ("margin", "entropy")
#: candidates clustered per suggestion (the most uncertain PREFILTER × k texts)
PREFILTER = 10


@dataclass
class Suggestion:
    """An unlabelled text worth labelling: the head's guess and how unsure it is."""

    index: int  # the 0-based row of the pool
    text: str
    text_pair: str | None
    label: str  # the head's guess
    score: float  # the guess's probability
    uncertainty: float  # 0 (sure) … 1 (no idea)

    def to_dict(self) -> dict:
        return {"index": self.index, "text": self.text, **({"text_pair": self.text_pair} if self.text_pair else {}),
                "label": self.label, "score": round(self.score, 4), "uncertainty": round(self.uncertainty, 4)}


def uncertainty(probs: np.ndarray, strategy: str = "margin") -> np.ndarray:
    """(rows,) in [0, 1] of (rows, labels) probabilities: 1 - (top - second), or normalised entropy."""
    if strategy not in STRATEGIES:
        raise DataError(f"expected an uncertainty of {', '.join(STRATEGIES)}, got {strategy!r}; pick one")
    if probs.shape[1] < 2:
        return np.zeros(len(probs))
    if strategy == "margin":
        top = np.sort(probs, axis=1)
        return 1.0 - (top[:, -1] - top[:, -2])
    p = np.clip(probs, 1e-12, 1.0)
    return -(p * np.log(p)).sum(axis=1) / np.log(probs.shape[1])


def diverse(vectors: np.ndarray, scores: np.ndarray, k: int, prefilter: int = PREFILTER, seed: int = 0) -> list[int]:
    """k rows, most uncertain first: the ``prefilter`` × k highest ``scores`` clustered (k-means on the
    unit-length ``vectors``, weighted by score), each cluster's member nearest its centre."""
    order = np.argsort(-scores, kind="stable")
    candidates = order[: max(k, prefilter * k)]
    if len(candidates) <= k:
        return candidates.tolist()
    from sklearn.cluster import KMeans

    x = vectors[candidates]
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    weights = np.maximum(scores[candidates], 1e-6)
    km = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(x, sample_weight=weights)
    picked = []
    for c in range(k):
        members = np.where(km.labels_ == c)[0]
        if len(members):
            nearest = members[np.argmin(((x[members] - km.cluster_centers_[c]) ** 2).sum(axis=1))]
            picked.append(int(candidates[nearest]))
    rest = [int(i) for i in candidates if int(i) not in set(picked)]  # empty clusters: the next most uncertain
    picked += rest[: k - len(picked)]
    return sorted(picked, key=lambda i: -scores[i])


@torch.no_grad()
def score_pool(classifier, texts: Sequence[str], text_pairs: Sequence[str] | None = None,
               batch_size: int = 32) -> tuple[list, np.ndarray]:
    """(the head's prediction of every text, (texts, d) the head's input vector of each: one encoder pass)."""
    from .inference import _prediction, join_windows, run_heads

    task = classifier.task
    inputs = task.inputs(list(texts), list(text_pairs) if text_pairs is not None else None)
    items = task.encode(classifier.tokenizer, inputs, classifier.model_config, classifier.max_length)
    kept: list = []
    decoded = run_heads([classifier], items, batch_size, vectors=kept)[0]
    predictions = [_prediction(classifier, x, d, cut) for x, (d, cut) in zip(inputs, join_windows(items, decoded, len(inputs)))]
    sums = torch.zeros(len(inputs), kept[0].shape[-1])
    counts = torch.zeros(len(inputs), 1)
    for item, vector in zip(items, kept):  # a long text's windows: their mean
        sums[item.source] += vector
        counts[item.source] += 1
    return predictions, (sums / counts).numpy()


def suggest(classifier, texts: Sequence[str], text_pairs: Sequence[str] | None = None, k: int = 10,
            strategy: str = "margin", diversity: bool = True, seed: int = 0, batch_size: int = 32) -> list[Suggestion]:
    """The ``k`` texts of an unlabelled pool (``texts``, with ``text_pairs`` for a pair head) most worth
    labelling next, most useful first: uncertainty (``strategy``) with diversity (unless ``diversity`` is
    False: then simply the most uncertain)."""
    task = classifier.task
    if not task.suggestible:
        raise DataError(f"expected a text or pair head to suggest texts for, got a {task.name} head; suggestions "
                        "rank whole texts by one label's uncertainty")
    if k < 1:
        raise DataError(f"expected k of at least 1, got {k}; ask for some suggestions")
    if not len(texts):
        raise DataError("expected unlabelled texts to choose from, got none; pass a pool of texts")
    predictions, vectors = score_pool(classifier, texts, text_pairs, batch_size)
    labels = classifier.labels
    probs = np.array([[p.probabilities[label] for label in labels] for p in predictions])
    unsure = uncertainty(probs, strategy)
    picked = diverse(vectors, unsure, k, seed=seed) if diversity else np.argsort(-unsure, kind="stable")[:k].tolist()
    pairs = list(text_pairs) if text_pairs is not None else None
    return [Suggestion(i, texts[i], pairs[i] if pairs else None, predictions[i].label,
                       float(predictions[i].probabilities[predictions[i].label]), float(unsure[i])) for i in picked]
