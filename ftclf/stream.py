"""Reading an input one record at a time, for scoring files larger than memory.

:func:`records` walks a CSV / TSV / JSONL / CoNLL file (with the streaming readers of
:mod:`ftclf.readers`, the ones training reads through too) or a hub dataset, streamed, and yields one
:class:`Record` per example without holding the input: a table row, a JSON object, or a CoNLL
sentence's words (its tags, if any, are ignored). A record that cannot be read (a broken line, bytes
that are not UTF-8, JSON nested too deep) is yielded with an ``error`` instead of stopping the walk,
so that one bad line of ten million costs one output line, not the run. Whole-file problems (no such
file, no header) raise :class:`DataError` before anything is yielded.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from .data import decode_class_labels, detect_format, load_hub_dataset
from .readers import Record, existing, file_records

__all__ = ["Record", "estimate_count", "records"]


def records(source: str | Path, fmt: str | None = None) -> Iterator[Record]:
    """The records of a file or ``hf:ID[:CONFIG[:SPLIT]]``, in order, one at a time."""
    if str(source).startswith("hf:"):
        return _hub_records(str(source)[3:])
    path = existing(source)  # a missing file is reported as such, whatever its name ends in
    return file_records(path, fmt or detect_format(path))


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


def _hub_records(spec: str) -> Iterator[Record]:
    stream, _ = load_hub_dataset(spec, streaming=True)

    def walk():
        features = getattr(stream, "features", None) or {}
        for number, row in enumerate(stream, 1):
            yield Record(number, row=decode_class_labels(features, row) if features else dict(row))

    return walk()
