"""Batch prediction at scale: score a file or a hub dataset into JSON lines, streamed, resumable,
sharded across processes.

``predict_file`` reads the input a chunk at a time (:mod:`ftclf.stream`), predicts each chunk and
appends one JSON line per example, in input order, to the output — so memory stays flat however large
the input is. Every line carries the example's ``index`` (0-based position in the input) and either
the prediction or an ``error`` (a bad row costs one line, not the run). Beside the output a small
``<output>.ftclf.json`` records what is being scored (model, data, chunk size, processes) and whether
the run completed:

* an interrupted run resumes where its output ends (a half-written last line is dropped and redone);
* re-running a completed run does nothing (idempotent), and its output is unchanged;
* an output written for another model or input is refused unless ``overwrite``;
* a second run writing the same output while one is at it is refused: the main process holds an
  exclusive lock on ``<output>.ftclf.lock`` for the whole run (the system drops it when the process
  ends, however it ends). Only the main process locks, so a run's own processes never lock each
  other out, and every process of a refused run learns the refusal before it writes.

Under ``accelerate launch`` / ``torchrun`` each process scores every ``num_processes``-th chunk into
its own part file (resumable the same way); when all are done, the main process merges the parts in
input order into the output and removes them.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from itertools import islice
from pathlib import Path

from .config import PASS_BATCH_SIZE, PREDICT_CHUNK
from .data import ColumnMap
from .distributed import Placement, placement
from .errors import DataError, FtclfError, InputError
from .inference import Predictor
from .stream import Record, estimate_count, records

SIDECAR_SUFFIX = ".ftclf.json"
LOCK_SUFFIX = ".ftclf.lock"
DEFAULT_CHUNK = PREDICT_CHUNK


# ------------------------------------------------------------------------------ rows -> inputs
class InputReader:
    """Turns records into the task's prediction inputs, one at a time (a bad one becomes an error
    message). The columns are chosen from the first row, like the training readers do."""

    def __init__(self, task, columns: ColumnMap | None, name: str) -> None:
        self.task, self.columns, self.name = task, columns or ColumnMap(), name
        self.chosen: tuple | None = None

    def __call__(self, record: Record):
        """The input of one record, or raises InputError / DataError with what is wrong with it."""
        if record.error:
            raise InputError(record.error)
        if record.words is not None:
            return self.task.word_inputs([list(record.words)])[0]
        if self.chosen is None:
            self.chosen = self.task.input_columns(list(record.row), self.columns, self.name)
        kind, column, *rest = self.chosen
        if kind == "words":
            value = record.row.get(column)
            return self.task.word_inputs([[str(w) for w in value] if isinstance(value, list) else value])[0]
        text = record.row.get(column)
        pair = record.row.get(rest[0]) if rest and rest[0] else None
        if not isinstance(text, str) or (rest and rest[0] and not isinstance(pair, str)):
            raise InputError(f"expected text in column {column!r} on line {record.line} of {self.name}, found "
                             f"{'nothing' if text is None else type(text).__name__}; fill it in")
        return self.task.inputs([text], self.task.second_texts([pair]))[0]

    def gold(self, record: Record):
        """The record's own label, if its table has a label column (written beside the prediction)."""
        if record.row is None or self.chosen is None or len(self.chosen) < 4 or self.chosen[3] is None:
            return None
        value = record.row.get(self.chosen[3])
        return None if value is None else str(value)




# ------------------------------------------------------------------------------ resumable output
def _complete_lines(path: Path) -> tuple[int, int]:
    """(complete JSON lines at the start of ``path``, byte length of them): a torn last line is not counted."""
    count = size = 0
    if not path.exists():
        return 0, 0
    with open(path, "rb") as handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                break
            try:
                json.loads(raw)
            except ValueError:
                break
            count, size = count + 1, size + len(raw)
    return count, size


def _open_resumed(path: Path) -> tuple:
    """The file opened for appending after its complete lines (a torn tail is cut), and their count."""
    done, size = _complete_lines(path)
    handle = open(path, "ab")  # noqa: SIM115 - handed to the caller, who closes it
    handle.truncate(size)
    handle.seek(size)
    return handle, done


def _part(output: Path, rank: int, world: int) -> Path:
    return output.with_name(f"{output.name}.part-{rank}-of-{world}") if world > 1 else output


