"""LoRA / full fine-tuning through transformers' Trainer (so torchrun / accelerate launch work).

The classifier takes a typed :class:`~ftclf.tokenization.Batch`; the Trainer sees rows
``{"input_ids", "item"}`` (its length-grouped sampler reads ``input_ids``) collated into
``{"batch": Batch, "labels": Tensor}``.
"""

from __future__ import annotations

import math
import tempfile
import time

import numpy as np
import torch

from ..config import TrainingConfig
from ..evaluation import score_logits
from ..tokenization import collate, collate_labels
from .events import EventHandler, TrainingEvent, TrainResult


class _Rows(torch.utils.data.Dataset):
    def __init__(self, items) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return {"input_ids": self.items[i].input_ids, "item": self.items[i]}


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


def _compute_metrics(clf):
    def compute(eval_pred) -> dict:
        logits, labels = eval_pred.predictions, eval_pred.label_ids
        logits = torch.from_numpy(np.asarray(logits[0] if isinstance(logits, tuple) else logits)).float()
        labels = torch.from_numpy(np.asarray(labels))
        chunks = ((logits[i : i + 256].to(clf.device), labels[i : i + 256].to(clf.device)) for i in range(0, len(labels), 256))
        return {clf.task.metric: score_logits(clf, chunks)[clf.task.metric]}

    return compute


def _events(emit: EventHandler, cancel, result: TrainResult, eval_every: int, t0: float):
    from transformers import TrainerCallback

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

    return Events()


def train_with_trainer(clf, train_ex, val_ex, cfg: TrainingConfig, emit: EventHandler, cancel, result: TrainResult) -> None:
    from transformers import EarlyStoppingCallback, Trainer, TrainingArguments

    label2id = clf.model_config.label2id
    train_items = clf.task.encode(clf.tokenizer, train_ex, clf.model_config, clf.max_length, label2id)
    val_items = clf.task.encode(clf.tokenizer, val_ex, clf.model_config, clf.max_length, label2id)
    steps_per_epoch = math.ceil(len(train_items) / cfg.batch_size)
    eval_every = max(1, steps_per_epoch // cfg.evals_per_epoch)
    pad = clf.tokenizer.pad_token_id or 0

    def collator(rows: list[dict]) -> dict:
        items = [row["item"] for row in rows]
        return {"batch": collate(items, pad), "labels": collate_labels(items)}

    with tempfile.TemporaryDirectory(prefix="ftclf-trainer-") as tmp:
        args = TrainingArguments(**_trainer_arguments(
            output_dir=tmp, num_train_epochs=cfg.epochs, learning_rate=cfg.learning_rate,
            per_device_train_batch_size=cfg.batch_size, per_device_eval_batch_size=cfg.batch_size * 2,
            weight_decay=cfg.weight_decay, seed=cfg.seed, data_seed=cfg.seed,
            eval_strategy="steps", eval_steps=eval_every, save_strategy="steps", save_steps=eval_every,
            save_total_limit=2, save_only_model=True, load_best_model_at_end=True,
            metric_for_best_model=clf.task.metric, greater_is_better=True, logging_steps=max(1, eval_every // 10),
            report_to="none", remove_unused_columns=False, label_names=["labels"],
            dataloader_num_workers=0,
            warmup_ratio=cfg.warmup_ratio,
        ))
        callbacks = [_events(emit, cancel, result, eval_every, time.perf_counter())]
        if cfg.patience:
            callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.patience))
        trainer = Trainer(
            model=clf, args=args, data_collator=collator, train_dataset=_Rows(train_items),
            eval_dataset=_Rows(val_items), compute_metrics=_compute_metrics(clf), callbacks=callbacks,
        )
        out = trainer.train()
        result.stopped_early = out.global_step < args.max_steps if args.max_steps > 0 else out.global_step < steps_per_epoch * cfg.epochs
        result.best_metric = trainer.state.best_metric
    clf.eval()
