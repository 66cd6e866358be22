"""Training: a task-agnostic loop for frozen heads on cached features, and transformers'
Trainer for LoRA / full fine-tuning (so the same run works under torchrun / accelerate launch).

Neither loop prints: progress goes out as TrainingEvent objects to ``on_event`` (and tqdm).
Early stopping watches the validation metric (accuracy; entity F1 for token tasks); the best
head is restored at the end. A fixed seed gives identical results.
"""

from __future__ import annotations

import copy
import math
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from tqdm.auto import tqdm

from .config import ModelConfig, TrainingConfig
from .data import label_list, sample, split_train_validation
from .errors import DataError
from .evaluation import classification_metrics, evaluate, token_metrics
from .features import cached_features
from .tasks import TokenExample
from .tokenization import collate, encode_examples, encode_words


@dataclass
class TrainingEvent:
    """One progress report: ``stage`` is "features", "train", "eval" or "done"."""

    stage: str
    step: int = 0
    total_steps: int = 0
    epoch: float = 0.0
    loss: float | None = None
    metric: float | None = None
    metric_name: str = ""
    eta_seconds: float | None = None
    elapsed: float = 0.0


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)
    best_metric: float | None = None
    metric_name: str = ""
    metrics: dict = field(default_factory=dict)
    seconds: float = 0.0
    stopped_early: bool = False
    cancelled: bool = False
    #: the validation examples the metrics were computed on (carved or given)
    validation_examples: list = field(default_factory=list, repr=False)


EventHandler = Callable[[TrainingEvent], None]


def metric_name(task: str) -> str:
    return "f1" if task == "token" else "accuracy"


