"""One streaming reader per file format: CSV / TSV / JSONL tables and CoNLL column files, a record at a time.

:func:`file_records` walks a file without holding it and yields one :class:`Record` per example: a
table row, a JSON object, or a CoNLL sentence's words. A record that cannot be read (a broken line,
bytes that are not UTF-8, JSON nested too deep) is yielded with an ``error`` instead of stopping the
walk; whole-file problems (no such file, no header, a header named twice) raise :class:`DataError`.
The eager readers of :mod:`ftclf.data` wrap these and raise the first record's error; batch
prediction (:mod:`ftclf.stream`) writes it as that example's output line. Either way the message is
the same. Lines are numbered from 1 and split on ``\\n`` only; TSV files are read with no quoting
(``csv.QUOTE_NONE``); a BOM is dropped; text is strict UTF-8.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import DataError

#: JSON lines nesting deeper than this are refused (examples are flat; deeper input is an attack or a
#: mistake, and Python's parser would fail with a RecursionError at about a thousand levels)
MAX_JSON_DEPTH = 100

csv.field_size_limit(32 * 2**20)  # a long text field (over csv's 128 KiB default) is a text, not an error


@dataclass
class Record:
    """One example of the input: a row (table, JSON, hub), or a CoNLL sentence's words."""

    #: the line it starts on (1-based; the row number for hub data)
    line: int
    row: dict | None = None
    words: tuple[str, ...] | None = None
    #: why the record cannot be used (it still takes its place in the output)
    error: str | None = None


def read_header(fields: list[str], name: str) -> list[str]:
    """A table's column names, stripped; the same name twice is refused."""
    header = [h.strip() for h in fields]
    twice = sorted({h for h in header if header.count(h) > 1})
    if twice:
        raise DataError(f"expected distinct column names in the header of {name}, found {', '.join(map(repr, twice))} "
                        "more than once; rename the columns")
    return header


def csv_dialect(fmt: str) -> dict:
    return {"delimiter": "\t", "quoting": csv.QUOTE_NONE} if fmt == "tsv" else {"delimiter": ","}


def file_records(path: str | Path, fmt: str) -> Iterator[Record]:
    """The records of a ``csv``, ``tsv``, ``jsonl`` or ``conll`` file, in order; a missing file is refused at once."""
    path = existing(path)
    if fmt in ("csv", "tsv"):
        return table_records(path, fmt)
    if fmt == "jsonl":
        return json_records(path)
    if fmt == "conll":
        return conll_records(path)
    raise DataError(f"expected a file format among csv, tsv, jsonl and conll, got {fmt!r}; pass one of those")


