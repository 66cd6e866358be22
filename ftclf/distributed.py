"""Where this process stands among the processes ``accelerate launch`` or ``torchrun`` started.

One process (the usual case) is rank 0 of 1 and everything here is a no-op. Under a launcher
(``WORLD_SIZE`` > 1) accelerate's ``PartialState`` sets up the process group (gloo on CPUs, NCCL on
GPUs) and ftclf uses it to split work — training batches (Trainer's DDP), the frozen encoder pass,
contrastive tuning, batch prediction — while only the main process writes files and reports.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import os
import sys
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Placement:
    """This process's rank among ``world`` processes."""

    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def gather(self, objects: list) -> list:
        """Every process's ``objects`` list, concatenated in rank order, on every process."""
        if self.world == 1:
            return list(objects)
        import torch.distributed as dist

        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, list(objects))
        return [x for part in out for x in part]

    def total(self, counts: list[int]) -> list[int]:
        """``counts`` summed over the processes (on every process; every process waits for the others)."""
        if self.world == 1:
            return list(counts)
        return [sum(c) for c in zip(*(self.gather([list(counts)])))]

    def all_true(self, flag: bool) -> bool:
        return all(self.gather([bool(flag)]))

    def average_gradients(self, parameters) -> None:
        """Data parallelism by hand: each process's gradients replaced by their mean."""
        if self.world == 1:
            return
        import torch.distributed as dist

        for p in parameters:
            if p.grad is not None:
                dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
                p.grad /= self.world


def launched() -> bool:
    """Whether a launcher started several processes (``WORLD_SIZE`` > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def placement() -> Placement:
    """This process's place (0 of 1 unless launched); the process group is set up on first use."""
    if not launched():
        return Placement()
    import torch
    from accelerate import PartialState

    state = PartialState(cpu=not torch.cuda.is_available())
    atexit.unregister(finish)  # once, however often this is asked: scripts calling fit() or predict_file()
    atexit.register(finish)  # under a launcher take the group down too, not only the ftclf command
    share_cores(state.num_processes)
    return Placement(state.process_index, state.num_processes)


#: Seconds a process waits at the end for its peers to reach the end too (a failed peer never does).
FINISH_WAIT = 20


def finish() -> None:
    """Take this process's group down before the interpreter exits (a no-op unless one is up).

    A gloo group left up at exit can abort the process ("terminate called without an active
    exception") while its worker threads are torn down, so the processes first wait for each other (at
    most ``FINISH_WAIT`` seconds: a process whose peer failed still leaves).
    """
    if "torch.distributed" not in sys.modules:  # nothing was ever set up
        return
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        if dist.get_backend() == "gloo":  # leave together: a group torn down while a peer still talks can abort
            with contextlib.suppress(Exception):  # a peer failed or left first: leave anyway
                dist.monitored_barrier(timeout=datetime.timedelta(seconds=FINISH_WAIT))
        dist.destroy_process_group()


def share_cores(processes: int) -> None:
    """Processes sharing one machine's CPU cores take a share each (unless ``OMP_NUM_THREADS`` says)."""
    import torch

    if processes > 1 and not os.environ.get("OMP_NUM_THREADS"):
        local = int(os.environ.get("LOCAL_WORLD_SIZE", processes))
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local))
