"""LoRA / full fine-tuning through transformers' Trainer: under ``accelerate launch`` / ``torchrun`` it
runs data-parallel (DDP: gloo on CPUs, NCCL on GPUs), each process a share of every batch.

Model selection is ftclf's own callback rather than Trainer checkpoints: the trainable weights of
the best evaluation are kept in memory (ties keep the later one) and restored at the end, and
only when the validation split is large enough to tell evaluations apart (``MIN_SELECTION``);
below it the run trains its whole schedule and keeps the last weights.

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
from ..distributed import placement
from ..evaluation import decode_logits
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
    """The Trainer's ``compute_metrics``: the head decodes the logits, the task's ``evaluate`` module
    (ftclf.hf_metrics, offline) scores them; only the task's selection metric is reported."""
    from ..hf_metrics import task_metrics

    def compute(eval_pred) -> dict:
        logits, labels = eval_pred.predictions, eval_pred.label_ids
        logits = torch.from_numpy(np.asarray(logits[0] if isinstance(logits, tuple) else logits)).float()
        labels = torch.from_numpy(np.asarray(labels))
        chunks = ((logits[i : i + 256].to(clf.device), labels[i : i + 256].to(clf.device)) for i in range(0, len(labels), 256))
        gold, predicted = decode_logits(clf, chunks)
        return {clf.task.metric: task_metrics(clf.task, gold, predicted, clf.labels)[clf.task.metric]}

    return compute


def _best_kept(clf, cfg: TrainingConfig, metric_name: str, selecting: bool, result: TrainResult):
    """Early stopping and best-weights restore, in memory (see the module docstring)."""
    from transformers import TrainerCallback

    class Best(TrainerCallback):
        state_dict, bad_evals = None, 0

        def on_evaluate(self, args, state, control, metrics=None, **kw):
            metric = (metrics or {}).get(f"eval_{metric_name}")
            if metric is None or not selecting:
                return
            improved = result.best_metric is None or metric > result.best_metric
            if improved or metric == result.best_metric:  # ties keep the later evaluation
                result.best_metric = metric
                self.state_dict = {n: p.detach().clone() for n, p in clf.named_parameters() if p.requires_grad}
            self.bad_evals = 0 if improved else self.bad_evals + 1
            if cfg.patience and self.bad_evals >= cfg.patience:
                control.should_training_stop = True
                result.stopped_early = True

        def on_train_end(self, args, state, control, **kw):
            if self.state_dict is not None:
                with torch.no_grad():
                    params = dict(clf.named_parameters())
                    for name, value in self.state_dict.items():
                        params[name].copy_(value)

    return Best()


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


def train_with_trainer(clf, train_ex, val_ex, cfg: TrainingConfig, emit: EventHandler, cancel, result: TrainResult,
                       teacher=None, unlabeled=()) -> None:
    """Train ``clf`` with the Trainer; with a ``teacher``, on its soft labels too (``distill``), the
    ``unlabeled`` examples included."""
    from transformers import Trainer, TrainingArguments

    from . import distill
    from .frozen import MIN_SELECTION

    label2id = clf.model_config.label2id
    if teacher is not None:
        n = len(distill.members(teacher))
        who = "the teacher labels" if n == 1 else f"the {n} teachers (an ensemble) label"
        emit(TrainingEvent("teacher", detail=f"{who} {len(train_ex) + len(unlabeled):,} examples"))
        train_items = distill.training_items(clf, train_ex, unlabeled, teacher)
        model = distill.Distilled(clf, cfg.distill_temperature, cfg.distill_weight)
    else:
        train_items = clf.task.encode(clf.tokenizer, train_ex, clf.model_config, clf.max_length, label2id)
        model = clf
    val_items = clf.task.encode(clf.tokenizer, val_ex, clf.model_config, clf.max_length, label2id)
    steps_per_epoch = math.ceil(len(train_items) / cfg.batch_size)
    eval_every = max(1, steps_per_epoch // cfg.evals_per_epoch)
    pad = clf.tokenizer.pad_token_id or 0

    def collator(rows: list[dict]) -> dict:
        items = [row["item"] for row in rows]
        out = {"batch": collate(items, pad), "labels": collate_labels(items)}
        if teacher is not None and (soft := distill.collate_soft(items)) is not None:
            out["soft_labels"] = soft
        return out

    # batch_size is the batch of one update: several processes (DDP) take a share of it each, so the
    # updates, the schedule and the result stay those of a one-process run
    where = placement()
    per_process = max(1, math.ceil(cfg.batch_size / where.world))
    with tempfile.TemporaryDirectory(prefix="ftclf-trainer-") as tmp:
        args = TrainingArguments(**_trainer_arguments(
            output_dir=tmp, num_train_epochs=cfg.epochs, learning_rate=cfg.learning_rate,
            per_device_train_batch_size=per_process, per_device_eval_batch_size=per_process * 2,
            weight_decay=cfg.weight_decay, seed=cfg.seed, data_seed=cfg.seed,
            eval_strategy="steps", eval_steps=eval_every, save_strategy="no", logging_steps=max(1, eval_every // 10),
            report_to="none", remove_unused_columns=False, label_names=["labels"],
            dataloader_num_workers=0, ddp_find_unused_parameters=cfg.mode == "full",  # full: the unused pooler
            use_cpu=where.world > 1 and not torch.cuda.is_available(),  # DDP over gloo between CPU processes
            warmup_ratio=cfg.warmup_ratio,
        ))
        selecting = len(val_items) >= MIN_SELECTION
        result.selection = ("best validation evaluation kept" if selecting else
                            f"whole schedule, last weights kept: {len(val_items)} validation examples are too few "
                            f"(under {MIN_SELECTION}) to choose an evaluation")
        callbacks = [_events(emit, cancel, result, eval_every, time.perf_counter()),
                     _best_kept(clf, cfg, clf.task.metric, selecting, result)]
        trainer = Trainer(
            model=model, args=args, data_collator=collator, train_dataset=_Rows(train_items),
            eval_dataset=_Rows(val_items), compute_metrics=_compute_metrics(clf), callbacks=callbacks,
        )
        trainer.train()
    clf.eval()
