"""Suspect labels: the rows of a labelled data set whose given label the data itself contradicts.

Every row is scored by a head that never saw it: k folds of the data, a head trained on k - 1 of them (any
training mode, ``ftclf.fit``) predicting the k-th. Confident learning (Northcutt et al., 2021: cleanlab's
``find_label_issues``) then flags the rows whose out-of-fold probabilities put them in another class more
confidently than that class's own rows typically are. Most suspect first: the lowest out-of-fold probability
of the given label (self-confidence). Tagged sentences are flagged word by word (cleanlab's token
classification) and ranked by their least likely given tag. The task decides
(``TaskSpec.audit_probabilities``, ``TaskSpec.find_label_issues``). No saved model is needed, only the data.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .config import ModelConfig, TrainingConfig
from .errors import DataError

#: folds of the out-of-fold predictions (fewer when the smallest class has fewer rows)
FOLDS = 5
#: the encoder a server's audits use (the dashboard's *Find suspect labels*, ``POST /v1/audit``): a hub id or a
#: local directory the operator chose; unset, the embedded default. A larger encoder finds more wrong labels.
AUDIT_ENCODER_ENV = "FTCLF_AUDIT_ENCODER"


@dataclass
class Suspect:
    """A row whose given label its out-of-fold prediction contradicts."""

    index: int  # the 0-based data row
    text: str
    text_pair: str | None
    given: str
    suggested: str
    #: the given label's out-of-fold probability (lower: more suspect)
    score: float

    def to_dict(self) -> dict:
        return {"index": self.index, "text": self.text, **({"text_pair": self.text_pair} if self.text_pair else {}),
                "given": self.given, "suggested": self.suggested, "score": round(self.score, 4)}


@dataclass
class Audit:
    """What an audit found: the flagged rows (most suspect first), every row ranked, and the out-of-fold
    probabilities they rest on."""

    suspects: list[Suspect]
    #: every row index, most suspect first (the given label's out-of-fold probability, ascending)
    ranking: list[int]
    probabilities: list  # per row, out of fold: (labels,) for a text, (words, labels) for a tagged sentence
    labels: list[str]
    folds: int
    seconds: float


def _shown(example) -> tuple[str, str | None]:
    """(text, second text) of a row as a suspect shows it: a tagged sentence's words joined by spaces."""
    words = getattr(example, "words", None)
    return (" ".join(words), None) if words is not None else (example.text, example.text_pair)


def out_of_fold(model: ModelConfig, training: TrainingConfig, examples: Sequence, folds: int = FOLDS, seed: int = 0,
                on_fold: Callable[[int, int], None] | None = None) -> tuple[list, int]:
    """(each row's probabilities from a head trained without it: (labels,) per text, (words, labels) per tagged
    sentence; the folds used: ``folds`` folds, stratified by label where the task has one per row, fewer when
    a label has fewer rows)."""
    from .inference import Predictor
    from .training import fit
    from .training.fullbatch import folds_of

    task = model.task_spec
    labels = list(model.labels) or task.label_list(examples)
    model = dataclasses.replace(model, labels=labels)
    strata = [task.stratum(e) if task.stratum else i % folds for i, e in enumerate(examples)]
    k = min(folds, min(strata.count(s) for s in set(strata)))
    if k < 2:
        raise DataError("expected at least two rows of every label to audit, found a label with one; add rows or "
                        "drop that label")
    if _one_pass(model, training, len(examples), folds):
        return _out_of_fold_one_pass(model, training, examples, k, seed, on_fold), k
    probs: list = [None] * len(examples)
    for f, held in enumerate(folds_of(strata, k, seed)):
        kept = set(held)
        clf, _ = fit(model, training, [e for i, e in enumerate(examples) if i not in kept])
        inputs = task.example_inputs([examples[i] for i in held])
        for i, p in zip(held, Predictor(clf).predict_inputs(inputs)):
            probs[i] = task.audit_probabilities(p, labels)
        if on_fold is not None:
            on_fold(f + 1, k)
    return probs, k


def _one_pass(model: ModelConfig, training: TrainingConfig, n: int, folds: int) -> bool:
    """Whether the out-of-fold probabilities can come from one frozen-encoder fit: a frozen encoder whose head
    the recipe fits full-batch (``lbfgs``) cross-validates it on ``FOLDS`` folds of cached features anyway, so
    one encoder pass over the rows gives every row's probabilities from a head fitted without it."""
    from .training.fullbatch import FOLDS as CV_FOLDS
    from .training.recipes import resolve

    if training.mode != "frozen" or folds != CV_FOLDS or training.head_fit == "adamw":
        return False
    return resolve(training, model.task_spec, n, on_gpu=False).head_fit == "lbfgs"


def _out_of_fold_one_pass(model: ModelConfig, training: TrainingConfig, examples: Sequence, k: int, seed: int,
                          on_fold: Callable[[int, int], None] | None) -> list:
    """out_of_fold from one frozen fit: the rows encoded once, the head's weight decay chosen by the same folds
    that score the rows (one number chosen on all rows, the heads themselves fitted without the rows they score)."""
    from .training import fit
    from .training.fullbatch import WEIGHT_DECAYS

    task = model.task_spec

    def progress(event) -> None:
        # the folds are the outer loop of the cross-validation, the weight decays the inner one
        if (on_fold is not None and event.stage == "train" and event.detail == "cross-validation"
                and event.step % len(WEIGHT_DECAYS) == 0):
            on_fold(event.step // len(WEIGHT_DECAYS), k)

    cfg = dataclasses.replace(training, head_fit="lbfgs", calibrate=False, seed=seed, max_examples=None)
    clf, result = fit(model, cfg, list(examples), val_examples=[], on_event=progress)
    if len(result.validation_predictions or ()) != len(examples):
        raise DataError(f"expected out-of-fold predictions of all {len(examples):,} rows, got "
                        f"{len(result.validation_predictions or ()):,}; audit with more rows of every label")
    inputs = task.example_inputs(list(examples))
    return [task.audit_probabilities(task.prediction(x, d, clf.labels, False), clf.labels)
            for x, d in zip(inputs, result.validation_predictions)]


def served_audit_model(task: str) -> ModelConfig:
    """The model a server audits ``task`` with: its encoder from ``FTCLF_AUDIT_ENCODER`` (the operator's, never
    a visitor's), else the embedded default."""
    import os

    encoder = os.environ.get(AUDIT_ENCODER_ENV, "").strip()
    return ModelConfig(task=task, **({"encoder": encoder} if encoder else {}))


def audit(examples: Sequence, model: ModelConfig, training: TrainingConfig | None = None, folds: int = FOLDS,
          seed: int = 0, on_fold: Callable[[int, int], None] | None = None) -> Audit:
    """The rows of ``examples`` (labelled texts, pairs or tagged sentences) whose given labels the data
    contradicts; ``training`` says how each fold's head is trained (default: a frozen encoder, the fastest)."""
    task = model.task_spec
    if not task.auditable:
        raise DataError(f"expected labelled texts, pairs or tagged sentences to audit, got a {task.name} task; "
                        "audit a sequence, pair or token task")
    t0 = time.perf_counter()
    training = training or TrainingConfig(mode="frozen")
    labels = list(model.labels) or task.label_list(examples)
    probs, k = out_of_fold(dataclasses.replace(model, labels=labels), training, examples, folds, seed, on_fold)
    issues, ranking = task.find_label_issues(examples, probs, labels)
    suspects = [Suspect(i, *_shown(examples[i]), given, suggested, score) for i, given, suggested, score in issues]
    return Audit(suspects, ranking, probs, labels, k, time.perf_counter() - t0)
