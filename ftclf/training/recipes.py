"""Which recipe a run uses: ``mode="auto"`` picks one from the data, and every run settles its
defaults (epochs, learning rate, batch size, how the head is fitted) for the data it got.

The rule, measured on SST-2 with the embedded encoder (``benchmarks/fewshot.py``, README "Small
data"):

* small data (at most ``SMALL_DATA`` examples): **contrastive** body tuning on same/different-label
  pairs, then the head fitted full-batch with L-BFGS, weight decay by cross-validation — no
  validation split is carved, every example trains;
* token tasks and anything the contrastive objective cannot use: **frozen** features with the
  same L-BFGS fit while the data is small;
* more data: **lora** (the best accuracy at a few thousand examples), unless the run is on a CPU
  with more than ``CPU_LORA_MAX`` examples, where LoRA would take most of an hour per epoch:
  there **frozen** trains in minutes (pick ``lora`` yourself to spend the time).

The chosen recipe and the reason are written to ``TrainingConfig.recipe`` (the saved config and
model card carry it; the Train tab shows it).
"""

from __future__ import annotations

import dataclasses
import os

from ..config import (
    CPU_LORA_MAX,
    DEFAULT_BATCH_SIZE,
    DEFAULT_EPOCHS,
    DEFAULT_LEARNING_RATE,
    SMALL_DATA,
    TrainingConfig,
    default_learning_rate,
)
from ..errors import ConfigError

#: Up to this many examples (sentences for token tasks) the head is fitted full-batch with L-BFGS
#: and cross-validation (beyond, minibatch AdamW on a validation split is cheaper, and the split
#: is large enough to decide on).
LBFGS_MAX = 2000
LBFGS_MAX_SENTENCES = 400
#: Contrastive encoder updates per training example, and their bounds. Each update encodes a batch
#: of 32 examples (about 0.8 s on 2 idle CPU cores), so the cap keeps tuning under three minutes.
STEPS_PER_EXAMPLE = 2.5
MIN_STEPS = 20
MAX_STEPS = 180


def _count(n: int, what: str = "example") -> str:
    return f"{n:,} {what}{'' if n == 1 else 's'}"


def choose_mode(task, n_train: int, on_gpu: bool) -> tuple[str, str]:
    """(mode, why) for ``mode="auto"``."""
    size = _count(n_train, task.unit)
    if n_train <= SMALL_DATA:
        if task.supports_contrastive:
            return "contrastive", (f"{size} (small data, at most {SMALL_DATA:,}): the encoder is tuned on "
                                   "same/different-label pairs, then the head is fitted to convergence")
        return "frozen", (f"{size} (small data, at most {SMALL_DATA:,}): the head is fitted to convergence on "
                          "the encoder's features" + (f"; {task.no_contrastive}" if task.no_contrastive else ""))
    if on_gpu or n_train <= CPU_LORA_MAX:
        return "lora", f"{size}: LoRA adapters in the encoder and the head train together"
    return "frozen", (f"{size} on a CPU: LoRA would take about {n_train / 45 / 60:.0f} minutes per epoch here, the "
                      "frozen encoder's features train the head in minutes (choose lora to spend the time)")


def max_steps() -> int:
    """The cap on default contrastive updates: MAX_STEPS, or less on a server that says so
    (``$FTCLF_MAX_CONTRASTIVE_STEPS``: a shared Space keeps each run's encoder tuning short)."""
    raw = os.environ.get("FTCLF_MAX_CONTRASTIVE_STEPS", "").strip()
    try:
        return max(1, min(MAX_STEPS, int(raw))) if raw else MAX_STEPS
    except ValueError:
        raise ConfigError(f"expected FTCLF_MAX_CONTRASTIVE_STEPS to be a whole number, got {raw!r}; fix the "
                          "environment") from None


def steps_for(n_train: int) -> int:
    """Default contrastive updates for ``n_train`` examples (STEPS_PER_EXAMPLE each, within the bounds)."""
    cap = max_steps()
    return max(min(MIN_STEPS, cap), min(cap, round(STEPS_PER_EXAMPLE * n_train)))


