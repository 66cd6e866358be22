"""Training from the dashboard, gradio-free: where the data come from, the preview, one run, and
the job table (a worker process per run, its events, cancel)."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import queue
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..config import ModelConfig, TrainingConfig
from ..data import ColumnMap, check_hub_spec, detect_columns, peek_columns
from ..errors import DataError, InputError, TrainingCancelled
from ..samples import sample
from ..tasks import get_task
from ..training import TrainingEvent, TrainResult, fit, prepare_data
from .access import policy

MAX_UPLOAD_BYTES = 20 * 2**20  # documented in the README and shown in the Train tab
SOURCES = ("sample", "upload", "hub", "write")


@dataclass
class DataSource:
    """The Train tab's data: a built-in sample (by name), an uploaded file (its path) or a hub
    dataset (``ID[:CONFIG[:SPLIT]]``)."""

    task: str
    kind: str = "sample"
    value: str = ""
    columns: ColumnMap = field(default_factory=ColumnMap)

    def path(self) -> str:
        """The readable path (``hf:…`` for the hub), checked: sample task, upload size."""
        value = (self.value or "").strip()
        if self.kind == "sample":
            found = sample(value)
            if found.task != self.task:
                raise DataError(f"expected a {self.task} sample, got the {found.task} sample {found.name!r}; pick a matching sample")
            return str(found.path)
        if self.kind == "hub":
            if not value:
                raise DataError("expected a hub dataset id such as glue:sst2:train, got nothing; type one")
            return "hf:" + check_hub_spec(value.removeprefix("hf:"))
        if self.kind == "write" and not value:
            raise DataError("expected typed examples, got none; write some in the table")
        if self.kind in ("upload", "write"):
            if not value:
                raise DataError("expected an uploaded file, got none; upload a CSV, TSV, JSONL or CoNLL file")
            size = Path(value).stat().st_size
            if size > MAX_UPLOAD_BYTES:
                raise DataError(
                    f"expected an upload of at most {MAX_UPLOAD_BYTES // 2**20} MB, got {size / 2**20:.1f} MB; "
                    "use a sample of the data or the command line (ftclf train)"
                )
            return value
        raise DataError(f"expected data source {', '.join(SOURCES)}, got {self.kind!r}")

    def describe(self) -> str:
        if self.kind == "write":
            return "typed examples"
        return f"{self.kind}: {Path(self.value).name if self.kind == 'upload' else self.value}"

    def read(self) -> list:
        return get_task(self.task).read(self.path(), columns=self.columns)

    def preview(self, limit: int = 20) -> dict:
        """Parsed rows (as the trainer will see them), the file's columns and label counts. Every check
        training would make on the data is made here, so problems show before a run starts."""
        path = self.path()
        examples = self.read()  # validates the whole file first (line-numbered errors)
        prepare_data(self.task, examples, None, TrainingConfig())  # classes, the validation carve
        rows, counts, counted = get_task(self.task).preview(examples, limit)
        spec = get_task(self.task)
        columns = [] if path.startswith("hf:") or not spec.column_roles else peek_columns(path)
        chosen = detect_columns(columns, self.columns, "text_pair" in spec.column_roles) if columns else ColumnMap()
        return {"rows": rows, "columns": columns, "chosen": chosen, "examples": len(examples), "counts": counts,
                "counted": counted}


@dataclass
class TrainRequest:
    """Everything one training run needs: data, what to build, how to train it."""

    data: DataSource
    model: ModelConfig
    training: TrainingConfig


@dataclass
class TrainOutcome:
    """What a finished run leaves: its results as plain data and the trained head saved in a draft
    directory (the model itself is not kept in memory; saving copies the draft)."""

    result: TrainResult
    #: the validation examples the head got most confidently wrong (rows for a table)
    confused: list[dict]
    draft: Path
    task: str
    #: head, mode and the training settings actually used, for people
    recipe: str
    #: the head's label names and its calibration (``Calibration.to_dict()``; None when not calibrated)
    labels: list = field(default_factory=list)
    calibration: dict | None = None


def run_training(request: TrainRequest, on_event=None, cancel=None) -> TrainOutcome:
    """Train as asked; the trained head is saved to a draft directory."""
    data_info = {"train": request.data.describe()}
    clf, result = fit(request.model, request.training, request.data.read(), None, on_event=on_event, cancel=cancel,
                      data_info=data_info)
    confused = clf.task.mistakes(result.validation_examples, result.validation_predictions, clf.labels)
    recipe = f"{clf.model_config.head} head; {clf.training_config.recipe}"
    draft = clf.save_pretrained(Path(tempfile.mkdtemp(prefix="ftclf-draft-")) / "head")
    calibration = clf.calibration.to_dict() if clf.calibration is not None else None
    return TrainOutcome(result, confused, draft, clf.task.name, recipe, list(clf.labels), calibration)


def _train_in_child(request: TrainRequest, messages, cancel, environ: dict | None = None) -> None:
    """The worker process: run, report every event, then the outcome (or the error) as the last message.
    ``environ``: the server's environment when the run started (a fork server's own is older)."""
    if environ is not None:
        os.environ.clear()
        os.environ.update(environ)
    _leave_a_core()
    try:
        outcome = run_training(request, on_event=lambda e: messages.put(("event", e)), cancel=cancel)
        # Plain data only: the decoded predictions (tensors) have served their purpose (the mistakes table).
        outcome.result.validation_predictions = []
        messages.put(("outcome", outcome))
    except BaseException as exc:  # reported to whoever watches the job, by kind and message
        messages.put(("error", (type(exc).__name__, str(exc))))


def _error(kind: str, message: str) -> Exception:
    """The child's error again: the project's own kinds keep their class (and so their handling)."""
    from .. import errors

    found = getattr(errors, kind, None)
    if isinstance(found, type) and issubclass(found, errors.FtclfError):
        return found(message)
    return RuntimeError(f"{kind}: {message}")


#: What a training worker imports before it is asked anything: loaded once in the fork server.
WORKER_PRELOAD = ["torch", "transformers", "peft", "evaluate", "ftclf.training", "ftclf.hf_metrics", "ftclf.service.jobs"]


def worker_context():
    """How training workers start: forked from a fork server that imported torch, transformers and
    the trainer once (a new run starts in well under a second instead of importing them again, ≈ 6 s
    here); never a fork of the threaded server itself. Where there is no fork server (not POSIX),
    spawned."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(WORKER_PRELOAD)
    return context


