"""Prediction, owned in one place: texts in, typed predictions out.

The :class:`Predictor` asks the classifier's task to check and encode the inputs, runs them
through the classifier in length-sorted batches, lets the head decode the scores, stitches the
windows of long sentences back together and asks the task to build the predictions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from .predictions import Decoded
from .tokenization import Item, collate, length_sorted_batches


class Predictor:
    """Serves one classifier: ``predict(texts, text_pairs=None)`` -> one prediction per text."""

    def __init__(self, classifier, batch_size: int = 32) -> None:
        self.classifier = classifier
        self.batch_size = batch_size

    @classmethod
    def from_pretrained(cls, directory: str | Path, encoder=None, batch_size: int = 32) -> Predictor:
        from .model import Classifier

        return cls(Classifier.from_pretrained(directory, encoder), batch_size)

    def predict(self, texts, text_pairs=None) -> list:
        """``SequencePrediction`` per text (or pair), or ``TokenPrediction`` for token heads."""
        clf = self.classifier
        inputs = clf.task.inputs(texts, text_pairs)
        decoded = self.decode(inputs)
        return [clf.task.prediction(x, d, clf.labels, cut) for x, (d, cut) in zip(inputs, decoded)]

    def decode(self, examples: Sequence) -> list[tuple[Decoded, bool]]:
        """(decoded labels and probabilities, whether the input was cut or windowed) per example."""
        clf = self.classifier
        items = clf.task.encode(clf.tokenizer, examples, clf.model_config, clf.max_length)
        return _per_example(items, self.run(items), len(examples))

    @torch.no_grad()
    def run(self, items: Sequence[Item]) -> list[Decoded]:
        """Decoded output of every item, in the items' order."""
        clf = self.classifier
        clf.eval()
        out: list = [None] * len(items)
        pad = clf.tokenizer.pad_token_id or 0
        for ids in length_sorted_batches(items, self.batch_size):
            batch = collate([items[i] for i in ids], pad)
            logits = clf(batch).logits
            labels, probs = clf.head.decode(logits, batch.word_mask)
            for row, i in enumerate(ids):
                p = probs[row]
                if p.dim() == 2:  # per-word rows: drop the padding words
                    p = p[: len(labels[row])]
                out[i] = Decoded(labels[row], p.cpu())
        return out


def _per_example(items: Sequence[Item], decoded: Sequence[Decoded], n: int) -> list[tuple[Decoded, bool]]:
    """Join the items of each example (the word windows of a long sentence, in order)."""
    parts: list[list[tuple[Item, Decoded]]] = [[] for _ in range(n)]
    for item, d in zip(items, decoded):
        parts[item.source].append((item, d))
    out = []
    for pieces in parts:
        cut = any(item.truncated for item, _ in pieces)
        if len(pieces) == 1:
            out.append((pieces[0][1], cut))
        else:
            ids = [i for _, d in pieces for i in d.ids]
            out.append((Decoded(ids, torch.cat([d.probs for _, d in pieces])), cut))
    return out


def predict(classifier, texts, text_pairs=None, batch_size: int = 32) -> list:
    """One-off prediction with a classifier (see :meth:`Predictor.predict`)."""
    return Predictor(classifier, batch_size).predict(texts, text_pairs)