def _check_run(output: Path, run: dict, overwrite: bool, world: int) -> bool:
    """Whether the run is already complete; refuses an output of another run. With ``overwrite``,
    starts afresh."""
    sidecar = output.with_name(output.name + SIDECAR_SUFFIX)
    parts = [_part(output, r, world) for r in range(world)] if world > 1 else []
    if overwrite:
        for path in [output, *parts]:
            path.unlink(missing_ok=True)
        sidecar.unlink(missing_ok=True)
        return False
    if sidecar.exists():
        try:
            before = json.loads(sidecar.read_text("utf-8"))
        except ValueError:
            before = {}
        if {k: before.get(k) for k in run} != run:
            changed = [k for k in run if before.get(k) != run[k]]
            raise FtclfError(f"expected {output.name} to continue the same run, but it was written with another "
                             f"{', '.join(changed)}; pass --overwrite to start again or choose another --output")
        return bool(before.get("complete"))
    if output.exists() and output.stat().st_size:
        raise FtclfError(f"expected a new output file or one this command wrote, found {output.name} with other "
                         "content; pass --overwrite to replace it or choose another --output")
    return False


@contextmanager
def _only_writer(output: Path, enabled: bool):
    """Holds an exclusive lock beside ``output`` for the ``with`` block and yields None, or yields why
    another run holds it. The lock file holds the holder's pid and is removed on the way out."""
    try:
        import fcntl
    except ImportError:  # no flock (Windows): no lock
        enabled = False
    if not enabled:
        yield None
        return
    path = output.with_name(output.name + LOCK_SUFFIX)
    fd, holder = _take_lock(path, fcntl)
    if fd is None:
        yield (f"expected to be the only run writing {output.name}, found another run writing it (pid {holder}); "
               "wait for it or choose another --output")
        return
    try:
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode("ascii"))
        yield None
    finally:
        path.unlink(missing_ok=True)  # while still holding it (see _take_lock)
        os.close(fd)


