"""Task kinds and their registry: the one place that knows what a task reads, encodes, scores,
decodes and returns.

``sequence`` (one text -> one label), ``pair`` (two texts -> one label; encoded together,
``[CLS] a [SEP] b [SEP]``, or apart and concatenated), ``token`` (a sentence -> one IOB2 tag per
word) and ``multilabel`` (one text -> any set of labels). Everything else — training loops, prediction, persistence, the UI — asks a task's spec
instead of branching on its name, so a new task is one more :class:`TaskSpec` subclass passed to
:func:`register_task`.
"""

from __future__ import annotations

from pathlib import Path

from ..data import ColumnMap
from .base import FORMAT_NAMES, TASKS, TaskSpec, check_texts, get_task, max_text_chars, register_task
from .multilabel import MultiLabelTask
from .tagging import TokenTask
from .text import PairTask, SequenceTask

__all__ = ["FORMAT_NAMES", "TASKS", "MultiLabelTask", "PairTask", "SequenceTask", "TaskSpec", "TokenTask", "check_texts",
           "get_task", "max_text_chars", "read_examples", "register_task"]

for _spec in (SequenceTask(), PairTask(), TokenTask(), MultiLabelTask()):
    register_task(_spec)


def read_examples(path: str | Path, task: str, fmt: str | None = None, columns: ColumnMap | None = None,
                  labelled: bool = True) -> list:
    """Read a labelled file (CSV / TSV / JSONL / CoNLL, or ``hf:ID[:CONFIG[:SPLIT]]``) for ``task``."""
    return get_task(task).read(path, fmt, columns, labelled)
