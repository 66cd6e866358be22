"""Contrastive body tuning (SetFit's idea, Tunstall et al. 2022) on ftclf's own encoder pass.

Pairs of training examples carry a target similarity (same label: 1, different labels: 0), and
the encoder — its LoRA adapters — is tuned so that the cosine similarity of the two examples'
head inputs (the pooled vector a head reads; for pair tasks the joint or concatenated pair vector)
matches the target with a squared error (sentence-transformers' CosineSimilarityLoss). With few
labelled examples this teaches the encoder what "same class" means from n² pairs instead of n
examples. The head is fitted afterwards on the tuned encoder's features (``frozen``).

Where SetFit encodes both sides of every sampled pair (two encoder passes per pair), each step
here encodes a batch of distinct examples once and scores *every* pair inside it: a batch of 32
gives 496 pairs for the encoder cost of 16 SetFit pairs. Same-label and different-label pairs
weigh half each, whatever the class balance. Batches are drawn so that every class with at least
two examples has a same-label partner in them.
"""

from __future__ import annotations

import math
import random
import time
from collections import defaultdict
from collections.abc import Sequence

import torch
from tqdm.auto import tqdm

from ..config import TrainingConfig
from ..distributed import Placement
from ..errors import TrainingCancelled
from ..tokenization import collate
from .events import EventHandler, TrainingEvent


def batches(labels: Sequence, batch_size: int, steps: int, seed: int) -> list[list[int]]:
    """``steps`` batches of distinct example ids, each taking an equal share (at least two, so that
    same-label pairs exist) from the classes — all of them, or a rotating subset when there are more
    classes than fit — then filling up at random. Each class is walked through in shuffled rounds,
    so every example is used about equally often."""
    by_label = defaultdict(list)
    for i, label in enumerate(labels):
        by_label[label].append(i)
    rng = random.Random(seed)
    queues: dict = {label: [] for label in by_label}

    def take(label) -> int:
        if not queues[label]:
            queues[label] = rng.sample(by_label[label], len(by_label[label]))
        return queues[label].pop()

    size = max(2, min(batch_size, len(labels)))
    share = max(2, size // len(by_label))
    classes = sorted(by_label, key=str)
    out = []
    for _ in range(steps):
        rng.shuffle(classes)
        chosen: list[int] = []
        for label in classes:
            want = min(share, len(by_label[label]), size - len(chosen))
            picked = 0
            while picked < want:
                i = take(label)
                if i not in chosen:
                    chosen.append(i)
                    picked += 1
        taken = set(chosen)
        rest = [i for i in range(len(labels)) if i not in taken]
        chosen += rng.sample(rest, min(len(rest), size - len(chosen)))
        out.append(chosen)
    return out


def pair_loss(embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean squared error between the cosine similarity of every pair in the batch and its target
    (1 same label, 0 different), same- and different-label pairs weighing half each."""
    unit = torch.nn.functional.normalize(embeddings, dim=-1)
    cosine = unit @ unit.T
    same = labels[:, None] == labels[None, :]
    upper = torch.ones_like(same).triu(1)
    errors = (cosine - same.float()) ** 2
    parts = [errors[mask].mean() for mask in (same & upper, ~same & upper) if mask.any()]
    return sum(parts) / len(parts)


def tune_encoder(clf, items: Sequence, cfg: TrainingConfig, emit: EventHandler, cancel, t0: float,
                 where: Placement | None = None) -> list[float]:
    """Tune ``clf``'s encoder (already in LoRA or full mode) on every pair of each batch of
    ``items``; returns the losses. Cancellation raises :class:`TrainingCancelled` (no head yet).

    Under several processes (``where``) the planned batches are shared out: each update averages
    the gradients of one batch per process (as DDP does), so a run makes ``steps / world`` updates."""
    where = where or Placement()
    labels = [item.label for item in items]
    planned = batches(labels, cfg.batch_size, cfg.contrastive_steps * cfg.epochs, cfg.seed)
    steps = max(1, len(planned) // where.world)
    plan = [planned[(u * where.world + where.rank) % len(planned)] for u in range(steps)]
    params = [p for p in clf.encoder.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    warmup = max(1, round(cfg.warmup_ratio * steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (steps - step) / max(1, steps - warmup))))
    pad = clf.tokenizer.pad_token_id or 0
    clf.encoder.train()
    losses: list[float] = []
    t_start = time.perf_counter()
    for step, ids in enumerate(tqdm(plan, desc="contrastive", leave=False, unit="batch", disable=not where.is_main), 1):
        batch = collate([items[i] for i in ids], pad).to(clf.device)
        loss = pair_loss(clf.head_input(clf.features(batch)), torch.tensor([labels[i] for i in ids], device=clf.device))
        optimizer.zero_grad()
        loss.backward()
        where.average_gradients(params)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if cancel is not None and cancel.is_set():
            clf.encoder.eval()
            raise TrainingCancelled("expected the run to keep a head, but it was cancelled while tuning the "
                                    "encoder, before it had one; train again")
        if step % max(1, steps // 20) == 0 or step == steps:
            rate = (time.perf_counter() - t_start) / step
            emit(TrainingEvent("train", step, steps, step / math.ceil(steps / cfg.epochs),
                               sum(losses[-20:]) / len(losses[-20:]), eta_seconds=rate * (steps - step),
                               elapsed=time.perf_counter() - t0, detail="contrastive"))
    clf.encoder.eval()
    clf.encoder.requires_grad_(False)
    return losses
