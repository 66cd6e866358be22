"""Prediction, owned in one place: texts in, typed predictions out.

The :class:`Predictor` asks the classifier's task to check and encode the inputs, runs them
through the encoder in length-sorted batches, lets the head decode the scores, stitches the
windows of long sentences back together and asks the task to build the predictions. Several heads
that share an encoder and an input encoding (frozen heads on one base) are served from one encoder
pass (:func:`predict_heads`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from .errors import FtclfError, InputError
from .predictions import Decoded
from .tokenization import Item, collate, length_sorted_batches


class Predictor:
    """Serves one classifier: ``predict(texts, text_pairs=None)`` -> one prediction per text."""

    def __init__(self, classifier, batch_size: int = 32, calibrated: bool = True) -> None:
        self.classifier = classifier
        self.batch_size = batch_size
        #: False: the head's own probabilities (plain softmax / marginals), as a distilling teacher gives them
        self.calibrated = calibrated

    @classmethod
    def from_pretrained(cls, directory: str | Path, encoder=None, batch_size: int = 32) -> Predictor:
        from .model import Classifier

        return cls(Classifier.from_pretrained(directory, encoder), batch_size)

    def predict(self, texts=None, text_pairs=None, words=None) -> list:
        """``SequencePrediction`` per text (or pair), or ``TokenPrediction`` for token heads; token
        heads also take ``words``, sentences already split into words, whose words they keep."""
        task = self.classifier.task
        if words is not None:
            if texts is not None:
                raise InputError("expected texts or word lists, got both; pass one of them")
            return self.predict_inputs(task.word_inputs(words))
        return self.predict_inputs(task.inputs(texts, text_pairs))

    def predict_inputs(self, inputs: Sequence) -> list:
        """Predictions for inputs already checked by ``task.inputs``."""
        clf = self.classifier
        return [_prediction(clf, x, d, cut) for x, (d, cut) in zip(inputs, self.decode(inputs))]

    def decode(self, examples: Sequence) -> list[tuple[Decoded, bool]]:
        """(decoded labels and probabilities, whether the input was cut or windowed) per example."""
        clf = self.classifier
        items = clf.task.encode(clf.tokenizer, examples, clf.model_config, clf.max_length)
        return join_windows(items, self.run(items), len(examples))

    def run(self, items: Sequence[Item]) -> list[Decoded]:
        """Decoded output of every item, in the items' order."""
        return run_heads([self.classifier], items, self.batch_size, self.calibrated)[0]


def shares_encoding(a, b) -> bool:
    """Whether two classifiers read the same encoder output for the same input (one pass serves both)."""
    return (a.encoder is b.encoder and a.tokenizer is b.tokenizer and a.max_length == b.max_length
            and a.task.cache_key(a.model_config) == b.task.cache_key(b.model_config))


@torch.no_grad()
def run_heads(classifiers: Sequence, items: Sequence[Item], batch_size: int = 32,
              calibrated: bool = True, vectors: list | None = None) -> list[list[Decoded]]:
    """Decoded outputs of every head for every item; the heads must share their encoding (one encoder
    pass serves them all): group them with :func:`shares_encoding`, as :func:`predict_heads` does.
    ``vectors``: a list that receives the first head's input of every item (in item order)."""
    if not classifiers:
        raise FtclfError("expected at least one classifier, got none; pass the heads to run")
    first = classifiers[0]
    apart = [k for k, clf in enumerate(classifiers) if not shares_encoding(first, clf)]
    if apart:
        raise FtclfError(f"expected heads that share the first one's encoding (encoder, tokenizer, max_length, input "
                         f"encoding), found heads {apart} that do not; call predict_heads, which groups them")
    for clf in classifiers:
        clf.eval()
    poolings = sorted({clf.model_config.pooling for clf in classifiers})
    out: list[list] = [[None] * len(items) for _ in classifiers]
    if vectors is not None:
        vectors[:] = [None] * len(items)
    for ids in length_sorted_batches(items, batch_size):
        batch = collate([items[i] for i in ids], first.tokenizer.pad_token_id or 0).to(first.device)
        features = first.features(batch, poolings)
        for k, clf in enumerate(classifiers):
            head_input = clf.head_input(features, batch.word_shape)
            if vectors is not None and k == 0:
                for row, i in enumerate(ids):
                    vectors[i] = head_input[row].float().cpu()
            logits = clf.head(head_input, mask=batch.word_mask).logits
            calibration = clf.calibration if calibrated else None
            for i, decoded in zip(ids, decode_rows(clf.head, logits, batch.word_mask, calibration)):
                out[k][i] = decoded
    return out


def decode_rows(head, logits: torch.Tensor, mask: torch.Tensor | None, calibration=None) -> list[Decoded]:
    """One :class:`Decoded` per row of a head's scores (per-word rows without their padding),
    probabilities calibrated by ``calibration`` (``ftclf.calibration.Calibration``, or None)."""
    labels, probs = head.decode(logits, mask, calibration)
    cut = lambda t, ids: (t[: len(ids)] if t.dim() == 2 else t).cpu()  # noqa: E731
    return [Decoded(ids, cut(p, ids), cut(s, ids)) for ids, p, s in zip(labels, probs, logits.detach())]


def predict_heads(classifiers: Sequence, texts, text_pairs=None, batch_size: int = 32) -> list[list]:
    """Predictions of several heads on the same inputs; heads that share their encoding (frozen
    heads on one base encoder) share one encoder pass."""
    results: list = [None] * len(classifiers)
    groups: list[list[int]] = []
    for k, clf in enumerate(classifiers):
        home = next((g for g in groups if shares_encoding(classifiers[g[0]], clf)), None)
        (home.append(k) if home is not None else groups.append([k]))
    for group in groups:
        heads = [classifiers[k] for k in group]
        first = heads[0]
        inputs = first.task.inputs(texts, text_pairs)
        items = first.task.encode(first.tokenizer, inputs, first.model_config, first.max_length)
        for k, clf, decoded in zip(group, heads, run_heads(heads, items, batch_size)):
            results[k] = [_prediction(clf, x, d, cut)
                          for x, (d, cut) in zip(inputs, join_windows(items, decoded, len(inputs)))]
    return results


def _prediction(clf, example, decoded: Decoded, cut: bool):
    """The task's prediction of one input (the calibration passed on only where there is one: a task
    registered before calibration existed keeps its four-argument ``prediction``)."""
    if clf.calibration is None:
        return clf.task.prediction(example, decoded, clf.labels, cut)
    return clf.task.prediction(example, decoded, clf.labels, cut, clf.calibration)


def join_windows(items: Sequence[Item], decoded: Sequence[Decoded], n: int) -> list[tuple[Decoded, bool]]:
    """(decoded, cut) per example: the items of each example joined (the word windows of a long
    sentence, in order)."""
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
            scores = [d.scores for _, d in pieces]
            out.append((Decoded(ids, torch.cat([d.probs for _, d in pieces]),
                                None if any(s is None for s in scores) else torch.cat(scores)), cut))
    return out


def predict(classifier, texts=None, text_pairs=None, batch_size: int = 32, words=None) -> list:
    """One-off prediction with a classifier (see :meth:`Predictor.predict`)."""
    return Predictor(classifier, batch_size).predict(texts, text_pairs, words)
