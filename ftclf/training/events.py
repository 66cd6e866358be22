"""Training progress events and results, shared by every training loop."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class TrainingEvent:
    """One progress report. ``stage``: "features" (the frozen encoder's one pass over ``detail``,
    "train" or "validation"), "recipe", "teacher" (a distilling teacher labels the data), "train", "eval" or "done"."""

    stage: str
    step: int = 0
    total_steps: int = 0
    epoch: float = 0.0
    loss: float | None = None
    metric: float | None = None
    metric_name: str = ""
    eta_seconds: float | None = None
    elapsed: float = 0.0
    detail: str = ""


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)
    best_metric: float | None = None
    metric_name: str = ""
    metrics: dict = field(default_factory=dict)
    seconds: float = 0.0
    stopped_early: bool = False
    cancelled: bool = False
    #: how the kept weights were chosen, in words (best epoch, cross-validated weight decay …)
    selection: str = ""
    #: what ``metrics`` were measured on, in words (a validation split, or cross-validation)
    validation: str = ""
    #: the probabilities' calibration in one line (or why there is none); "" when calibration was off
    calibration: str = ""
    #: the validation examples the metrics were computed on (carved or given; label aliases applied)
    validation_examples: list = field(default_factory=list, repr=False)
    #: the final decoded predictions on them (``ftclf.predictions.Decoded``)
    validation_predictions: list = field(default_factory=list, repr=False)


EventHandler = Callable[[TrainingEvent], None]
