"""Metrics as pure functions over label lists (offline: no metric needs the hub).

Classification: accuracy, macro-F1 (and positive-class F1 for binary tasks), per-class
precision / recall / F1 / support and the confusion matrix. Tagging: strict entity-level
precision / recall / F1 on IOB2 (computed by seqeval in strict mode), overall and per type,
token accuracy and the rate of invalid IOB2 transitions in the predictions.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .errors import DataError


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], num_labels: int) -> np.ndarray:
    """counts[i, j] = examples of true class i predicted as j -> (num_labels, num_labels)."""
    counts = np.zeros((num_labels, num_labels), dtype=np.int64)
    np.add.at(counts, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    return counts


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else 0.0


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str]) -> dict:
    if len(y_true) != len(y_pred):
        raise DataError(f"expected as many predictions as gold labels ({len(y_true)}), got {len(y_pred)}")
    if not len(y_true):
        raise DataError("expected at least one example to evaluate, got none")
    cm = confusion_matrix(y_true, y_pred, len(labels))
    tp = np.diag(cm).astype(float)
    per_class = {}
    for i, label in enumerate(labels):
        precision, recall = _ratio(tp[i], cm[:, i].sum()), _ratio(tp[i], cm[i].sum())
        per_class[label] = {
            "precision": precision,
            "recall": recall,
            "f1": _ratio(2 * precision * recall, precision + recall),
            "support": int(cm[i].sum()),
        }
    result = {
        "accuracy": _ratio(tp.sum(), cm.sum()),
        "f1": float(np.mean([c["f1"] for c in per_class.values()])),
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
        "labels": list(labels),
        "examples": int(cm.sum()),
    }
    if len(labels) == 2:
        result["f1_positive"] = per_class[labels[1]]["f1"]
    return result


def invalid_transitions(tags: Sequence[str]) -> int:
    """IOB2 violations: an I-X that follows neither B-X nor I-X (sequence start included)."""
    count, previous = 0, "O"
    for tag in tags:
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            count += 1
        previous = tag
    return count


def tag_rows(names: Sequence[str], label_rows: Sequence[Sequence[int]], predicted_rows: Sequence[Sequence[int]]):
    """Gold and predicted tag names per sentence from padded label-id rows (-100 = padding)."""
    gold, pred = [], []
    for row, predicted in zip(label_rows, predicted_rows):
        tags = [names[t] for t in row if t != -100]
        gold.append(tags)
        pred.append([names[t] for t in predicted[: len(tags)]])
    return gold, pred


def token_metrics(true_tags: Sequence[Sequence[str]], pred_tags: Sequence[Sequence[str]]) -> dict:
    from seqeval.metrics import classification_report
    from seqeval.scheme import IOB2

    if len(true_tags) != len(pred_tags) or any(len(t) != len(p) for t, p in zip(true_tags, pred_tags)):
        raise DataError("expected one predicted tag per gold tag in every sentence, got different lengths")
    if not true_tags:
        raise DataError("expected at least one sentence to evaluate, got none")
    report = classification_report(
        [list(t) for t in true_tags], [list(p) for p in pred_tags],
        mode="strict", scheme=IOB2, output_dict=True, zero_division=0,
    )
    per_type = {
        k: {"precision": float(v["precision"]), "recall": float(v["recall"]), "f1": float(v["f1-score"]),
            "support": int(v["support"])}
        for k, v in report.items() if not k.endswith(" avg")
    }
    micro = report.get("micro avg", {"precision": 0.0, "recall": 0.0, "f1-score": 0.0})
    n_tokens = sum(len(t) for t in true_tags)
    correct = sum(a == b for t, p in zip(true_tags, pred_tags) for a, b in zip(t, p))
    invalid = sum(invalid_transitions(p) for p in pred_tags)
    return {
        "precision": float(micro["precision"]),
        "recall": float(micro["recall"]),
        "f1": float(micro["f1-score"]),
        "per_type": per_type,
        "token_accuracy": _ratio(correct, n_tokens),
        "invalid_transition_rate": _ratio(invalid, n_tokens),
        "sentences": len(true_tags),
        "tokens": n_tokens,
    }


def predict_examples(clf, examples, batch_size: int = 64) -> tuple[list, list]:
    """(examples with aliased gold labels, predictions): tag lists for token examples,
    SequencePrediction objects otherwise. Refuses gold labels the head does not know."""
    from .inference import predict_sequences, tag_words
    from .tasks import TokenExample

    if not examples:
        raise DataError("expected labelled examples to evaluate, got none")
    labels = clf.spec.labels
    aliases = clf.spec.label_aliases
    if aliases:
        examples = [apply_label_aliases(e, aliases) for e in examples]
    if isinstance(examples[0], TokenExample):
        _refuse_unknown(sorted({t for e in examples for t in e.tags} - set(labels)), labels)
        tags, _, _ = tag_words(clf, [e.words for e in examples], batch_size)
        return list(examples), tags
    _refuse_unknown(sorted({e.label for e in examples} - set(labels)), labels)
    pairs = [e.text_pair for e in examples] if clf.task == "pair" else None
    return list(examples), predict_sequences(clf, [e.text for e in examples], pairs, batch_size)


def score_predictions(clf, examples, predictions) -> dict:
    """Metrics of ``predict_examples`` output against the gold labels."""
    if clf.is_token:
        return token_metrics([e.tags for e in examples], predictions)
    index = clf.spec.label2id
    return classification_metrics([index[e.label] for e in examples], [index[p.label] for p in predictions], clf.spec.labels)


def evaluate(clf, examples, batch_size: int = 64) -> dict:
    """Predict ``examples`` with a classifier and score them against their gold labels."""
    return score_predictions(clf, *predict_examples(clf, examples, batch_size))


def apply_label_aliases(example, aliases: dict[str, str]):
    """The example with its raw source labels (e.g. SST-2's "0"/"1") mapped to the head's names."""
    from dataclasses import replace

    from .tasks import TokenExample

    if isinstance(example, TokenExample):
        return replace(example, tags=tuple(aliases.get(t, t) for t in example.tags))
    return replace(example, label=aliases.get(example.label, example.label))


def _refuse_unknown(unknown: list[str], labels: Sequence[str]) -> None:
    if unknown:
        raise DataError(
            f"expected only labels the head knows ({', '.join(labels)}), found {', '.join(unknown)} in the "
            "evaluation data; map them to known labels or train a head on them"
        )
