"""The project's metrics as Hugging Face ``evaluate`` modules that work offline.

``evaluate.load("accuracy")`` fetches a script from the hub and fails offline; these modules
are instantiated directly, so ``add_batch`` / ``compute`` / ``evaluate.combine`` work with no
network. They wrap the pure functions of ``ftclf.metrics`` (through a task's ``metrics`` for
:class:`TaskMetric`, which ``ftclf.evaluate`` and the Trainer's ``compute_metrics`` score with).
Importing ``evaluate`` costs seconds (it loads ``datasets`` and transformers' pipelines), so
callers import this module when they score, never on the serving path.

    >>> metric = ClassificationMetric(labels=["neg", "pos"])
    >>> metric.compute(predictions=[0, 1, 1], references=[0, 1, 0])["accuracy"]
    0.6666666666666666
"""

from __future__ import annotations

from collections.abc import Sequence

import datasets
import evaluate

from .errors import DataError
from .metrics import token_metrics


class TaskMetric(evaluate.Metric):
    """Any registered task's metrics (``TaskSpec.metrics``) over label ids: one id per example, or a
    list of ids per example (``nested``: token tasks' words, multi-label tasks' labels)."""

    def __init__(self, task, labels: list[str], nested: bool = False, **kwargs) -> None:
        self.task, self.label_names, self.nested = task, list(labels), nested
        super().__init__(**kwargs)

    def _info(self) -> evaluate.MetricInfo:
        ids = datasets.Sequence(datasets.Value("int64")) if self.nested else datasets.Value("int64")
        return evaluate.MetricInfo(
            description=f"ftclf {self.task.name} metrics", citation="", inputs_description="label ids",
            features=datasets.Features({"predictions": ids, "references": ids}),
        )

    def _compute(self, predictions, references) -> dict:
        return self.task.metrics(references, predictions, self.label_names)


def task_metrics(task, gold: Sequence, predicted: Sequence, labels: Sequence[str]) -> dict:
    """``task.metrics(gold, predicted, labels)`` computed by the task's evaluate module, in memory."""
    if len(gold) != len(predicted):
        raise DataError(f"expected as many predictions as gold labels ({len(gold)}), got {len(predicted)}")
    nested = bool(gold) and isinstance(gold[0], (list, tuple))
    metric = TaskMetric(task, list(labels), nested, keep_in_memory=True)
    return metric.compute(predictions=list(predicted), references=list(gold))


class ClassificationMetric(TaskMetric):
    """Accuracy, macro-F1 (+ positive-class F1), per-class P/R/F1 and the confusion matrix: the sequence
    task's metrics (those of every one-label task)."""

    def __init__(self, labels: list[str], **kwargs) -> None:
        from .tasks import get_task

        super().__init__(get_task("sequence"), labels, **kwargs)


class EntityMetric(evaluate.Metric):
    """Strict IOB2 entity-level P/R/F1 (overall and per type) and the invalid-transition rate."""

    def _info(self) -> evaluate.MetricInfo:
        tags = datasets.Sequence(datasets.Value("string"))
        return evaluate.MetricInfo(
            description="ftclf entity metrics", citation="", inputs_description="IOB2 tag sequences",
            features=datasets.Features({"predictions": tags, "references": tags}),
        )

    def _compute(self, predictions, references) -> dict:
        return token_metrics(references, predictions)
