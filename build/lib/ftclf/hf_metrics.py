"""The project's metrics as Hugging Face ``evaluate`` modules that work offline.

``evaluate.load("accuracy")`` fetches a script from the hub and fails offline; these modules
are instantiated directly, so ``add_batch`` / ``compute`` / ``evaluate.combine`` work with no
network. Both wrap the pure functions of ``ftclf.metrics``.

    >>> metric = ClassificationMetric(labels=["neg", "pos"])
    >>> metric.compute(predictions=[0, 1, 1], references=[0, 1, 0])["accuracy"]
    0.6666666666666666
"""

from __future__ import annotations

import datasets
import evaluate

from .metrics import classification_metrics, token_metrics


class ClassificationMetric(evaluate.Metric):
    """Accuracy, macro-F1 (+ positive-class F1), per-class P/R/F1 and the confusion matrix."""

    def __init__(self, labels: list[str], **kwargs) -> None:
        super().__init__(**kwargs)
        self.label_names = list(labels)

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description="ftclf classification metrics", citation="", inputs_description="label ids",
            features=datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}),
        )

    def _compute(self, predictions, references) -> dict:
        return classification_metrics(references, predictions, self.label_names)


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
