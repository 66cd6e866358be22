"""The task protocol (:class:`TaskSpec`) and the task registry.

A task owns what differs between kinds of prediction: how its examples are read and checked, how
they become encoder items, which encoder vectors reach the head, the loss, the decoding, the
metrics and the prediction type. Defaults here serve one-label-per-text tasks; ``text.py`` and
``tagging.py`` hold the built-in tasks.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..data import (
    LABEL_COLUMNS,
    PAIR_COLUMNS,
    TEXT_COLUMNS,
    ColumnMap,
    Example,
    detect_format,
    pick_column,
    read_hub_rows,
    read_rows,
    rows_to_examples,
)
from ..encoders import pool
from ..errors import DataError, InputError
from ..metrics import classification_metrics
from ..predictions import Decoded, SequencePrediction
from ..registry import Registry
from ..splits import sort_labels
from ..tokenization import IGNORE_INDEX, Batch, Item, encode_texts

FORMAT_NAMES = {"csv": "CSV", "tsv": "TSV", "jsonl": "JSONL", "conll": "CoNLL"}


class TaskSpec:
    """What a task is. Subclasses set the class attributes and override what differs.

    ``config`` arguments are :class:`ftclf.ModelConfig` objects (read only).
    """

    name: str = ""
    #: what the dashboard calls the task
    title: str = ""
    #: the validation metric that early stopping and model selection watch (higher is better)
    metric: str = "accuracy"
    #: one output per word (a sentence tagger) instead of one per text
    token_level: bool = False
    #: every input is two texts
    text_pairs: bool = False
    default_head: str = "linear"
    #: the columns it reads from a table (CSV / TSV / JSONL), by role; none: it reads another format (CoNLL)
    column_roles: tuple[str, ...] = ("text", "label")
    #: the ``ModelConfig`` options (besides the head) that mean something for this task: what the Train tab
    #: shows, what a model card and the Models table describe
    options: tuple[str, ...] = ("pooling", "case_markers")
    #: one label id per input, so that examples pair up as same / different label (contrastive
    #: body tuning, ``mode="contrastive"``)
    supports_contrastive: bool = False
    #: why small data skips contrastive tuning for this task, in words (``mode="auto"`` says it; "" to say nothing)
    no_contrastive: str = ""
    #: file formats :meth:`read` accepts, and what to do with another one
    formats: tuple[str, ...] = ("csv", "tsv", "jsonl")
    format_hint = "use a table with a text and a label column (task 'token' reads CoNLL files)"
    #: the examples' class, and what messages call them
    example_type: type = Example
    example_kind = "labelled texts"
    #: the model card's usage line
    usage: str = ""
    #: what one of its examples is called in messages ("3 examples", "3 sentences")
    unit: str = "example"
    #: the Train tab's example head name
    name_example: str = "my-head"
    #: the hub's pipeline tag of its heads (hub search and widgets read it; "" for none) and extra card tags
    pipeline_tag: str = "text-classification"
    hub_tags: tuple[str, ...] = ()
    #: how the dashboard draws a prediction (``ftclf.ui.predict_tabs.VIEWS``): "probability_bars" for one
    #: label of many, "label_set" for a set of labels with their thresholds, "entities" for tagged words
    widget: str = "probability_bars"
    #: the probability a calibration of its heads is about, in words (the reliability diagram's axis)
    shown_confidence: str = "top probability"
    #: the name of :meth:`log_probabilities` for people (How it works): "softmax" over labels, or "sigmoid" per label
    probability_function: str = "softmax"

    # ------------------------------------------------------------------ data
    def read(self, source: str | Path, fmt: str | None = None, columns: ColumnMap | None = None,
             labelled: bool = True) -> list:
        """Examples of a file for this task; ``hf:ID[:CONFIG[:SPLIT]]`` reads a hub dataset."""
        if str(source).startswith("hf:"):
            rows, name = read_hub_rows(str(source)[3:])
            return self.from_rows(rows, columns, name, labelled)
        fmt = fmt or detect_format(source)
        if fmt not in self.formats:
            raise DataError(
                f"expected a {_either(FORMAT_NAMES[f] for f in self.formats)} file for a {self.name} task, "
                f"got a {FORMAT_NAMES.get(fmt, fmt)} file; {self.format_hint}"
            )
        return self.read_file(source, fmt, columns, labelled)

    def read_file(self, path, fmt: str, columns: ColumnMap | None, labelled: bool) -> list:
        return self.from_rows(read_rows(path, fmt), columns, Path(path).name, labelled)

    def from_rows(self, rows, columns: ColumnMap | None, name: str, labelled: bool) -> list:
        return rows_to_examples(rows, False, columns, name, labelled)

    def check_examples(self, examples: Sequence) -> None:
        """Refuse no data, and data of another task's shape."""
        if not examples:
            raise DataError(f"expected {self.example_kind}, got none; pass a file of them")
        if not isinstance(examples[0], self.example_type):
            found = next((t.example_kind for t in TASKS.values() if isinstance(examples[0], t.example_type)),
                         type(examples[0]).__name__)
            raise DataError(
                f"expected {self.example_kind} for task {self.name!r}, got {found}; pick the task that matches the data"
            )

    def label_list(self, examples: Sequence) -> list[str]:
        """The label names found in ``examples``, in id order."""
        return sort_labels(v for e in examples for v in e.label_values())

    def check_training_labels(self, labels: list[str]) -> None:
        if len(labels) < 2:
            raise DataError(
                f"expected at least 2 classes in the training data, found only {labels}; "
                "add examples of another class"
            )

    def stratum(self, example) -> Hashable:
        """What a carved validation split keeps in proportion (a task may set this to None: a plain
        random split)."""
        return example.label

    def preview(self, examples: Sequence, limit: int) -> tuple[list[dict], dict[str, int], str]:
        """(first rows as the trainer reads them, counts, what is counted)."""
        rows = [{"text": e.text, **({"text_pair": e.text_pair} if e.text_pair else {}), "label": e.label}
                for e in examples[:limit]]
        return rows, dict(Counter(e.label for e in examples)), "examples per label"

    # ---------------------------------------------------------------- inputs
    def inputs(self, texts, text_pairs=None) -> list:
        """Prediction inputs as unlabelled examples (checked: non-empty strings, pairs matching)."""
        texts = check_texts(texts, "texts")
        if text_pairs is not None:
            raise InputError(f"expected no text_pairs for a {self.name} head, got {len(text_pairs)}; drop them")
        return [Example(t) for t in texts]

    def second_texts(self, text_pairs) -> list | None:
        """The second texts a prediction of this task reads from a form's second box(es): None for a one-text
        task (whatever the boxes hold); a pair task needs every one filled in."""
        if not self.text_pairs:
            return None
        if any(not isinstance(t, str) or not t.strip() for t in text_pairs):
            raise InputError(f"expected a second text for a {self.name} head, got an empty one; fill in both texts")
        return list(text_pairs)

    def example_inputs(self, examples: Sequence) -> list:
        """Prediction inputs of labelled examples (the labels left behind): their text(s)."""
        return self.inputs([e.text for e in examples], self.second_texts([e.text_pair for e in examples]))

    def word_inputs(self, words) -> list:
        """Prediction inputs from pre-split words (one list of words per sentence): token tasks only."""
        raise InputError(f"expected texts for a {self.name} head, got word lists; word lists are for token (NER) heads, "
                         "pass the texts instead")

    def encode(self, tokenizer, examples: Sequence, config, max_length: int,
               label2id: dict[str, int] | None = None) -> list[Item]:
        """Examples to encoder items (with label ids when ``label2id`` is given)."""
        items = encode_texts(tokenizer, [e.text for e in examples], self._pairs(examples), max_length,
                             apart=self._apart(config), case_markers=config.case_markers)
        if label2id is not None:
            for item in items:
                item.label = label2id[examples[item.source].label]
        return items

    def no_label(self, item: Item, num_labels: int):
        """The label of an item without one (an unlabeled example that only a teacher's soft labels train):
        IGNORE_INDEX, one per word of a per-word item."""
        return [IGNORE_INDEX] * len(item.word_index) if item.word_index is not None else IGNORE_INDEX

    def _pairs(self, examples) -> list[str] | None:
        return None

    def _apart(self, config) -> bool:
        return False

    def cache_key(self, config) -> str:
        """What, besides the encoder and texts, changes the encoder's output for this task."""
        return self.name + ("+case" if getattr(config, "case_markers", False) else "")

    def in_features(self, hidden_size: int, config) -> int:
        return hidden_size

    def features(self, encode, batch: Batch, poolings: Sequence[str]) -> dict[str, torch.Tensor]:
        """The encoder half: ``encode(batch) -> (batch, seq_len, hidden)`` pooled into
        {pooling: (batch, hidden)} for every pooling asked for."""
        hidden = encode(batch)
        return {p: pool(hidden, batch.attention_mask, p) for p in poolings}

    def feature_rows(self, item: Item) -> int:
        """Feature rows one item contributes (1 per text; 1 per word for token tasks)."""
        return 1

    def head_input(self, features: dict[str, torch.Tensor], config) -> torch.Tensor:
        """The head's input: the pooled h of eq. 11.11 -> (batch, in_features)."""
        return features[config.pooling]

    # --------------------------------------------------------------- outputs
    def loss(self, logits: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        """Cross-entropy: logits (batch, num_labels) or (batch, n_words, num_labels); positions
        labelled IGNORE_INDEX (padding words) are skipped; ``weight``: per-class weights, or None."""
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)), labels.reshape(-1), weight=weight,
                               ignore_index=IGNORE_INDEX)

    def loss_weight(self, examples: Sequence, label2id: dict[str, int]) -> torch.Tensor | None:
        """Loss weights computed from the training examples (None: every example counts alike)."""
        return None

    @property
    def calibrates(self) -> bool:
        """Whether ``ftclf.calibration`` fits this task after training: tasks that decode through this
        class's probability function do; a task that replaces :meth:`decode` owns its probabilities
        (and says so by setting ``calibrates = True`` once it takes a calibration)."""
        return type(self).decode is TaskSpec.decode

    def distillation_loss(self, student_log_p: torch.Tensor, teacher_p: torch.Tensor, temperature: float,
                          mask: torch.Tensor | None = None) -> torch.Tensor:
        """The soft half of distillation: T^2 * KL(teacher_T || student_T) of the label distributions
        (``ftclf.training.distill.soft_loss``)."""
        from ..losses import soft_loss

        return soft_loss(student_log_p, teacher_p, temperature, mask)

    #: what a word attribution explains: the ``label`` an input gets, or each ``entity`` found in it
    explained: str = "label"
    #: whether ``ftclf.audit`` (``ftclf.label_issues``) finds suspect labels in this task's data
    auditable: bool = True
    #: whether whole inputs get one label each: ``ftclf.suggest`` ranks them, the dashboard's table types them
    suggestible: bool = True

    #: whether a behaviour suite's directional tests (a label's probability moves) apply to this task's heads
    behaviour_directional: bool = True

    def behaviour_expect(self, raw):
        """An ``mft`` test's expected answer as a suite writes it (``ftclf.behaviour``): the label every case
        should get."""
        if not isinstance(raw, str | int | float) or isinstance(raw, bool):
            raise DataError(f"expected the label every case should get, found {type(raw).__name__}; write one of the "
                            "head's labels")
        return str(raw)

    def behaviour_names(self, expect, labels: Sequence[str]) -> tuple[list[str], list[str]]:
        """(the label names an ``mft`` test's expected answer uses, the names a head with ``labels`` answers)."""
        return [expect], list(labels)

    def behaviour_outcome(self, prediction) -> tuple[str, dict[str, float], tuple[tuple[str, str], ...]]:
        """What a behaviour test (``ftclf.behaviour``) reads of a prediction: (the answer compared for equality,
        the probabilities a directional test reads, the (type, text) entities a token test looks for)."""
        return prediction.label, prediction.probabilities, ()

    def audit_probabilities(self, prediction, labels: Sequence[str]) -> np.ndarray:
        """One row's out-of-fold probabilities as an audit reads them: (labels,) per text."""
        return np.array([prediction.probabilities[label] for label in labels])

    def find_label_issues(self, examples: Sequence, probs: Sequence[np.ndarray],
                          labels: Sequence[str]) -> tuple[list[tuple[int, str, str, float]], list[int]]:
        """Confident learning on out-of-fold probabilities (cleanlab's ``find_label_issues``): (the flagged rows
        as (index, given, suggested, given label's probability), most suspect first; every row, most suspect
        first)."""
        from cleanlab.filter import find_label_issues

        given = np.array([labels.index(e.label) for e in examples])
        table = np.stack(list(probs))
        confidence = table[np.arange(len(examples)), given]
        others = np.where(np.eye(len(labels), dtype=bool)[given], -1.0, table)  # the given label left out
        # n_jobs=1: cleanlab's own process pool needs a forked parent's globals, which a worker started by a
        # fork server does not have (and a few thousand rows take milliseconds on one core)
        flagged = find_label_issues(given, table, return_indices_ranked_by="self_confidence", n_jobs=1)
        return ([(int(i), labels[given[i]], labels[int(others[i].argmax())], float(confidence[i])) for i in flagged],
                np.argsort(confidence, kind="stable").tolist())

    def supports_head(self, head) -> bool:
        """Whether a registered head (``ftclf.heads.HeadSpec``) fits this task: a head that scores whole
        label sequences (a CRF) needs one label per word."""
        return not head.structured

    def input_columns(self, keys: list[str], columns: ColumnMap, name: str) -> tuple:
        """Which columns of a prediction file's rows (their ``keys``) hold the inputs: ("text", text column,
        second-text column or None, label column or None); ``columns`` names them, else the usual names do."""
        text = pick_column(keys, columns.text, TEXT_COLUMNS, "text", name)
        pair = pick_column(keys, columns.text_pair, PAIR_COLUMNS, "text pair", name) if "text_pair" in self.column_roles else None
        label = columns.label or next((c for c in LABEL_COLUMNS if c in keys), None)
        return ("text", text, pair, label if label in keys else None)

    def without_labels(self, examples: Sequence) -> list:
        """The examples with their labels dropped (unlabeled data a teacher labels)."""
        return [replace(e, label=None) for e in examples]

    # ------------------------------------------------------- calibration
    #: the calibration error a head of this task reports: ``ece`` of the top probability it shows
    calibration_error: str = "ece"
    #: whether one temperature fitted on all of validation serves every cross-fitting fold (instead of one
    #: refitted per fold): where refitting costs too much (a CRF's forward-backward)
    shared_temperature: bool = False

    def calibration_maps(self) -> tuple[dict, bool]:
        """(the maps of the shown confidence tried after the temperature, whether they are anchored at the
        tie): a text head's top probability is mapped by beta or isotonic maps through (1/2, 1/2)."""
        from ..calibration import TEXT_MAPS

        return TEXT_MAPS, True

    def shown_confidences(self, probs: Sequence[torch.Tensor], gold: Sequence, ids: Sequence, labels: Sequence[str],
                          calibration=None) -> tuple[np.ndarray, np.ndarray]:
        """(confidence, correct) of what the dashboard shows: each text's top probability (``probs`` as
        shown, so ``calibration`` has nothing left to map) and whether its label is the gold one."""
        p = torch.stack(list(probs)).double().numpy()
        return p.max(1), p.argmax(1) == np.asarray(gold)

    def probability_rows(self, probs: Sequence[torch.Tensor], gold: Sequence) -> tuple[np.ndarray, list]:
        """(probability rows, their gold ids) that NLL and Brier score read: one row per text."""
        return torch.stack(list(probs)).double().numpy(), list(gold)

    def calibrated_rows(self, calibration, probs: torch.Tensor) -> torch.Tensor:
        """Probabilities at the calibration's temperature -> as shown: the top probability mapped."""
        return calibration.map_top(probs)

    def calibrate_decoded(self, clf, decoded: Sequence[Decoded]) -> list[Decoded]:
        """Decoded validation predictions re-decoded at ``clf.calibration``: the stacked scores, as
        prediction decodes them (a saved threshold included)."""
        scores = torch.stack([d.scores for d in decoded])
        ids, probs = clf.head.decode(scores, None, clf.calibration)
        return [Decoded(i, p, s) for i, p, s in zip(ids, probs, scores)]

    def operating_point(self, labels: Sequence[str]) -> bool:
        """Whether a threshold on ``labels[1]``'s probability can replace the argmax: one-label binary heads."""
        return len(labels) == 2

    def fit_calibration(self, clf, decoded: Sequence[Decoded], gold: Sequence, **options):
        """A calibration of this task's own kind fitted to validation predictions, or None: the
        temperature-and-map calibration of ``ftclf.calibration`` (one-label and token heads)."""
        return None

    def shown_calibration(self, clf, decoded: Sequence[Decoded], gold: Sequence) -> dict | None:
        """ECE, NLL and Brier score of the probabilities a head of this task shows, measured this task's
        own way, or None: ``ftclf.calibration.shown_figures`` measures them."""
        return None

    def log_probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """The task's probability function, in log space and differentiable: log-softmax over labels
        (eq. 11.12). Calibration divides the scores by a temperature before it."""
        return logits.log_softmax(-1)

    def probabilities(self, logits: torch.Tensor, calibration=None) -> torch.Tensor:
        """Probabilities of raw scores as the dashboard shows them: softmax(scores / T), then the
        calibration's map of the top probability (``ftclf.calibration``; none: plain softmax)."""
        temperature = calibration.temperature if calibration is not None else 1.0
        probs = self.log_probabilities(logits / temperature).exp()
        return probs if calibration is None else self.calibrated_rows(calibration, probs)

    def decode(self, logits: torch.Tensor, mask: torch.Tensor | None = None,
               calibration=None) -> tuple[list, torch.Tensor]:
        """(label ids, probabilities): the argmax of the scores (eq. 11.13; a calibration's saved
        threshold decides a binary head instead) and their calibrated probabilities; with a word mask,
        each row's ids are cut to its real words."""
        probs = self.probabilities(logits, calibration)
        ids = (calibration.choose(logits, probs) if calibration is not None else logits.argmax(-1)).tolist()
        if mask is not None:
            ids = [row[:n] for row, n in zip(ids, mask.sum(1).tolist())]
        return ids, probs

    def gold_ids(self, examples: Sequence, label2id: dict[str, int]) -> list:
        return [label2id[e.label] for e in examples]

    def label_mask(self, labels: torch.Tensor) -> torch.Tensor | None:
        """Which positions of collated labels are real (None: all of them)."""
        return None

    def label_rows(self, labels: torch.Tensor) -> list:
        """Collated labels back to gold ids, one entry per example."""
        return labels.tolist()

    def metrics(self, gold: Sequence, predicted: Sequence, labels: Sequence[str]) -> dict:
        """Every metric of predicted against gold label ids."""
        return classification_metrics(gold, predicted, labels)

    def prediction(self, example, decoded: Decoded, labels: Sequence[str], truncated: bool, calibration=None):
        p = decoded.probs.tolist()
        return SequencePrediction(labels[decoded.ids], p[decoded.ids], dict(zip(labels, p)), truncated)

    def json_line(self, index: int, prediction) -> dict:
        """The JSON line of one prediction in a file's predictions (``ftclf predict --data``)."""
        return {"index": index, "label": prediction.label, "score": round(prediction.score, 6),
                "probabilities": {k: round(v, 6) for k, v in prediction.probabilities.items()},
                **({"truncated": True} if prediction.truncated else {})}

    def mistakes(self, examples: Sequence, decoded: Sequence[Decoded], labels: Sequence[str], limit: int = 10) -> list[dict]:
        """The validation examples the head got most confidently wrong."""
        rows = []
        for e, d in zip(examples, decoded):
            if labels[d.ids] != e.label:
                rows.append({"text": self._shown(e), "gold": e.label, "predicted": labels[d.ids],
                             "confidence": round(float(d.probs[d.ids]), 3)})
        return sorted(rows, key=lambda r: -r["confidence"])[:limit]

    def _shown(self, example) -> str:
        return example.text

    def probability_metrics(self, gold: Sequence, probs: Sequence[torch.Tensor], labels: Sequence[str]) -> dict:
        """Metrics of the probabilities themselves rather than of the decisions (a ranking metric such as
        label-ranking average precision); none by default."""
        return {}

    def report(self, metrics: dict, quote=repr) -> tuple[str, list[str], list[list]]:
        """(headline in Markdown, table headers, table rows) of a metrics dict, for people. ``quote``
        writes a label from the user's data into the headline (the dashboard makes it inert Markdown)."""
        headline = f"accuracy **{metrics['accuracy']:.3f}**, macro-F1 **{metrics['f1']:.3f}**"
        if "f1_positive" in metrics:
            headline += f", F1 of {quote(metrics['labels'][1])} {metrics['f1_positive']:.3f}"
        rows = [[c, round(m["precision"], 4), round(m["recall"], 4), round(m["f1"], 4), m["support"]]
                for c, m in metrics["per_class"].items()]
        rows.append(["macro average", "", "", round(metrics["f1"], 4), metrics["examples"]])
        return headline, ["class", "precision", "recall", "f1", "support"], rows