def warm_workers() -> threading.Thread | None:
    """Start the fork server now, in the background (it imports torch, transformers and the trainer once,
    ≈ 10 s here), so a server's first run does not wait for it; None where runs are spawned."""
    if worker_context().get_start_method() != "forkserver":
        return None
    from multiprocessing import forkserver

    thread = threading.Thread(target=forkserver.ensure_running, name="ftclf-warm-workers", daemon=True)
    thread.start()
    return thread


#: What the server itself imports when a newcomer's first run finishes and its head first answers: the LoRA
#: adapters' library (≈ 3.5 s here, after transformers) and the curves of the result charts.
SERVER_PRELOAD = ["peft", "sklearn.metrics"]


def warm_server_imports() -> threading.Thread:
    """Import SERVER_PRELOAD in the background now, so the server's first run does not wait for them."""
    import importlib

    def run() -> None:
        for name in SERVER_PRELOAD:
            importlib.import_module(name)

    thread = threading.Thread(target=run, name="ftclf-warm-imports", daemon=True)
    thread.start()
    return thread


def _leave_a_core() -> None:
    """A worker's torch threads: every core but one, which stays with the server."""
    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))


def _apart(fn, args: tuple):
    _leave_a_core()
    return fn(*args)


def run_apart(fn, *args):
    """``fn(*args)`` in a worker process of its own (forked from the fork server, like a training run), its
    result or its error returned here: minutes of CPU work (an audit's five fitted heads) neither hold the
    server's threads nor share its torch state. ``fn`` and what it takes and returns must pickle."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1, mp_context=worker_context()) as pool:
        return pool.submit(_apart, fn, args).result()


@dataclass
class Job:
    """One training run in its own process (so its memory goes when it ends, and a cancel or a kill
    stops it for sure): its events, its cancel switch, its outcome."""

    request: TrainRequest
    #: every progress event so far, in order (a page that reattaches replays them)
    history: list = field(default_factory=list)
    outcome: TrainOutcome | None = None
    error: Exception | None = None
    #: collects the process's messages; ends when the run has ended
    thread: threading.Thread | None = None
    process: object = None
    cancel: object = None

    #: seconds a run may take to stop by itself after a cancel before its process is ended
    grace: float = 1.5
    cancelled: bool = False
    #: the browser that started it (its visitor id): the finished run becomes that browser's draft
    visitor: str | None = None
    drafts: object = None
    #: pages showing this run now (a closed tab with no page coming back cancels it)
    watchers: int = 1
    #: whether the finished run's head was moved into its browser's draft (which outlives this job)
    persisted: bool = False
    changed: threading.Condition = field(default_factory=threading.Condition)

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def stop(self) -> None:
        """Cancel: the run stops at its next step (and keeps its best head so far); if it has not
        within ``grace`` seconds, its process is ended."""
        self.cancelled = True
        self.cancel.set()
        timer = threading.Timer(self.grace, self._end)
        timer.daemon = True
        timer.start()

    def _end(self) -> None:
        if self.process is not None and self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=5)
            if self.process.is_alive():
                self.process.kill()

    def start(self) -> None:
        context = worker_context()
        messages, self.cancel = context.Queue(), context.Event()
        self.process = context.Process(target=_train_in_child, name="ftclf-train", daemon=True,
                                       args=(self.request, messages, self.cancel, dict(os.environ)))
        self.process.start()
        self.thread = threading.Thread(target=self._run, args=(messages,), daemon=True, name="ftclf-train-events")
        self.thread.start()

    def _collect(self, messages) -> None:
        while True:
            try:
                kind, value = messages.get(timeout=0.5)
            except queue.Empty:
                if not self.process.is_alive():
                    self.error = (TrainingCancelled("expected the run to keep a head, but it was cancelled before it had "
                                                    "one; train again and cancel later to keep the best head so far")
                                  if self.cancelled else
                                  RuntimeError(f"the training process ended unexpectedly (exit code {self.process.exitcode})"))
                    return
                continue
            if kind == "event":
                with self.changed:
                    self.history.append(value)
                    self.changed.notify_all()
                continue
            self.outcome, self.error = (value, None) if kind == "outcome" else (None, _error(*value))
            if self.outcome is not None:
                self._keep_draft()
            self.process.join(timeout=10)
            return

    def _keep_draft(self) -> None:
        """The finished run as its browser's draft on disk (it outlives the page and the server)."""
        if self.drafts is None or self.visitor is None:
            return
        kept = self.drafts.put(self.visitor, self.outcome.draft, self.summary())
        if kept is not None:
            self.outcome.draft, self.persisted = kept, True

    def summary(self) -> dict:
        """What a page shows of the finished run, as plain data (the same as a draft's ``run.json``)."""
        outcome, result = self.outcome, self.outcome.result
        return {"task": outcome.task, "recipe": outcome.recipe, "confused": outcome.confused, "source": self.request.data.kind,
                "labels": outcome.labels, "calibration": outcome.calibration,
                "events": [dataclasses.asdict(e) for e in self.history],
                "result": {k: getattr(result, k) for k in ("metrics", "seconds", "stopped_early", "cancelled",
                                                           "selection", "validation", "metric_name", "calibration")}}

    def _run(self, messages) -> None:
        """Collect the run's messages, then wake everyone who waits on it."""
        try:
            self._collect(messages)
        finally:
            with self.changed:
                self.changed.notify_all()

    def discard(self) -> None:
        """Remove the temporary draft of a run nobody saved (a browser's draft on disk stays its own)."""
        if self.outcome is not None and not self.persisted:
            shutil.rmtree(self.outcome.draft.parent, ignore_errors=True)

    def stream(self, poll: float = 0.3, start: int = 0) -> Iterator[TrainingEvent | None]:
        """Events from the ``start``-th on, as they come (None every ``poll`` seconds without one), until
        the run ends. Any number of pages may stream one run (a reload replays it from the start)."""
        seen = start
        while True:
            with self.changed:
                if seen >= len(self.history) and self.running:
                    self.changed.wait(timeout=poll)
                new, ended = self.history[seen:], not self.running
            seen += len(new)
            yield from new
            if not new:
                if ended:
                    return
                yield None


