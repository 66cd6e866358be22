"""LoRA / full fine-tuning through transformers' Trainer (so torchrun / accelerate launch work)."""

from __future__ import annotations

import math
import tempfile
import time

import torch

from .config import TrainingConfig
from .evaluation import tag_rows, token_metrics
from .events import EventHandler, TrainingEvent, TrainResult
from .tokenization import collate, encode_for_training


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
            g, p = tag_rows(names, labels_t[start : start + 256].tolist(), ids)
            gold += g
            pred += p
        return {"f1": token_metrics(gold, pred)["f1"]}

    return compute


def train_with_trainer(clf, train_ex, val_ex, cfg: TrainingConfig, emit: EventHandler, cancel, result: TrainResult) -> None:
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


