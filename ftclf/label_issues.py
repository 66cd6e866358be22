"""Suspect labels: the rows of a labelled data set whose given label the data itself contradicts.

Every row is scored by a head that never saw it: k folds of the data, a head trained on k - 1 of them (any
training mode, ``ftclf.fit``) predicting the k-th. Confident learning (Northcutt et al., 2021: cleanlab's
``find_label_issues``) then flags the rows whose out-of-fold probabilities put them in another class more
confidently than that class's own rows typically are. Most suspect first: the lowest out-of-fold probability
of the given label (self-confidence). No saved model is needed, only the data.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .config import ModelConfig, TrainingConfig
from .errors import DataError

#: folds of the out-of-fold predictions (fewer when the smallest class has fewer rows)
FOLDS = 5


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
    probabilities: np.ndarray  # (rows, labels), out of fold
    labels: list[str]
    folds: int
    seconds: float


def out_of_fold(model: ModelConfig, training: TrainingConfig, examples: Sequence, folds: int = FOLDS, seed: int = 0,
                on_fold: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, int]:
    """((rows, labels) probabilities, each row's from a head trained without it; the folds used: ``folds``
    stratified folds, fewer when a label has fewer rows)."""
    from .inference import predict
    from .training import fit
    from .training.fullbatch import folds_of

    task = model.task_spec
    labels = list(model.labels) or task.label_list(examples)
    model = dataclasses.replace(model, labels=labels)
    given = [e.label for e in examples]
    k = min(folds, min(given.count(label) for label in set(given)))
    if k < 2:
        raise DataError("expected at least two rows of every label to audit, found a label with one; add rows or "
                        "drop that label")
    probs = np.zeros((len(examples), len(labels)))
    parts = folds_of(given, k, seed)
    for f, held in enumerate(parts):
        kept = set(held)
        clf, _ = fit(model, training, [e for i, e in enumerate(examples) if i not in kept])
        rows = [examples[i] for i in held]
        pairs = task.second_texts([e.text_pair for e in rows]) if "text_pair" in task.column_roles else None
        for i, p in zip(held, predict(clf, [e.text for e in rows], pairs)):
            probs[i] = [p.probabilities[label] for label in labels]
        if on_fold is not None:
            on_fold(f + 1, k)
    return probs, k


def audit(examples: Sequence, model: ModelConfig, training: TrainingConfig | None = None, folds: int = FOLDS,
          seed: int = 0, on_fold: Callable[[int, int], None] | None = None) -> Audit:
    """The rows of ``examples`` (labelled texts or pairs) whose given label the data contradicts; ``training``
    says how each fold's head is trained (default: a frozen encoder, the fastest)."""
    from cleanlab.filter import find_label_issues

    task = model.task_spec
    if not task.auditable:
        raise DataError(f"expected labelled texts or pairs to audit, got a {task.name} task; audit a sequence or "
                        "pair task")
    t0 = time.perf_counter()
    training = training or TrainingConfig(mode="frozen")
    labels = list(model.labels) or task.label_list(examples)
    probs, k = out_of_fold(dataclasses.replace(model, labels=labels), training, examples, folds, seed, on_fold)
    given = np.array([labels.index(e.label) for e in examples])
    confidence = probs[np.arange(len(examples)), given]
    ranking = np.argsort(confidence, kind="stable").tolist()
    flagged = find_label_issues(given, probs, return_indices_ranked_by="self_confidence")
    others = np.where(np.eye(len(labels), dtype=bool)[given], -1.0, probs)  # the given label left out
    suspects = [Suspect(int(i), examples[i].text, examples[i].text_pair, labels[given[i]], labels[int(others[i].argmax())],
                        float(confidence[i])) for i in flagged]
    return Audit(suspects, ranking, probs, labels, k, time.perf_counter() - t0)
