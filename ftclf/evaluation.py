"""``evaluate(clf, examples)``: predict labelled examples and score them with the task's metrics.

``evaluate`` (and the Trainer's ``compute_metrics``) score through the task's Hugging Face ``evaluate``
module (:mod:`ftclf.hf_metrics`, offline); ``score`` and ``score_logits`` call the same pure functions
directly, without importing ``evaluate`` (seconds), for the frozen recipes' many quick scorings."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

from .errors import DataError
from .inference import Predictor
from .predictions import Decoded


def decode_examples(clf, examples: Sequence, batch_size: int = 64) -> tuple[list, list[Decoded]]:
    """(examples with the head's label names, their decoded predictions). Raw source labels are
    mapped through the head's ``label_aliases``; labels the head does not know are refused."""
    if not examples:
        raise DataError("expected labelled examples to evaluate, got none")
    clf.task.check_examples(examples)
    aliases = clf.model_config.label_aliases
    examples = [e.relabel(aliases) for e in examples] if aliases else list(examples)
    unknown = sorted({v for e in examples for v in e.label_values()} - set(clf.labels))
    if unknown:
        raise DataError(
            f"expected only labels the head knows ({', '.join(clf.labels)}), found {', '.join(unknown)} in the "
            "evaluation data; map them to known labels or train a head on them"
        )
    return examples, [d for d, _ in Predictor(clf, batch_size).decode(examples)]


def score(clf, examples: Sequence, decoded: Sequence[Decoded]) -> dict:
    """The task's metrics of ``decoded`` against the examples' gold labels."""
    gold = clf.task.gold_ids(examples, clf.model_config.label2id)
    return {**clf.task.metrics(gold, [d.ids for d in decoded], clf.labels),
            **clf.task.probability_metrics(gold, [d.probs for d in decoded], clf.labels)}


def evaluate(clf, examples: Sequence, batch_size: int = 64) -> dict:
    """Predict ``examples`` with a classifier and score them against their gold labels (through the
    task's ``evaluate`` module: the numbers of :func:`score`), with the calibration of the probabilities it
    shows: ``ece`` (``entity_ece`` for token heads, over predicted entities), ``nll`` and ``brier``."""
    from .calibration import shown_figures
    from .hf_metrics import task_metrics

    examples, decoded = decode_examples(clf, examples, batch_size)
    gold = clf.task.gold_ids(examples, clf.model_config.label2id)
    metrics = task_metrics(clf.task, gold, [d.ids for d in decoded], clf.labels)
    metrics.update(clf.task.probability_metrics(gold, [d.probs for d in decoded], clf.labels))
    if clf.task.calibrates:
        metrics.update(shown_figures(clf, decoded, gold))  # calibration of the probabilities it shows
    return metrics


def decode_logits(clf, chunks: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> tuple[list, list]:
    """(gold ids, predicted ids) of raw head scores: ``chunks`` of (logits, collated labels), decoded
    by the head (softmax argmax, or Viterbi for a CRF)."""
    gold, predicted = [], []
    for logits, labels in chunks:
        ids, _ = clf.head.decode(logits, clf.task.label_mask(labels))
        predicted += ids
        gold += clf.task.label_rows(labels)
    return gold, predicted


def score_logits(clf, chunks: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> dict:
    """The task's metrics of raw head scores (see :func:`decode_logits`). Both training loops score
    validation so."""
    return clf.task.metrics(*decode_logits(clf, chunks), clf.labels)
