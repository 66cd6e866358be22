"""Training entry points: ``fit`` (data in, trained classifier out) and ``train``.

``mode="auto"`` settles the recipe from the data first (``recipes``). Frozen heads train on cached
features (``frozen``); contrastive runs tune the encoder on example pairs (``contrastive``) and
then fit the head like a frozen run; LoRA and full fine-tuning go through transformers' Trainer
(``trainer``). No loop prints: progress goes out as ``TrainingEvent`` objects to ``on_event``
(and tqdm). Small data keeps every example for training (cross-validated head fit, out-of-fold
metrics); otherwise a validation split decides early stopping. A fixed seed gives identical
results.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Sequence

from ..config import DEFAULT_BATCH_SIZE, DEFAULT_EPOCHS, DEFAULT_LEARNING_RATE, ModelConfig, TrainingConfig
from ..distributed import placement
from ..errors import ConfigError, DataError
from ..evaluation import decode_examples, score
from ..splits import sample, split_train_validation
from ..tasks import TaskSpec, get_task
from .events import EventHandler, TrainingEvent, TrainResult
from .recipes import resolve


def train(
    clf, train_examples: Sequence, val_examples: Sequence, cfg: TrainingConfig,
    on_event: EventHandler | None = None, cancel: threading.Event | None = None, teacher=None,
    unlabeled: Sequence = (),
) -> TrainResult:
    """Train ``clf`` in ``cfg.mode``; returns history and the full validation metrics. With a
    ``teacher`` classifier, or a list of them (or ``cfg.teacher``), its soft labels (an ensemble's
    mean) train it too, on the training examples and on the ``unlabeled`` ones (``distill``)."""
    from transformers import set_seed

    emit = on_event or (lambda event: None)
    cfg = resolve(cfg, clf.task, len(train_examples), on_gpu=_on_gpu())
    if unlabeled and not cfg.teacher and teacher is None:
        raise ConfigError(f"expected a teacher to label the {len(unlabeled):,} unlabeled examples, got none; "
                          "pass a teacher (--teacher) or drop the unlabeled data")
    if teacher is not None and cfg.mode not in ("lora", "full"):
        raise ConfigError(f"expected mode lora, full or auto with a teacher, got {cfg.mode!r}; the teacher's soft labels "
                          "train through the encoder: pick lora (or full)")
    if cfg.mode == "contrastive" and not clf.task.supports_contrastive:
        raise ConfigError(f"expected a sequence or pair task for contrastive training, got task {clf.task.name!r}; "
                          "use frozen, lora or full for it")
    set_seed(cfg.seed)
    result = TrainResult(metric_name=clf.task.metric)
    t0 = time.perf_counter()
    clf.training_config = cfg
    emit(TrainingEvent("recipe", detail=cfg.recipe))
    where = placement()
    clf.head.loss_weight = clf.task.loss_weight(train_examples, clf.model_config.label2id)
    if cfg.mode == "contrastive":
        _train_contrastive(clf, train_examples, val_examples, cfg, emit, cancel, result, t0, where)
    elif cfg.mode == "frozen":
        from .frozen import train_frozen

        clf.set_mode("frozen", cfg)
        train_frozen(clf, train_examples, val_examples, cfg, emit, cancel, result, where=where)
    else:
        from .trainer import train_with_trainer

        if cfg.teacher and teacher is None:
            teacher = _teacher(cfg.teachers, clf.task, clf.labels)
        clf.set_mode(cfg.mode, cfg)
        train_with_trainer(clf, train_examples, val_examples, cfg, emit, cancel, result, teacher, unlabeled)
    if not where.is_main:  # its share is done; the main process scores, reports and saves
        result.seconds = time.perf_counter() - t0
        return result
    if val_examples:
        result.validation_examples, result.validation_predictions = decode_examples(clf, val_examples)
        result.validation = f"validation split ({len(val_examples):,} examples)"
    elif result.validation_examples:
        result.validation = (f"cross-validation on the {len(result.validation_examples):,} training examples "
                             "(each scored by a head fitted without it)")
    else:
        result.validation = "none: a class has a single example, too few to cross-validate; add examples"
    result.metrics = (score(clf, result.validation_examples, result.validation_predictions)
                      if result.validation_examples else {})
    clf.calibration = None
    if cfg.calibrate and result.validation_examples and clf.task.calibrates:
        if cfg.mode == "contrastive" and not val_examples:
            # the out-of-fold predictions are held out from the head only: the encoder was tuned on every
            # example, so they are over-confident and a temperature fitted to them sharpens (measured:
            # held-out ECE 0.17 -> 0.19 at 64 examples per class); no calibration beats a wrong one
            result.calibration = ("not fitted: the encoder was tuned on every example, so no prediction is held out "
                                  "from it; calibrate on labelled data it has not seen (ftclf calibrate --data)")
        else:
            _calibrate(clf, result)
            result.calibration = clf.calibration.summary()
    clf.data_info = {**clf.data_info, "validation": result.validation}
    result.seconds = time.perf_counter() - t0
    clf.metrics = {k: v for k, v in result.metrics.items() if isinstance(v, (int, float))}
    clf.metrics["train_seconds"] = round(result.seconds, 1)
    emit(TrainingEvent("done", metric=result.metrics.get(result.metric_name), metric_name=result.metric_name,
                       elapsed=result.seconds))
    return result


def _calibrate(clf, result: TrainResult) -> None:
    """Fit the head's calibration on what its metrics were measured on, recalibrate the validation
    predictions, and add the calibration figures (cross-fitted) to the metrics."""
    from ..calibration import calibrate_decoded, calibration_figures, fit_calibration

    gold = clf.task.gold_ids(result.validation_examples, clf.model_config.label2id)
    clf.calibration = fit_calibration(clf, result.validation_predictions, gold, fitted_on=result.validation)
    result.validation_predictions = calibrate_decoded(clf, result.validation_predictions)
    result.metrics.update(clf.calibration.metrics.get("decisions", {}))  # a multi-label head's tuned thresholds
    result.metrics.update(calibration_figures(clf.calibration))


def _teacher(refs: Sequence[str], task: TaskSpec, labels) -> object:
    """The teacher classifier of each of ``refs``, checked against the student's task and labels: one
    teacher, or a list of them (an ensemble)."""
    from .distill import check_teacher, load_teacher

    teachers = [load_teacher(ref) for ref in refs]
    for teacher in teachers:
        check_teacher(teacher, task, labels)
    return teachers[0] if len(teachers) == 1 else teachers


def _start_from(training: TrainingConfig, spec: TaskSpec, encoder=None):
    """The saved classifier ``training.init_from`` names, ready to train on, and the recipe settled to its
    mode and adapter shape. Refuses one of another task, or one trained frozen (nothing to continue)."""
    from ..model import Classifier

    start = Classifier.from_pretrained(training.init_from, encoder=encoder)
    if start.task.name != spec.name:
        raise ConfigError(f"expected a saved classifier of the {spec.name} task to continue, got one for "
                          f"{start.task.name!r}; pick a head of the same task")
    if start.mode not in ("lora", "full"):
        raise ConfigError(f"expected a saved classifier trained in lora or full mode to continue, got one trained "
                          f"{start.mode!r}; a frozen head refits from scratch in seconds: drop init_from")
    if training.mode not in ("auto", start.mode):
        raise ConfigError(f"expected mode {start.mode} or auto to continue a classifier trained {start.mode!r}, got "
                          f"{training.mode!r}; drop --mode, or train a new classifier")
    saved = start.training_config or TrainingConfig(mode=start.mode)
    settled = {"lora_r": saved.lora_r, "lora_alpha": saved.lora_alpha} if start.mode == "lora" else {}
    return start, dataclasses.replace(training, mode=start.mode, **settled)


def _on_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def _train_contrastive(clf, train_ex, val_ex, cfg: TrainingConfig, emit, cancel, result: TrainResult, t0: float,
                       where) -> None:
    """Tune the encoder (its LoRA adapters, or every weight) on example pairs, then fit the head on the
    tuned features."""
    from .contrastive import tune_encoder
    from .frozen import device_of_run, train_frozen

    clf.set_mode(cfg.contrastive_body, cfg)
    clf.to(device_of_run())
    items = clf.task.encode(clf.tokenizer, train_ex, clf.model_config, clf.max_length, clf.model_config.label2id)
    losses = tune_encoder(clf, items, cfg, emit, cancel, t0, where)
    result.history.append({"epoch": 0, "step": len(losses), "loss": sum(losses[-20:]) / max(1, len(losses[-20:])),
                           "contrastive_steps": len(losses)})
    head_cfg = cfg
    if cfg.head_fit == "adamw":  # the head's own rates, not the encoder's
        head_cfg = dataclasses.replace(cfg, epochs=DEFAULT_EPOCHS["frozen"], learning_rate=DEFAULT_LEARNING_RATE["frozen"],
                                       batch_size=DEFAULT_BATCH_SIZE["frozen"])
    train_frozen(clf, train_ex, val_ex, head_cfg, emit, cancel, result, cache=False, t0=t0, where=where)


def needs_validation(cfg: TrainingConfig) -> bool:
    """Whether the (resolved) recipe decides anything on a validation split."""
    return not (cfg.mode in ("frozen", "contrastive") and cfg.head_fit == "lbfgs")


def prepare_data(task: str | TaskSpec, train_examples: Sequence, val_examples: Sequence | None,
                 cfg: TrainingConfig) -> tuple[list, list, TrainingConfig]:
    """Sample (max_examples), settle the recipe for the data, carve a validation split when the
    recipe needs one and none is given, check the classes. Returns (train, validation, recipe)."""
    spec = get_task(task) if isinstance(task, str) else task
    spec.check_examples(train_examples)
    train_examples = sample(list(train_examples), cfg.max_examples, cfg.seed)
    cfg = resolve(cfg, spec, len(train_examples), on_gpu=_on_gpu())  # decided on all the data given
    if val_examples is None and not needs_validation(cfg):
        val_examples = []
    elif val_examples is None:
        train_examples, val_examples = split_train_validation(
            train_examples, cfg.validation_fraction, cfg.seed, cfg.max_validation, spec.stratum)
    spec.check_training_labels(spec.label_list(train_examples))
    return train_examples, list(val_examples), cfg


def fit(
    model_config: ModelConfig, training: TrainingConfig, train_examples: Sequence, val_examples: Sequence | None = None,
    on_event: EventHandler | None = None, cancel: threading.Event | None = None, data_info: dict | None = None,
    encoder=None, unlabeled: Sequence | None = None,
):
    """Read-to-trained in one call: labels from the data, encoder loaded, head built, trained.

    Returns (classifier, TrainResult). ``model_config.labels`` may be empty (taken from data).
    ``encoder``: an already loaded ``Encoder`` to train on (default: load ``model_config.encoder``).
    ``unlabeled``: examples without labels that ``training.teacher`` labels for the student.
    """
    from transformers import set_seed

    from ..encoders import load_encoder
    from ..model import Classifier

    spec = model_config.task_spec
    start = None
    if training.init_from:  # continue a saved classifier: its configuration, adapter and mode carry over
        start, training = _start_from(training, spec, encoder)
        model_config = start.model_config
    train_ex, val_ex, training = prepare_data(spec, train_examples, val_examples, training)
    labels = model_config.labels or spec.label_list(train_ex)
    config = dataclasses.replace(model_config, labels=labels)  # re-validated by __post_init__
    missing = sorted(set(spec.label_list(val_ex)) - set(labels))
    if missing:
        raise DataError(
            f"expected validation labels among the training labels {labels}, found {missing}; "
            "make sure both splits use the same label names"
        )
    teacher = _teacher(training.teachers, spec, labels) if training.teacher else None  # before anything loads or trains
    unlabeled = list(unlabeled or [])
    if unlabeled:
        spec.check_examples(unlabeled)
    if start is not None:
        unknown = sorted(set(spec.label_list(train_ex)) - set(labels))
        if unknown:
            raise DataError(f"expected the labels of the classifier being continued, {labels}, found {unknown} in the "
                            "training data; rename them, or train a new classifier for the new label set")
        clf = start
    else:
        encoder = encoder or load_encoder(config.encoder)
        set_seed(training.seed)  # the head's initial weights come from the seed, not from earlier runs
        clf = Classifier(config, encoder)
    before = dict(clf.data_info)
    clf.data_info = {**(data_info or {}), "train_examples": len(train_ex), "validation_examples": len(val_ex)}
    if start is not None:
        clf.data_info["continued_from"] = f"{training.init_from} (trained on {before.get('train', 'data not recorded')})"
    if unlabeled:
        clf.data_info["unlabeled_examples"] = len(unlabeled)
    result = train(clf, train_ex, val_ex, training, on_event, cancel, teacher, unlabeled)
    return clf, result
