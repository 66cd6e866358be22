"""Micro-batching: concurrent callers' requests are gathered for a few milliseconds and handled
together on one worker thread, so many users share each encoder pass and the CPU's cores are not
oversubscribed by one torch call per caller."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Any

from ..config import PASS_BATCH_SIZE


class MicroBatcher:
    """``submit(key, payload)`` returns a Future; the worker calls ``handle(key, payloads)`` once
    per key present in a gathered batch and expects one result per payload, in order."""

    def __init__(self, handle: Callable[[Hashable, list[Any]], list[Any]], max_batch: int = PASS_BATCH_SIZE,
                 max_wait: float = 0.004, name: str = "ftclf-batcher") -> None:
        self.handle, self.max_batch, self.max_wait = handle, max_batch, max_wait
        self._queue: queue.Queue = queue.Queue()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, daemon=True, name=name)
        self._thread.start()

    def submit(self, key: Hashable, payload: Any) -> Future:
        if self._closed:
            raise RuntimeError("the batcher is closed")
        future: Future = Future()
        self._queue.put((key, payload, future))
        return future

    def __call__(self, key: Hashable, payload: Any, timeout: float | None = None) -> Any:
        """Submit and wait for the result (exceptions are raised in the caller's thread)."""
        return self.submit(key, payload).result(timeout)

    def close(self) -> None:
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _gather(self) -> list | None:
        first = self._queue.get()
        if first is None:
            return None
        batch, deadline = [first], time.perf_counter() + self.max_wait
        while len(batch) < self.max_batch:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.perf_counter()))
            except queue.Empty:
                break
            if item is None:
                self._queue.put(None)
                break
            batch.append(item)
        return batch

    def _loop(self) -> None:
        while (batch := self._gather()) is not None:
            groups: dict[Hashable, list] = {}
            for key, payload, future in batch:
                if future.set_running_or_notify_cancel():
                    groups.setdefault(key, []).append((payload, future))
            for key, entries in groups.items():
                try:
                    results = self.handle(key, [payload for payload, _ in entries])
                except BaseException as exc:  # every caller of the group hears of it; the worker goes on
                    for _, future in entries:
                        future.set_exception(exc)
                    continue
                for (_, future), result in zip(entries, results):
                    future.set_result(result)
