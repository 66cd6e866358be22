"""Any number of labels per text: the ``multilabel`` task. One sigmoid per label over the pooled vector,
binary cross-entropy, a label set as the answer (the empty set included).

Data: JSONL rows ``{"text": …, "labels": [...]}``, or a table whose labels column joins the labels with
``|`` (an empty cell: no label).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from ..data import table_columns, text_field
from ..errors import DataError
from ..predictions import MultiLabelPrediction
from ..tokenization import IGNORE_INDEX, encode_texts
from .base import TaskSpec, check_texts

#: what joins the labels of one text in a table cell
LABEL_SEP = "|"
#: a label is predicted when its probability reaches this (per-label thresholds tuned on validation replace it)
DEFAULT_THRESHOLD = 0.5
#: the largest ``pos_weight`` a rare label gets (1 positive in 1,000 texts would otherwise weigh 999)
MAX_POS_WEIGHT = 10.0


@dataclass(frozen=True)
class LabelSet:
    """A text and the set of labels it carries (None: unlabelled)."""

    text: str
    labels: tuple[str, ...] | None = None

    def texts(self) -> tuple[str, ...]:
        return (self.text,)

    def label_values(self) -> tuple[str, ...]:
        return self.labels or ()

    def relabel(self, aliases: dict[str, str]) -> LabelSet:
        return replace(self, labels=tuple(aliases.get(x, x) for x in self.labels or ()))


def split_labels(value, sep: str = LABEL_SEP) -> tuple[str, ...]:
    """A label cell as a sorted label set: a JSON list, or labels joined by ``sep``; empty: no label."""
    if value is None:
        return ()
    parts = value if isinstance(value, (list, tuple)) else str(value).split(sep)
    return tuple(sorted({str(p).strip() for p in parts if str(p).strip()}))


class MultiLabelTask(TaskSpec):
    name = "multilabel"
    name_example = "my-multilabel-classifier"
    title = "Multi-label classification"
    metric = "micro_f1"
    example_type = LabelSet
    example_kind = "texts with label sets"
    format_hint = 'use a table with a text column and a labels column joined by "|", or JSONL with a "labels" list'
    usage = 'predict(clf, ["The pasta was great but the music far too loud"])'
    hub_tags = ("multi-label-classification",)
    no_contrastive = ("contrastive tuning is skipped: it pairs texts as same or different label, and no rule for "
                      "pairing label sets (such as their overlap) has been measured to help")
    widget = "label_set"
    probability_function = "sigmoid"
    shown_confidence = "each label's probability"

    def from_rows(self, rows, columns, name, labelled):
        sep = columns.label_sep if columns is not None else LABEL_SEP
        text_col, _, label_col = table_columns(rows, columns, name, labelled=labelled, label_role="labels")
        return [LabelSet(text_field(row, text_col, number, name), split_labels(row.get(label_col), sep) if label_col else None)
                for number, row in rows]

    def stratum(self, example):
        return None

    def check_training_labels(self, labels):
        if not labels:
            raise DataError("expected at least one label in the training data, found texts without any; "
                            "add labels (joined by \"|\" in a table, a list in JSONL)")

    def preview(self, examples, limit):
        rows = [{"text": e.text, "labels": LABEL_SEP.join(e.labels or ())} for e in examples[:limit]]
        counts = Counter(label for e in examples for label in e.label_values())
        counts["(no label)"] = sum(1 for e in examples if not e.label_values())
        sizes = Counter(len(e.label_values()) for e in examples)
        per_text = ", ".join(f"{k}: {sizes[k]}" for k in sorted(sizes))
        mean = sum(k * v for k, v in sizes.items()) / max(1, len(examples))
        return rows, dict(counts), f"labels per text {per_text} (mean {mean:.2f}) · texts per label"

    def inputs(self, texts, text_pairs=None):
        if text_pairs is not None:
            return super().inputs(texts, text_pairs)  # refused, with the message every one-text task gives
        return [LabelSet(t) for t in check_texts(texts, "texts")]

    def encode(self, tokenizer, examples, config, max_length, label2id=None):
        items = encode_texts(tokenizer, [e.text for e in examples], None, max_length, case_markers=config.case_markers)
        if label2id is not None:
            for item in items:
                chosen = set(examples[item.source].label_values())
                item.label = [float(name in chosen) for name in label2id]  # multi-hot
        return items

    def no_label(self, item, num_labels):
        return [float(IGNORE_INDEX)] * num_labels

    def loss(self, logits, labels, weight=None):
        """Binary cross-entropy per label; ``weight`` is BCE's ``pos_weight`` (see :meth:`loss_weight`)."""
        return F.binary_cross_entropy_with_logits(logits, labels.float(), pos_weight=weight)

    def loss_weight(self, examples, label2id):
        """``pos_weight`` from the label frequencies: negatives / positives per label, at most
        MAX_POS_WEIGHT, so a rare label's few positives weigh as much as its many negatives (1 for a
        label without positives)."""
        positives = torch.zeros(len(label2id))
        for e in examples:
            for label in e.label_values():
                if label in label2id:
                    positives[label2id[label]] += 1
        negatives = len(examples) - positives
        return torch.where(positives > 0, negatives / positives.clamp_min(1), torch.ones_like(positives)).clamp(
            max=MAX_POS_WEIGHT)

    #: per-label calibration and thresholds (``ftclf.label_calibration``) replace the temperature-and-map one
    calibrates = True

    def log_probabilities(self, logits):
        """One independent probability per label: log-sigmoid (not a distribution over labels)."""
        return F.logsigmoid(logits)

    def probabilities(self, logits, calibration=None):
        """Each label's probability: the sigmoid of its score, calibrated per label when the head is."""
        return torch.sigmoid(logits if calibration is None else calibration.label_scores(logits))

    def decode(self, logits, mask=None, calibration=None):
        """The labels whose probability reaches their threshold (tuned per label on validation; 0.5 without),
        and every label's probability."""
        probs = self.probabilities(logits, calibration)
        chosen = probs >= torch.as_tensor(thresholds(calibration, logits.size(-1)), dtype=probs.dtype)
        return [[j for j, on in enumerate(row) if on] for row in chosen.tolist()], probs

    def distillation_loss(self, student_log_p, teacher_p, temperature, mask=None):
        """Per label: T^2 * KL between the teacher's and the student's (present, absent) distributions, each
        tempered (sigmoid(score / T)), averaged over labels and texts."""
        from ..losses import soft_loss

        absent = torch.log1p(-student_log_p.exp().clamp(max=1 - 1e-7))
        return soft_loss(torch.stack([student_log_p, absent], -1), torch.stack([teacher_p, 1 - teacher_p], -1),
                         temperature)

    auditable = False  # label sets: not yet
    suggestible = False  # uncertainty over a label set: not yet

    def behaviour_expect(self, raw):
        """The label set every case should get: a list of labels (or one label), compared as a set."""
        values = raw if isinstance(raw, list) else [raw]
        if not all(isinstance(v, str) for v in values):
            raise DataError(f"expected expect: as a list of labels, found {str(raw)[:200]!r}; write [label, …]")
        return ", ".join(sorted(values)) or "no label"

    def behaviour_names(self, expect, labels):
        return [v for v in expect.split(", ") if v and expect != "no label"], list(labels)

    def behaviour_outcome(self, prediction):
        """The label set (sorted, joined by ", ") as the answer; each label's probability for directional tests."""
        return ", ".join(sorted(prediction.labels)) or "no label", prediction.probabilities, ()

    def without_labels(self, examples):
        return [replace(e, labels=None) for e in examples]

    def operating_point(self, labels):
        return False  # each label has its own threshold already

    def fit_calibration(self, clf, decoded, gold, **options):
        from ..label_calibration import fit_label_calibration

        return fit_label_calibration(clf, decoded, gold, **options)

    def shown_calibration(self, clf, decoded, gold):
        from ..label_calibration import label_measure, multi_hot

        probs = torch.stack([d.probs for d in decoded]).double().numpy()
        return {k: round(float(v), 5) for k, v in label_measure(probs, multi_hot(gold, len(clf.labels))).items()}

    def probability_metrics(self, gold, probs, labels):
        """Label-ranking average precision (scikit-learn): how well the probabilities rank each text's
        labels above its other labels."""
        from sklearn.metrics import label_ranking_average_precision_score

        from ..label_calibration import multi_hot

        y = multi_hot(gold, len(labels))
        scores = torch.stack(list(probs)).double().numpy()  # rows: a list of them, or a (texts, labels) tensor
        return {"lrap": float(label_ranking_average_precision_score(y, scores))} if len(y) else {}

    def gold_ids(self, examples, label2id):
        return [sorted(label2id[x] for x in e.label_values()) for e in examples]

    def label_rows(self, labels):
        return [[j for j, v in enumerate(row) if v] for row in labels.tolist()]

    def metrics(self, gold, predicted, labels):
        return multilabel_metrics(gold, predicted, labels)

    def prediction(self, example, decoded, labels, truncated, calibration=None):
        probs = decoded.probs.tolist()
        return MultiLabelPrediction([labels[i] for i in decoded.ids], dict(zip(labels, probs)),
                                    dict(zip(labels, thresholds(calibration, len(labels)))), truncated)

    def json_line(self, index, prediction):
        return {"index": index, "labels": prediction.labels,
                "probabilities": {k: round(v, 6) for k, v in prediction.probabilities.items()},
                **({"truncated": True} if prediction.truncated else {})}

    def mistakes(self, examples, decoded, labels, limit=10):
        rows = []
        for e, d in zip(examples, decoded):
            predicted = [labels[i] for i in d.ids]
            if set(predicted) != set(e.label_values()):
                wrong = set(predicted) ^ set(e.label_values())
                confidence = max(abs(float(d.probs[labels.index(x)]) - 0.5) for x in wrong) + 0.5
                rows.append({"text": e.text, "gold": LABEL_SEP.join(e.label_values()) or "(none)",
                             "predicted": LABEL_SEP.join(predicted) or "(none)", "confidence": round(confidence, 3)})
        return sorted(rows, key=lambda r: -r["confidence"])[:limit]

    def report(self, metrics, quote=repr):
        headline = (f"micro-F1 **{metrics['micro_f1']:.3f}**, macro-F1 **{metrics['macro_f1']:.3f}**, exact match "
                    f"**{metrics['exact_match']:.3f}**, Hamming loss {metrics['hamming_loss']:.3f}"
                    + (f", LRAP {metrics['lrap']:.3f}" if "lrap" in metrics else "")
                    + (f" ({metrics['decided_on']})" if metrics.get("decided_on") else ""))
        rows = [[c, round(m["precision"], 4), round(m["recall"], 4), round(m["f1"], 4), m["support"]]
                for c, m in metrics["per_label"].items()]
        rows.append(["micro average", "", "", round(metrics["micro_f1"], 4), metrics["examples"]])
        return headline, ["label", "precision", "recall", "f1", "support"], rows