def max_trainings() -> int:
    """Training runs at a time on this server (``$FTCLF_MAX_TRAININGS``, default 1): each takes the
    CPU a serving engine needs."""
    return max(1, int(os.environ.get("FTCLF_MAX_TRAININGS") or 1))


def reattach_seconds() -> float:
    """How long a run whose every page closed waits for one to come back before it is cancelled
    (``$FTCLF_REATTACH_SECONDS``, default 60)."""
    return float(os.environ.get("FTCLF_REATTACH_SECONDS") or 60)


class TrainingJobs:
    """Training runs by browser (its visitor id; the session where there is none): at most one per browser
    and ``max_running`` on the server. A finished run is kept for its browser: in memory for up to
    ``max_kept`` browsers, and on disk as the browser's draft when ``drafts`` is given. A page that goes
    away detaches from its run; when no page of that browser comes back within ``reattach_seconds``, the
    run is cancelled."""

    def __init__(self, max_kept: int = 8, max_running: int | None = None, drafts=None,
                 reattach_seconds: float | None = None) -> None:
        self.max_kept, self.max_running = max_kept, max_running or max_trainings()
        self.drafts = drafts
        self.reattach_seconds = globals()["reattach_seconds"]() if reattach_seconds is None else reattach_seconds
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start(self, key: str, request: TrainRequest, visitor: str | None = None) -> Job:
        """Start ``request`` for the browser ``key`` (its visitor id, or its session); ``visitor``: whose
        draft the finished run becomes."""
        policy().check_writable("training")
        request.data.path()  # upload size, sample/task match: fail before starting a thread
        with self._lock:
            current = self._jobs.get(key)
            if current is not None and current.running:
                raise InputError("expected one training run per browser, found one still going; "
                                 "wait for it or cancel it")
            busy = sum(job.running for job in self._jobs.values())
            if busy >= self.max_running:
                raise InputError(f"expected a free training slot (this server trains {self.max_running} run"
                                 f"{'s' if self.max_running > 1 else ''} at a time), found {busy} going; try again "
                                 "when it ends (predictions keep working meanwhile)")
            job = Job(request, visitor=visitor, drafts=self.drafts)
            previous = self._jobs.pop(key, None)
            if previous is not None:
                previous.discard()
            self._jobs[key] = job
            finished = [k for k, j in self._jobs.items() if k != key and not j.running]
            for old in finished[: max(0, len(self._jobs) - self.max_kept)]:
                self._jobs.pop(old).discard()
        job.start()
        return job

    def get(self, key: str) -> Job | None:
        return self._jobs.get(key)

    def attach(self, key: str) -> Job | None:
        """A page (a reload) shows ``key``'s running run: the run will not be cancelled while it watches."""
        job = self._jobs.get(key)
        if job is None or not job.running:
            return None
        with self._lock:
            job.watchers += 1
        return job

    def detach(self, key: str, job: Job | None = None) -> None:
        """A page showing ``key``'s run went away: with no page left, the run is cancelled after
        ``reattach_seconds`` unless one comes back."""
        job = job or self._jobs.get(key)
        if job is None:
            return
        with self._lock:
            job.watchers -= 1
            alone = job.watchers <= 0
        if not (alone and job.running):
            return
        if self.reattach_seconds <= 0:
            job.stop()
            return
        timer = threading.Timer(self.reattach_seconds, lambda: job.watchers <= 0 and job.running and job.stop())
        timer.daemon = True
        timer.start()

    def cancel(self, key: str) -> bool:
        """Stop ``key``'s running job (within its grace period); False when none is running."""
        job = self._jobs.get(key)
        if job is None or not job.running:
            return False
        job.stop()
        return True
