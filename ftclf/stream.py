"""Reading an input one record at a time, for scoring files larger than memory.

:func:`records` walks a CSV / TSV / JSONL / CoNLL file (or a hub dataset, streamed) and yields one
:class:`Record` per example without holding the file: a table row, a JSON object, or a CoNLL
sentence's words (its tags, if any, are ignored). A record that cannot be read (a broken line, bytes
that are not UTF-8) is yielded with an ``error`` instead of stopping the walk, so that one bad line
of ten million costs one output line, not the run. Whole-file problems (no such file, no header)
raise :class:`DataError` before anything is yielded.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .data import csv_dialect, decode_class_labels, detect_format, load_hub_dataset, read_header
from .errors import DataError


@dataclass
class Record:
    """One example of the input: a row (table, JSON, hub), or a CoNLL sentence's words."""

    #: the line it starts on (1-based; the row number for hub data)
    line: int
    row: dict | None = None
    words: tuple[str, ...] | None = None
    #: why the record cannot be used (it still takes its place in the output)
    error: str | None = None


def records(source: str | Path, fmt: str | None = None) -> Iterator[Record]:
    """The records of a file or ``hf:ID[:CONFIG[:SPLIT]]``, in order, one at a time."""
    if str(source).startswith("hf:"):
        return _hub_records(str(source)[3:])
    path = Path(source)
    if not path.is_file():
        raise DataError(f"expected a data file, found nothing at {str(path)!r}; check the path")
    fmt = fmt or detect_format(path)
    readers = {"csv": _table_records, "tsv": _table_records, "jsonl": _json_records, "conll": _conll_records}
    return readers[fmt](path, fmt)


def estimate_count(source: str | Path, fmt: str | None = None) -> int | None:
    """About how many records there are (for a progress bar), without parsing: lines, or None."""
    if str(source).startswith("hf:"):
        return None
    fmt = fmt or detect_format(source)
    if fmt == "conll":
        return None
    lines = 0
    with open(source, "rb") as handle:
        while block := handle.read(1 << 20):
            lines += block.count(b"\n")
    return max(0, lines - (1 if fmt in ("csv", "tsv") else 0))


def _lines(path: Path) -> Iterator[tuple[int, str | None]]:
    """(line number, text or None where the line is not UTF-8), a line at a time."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            if number == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")
            try:
                yield number, raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                yield number, None


def _not_utf8(number: int, name: str) -> str:
    return f"expected UTF-8 text on line {number} of {name}, found invalid bytes; re-save the file as UTF-8"


def _table_records(path: Path, fmt: str) -> Iterator[Record]:
    name, bad = path.name, set()

    def text_lines():
        for number, line in _lines(path):
            if line is None:
                bad.add(number)
                line = ""
            yield line + "\n"

    reader = csv.reader(text_lines(), **csv_dialect(fmt))
    header, start = None, 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            yield Record(start, error=f"expected well-formed {fmt.upper()} from line {start} of {name}, found a broken "
                                      f"record ({exc}); fix the quoting there")
            start = reader.line_num + 1
            continue
        here, start = start, reader.line_num + 1
        if here in bad:
            yield Record(here, error=_not_utf8(here, name))
            continue
        if not any(f.strip() for f in fields):
            continue
        if header is None:
            header = read_header(fields, name)
            continue
        if len(fields) != len(header):
            yield Record(here, error=f"expected {len(header)} {fmt.upper()} fields ({', '.join(header)}) on line {here} "
                                     f"of {name}, found {len(fields)}; fix that line")
            continue
        yield Record(here, row=dict(zip(header, fields)))
    if header is None:
        raise DataError(f"expected a header line and examples, found an empty file {name}; add data")


def _json_records(path: Path, fmt: str) -> Iterator[Record]:
    for number, line in _lines(path):
        if line is None:
            yield Record(number, error=_not_utf8(number, path.name))
            continue
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Record(number, error=f"expected one JSON object per line, line {number} of {path.name} is not valid "
                                       f"JSON ({exc.msg}); fix that line")
            continue
        if not isinstance(row, dict):
            yield Record(number, error=f"expected a JSON object on line {number} of {path.name}, got "
                                       f"{type(row).__name__}; write each example as {{\"text\": ...}}")
            continue
        yield Record(number, row=row)


def _conll_records(path: Path, fmt: str) -> Iterator[Record]:
    """Sentences: the first column of each line is the word; blank lines separate sentences."""
    words: list[str] = []
    start, broken = 0, None
    for number, line in [*_lines(path), (-1, "")]:
        if line is None:
            broken = broken or _not_utf8(number, path.name)
            start = start or number
            continue
        fields = line.split()
        if fields and fields[0] == "-DOCSTART-":
            continue
        if fields:
            start = start or number
            words.append(fields[0])
            continue
        if words or broken:
            yield Record(start, words=tuple(words), error=broken)
        words, start, broken = [], 0, None


def _hub_records(spec: str) -> Iterator[Record]:
    stream, _ = load_hub_dataset(spec, streaming=True)

    def walk():
        features = getattr(stream, "features", None) or {}
        for number, row in enumerate(stream, 1):
            yield Record(number, row=decode_class_labels(features, row) if features else dict(row))

    return walk()