def resolve(cfg: TrainingConfig, task, n_train: int, on_gpu: bool = False) -> TrainingConfig:
    """``cfg`` with every data-dependent choice made and explained for ``n_train`` examples."""
    why = ""
    mode = cfg.mode
    if mode == "auto":
        mode, why = choose_mode(task, n_train, on_gpu)
        if cfg.teacher and mode not in ("lora", "full"):
            mode, why = "lora", (f"{why.split(':')[0]} with a teacher: its soft labels train LoRA adapters in the "
                                 "encoder and the head together")
    changes: dict = {"mode": mode}
    if cfg.mode == "auto":  # auto's defaults are the chosen mode's
        changes["epochs"] = cfg.epochs or DEFAULT_EPOCHS[mode]
        changes["learning_rate"] = cfg.learning_rate or default_learning_rate(mode, cfg.contrastive_body)
    head_fit = cfg.head_fit
    if mode in ("frozen", "contrastive") and head_fit == "auto":
        head_fit = "lbfgs" if n_train <= (LBFGS_MAX_SENTENCES if task.unit == "sentence" else LBFGS_MAX) else "adamw"
    changes["head_fit"] = head_fit
    if mode == "contrastive" and cfg.contrastive_steps is None:
        changes["contrastive_steps"] = steps_for(n_train)
    if cfg.batch_size is None:
        size = DEFAULT_BATCH_SIZE[mode]
        if mode == "frozen":  # small data sets still get about ten steps per epoch
            size = min(size, max(8, n_train // 10))
        changes["batch_size"] = size
    resolved = dataclasses.replace(cfg, **changes)
    if why or not cfg.recipe or resolved != cfg:  # resolving a resolved config keeps its words
        resolved.recipe = describe(resolved, why)
    return resolved


def describe(cfg: TrainingConfig, why: str = "") -> str:
    """The recipe in words: what trains, how the head is fitted, and (for auto) why."""
    if cfg.mode == "contrastive":
        body = "every encoder weight" if cfg.contrastive_body == "full" else "LoRA adapters"
        what = (f"contrastive: {body} tuned for {cfg.contrastive_steps * cfg.epochs:,} steps on every "
                f"same/different-label pair of batches of {cfg.batch_size} examples (learning rate "
                f"{cfg.learning_rate:g}), then the head")
    elif cfg.mode == "frozen":
        what = "frozen encoder, the head"
    else:
        what = (f"{cfg.mode}: encoder {'adapters' if cfg.mode == 'lora' else 'weights'} and head trained together "
                f"for up to {cfg.epochs} epochs (learning rate {cfg.learning_rate:g}, batch size {cfg.batch_size}), "
                "best validation evaluation kept")
        if cfg.init_from:
            what = what.replace(" trained together", f" of {cfg.init_from} trained on", 1)
        if cfg.teacher:
            by = (f"teacher {cfg.teacher}" if len(cfg.teachers) == 1
                  else f"the mean of {len(cfg.teachers)} teachers ({', '.join(cfg.teachers)})")
            what += (f", distilled from {by} (soft labels at temperature {cfg.distill_temperature:g}, "
                     f"weight {cfg.distill_weight:g}; gold labels {1 - cfg.distill_weight:g})")
    if cfg.mode in ("frozen", "contrastive"):
        if cfg.head_fit == "lbfgs":
            what += " fitted full-batch with L-BFGS, weight decay chosen by cross-validation, no validation split"
        else:  # a contrastive run's head trains with the frozen defaults (its own rates are the encoder's)
            epochs, rate, size = ((DEFAULT_EPOCHS["frozen"], DEFAULT_LEARNING_RATE["frozen"], DEFAULT_BATCH_SIZE["frozen"])
                                  if cfg.mode == "contrastive" else (cfg.epochs, cfg.learning_rate, cfg.batch_size))
            what += (f" trained for up to {epochs} epochs with AdamW (learning rate {rate:g}, batch size {size}), "
                     "best validation epoch kept")
    return f"auto chose {what} — because {why}" if why else what