def existing(path: str | Path) -> Path:
    """The path of a data file; nothing there is refused."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"expected a data file, found nothing at {str(path)!r}; check the path")
    return path


def lines(path: Path) -> Iterator[tuple[int, str, str | None]]:
    """(line number, text, error) a line at a time: the error says where a line is not UTF-8 (its text is then
    decoded with replacement characters, so that a table's quoting stays as it was)."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            if number == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")
            try:
                yield number, raw.decode("utf-8").rstrip("\r\n"), None
            except UnicodeDecodeError as exc:
                yield number, raw.decode("utf-8", "replace").rstrip("\r\n"), (f"expected UTF-8 text, found an invalid byte 0x{raw[exc.start]:02x} on line {number} "
                                   f"of {path.name}; re-save the file as UTF-8")


# ------------------------------------------------------------------------------ CSV / TSV
def table_records(path: Path, fmt: str) -> Iterator[Record]:
    """Rows as dicts keyed by the header (the first non-blank record); a quoted CSV field may span lines,
    so a record's number is the line where it starts."""
    name, bad = path.name, {}  # bad: line number -> why, for the lines the csv reader has taken so far

    def text_lines():
        for number, text, error in lines(path):
            if error:
                bad[number] = error
            yield text + "\n"

    reader = csv.reader(text_lines(), **csv_dialect(fmt))
    header, start = None, 1
    while True:
        try:
            fields = next(reader)
            error = None
        except StopIteration:
            break
        except csv.Error as exc:
            fields, error = [], _broken(exc, fmt, start, name)
        here, start = start, reader.line_num + 1
        error = bad[min(bad)] if bad else error  # a line that is not UTF-8 is the first thing wrong
        bad.clear()
        if error and header is None:
            raise DataError(error)  # no header, no columns: the file cannot be read
        if error:
            yield Record(here, error=error)
            continue
        if not any(f.strip() for f in fields):
            continue
        if header is None:
            header = read_header(fields, name)
        elif len(fields) != len(header):
            yield Record(here, error=f"expected {len(header)} {fmt.upper()} fields ({', '.join(header)}) on line {here} "
                                     f"of {name}, found {len(fields)}; fix that line"
                                     + (" (TSV fields are split on tabs only)" if fmt == "tsv" else ""))
        else:
            yield Record(here, row=dict(zip(header, fields)))
    if header is None:
        raise DataError(f"expected a header line and examples, found an empty file {name}; add data")


def _broken(exc: csv.Error, fmt: str, start: int, name: str) -> str:
    if "field larger than field limit" in str(exc):
        limit = csv.field_size_limit()
        size = f"{limit / 2**20:g} MB" if limit >= 2**20 else f"{limit:,} characters"
        return (f"expected fields of at most {size} on line {start} of {name}, found a longer one; "
                "split that text into shorter examples")
    return (f"expected well-formed {fmt.upper()} from line {start} of {name}, found a broken record ({exc}); "
            "fix the quoting there")


# ------------------------------------------------------------------------------ JSON lines
def json_records(path: Path) -> Iterator[Record]:
    """One JSON object per non-blank line."""
    for number, text, error in lines(path):
        if error:
            yield Record(number, error=error)
        elif text.strip():
            yield json_record(number, text, path.name)


def json_record(number: int, text: str, name: str) -> Record:
    """The record of one JSON line (an error record when it is not a JSON object)."""
    what = f"expected one JSON object per line, line {number} of {name}"
    too_deep = f"{what} nests deeper than {MAX_JSON_DEPTH} levels; fix or remove that line"
    try:
        row = json.loads(text)
    except json.JSONDecodeError as exc:
        return Record(number, error=f"{what} is not valid JSON ({exc.msg}); fix or remove that line")
    except RecursionError:  # Python's parser gives up at about a thousand levels
        return Record(number, error=too_deep)
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and _too_deep(row):  # fewer brackets: not deep
        return Record(number, error=too_deep)
    if not isinstance(row, dict):
        return Record(number, error=f"expected a JSON object on line {number} of {name}, got {type(row).__name__}; "
                                    'write each example as {"text": ..., "label": ...}')
    return Record(number, row=row)


def _too_deep(value) -> bool:
    """Whether arrays and objects nest deeper than MAX_JSON_DEPTH in ``value`` (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (list, dict)):
            if depth > MAX_JSON_DEPTH:
                return True
            stack.extend((item, depth + 1) for item in (value.values() if isinstance(value, dict) else value))
    return False


# ------------------------------------------------------------------------------ CoNLL
def conll_sentences(path: Path) -> Iterator[tuple[int, list[tuple[int, list[str]]], str | None]]:
    """(line where a sentence starts, its lines as (number, whitespace-split fields), error): blank lines
    separate sentences, ``-DOCSTART-`` lines are skipped, the error names a line that is not UTF-8."""
    sentence: list[tuple[int, list[str]]] = []
    start, broken = 0, None
    for number, text, error in [*lines(path), (-1, "", None)]:
        fields = text.split()
        if fields and fields[0] == "-DOCSTART-":
            continue
        if error or fields:
            start, broken = start or number, broken or error
            if fields:
                sentence.append((number, fields))
            continue
        if sentence or broken:
            yield start, sentence, broken
        sentence, start, broken = [], 0, None


def conll_records(path: Path) -> Iterator[Record]:
    """Sentences as words (the first column of each line); their tags are the eager reader's business."""
    for start, sentence, error in conll_sentences(path):
        yield Record(start, words=tuple(fields[0] for _, fields in sentence), error=error)
