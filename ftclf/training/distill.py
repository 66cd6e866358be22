"""Knowledge distillation: a trained teacher's probabilities (soft labels) train a student beside the
gold labels (Hinton, Vinyals and Dean, 2015), and the teacher labels extra unlabeled text.

The teacher is any ftclf classifier of the same task and label set, typically on a larger encoder;
the student is the classifier being trained (LoRA or full fine-tuning through the Trainer). Both
distributions are softened by a temperature T as p^(1/T) renormalised — for softmax heads exactly
softmax(logits / T) — and the loss is

    (1 - w) * gold loss  +  w * T^2 * KL(teacher_T || student_T)

with ``w = TrainingConfig.distill_weight``. Per-word tasks compare the distributions of every word:
a softmax head's, or a CRF's forward-backward marginals (differentiable, so a CRF student learns
from them; a CRF teacher gives its marginals). Unlabeled examples have no gold loss.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..config import PASS_BATCH_SIZE
from ..errors import ConfigError, DataError
from ..losses import IMPOSSIBLE, soft_loss  # noqa: F401  (the soft half; tasks call it through distillation_loss)
from ..tokenization import IGNORE_INDEX, Item


def load_teacher(ref: str):
    """The teacher classifier of ``ref``: a saved directory or a hub id (``Classifier.from_pretrained``),
    a LoRA adapter merged into its weights (it only predicts: no adapter arithmetic per layer)."""
    from ..model import Classifier

    return Classifier.from_pretrained(ref, merged=True)


def check_teacher(teacher, task, labels: Sequence[str]) -> None:
    """Refuse a teacher of another task or another label set (nothing to compare)."""
    if teacher.task.name != task.name:
        raise ConfigError(f"expected a teacher trained on the {task.name} task, got one for {teacher.task.name!r}; "
                          "pick a teacher head of the same task")
    if sorted(teacher.labels) != sorted(labels):
        raise ConfigError(f"expected a teacher with the labels {sorted(labels)}, got {sorted(teacher.labels)}; train "
                          "the teacher on data with the same label names (or map them with label aliases)")


def members(teacher) -> list:
    """A teacher, or an ensemble given as a list of teachers, as the list of its members."""
    return list(teacher) if isinstance(teacher, (list, tuple)) else [teacher]


def teacher_probabilities(teacher, examples: Sequence, labels: Sequence[str], batch_size: int = PASS_BATCH_SIZE) -> list[torch.Tensor]:
    """The teacher's distribution over ``labels`` (in that order) for every example: (num_labels,) per
    text or pair, (n_words, num_labels) per sentence of a token task. An ensemble (a list of teachers)
    gives its members' mean distribution."""
    from ..inference import Predictor

    total: list[torch.Tensor] = []
    ensemble = members(teacher)
    for member in ensemble:
        order = [member.labels.index(label) for label in labels]
        decoded = Predictor(member, batch_size, calibrated=False).decode(list(examples))  # its own softmax, as trained
        probs = [d.probs[..., order].float() for d, _ in decoded]
        total = probs if not total else [_padded_sum(a, b) for a, b in zip(total, probs)]
    return [p / len(ensemble) for p in total]


def _padded_sum(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a + b, the shorter zero-padded (a word one member did not read counts for the others alone:
    the soft loss renormalises each row)."""
    if a.shape == b.shape:
        return a + b
    longer, shorter = (a, b) if a.size(0) >= b.size(0) else (b, a)
    return longer + torch.cat([shorter, shorter.new_zeros(longer.size(0) - shorter.size(0), *shorter.shape[1:])])


def attach(items: Sequence[Item], probs: Sequence[torch.Tensor]) -> None:
    """Give every encoder item its example's soft labels (a window of a long sentence: its words')."""
    for item in items:
        p = probs[item.source]
        if item.word_index is not None:
            n = len(item.word_index)
            p = p[item.word_offset : item.word_offset + n]
            if p.size(0) < n:  # words the teacher did not read (a shorter window): no soft label there
                p = torch.cat([p, p.new_zeros(n - p.size(0), p.size(1))])
        item.soft = p


def unlabeled_items(task, tokenizer, examples: Sequence, config, max_length: int) -> list[Item]:
    """Encoder items of unlabeled examples: every gold label is IGNORE_INDEX (only the soft loss)."""
    items = task.encode(tokenizer, examples, config, max_length)
    for item in items:
        item.label = task.no_label(item, len(config.labels))
    return items


def training_items(clf, labelled: Sequence, unlabeled: Sequence, teacher, batch_size: int = PASS_BATCH_SIZE) -> list[Item]:
    """The student's training items: the labelled examples, then the unlabeled ones, each with the
    teacher's soft labels."""
    task, config = clf.task, clf.model_config
    probs = teacher_probabilities(teacher, [*labelled, *unlabeled], clf.labels, batch_size)  # one teacher pass
    items = task.encode(clf.tokenizer, labelled, config, clf.max_length, config.label2id)
    extra = unlabeled_items(task, clf.tokenizer, unlabeled, config, clf.max_length) if unlabeled else []
    for item in extra:
        item.source += len(labelled)
    items += extra
    attach(items, probs)
    return items