def _take_lock(path: Path, fcntl) -> tuple[int | None, str]:
    """(descriptor of ``path`` locked exclusively, '') or (None, the pid written there by the run holding it).
    A lock taken on a file its holder removed meanwhile is taken again on a new one, so that two runs
    never both hold the lock."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            return None, holder
        try:
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                return fd, ""
        except FileNotFoundError:
            pass
        os.close(fd)


def predict_file(classifier, source: str | Path, output: str | Path, *, fmt: str | None = None,
                 columns: ColumnMap | None = None, model: str = "", chunk_size: int = DEFAULT_CHUNK,
                 batch_size: int = PASS_BATCH_SIZE, overwrite: bool = False, progress: bool = True,
                 where: Placement | None = None, attributions: str | None = None) -> dict:
    """Score every example of ``source`` into ``output`` (JSON lines); returns a summary (examples,
    errors, resumed, seconds, examples per second, processes). ``attributions``: an attribution method
    (``ftclf.attribution.METHODS``; one forward pass per word for occlusion) whose word scores join
    each line as ``attributions``."""
    where = where or placement()
    output = Path(output)
    if output.is_dir():
        raise FtclfError(f"expected a file to write predictions to, found the directory {output.name}; "
                         "pass a file name such as preds.jsonl")
    output.parent.mkdir(parents=True, exist_ok=True)
    if chunk_size < 1:
        raise FtclfError(f"expected a chunk size of at least 1, got {chunk_size}")
    run = {"model": model, "data": str(source), "format": fmt, "chunk_size": chunk_size, "processes": where.world,
           "columns": [columns.text, columns.text_pair, columns.label] if columns else None}
    if attributions is not None:
        from .attribution import check_method

        run["attributions"] = check_method(attributions)
    # a missing file or dataset, or columns that are not there, are reported before the output is touched
    stream = records(source, fmt)
    reader = InputReader(classifier.task, columns, Path(str(source)).name)
    first = next(stream, None)
    if first is None:
        raise DataError(f"expected examples to predict in {source}, found none; check the file")
    if first.row is not None:
        reader.chosen = classifier.task.input_columns(list(first.row), reader.columns, reader.name)
    stream = itertools.chain([first], stream)
    with _only_writer(output, where.is_main) as problem:
        complete = False
        if where.is_main and problem is None:  # the main process checks (or, with overwrite, clears) the output …
            try:
                complete = _check_run(output, run, overwrite, where.world)
            except FtclfError as exc:
                problem = str(exc)
        problem, complete = where.gather([(problem, complete)])[0]  # … and every process learns its verdict
        if problem:
            raise FtclfError(problem)
        return _score_file(classifier, source, fmt, stream, reader, output, run, complete, chunk_size, batch_size,
                           progress, where)


def _score_file(classifier, source, fmt, stream: Iterator[Record], reader: InputReader, output: Path, run: dict,
                complete: bool, chunk_size: int, batch_size: int, progress: bool, where: Placement) -> dict:
    """The scoring part of :func:`predict_file`, once this run is known to be the output's only writer."""
    sidecar = output.with_name(output.name + SIDECAR_SUFFIX)
    if complete:
        n = _complete_lines(output)[0]
        return {"output": str(output), "examples": n, "predicted": 0, "errors": None, "resumed": n, "seconds": 0.0,
                "examples_per_second": None, "processes": where.world, "note": "already complete: nothing to do"}
    if where.is_main:
        sidecar.write_text(json.dumps({**run, "complete": False}, indent=2), "utf-8")

    t0 = time.perf_counter()
    predictor = Predictor(classifier, batch_size)
    part = _part(output, where.rank, where.world)
    handle, done = _open_resumed(part)
    total = estimate_count(source, fmt)
    bar = _bar(total, done * where.world, progress and where.is_main)
    written = errors = 0
    try:
        for chunk_no, chunk in enumerate(_chunks(stream, chunk_size)):
            first = chunk_no * chunk_size
            if chunk_no % where.world != where.rank:
                continue
            mine = (chunk_no // where.world) * chunk_size  # lines of this part before this chunk
            skip = max(0, min(len(chunk), done - mine))
            lines, n_errors = _score(predictor, reader, chunk[skip:], first + skip, run.get("attributions"))
            if lines:
                handle.write("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines).encode("utf-8"))
                handle.flush()
            written, errors = written + len(lines), errors + n_errors
            bar.update((len(chunk) - skip) * where.world)  # the other processes go about as fast
    finally:
        handle.close()
        bar.close()
    seconds = time.perf_counter() - t0
    counts = where.total([written, errors, done])
    written, errors, done = counts
    examples = done + written
    if where.is_main:
        if where.world > 1:
            examples = _merge(output, where.world, chunk_size)
        sidecar.write_text(json.dumps({**run, "complete": True, "examples": examples}, indent=2), "utf-8")
    return {"output": str(output), "examples": examples, "predicted": written, "errors": errors, "resumed": done,
            "seconds": round(seconds, 2), "examples_per_second": round(written / seconds, 1) if seconds else None,
            "processes": where.world}


def _chunks(stream: Iterator[Record], size: int) -> Iterator[list[Record]]:
    while chunk := list(islice(stream, size)):
        yield chunk


def _score(predictor: Predictor, reader: InputReader, chunk: list[Record], first: int,
           attributions: str | None = None) -> tuple[list[dict], int]:
    """The JSON lines of one chunk, in order: predictions (with their word attributions by the method
    ``attributions``, if given), and an error line for each bad record."""
    lines: list[dict | None] = [None] * len(chunk)
    inputs, where = [], []
    for k, record in enumerate(chunk):
        try:
            inputs.append(reader(record))
            where.append(k)
        except InputError as exc:  # this record only; a whole-input problem (DataError) stops the run
            lines[k] = {"index": first + k, "line": record.line, "error": str(exc)}
    for k, prediction in zip(where, predictor.predict_inputs(inputs) if inputs else []):
        lines[k] = predictor.classifier.task.json_line(first + k, prediction)
        gold = reader.gold(chunk[k])
        if gold is not None:
            lines[k]["gold"] = gold
    if attributions is not None and inputs:
        from .attribution import attribute_examples

        explained = attribute_examples(predictor.classifier, inputs, method=attributions, batch_size=predictor.batch_size)
        for k, attribution in zip(where, explained):
            lines[k]["attributions"] = {key: value for key, value in attribution.to_dict().items()
                                        if key in ("target", "method", "words", "pair_words", "entities", "delta")
                                        and value is not None}
    return lines, len(chunk) - len(inputs)


def _merge(output: Path, world: int, chunk_size: int) -> int:
    """Interleave the parts' chunks back into input order; returns the number of lines."""
    tmp = output.with_name(f".{output.name}.merging")
    n = 0
    try:
        with ExitStack() as stack, open(tmp, "wb") as out:
            handles = [stack.enter_context(open(_part(output, r, world), "rb")) for r in range(world)]
            for chunk_no in range(1 << 62):
                lines = list(islice(handles[chunk_no % world], chunk_size))
                if not lines:
                    break
                out.writelines(lines)
                n += len(lines)
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)
    for r in range(world):
        _part(output, r, world).unlink(missing_ok=True)
    return n


def _bar(total: int | None, initial: int, enabled: bool):
    from tqdm.auto import tqdm

    off = {} if enabled else {"disable": True}  # when enabled, tqdm's own settings (TQDM_DISABLE …) still apply
    return tqdm(total=total, initial=min(initial, total or initial), unit=" examples", unit_scale=True, desc="predict",
                dynamic_ncols=True, smoothing=0.1, mininterval=1.0, **off)
