"""Training entry points: ``fit`` (data in, trained classifier out) and ``train``.

Frozen heads train on cached features (``ftclf.frozen``); LoRA and full fine-tuning go through
transformers' Trainer (``ftclf.hf_trainer``). Neither loop prints: progress goes out as
``TrainingEvent`` objects to ``on_event`` (and tqdm). Early stopping watches the validation metric
(accuracy; entity F1 for token tasks); the best weights are restored. A fixed seed gives
identical results.
"""

from __future__ import annotations

import dataclasses
import threading
import time

from .config import ModelConfig, TrainingConfig
from .data import label_list, sample, split_train_validation
from .errors import DataError
from .evaluation import predict_examples, score_predictions
from .events import EventHandler, TrainingEvent, TrainResult, metric_name
from .tasks import TokenExample

__all__ = ["TrainingEvent", "TrainResult", "fit", "prepare_data", "train"]


def train(
    clf, train_examples, val_examples, cfg: TrainingConfig,
    on_event: EventHandler | None = None, cancel: threading.Event | None = None,
) -> TrainResult:
    """Train ``clf`` in ``cfg.mode``; returns history and the full validation metrics."""
    from transformers import set_seed

    emit = on_event or (lambda event: None)
    set_seed(cfg.seed)
    result = TrainResult(metric_name=metric_name(clf.task))
    t0 = time.perf_counter()
    clf.training_config = cfg
    clf.set_mode(cfg.mode, cfg)
    if cfg.mode == "frozen":
        from .frozen import train_frozen

        train_frozen(clf, train_examples, val_examples, cfg, emit, cancel, result)
    else:
        from .hf_trainer import train_with_trainer

        train_with_trainer(clf, train_examples, val_examples, cfg, emit, cancel, result)
    gold, predictions = predict_examples(clf, val_examples)
    result.metrics = score_predictions(clf, gold, predictions)
    result.validation_predictions = predictions
    result.seconds = time.perf_counter() - t0
    clf.metrics = {k: v for k, v in result.metrics.items() if isinstance(v, (int, float))}
    clf.metrics["train_seconds"] = round(result.seconds, 1)
    emit(TrainingEvent("done", metric=result.metrics.get(result.metric_name), metric_name=result.metric_name,
                       elapsed=result.seconds))
    return result


def prepare_data(task: str, train_examples, val_examples, cfg: TrainingConfig) -> tuple[list, list]:
    """Sample (max_examples), carve a validation split when none is given, check the classes."""
    train_examples = sample(list(train_examples), cfg.max_examples, cfg.seed)
    if val_examples is None:
        train_examples, val_examples = split_train_validation(train_examples, cfg.validation_fraction, cfg.seed, cfg.max_validation)
    classes = label_list(train_examples)
    if len(classes) < 2 and task != "token":
        raise DataError(
            f"expected at least 2 classes in the training data, found only {classes}; "
            "add examples of another class"
        )
    if task == "token" and not any(t != "O" for e in train_examples for t in e.tags):
        raise DataError("expected some entity tags in the training data, found only 'O'; add tagged sentences")
    return train_examples, list(val_examples)


def fit(
    model_config: ModelConfig, training: TrainingConfig, train_examples, val_examples=None,
    on_event: EventHandler | None = None, cancel: threading.Event | None = None, data_info: dict | None = None,
    encoder=None,
):
    """Read-to-trained in one call: labels from the data, encoder loaded, head built, trained.

    Returns (classifier, TrainResult). ``model_config.labels`` may be empty (taken from data).
    ``encoder``: an already loaded ``Encoder`` to train on (default: load ``model_config.encoder``).
    """
    from .encoders import load_encoder
    from .model import Classifier

    _check_task_data(model_config.task, train_examples)
    train_ex, val_ex = prepare_data(model_config.task, train_examples, val_examples, training)
    labels = model_config.labels or label_list(train_ex)
    if model_config.task == "token" and "O" not in labels:
        labels = ["O"] + labels
    config = dataclasses.replace(model_config, labels=labels)  # re-validated by __post_init__
    missing = sorted(set(label_list(val_ex)) - set(labels))
    if missing:
        raise DataError(
            f"expected validation labels among the training labels {labels}, found {missing}; "
            "make sure both splits use the same label names"
        )
    encoder = encoder or load_encoder(config.encoder)
    from transformers import set_seed

    set_seed(training.seed)  # the head's initial weights come from the seed, not from earlier runs
    clf = Classifier(config, encoder)
    clf.data_info = {**(data_info or {}), "train_examples": len(train_ex), "validation_examples": len(val_ex)}
    result = train(clf, train_ex, val_ex, training, on_event, cancel)
    result.validation_examples = val_ex
    return clf, result


def _check_task_data(task: str, examples) -> None:
    if not examples:
        raise DataError("expected training examples, got none; pass a file with labelled rows")
    token = isinstance(examples[0], TokenExample)
    if token != (task == "token"):
        raise DataError(
            f"expected {'tagged sentences' if task == 'token' else 'labelled texts'} for task {task!r}, "
            f"got {'tagged sentences' if token else 'labelled texts'}; pick the task that matches the data"
        )
    if task == "pair" and any(e.text_pair is None for e in examples):
        raise DataError("expected a second text for every example of a pair task, found some without one")