def collate_soft(items: Sequence[Item]) -> torch.Tensor | None:
    """(batch, num_labels), or (batch, n_words, num_labels) zero-padded; None when no item has soft labels."""
    soft = [item.soft for item in items]
    if any(s is None for s in soft):
        return None
    if soft[0].dim() == 1:
        return torch.stack(soft)
    width = max(1, max(s.size(0) for s in soft))
    out = torch.zeros(len(soft), width, soft[0].size(-1))
    for i, s in enumerate(soft):
        out[i, : s.size(0)] = s
    return out


def gold_loss(head, logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """The head's own loss on the rows that have gold labels (0 when the batch has none)."""
    known = labels != IGNORE_INDEX
    rows = known.reshape(known.size(0), -1).any(1)
    if not rows.any():
        return logits.sum() * 0.0
    return head.loss(logits[rows], labels[rows], None if mask is None else mask[rows])


class Distilled(nn.Module):
    """The student as the Trainer sees it: ``forward(batch, labels, soft_labels)`` with the
    distillation loss; without soft labels (validation) it is the student's own loss."""

    def __init__(self, student, temperature: float, weight: float) -> None:
        super().__init__()
        self.student = student
        self.temperature = temperature
        self.weight = weight

    def forward(self, batch, labels: torch.Tensor | None = None, soft_labels: torch.Tensor | None = None):
        from ..model import ClassifierOutput

        clf = self.student
        logits = clf(batch).logits
        mask = None if batch.word_mask is None else batch.word_mask.to(logits.device)
        loss = None
        if labels is not None:
            labels = labels.to(logits.device)
            loss = gold_loss(clf.head, logits, labels, mask)
            if soft_labels is not None:
                soft = clf.task.distillation_loss(clf.head.log_probs(logits, mask), soft_labels.to(logits.device),
                                                  self.temperature, mask)
                loss = (1 - self.weight) * loss + self.weight * soft
        return ClassifierOutput(loss=loss, logits=logits)


def read_unlabeled(task, source: str, fmt: str | None = None, columns=None) -> list:
    """Unlabeled examples for ``task``: a ``.txt`` file holds one text (token tasks: one sentence) per
    line; any file or ``hf:`` dataset the task reads works too, its labels (if any) ignored."""
    from pathlib import Path

    if str(source).endswith(".txt") and fmt is None:
        if "text_pair" in task.column_roles:  # a line is one text; this task's rows need two
            raise DataError(f"expected a table with two text columns (CSV/TSV/JSONL) for a {task.name} task's unlabeled "
                            f"data, got a plain-text file {source}; write the pairs as a table")
        try:
            lines = [line.strip() for line in Path(source).read_text(encoding="utf-8").splitlines()]
        except UnicodeDecodeError as exc:
            raise DataError(f"expected UTF-8 text in {source}, found undecodable bytes at {exc.start}; save it as UTF-8") from exc
        lines = [line for line in lines if line]
        if not lines:
            raise DataError(f"expected unlabeled texts in {source}, one per line, got none; pass a file with some")
        return task.without_labels(task.inputs(lines))
    examples = task.read(source, fmt, columns, labelled=False)
    if not examples:
        raise DataError(f"expected unlabeled {task.example_kind} in {source}, got none; pass a file with some")
    return task.without_labels(examples)
