"""Training entry points: ``fit`` (data in, trained classifier out) and ``train``.

Frozen heads train on cached features (``frozen``); LoRA and full fine-tuning go through
transformers' Trainer (``trainer``). Neither loop prints: progress goes out as ``TrainingEvent``
objects to ``on_event`` (and tqdm). Early stopping watches the task's validation metric
(accuracy; entity F1 for token tasks); the best weights are restored. A fixed seed gives
identical results.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Sequence

from ..config import ModelConfig, TrainingConfig
from ..errors import DataError
from ..evaluation import decode_examples, score
from ..splits import sample, split_train_validation
from ..tasks import TaskSpec, get_task
from .events import EventHandler, TrainingEvent, TrainResult


def train(
    clf, train_examples: Sequence, val_examples: Sequence, cfg: TrainingConfig,
    on_event: EventHandler | None = None, cancel: threading.Event | None = None,
) -> TrainResult:
    """Train ``clf`` in ``cfg.mode``; returns history and the full validation metrics."""
    from transformers import set_seed

    emit = on_event or (lambda event: None)
    cfg = cfg.for_data(len(train_examples))
    set_seed(cfg.seed)
    result = TrainResult(metric_name=clf.task.metric)
    t0 = time.perf_counter()
    clf.training_config = cfg
    clf.set_mode(cfg.mode, cfg)
    if cfg.mode == "frozen":
        from .frozen import train_frozen as loop
    else:
        from .trainer import train_with_trainer as loop
    loop(clf, train_examples, val_examples, cfg, emit, cancel, result)
    result.validation_examples, result.validation_predictions = decode_examples(clf, val_examples)
    result.metrics = score(clf, result.validation_examples, result.validation_predictions)
    result.seconds = time.perf_counter() - t0
    clf.metrics = {k: v for k, v in result.metrics.items() if isinstance(v, (int, float))}
    clf.metrics["train_seconds"] = round(result.seconds, 1)
    emit(TrainingEvent("done", metric=result.metrics.get(result.metric_name), metric_name=result.metric_name,
                       elapsed=result.seconds))
    return result


def prepare_data(task: str | TaskSpec, train_examples: Sequence, val_examples: Sequence | None,
                 cfg: TrainingConfig) -> tuple[list, list]:
    """Sample (max_examples), carve a validation split when none is given, check the classes."""
    spec = get_task(task) if isinstance(task, str) else task
    spec.check_examples(train_examples)
    train_examples = sample(list(train_examples), cfg.max_examples, cfg.seed)
    if val_examples is None:
        train_examples, val_examples = split_train_validation(
            train_examples, cfg.validation_fraction, cfg.seed, cfg.max_validation, spec.stratum)
    spec.check_training_labels(spec.label_list(train_examples))
    return train_examples, list(val_examples)


def fit(
    model_config: ModelConfig, training: TrainingConfig, train_examples: Sequence, val_examples: Sequence | None = None,
    on_event: EventHandler | None = None, cancel: threading.Event | None = None, data_info: dict | None = None,
    encoder=None,
):
    """Read-to-trained in one call: labels from the data, encoder loaded, head built, trained.

    Returns (classifier, TrainResult). ``model_config.labels`` may be empty (taken from data).
    ``encoder``: an already loaded ``Encoder`` to train on (default: load ``model_config.encoder``).
    """
    from transformers import set_seed

    from ..encoders import load_encoder
    from ..model import Classifier

    spec = model_config.task_spec
    train_ex, val_ex = prepare_data(spec, train_examples, val_examples, training)
    labels = model_config.labels or spec.label_list(train_ex)
    config = dataclasses.replace(model_config, labels=labels)  # re-validated by __post_init__
    missing = sorted(set(spec.label_list(val_ex)) - set(labels))
    if missing:
        raise DataError(
            f"expected validation labels among the training labels {labels}, found {missing}; "
            "make sure both splits use the same label names"
        )
    encoder = encoder or load_encoder(config.encoder)
    set_seed(training.seed)  # the head's initial weights come from the seed, not from earlier runs
    clf = Classifier(config, encoder)
    clf.data_info = {**(data_info or {}), "train_examples": len(train_ex), "validation_examples": len(val_ex)}
    result = train(clf, train_ex, val_ex, training, on_event, cancel)
    return clf, result