def thresholds(calibration, num_labels: int) -> list[float]:
    """Each label's decision threshold: the calibration's tuned ones, else DEFAULT_THRESHOLD."""
    if calibration is not None and len(calibration.thresholds) == num_labels:
        return list(calibration.thresholds)
    return [DEFAULT_THRESHOLD] * num_labels


def multilabel_metrics(gold, predicted, labels) -> dict:
    """Micro- and macro-F1, exact match, Hamming loss and per-label precision / recall / F1 / support (scikit-learn)
    of label-id sets."""
    from sklearn.metrics import f1_score, hamming_loss, precision_recall_fscore_support
    from sklearn.preprocessing import MultiLabelBinarizer

    binarizer = MultiLabelBinarizer(classes=list(range(len(labels))))
    y_true, y_pred = binarizer.fit_transform(gold), binarizer.transform(predicted)
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, zero_division=0)
    return {
        "micro_f1": float(f1_score(y_true, y_pred, average="micro", zero_division=0)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "exact_match": float((y_true == y_pred).all(1).mean()),
        "hamming_loss": float(hamming_loss(y_true, y_pred)),
        "per_label": {label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                      for label, p, r, f, s in zip(labels, precision, recall, f1, support)},
        "labels": list(labels), "examples": len(gold),
    }