def encode_for_training(clf, examples) -> list[dict]:
    label2id = clf.spec.label2id
    if clf.is_token:
        items, _ = encode_words(clf.tokenizer, [e.words for e in examples], clf.max_length, [e.tags for e in examples], label2id)
    else:
        items, _ = encode_examples(clf.tokenizer, examples, clf.task, clf.spec.pair_mode, clf.max_length, label2id)
    return items


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# --------------------------------------------------------------------------- frozen
class _FeatureBatches:
    """Minibatches of cached features for the head: sequence (N, F) rows or padded word rows."""

    def __init__(self, clf, items: list[dict], feats: dict[str, torch.Tensor]) -> None:
        self.clf, self.items, self.feats = clf, items, feats
        if clf.is_token:
            sizes = [len(it["word_index"]) for it in items]
            self.offsets = [0]
            for n in sizes:
                self.offsets.append(self.offsets[-1] + n)

    def __len__(self) -> int:
        return len(self.items)

    def batch(self, ids: list[int], device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        clf = self.clf
        if not clf.is_token:
            feats = {k: v[ids].to(device) for k, v in self.feats.items()}
            labels = torch.tensor([self.items[i]["labels"] for i in ids], device=device)
            return clf.head_features(feats), labels, None
        rows = [self.feats["words"][self.offsets[i] : self.offsets[i + 1]] for i in ids]
        words = torch.nn.utils.rnn.pad_sequence(rows, batch_first=True).to(device)  # (batch, n_words, hidden)
        padded = collate([{"labels": self.items[i]["labels"], "word_shape": self.items[i]["word_shape"]} for i in ids])
        labels = padded["labels"].to(device)
        return clf.head_features({"words": words}, padded["word_shape"].to(device)), labels, labels != -100


def _score(clf, data: _FeatureBatches, device, batch_size: int = 512) -> float:
    """Validation metric of the current head on cached features."""
    clf.eval()
    gold, pred = [], []
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            ids = list(range(start, min(start + batch_size, len(data))))
            x, labels, mask = data.batch(ids, device)
            predicted, _ = clf.decode(clf.head_forward(x).logits, mask)
            if clf.is_token:
                names = clf.spec.labels
                for row, p in zip(labels.tolist(), predicted):
                    g = [names[t] for t in row if t != -100]
                    gold.append(g)
                    pred.append([names[t] for t in p[: len(g)]])
            else:
                gold.extend(labels.tolist())
                pred.extend(predicted)
    clf.train()
    if clf.is_token:
        return token_metrics(gold, pred)["f1"]
    return classification_metrics(gold, pred, clf.spec.labels)["accuracy"]


def _train_frozen(clf, train_ex, val_ex, cfg: TrainingConfig, emit: EventHandler, cancel, result: TrainResult) -> None:
    device = _device()
    clf.to(device)
    t0 = time.perf_counter()

    def progress(what):
        return lambda done, total: emit(TrainingEvent("features", done, total, metric_name=what, elapsed=time.perf_counter() - t0))

    train_items, val_items = encode_for_training(clf, train_ex), encode_for_training(clf, val_ex)
    train = _FeatureBatches(clf, train_items, cached_features(clf, train_ex, train_items, on_progress=progress("train"), desc="encoding train"))
    val = _FeatureBatches(clf, val_items, cached_features(clf, val_ex, val_items, on_progress=progress("validation"), desc="encoding validation"))
    params = [p for n, p in clf.named_parameters() if not n.startswith("encoder.")]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(train) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    generator = torch.Generator().manual_seed(cfg.seed)
    best_state, bad_evals, step = None, 0, 0
    t_train = time.perf_counter()
    clf.train()
    clf.encoder.eval()
    for epoch in range(cfg.epochs):
        order = torch.randperm(len(train), generator=generator).tolist()
        losses = []
        for start in tqdm(range(0, len(order), cfg.batch_size), desc=f"epoch {epoch + 1}", leave=False, unit="batch"):
            x, labels, mask = train.batch(order[start : start + cfg.batch_size], device)
            loss = clf.head_forward(x, labels, mask).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            step += 1
            if cancel is not None and cancel.is_set():
                result.cancelled = True
                break
            if step % max(1, steps_per_epoch // 10) == 0:
                rate = (time.perf_counter() - t_train) / step
                emit(TrainingEvent("train", step, total, step / steps_per_epoch, sum(losses[-20:]) / len(losses[-20:]),
                                   eta_seconds=rate * (total - step), elapsed=time.perf_counter() - t0))
        metric = _score(clf, val, device)
        mean_loss = sum(losses) / max(1, len(losses))
        result.history.append({"epoch": epoch + 1, "step": step, "loss": mean_loss, result.metric_name: metric})
        emit(TrainingEvent("eval", step, total, epoch + 1, mean_loss, metric, result.metric_name,
                           eta_seconds=(time.perf_counter() - t_train) / step * (total - step), elapsed=time.perf_counter() - t0))
        if result.best_metric is None or metric > result.best_metric:
            result.best_metric, bad_evals = metric, 0
            best_state = copy.deepcopy({k: v for k, v in clf.head_state_dict().items()})
        else:
            bad_evals += 1
        if result.cancelled or (cfg.patience and bad_evals >= cfg.patience):
            result.stopped_early = not result.cancelled
            break
    if best_state is not None:
        clf.load_state_dict(best_state, strict=False)
    clf.eval()


# ------------------------------------------------------------------- lora / full
def _trainer_arguments(warmup_ratio: float, **kwargs) -> dict:
    """TrainingArguments kwargs for the installed transformers: length-grouped batches and a
    warm-up ratio are spelled differently across 5.x releases."""
    import inspect

    from transformers import TrainingArguments

    params = inspect.signature(TrainingArguments.__init__).parameters
    if "train_sampling_strategy" in params:
        kwargs["train_sampling_strategy"] = "group_by_length"
    elif "group_by_length" in params:
        kwargs["group_by_length"] = True
    if "warmup_ratio" in params:
        kwargs["warmup_ratio"] = warmup_ratio
    else:
        kwargs["warmup_steps"] = warmup_ratio  # a float below 1 is a ratio of the total steps
    return kwargs


def _trainer_metrics(clf):
    import numpy as np

    names = clf.spec.labels

    def compute(eval_pred) -> dict:
        logits, labels = eval_pred.predictions, eval_pred.label_ids
        if isinstance(logits, tuple):
            logits = logits[0]
        if not clf.is_token:
            return {"accuracy": float((np.asarray(logits).argmax(-1) == labels).mean())}
        logits_t, labels_t = torch.from_numpy(np.asarray(logits)), torch.from_numpy(np.asarray(labels))
        mask = labels_t != -100
        gold, pred = [], []
        for start in range(0, len(labels_t), 256):
            ids, _ = clf.decode(logits_t[start : start + 256].float().to(clf.device), mask[start : start + 256].to(clf.device))
            for row, p in zip(labels_t[start : start + 256].tolist(), ids):
                g = [names[t] for t in row if t != -100]
                gold.append(g)
                pred.append([names[t] for t in p[: len(g)]])
        return {"f1": token_metrics(gold, pred)["f1"]}

    return compute


def _train_with_trainer(clf, train_ex, val_ex, cfg: TrainingConfig, emit: EventHandler, cancel, result: TrainResult) -> None:
    from transformers import EarlyStoppingCallback, Trainer, TrainerCallback, TrainingArguments

    train_items, val_items = encode_for_training(clf, train_ex), encode_for_training(clf, val_ex)
    steps_per_epoch = math.ceil(len(train_items) / cfg.batch_size)
    eval_every = max(1, steps_per_epoch // cfg.evals_per_epoch)
    t0 = time.perf_counter()
    name = result.metric_name

    class Events(TrainerCallback):
        last_loss = None

        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                self.last_loss = float(logs["loss"])

        def on_step_end(self, args, state, control, **kw):
            elapsed = time.perf_counter() - t0
            step, total = state.global_step, state.max_steps
            if step % max(1, eval_every // 10) == 0:
                emit(TrainingEvent("train", step, total, state.epoch or 0.0, self.last_loss,
                                   eta_seconds=elapsed / max(step, 1) * (total - step), elapsed=elapsed))
            if cancel is not None and cancel.is_set():
                result.cancelled = True
                control.should_training_stop = True

        def on_evaluate(self, args, state, control, metrics=None, **kw):
            metric = (metrics or {}).get(f"eval_{name}")
            result.history.append({"epoch": state.epoch, "step": state.global_step, "loss": self.last_loss, name: metric})
            emit(TrainingEvent("eval", state.global_step, state.max_steps, state.epoch or 0.0, self.last_loss, metric, name,
                               elapsed=time.perf_counter() - t0))

    with tempfile.TemporaryDirectory(prefix="ftclf-trainer-") as tmp:
        args = TrainingArguments(**_trainer_arguments(
            output_dir=tmp, num_train_epochs=cfg.epochs, learning_rate=cfg.learning_rate,
            per_device_train_batch_size=cfg.batch_size, per_device_eval_batch_size=cfg.batch_size * 2,
            weight_decay=cfg.weight_decay, seed=cfg.seed, data_seed=cfg.seed,
            eval_strategy="steps", eval_steps=eval_every, save_strategy="steps", save_steps=eval_every,
            save_total_limit=2, save_only_model=True, load_best_model_at_end=True,
            metric_for_best_model=name, greater_is_better=True, logging_steps=max(1, eval_every // 10),
            report_to="none", remove_unused_columns=False, label_names=["labels"],
            dataloader_num_workers=0,
            warmup_ratio=cfg.warmup_ratio,
        ))
        callbacks = [Events()]
        if cfg.patience:
            callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.patience))
        trainer = Trainer(
            model=clf, args=args, data_collator=lambda items: collate(items, clf.tokenizer.pad_token_id or 0),
            train_dataset=train_items, eval_dataset=val_items, compute_metrics=_trainer_metrics(clf),
            callbacks=callbacks,
        )
        out = trainer.train()
        result.stopped_early = out.global_step < args.max_steps if args.max_steps > 0 else out.global_step < steps_per_epoch * cfg.epochs
        result.best_metric = trainer.state.best_metric
    clf.eval()


# ------------------------------------------------------------------------- public
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
        _train_frozen(clf, train_examples, val_examples, cfg, emit, cancel, result)
    else:
        _train_with_trainer(clf, train_examples, val_examples, cfg, emit, cancel, result)
    result.metrics = evaluate(clf, val_examples)
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
    config = copy.deepcopy(model_config)
    config.labels = labels
    config.__post_init__()
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
