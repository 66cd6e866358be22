"""The serving engine: saved heads by directory, loaded lazily onto the encoder pool's backend,
kept in a bounded LRU, and asked through one micro-batching worker.

Many concurrent callers (the dashboard's users) each call :meth:`Engine.predict`; their requests
for one head are joined into one :class:`~ftclf.inference.Predictor` call, so they share encoder
passes, and all torch work happens on the worker thread.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path

import torch

from ..config import PASS_BATCH_SIZE, PREDICT_BATCH_SIZE
from ..format import CONFIG_NAME
from ..inference import Predictor, predict_heads
from .backends import check_backend, onnx_missing
from .batcher import MicroBatcher
from .pool import EncoderPool

logger = logging.getLogger(__name__)

#: The app's backend unless FTCLF_BACKEND says otherwise: chosen by benchmarks/latency.py (docs: Results,
#: "Serving"): the fastest single-text prediction whose calibrated probabilities stay within 0.03 of fp32's.
#: On CPUs without VNNI, int8 weights unpacked per call make onnx-int8 slower than this; it saves memory.
DEFAULT_BACKEND = "onnx"
#: fp32 copies of heads kept for gradients (Engine.inspect): each costs up to one encoder's weights
MAX_INSPECTED = 2
#: head directories whose resolved paths the engine remembers (forgotten all at once past this)
MAX_REMEMBERED_PATHS = 4096


def default_backend() -> str:
    """FTCLF_BACKEND, else :data:`DEFAULT_BACKEND`; torch fp32 where the ``onnx`` extra is not installed (a
    plain ``pip install ftclf``), unless FTCLF_BACKEND asks for an onnx backend (then its pool says what to install)."""
    named = os.environ.get("FTCLF_BACKEND")
    if named:
        return check_backend(named)
    if DEFAULT_BACKEND.startswith("onnx") and onnx_missing():
        return "torch"
    return DEFAULT_BACKEND


class Engine:
    """Heads by directory on one encoder pool, behind one micro-batcher."""

    def __init__(self, backend: str | None = None, max_heads: int = 8, max_batch: int = PASS_BATCH_SIZE,
                 max_wait: float = 0.004, batch_size: int = PREDICT_BATCH_SIZE, trim_every: float = 30.0) -> None:
        self.pool = EncoderPool(backend or default_backend())
        self.max_heads, self.batch_size = max_heads, batch_size
        self._heads: OrderedDict[Path, tuple[float, object]] = OrderedDict()
        self._loading: dict[Path, threading.Lock] = {}
        self._paths: dict[str, Path] = {}
        self._torch: EncoderPool | None = None
        self._inspected: OrderedDict[Path, tuple[float, object]] = OrderedDict()  # fp32 copies for gradients
        self._lock = threading.RLock()
        self._batcher = MicroBatcher(self._handle, max_batch=max_batch, max_wait=max_wait)
        self._closed = threading.Event()
        if trim_every:
            threading.Thread(target=self._trim, args=(trim_every,), daemon=True, name="ftclf-trim").start()

    def _trim(self, every: float) -> None:
        """Now and then, hand memory freed by finished requests back to the system: glibc keeps it
        in its per-thread arenas otherwise, and a server's RSS creeps up under many threads."""
        try:
            libc = ctypes.CDLL("libc.so.6")
        except OSError:  # not glibc
            return
        while not self._closed.wait(every):
            libc.malloc_trim(0)

    @property
    def backend(self) -> str:
        return self.pool.backend

    def classifier(self, directory: str | Path):
        """The served classifier of a saved head (loaded once, reloaded when its files change).
        Loading one head never holds up requests for heads already loaded."""
        path = self._resolve(directory)
        stamp = (path / CONFIG_NAME).stat().st_mtime
        with self._lock:
            cached = self._cached(path, stamp)
            if cached is not None:
                return cached
            loading = self._loading.setdefault(path, threading.Lock())
        with loading:
            with self._lock:
                cached = self._cached(path, stamp)
            if cached is not None:
                return cached
            if self.pool.needs_export(path):
                clf = self._fallback().load(path)  # serve at once, exactly; switch when the export is ready
                threading.Thread(target=self._switch, args=(path, stamp), daemon=True, name="ftclf-export").start()
            else:
                clf = self.pool.load(path)
            self._keep(path, stamp, clf)
            return clf

    def _resolve(self, directory: str | Path) -> Path:
        """The head directory's absolute path, remembered per name (resolving walks every component: a
        measurable share of a request under load)."""
        key = str(directory)
        path = self._paths.get(key)
        if path is None:
            path = Path(directory).resolve()
            if len(self._paths) >= MAX_REMEMBERED_PATHS:
                self._paths.clear()
            self._paths[key] = path
        return path

    def _keep(self, path: Path, stamp: float, clf) -> None:
        with self._lock:
            self._heads[path] = (stamp, clf)
            self._heads.move_to_end(path)
            while len(self._heads) > self.max_heads:
                self._heads.popitem(last=False)

    def _fallback(self) -> EncoderPool:
        """fp32 torch serving while ONNX exports are made (the first start on a machine)."""
        with self._lock:
            if self._torch is None:
                self._torch = EncoderPool("torch")
            return self._torch

    def _switch(self, path: Path, stamp: float) -> None:
        try:
            clf = self.pool.load(path)  # exports (in a child process), then opens the session
        except Exception as exc:  # keep serving the fp32 copy
            logger.warning("could not move %s to %s, serving it with torch fp32: %s", path, self.backend, exc)
            return
        with self._lock:
            current = self._heads.get(path)
            if current is not None and current[0] == stamp:
                self._heads[path] = (stamp, clf)
            if not any(isinstance(c.encoder, torch.nn.Module) and not hasattr(c.encoder, "session")
                       for _, c in self._heads.values()):
                self._torch = None  # every head moved: the fp32 encoders can go

    def _cached(self, path: Path, stamp: float):
        cached = self._heads.get(path)
        if cached is None or cached[0] != stamp:
            return None
        self._heads.move_to_end(path)
        return cached[1]

    def warm(self, directories: Sequence[str | Path]) -> threading.Thread:
        """Load heads in the background (first use then finds them ready)."""

        def load_all() -> None:
            for directory in directories:
                try:
                    self.classifier(directory)
                except Exception as exc:  # a head that cannot load is reported when it is asked for
                    logger.warning("could not warm up %s: %s", directory, exc)

        thread = threading.Thread(target=load_all, daemon=True, name="ftclf-warm")
        thread.start()
        return thread

    def forget(self, directory: str | Path) -> None:
        with self._lock:
            self._heads.pop(Path(directory).resolve(), None)

    def predict(self, directory: str | Path, texts, text_pairs=None) -> list:
        """Predictions of one head; concurrent calls are batched together."""
        return self.submit(directory, texts, text_pairs).result()

    async def predict_async(self, directory: str | Path, texts, text_pairs=None) -> list:
        """:meth:`predict` for callers on an event loop: a loaded head's answer is awaited as the worker's future
        (no thread waits for it); a head still loading is waited for in a thread, off the loop."""
        if self.ready(directory):
            return await asyncio.wrap_future(self.submit(directory, texts, text_pairs))
        return await asyncio.to_thread(self.predict, directory, texts, text_pairs)

    def submit(self, directory: str | Path, texts, text_pairs=None) -> Future:
        """:meth:`predict` as a Future, for callers on an event loop (``asyncio.wrap_future``): no thread waits
        for the answer. It blocks only while the head loads: such callers ask :meth:`ready` first."""
        clf = self.classifier(directory)
        inputs = clf.task.inputs(texts, text_pairs)  # bad input is refused here, in the caller's thread
        return self._batcher.submit(clf, inputs)

    def ready(self, directory: str | Path) -> bool:
        """Whether the head is loaded (its current files), so a request for it will not wait on loading."""
        path = self._resolve(directory)
        try:
            stamp = (path / CONFIG_NAME).stat().st_mtime
        except OSError:
            return False
        with self._lock:
            cached = self._heads.get(path)
            return cached is not None and cached[0] == stamp

    def scores(self, directory: str | Path, texts, text_pairs=None) -> list:
        """The head's raw scores (logits, before any probability function or calibration) per input, computed on
        the worker thread between batches of predictions."""
        clf = self.classifier(directory)
        inputs = clf.task.inputs(texts, text_pairs)
        return self._on_worker(clf, _raw_scores, clf, inputs, self.batch_size)

    def inspect(self, directory: str | Path):
        """The head's fp32 torch classifier, for what needs gradients or the exact numbers (integrated
        gradients, How it works): loaded on first use and kept for the MAX_INSPECTED most recently
        inspected heads (its encoder shared with the base where the head's mode allows)."""
        path = Path(directory).resolve()
        stamp = (path / CONFIG_NAME).stat().st_mtime
        with self._lock:
            cached = self._inspected.get(path)
            if cached is not None and cached[0] == stamp:
                self._inspected.move_to_end(path)
                return cached[1]
        clf = (self.pool if self.backend == "torch" else self._fallback()).load(path)
        with self._lock:
            self._inspected[path] = (stamp, clf)
            while len(self._inspected) > MAX_INSPECTED:
                self._inspected.popitem(last=False)
        return clf

    def attribute(self, directory: str | Path, texts, text_pairs=None, *, target: str | None = None,
                  method: str | None = None) -> list:
        """Word attributions (:func:`ftclf.attribution.attribute`) of one head, computed on the worker
        thread like every prediction: occlusion on the served backend, integrated gradients on the
        head's fp32 copy (:meth:`inspect`)."""
        from ..attribution import attribute, check_method

        method = check_method(method)
        clf = self.inspect(directory) if method == "integrated_gradients" else self.classifier(directory)
        clf.task.inputs(texts, text_pairs)  # bad input is refused here, in the caller's thread
        return self._on_worker(clf, attribute, clf, texts, text_pairs, target=target, method=method,
                               batch_size=self.batch_size)

    def minimal_flip(self, directory: str | Path, attribution, text: str, text_pair: str | None = None):
        """:func:`ftclf.attribution.minimal_flip` of one head's explained text, on the worker thread."""
        from ..attribution import minimal_flip

        clf = self.classifier(directory)
        return self._on_worker(clf, minimal_flip, clf, attribution, text, text_pair, batch_size=self.batch_size)

    def _on_worker(self, clf, function, *args, **kwargs):
        """``function(*args, **kwargs)`` run on the worker thread, between batches of predictions."""
        return self._batcher(("call", id(clf)), (function, args, kwargs))

    def compare(self, directories: Sequence[str | Path], texts, text_pairs=None) -> list[list]:
        """Predictions of several heads on the same inputs (one encoder pass where they share one)."""
        heads = [self.classifier(d) for d in directories]
        return self._batcher(("compare", tuple(id(h) for h in heads)), (heads, texts, text_pairs))

    def _handle(self, key, payloads: list) -> list:
        if isinstance(key, tuple) and key[0] == "call":  # one payload at a time
            return [function(*args, **kwargs) for function, args, kwargs in payloads]
        if isinstance(key, tuple):  # a comparison: one payload at a time
            return [predict_heads(heads, texts, pairs, self.batch_size) for heads, texts, pairs in payloads]
        inputs = [x for payload in payloads for x in payload]
        predictions = Predictor(key, self.batch_size).predict_inputs(inputs)
        out, start = [], 0
        for payload in payloads:
            out.append(predictions[start : start + len(payload)])
            start += len(payload)
        return out

    def close(self) -> None:
        self._closed.set()
        self._batcher.close()


def _raw_scores(clf, inputs, batch_size: int) -> list:
    return [decoded.scores for decoded, _ in Predictor(clf, batch_size, calibrated=False).decode(inputs)]