def _either(names) -> str:
    names = list(names)
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]


def max_text_chars() -> int:
    """Characters of one input text that prediction reads (``$FTCLF_MAX_TEXT_CHARS``, default 20,000);
    the rest is cut before tokenization and the prediction is flagged as truncated."""
    return int(os.environ.get("FTCLF_MAX_TEXT_CHARS") or 20_000)


def check_texts(texts: Any, what: str) -> list[str]:
    """Prediction inputs checked (a list of strings with some content) and cut to max_text_chars()."""
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, (list, tuple)) or not texts:
        raise InputError(f"expected a non-empty list of strings as {what}, got {type(texts).__name__}; pass [\"some text\"]")
    limit = max_text_chars()
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputError(f"expected a string at position {i} of {what}, got {type(text).__name__}")
        if not any(ch.isprintable() and not ch.isspace() for ch in text[:limit]):
            raise InputError(
                f"expected text with some content, got an empty, whitespace-only or control-character-only string at "
                f"position {i} of {what}; type some text"
            )
    return [text[:limit] for text in texts]


# --------------------------------------------------------------------------- registry
TASKS: Registry[TaskSpec] = Registry("task")


def register_task(spec: TaskSpec) -> TaskSpec:
    """Make a task available by name to configs, training, loading and the dashboard."""
    return TASKS.register(spec)


def get_task(name: str) -> TaskSpec:
    return TASKS.lookup(name)
