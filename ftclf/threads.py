"""Intra-op threads for small tensor work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the block on one intra-op thread: head-sized problems are many tiny operations, which thread
    hand-offs only slow down (10x on a busy 2-core machine). The count is restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
