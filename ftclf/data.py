"""Examples and the readers that make them: CSV / TSV / JSONL tables, CoNLL column files, hub datasets.

A sequence example is a pair example whose second text is ``None`` (one code path for both);
a token example is a sentence as words with one IOB2 tag per word. TSV files are read with no
quoting at all (``csv.QUOTE_NONE``): a ``"`` is an ordinary character. Problems are reported with
the file's line number and what to do. The readers here are eager wrappers over the streaming
ones of :mod:`ftclf.readers` (one per format), so a file reads, and fails, the same way for
training and for batch prediction. Which reader a task uses is the task's business
(``ftclf.tasks``); this module knows file formats only.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from . import hub, iob
from .errors import DataError
from .readers import conll_sentences, csv_dialect, existing, file_records, json_record

TEXT_COLUMNS = ("text", "sentence", "sentence1", "premise", "question1", "text_a", "review", "content")
PAIR_COLUMNS = ("text_pair", "sentence2", "hypothesis", "question2", "text_b")
LABEL_COLUMNS = ("label", "labels", "gold_label", "class", "target")
WORD_COLUMNS = ("tokens", "words")
TAG_COLUMNS = ("tags", "ner_tags", "labels", "label")
FORMATS = ("csv", "tsv", "jsonl", "conll")

Row = tuple[int, dict]  # (line number, record)


@dataclass(frozen=True)
class Example:
    """A sequence (``text_pair is None``) or pair example; ``label`` is None when unlabelled."""

    text: str
    text_pair: str | None = None
    label: str | None = None

    def texts(self) -> tuple[str, ...]:
        """What the encoder reads (the key of cached features)."""
        return (self.text, self.text_pair or "")

    def label_values(self) -> tuple[str, ...]:
        return () if self.label is None else (self.label,)

    def relabel(self, aliases: dict[str, str]) -> Example:
        return replace(self, label=aliases.get(self.label, self.label))


@dataclass(frozen=True)
class TokenExample:
    """A sentence as words, with one IOB2 tag per word (``tags`` None when unlabelled)."""

    words: tuple[str, ...]
    tags: tuple[str, ...] | None = None

    def texts(self) -> tuple[str, ...]:
        return self.words

    def label_values(self) -> tuple[str, ...]:
        return self.tags or ()

    def relabel(self, aliases: dict[str, str]) -> TokenExample:
        return replace(self, tags=tuple(aliases.get(t, t) for t in self.tags or ()) or None)


@dataclass
class ColumnMap:
    """Which columns hold the text(s) and the label; None = detect from the usual names. ``label_sep``: what
joins the labels of one text in a multi-label table cell."""

    text: str | None = None
    text_pair: str | None = None
    label: str | None = None
    label_sep: str = "|"


def detect_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix in ("csv", "tsv", "jsonl"):
        return suffix
    if suffix == "json":
        return "jsonl"
    if suffix in ("conll", "txt", "iob", "bio", "iob2"):
        return "conll"
    raise DataError(
        f"expected a file ending in .csv, .tsv, .jsonl or .conll/.txt, got {Path(path).name!r}; "
        "rename the file or pass the format explicitly"
    )


def read_rows(path: str | Path, fmt: str | None = None) -> list[Row]:
    """(line number, row dict) for every record of a CSV / TSV / JSONL file; the first unreadable
    record is raised as a :class:`DataError`."""
    fmt = fmt or detect_format(path)
    if fmt not in ("csv", "tsv", "jsonl"):
        raise DataError(f"expected a table format (csv, tsv or jsonl), got {fmt!r}")
    rows = []
    for record in file_records(path, fmt):
        if record.error:
            raise DataError(record.error)
        rows.append((record.line, record.row))
    return rows


def peek_columns(path: str | Path, fmt: str | None = None) -> list[str]:
    """Column names of a CSV / TSV / JSONL file from its first record only ([] for CoNLL)."""
    fmt = fmt or detect_format(path)
    if fmt == "conll":
        return []
    with open(path, encoding="utf-8-sig", errors="replace") as handle:
        first = next((line for line in handle if line.strip()), "")
    if fmt == "jsonl":
        return list(json_record(1, first, Path(path).name).row or [])
    return [h.strip() for h in next(csv.reader([first], **csv_dialect(fmt)), [])]


def pick_column(columns: Sequence[str], wanted: str | None, candidates: Sequence[str], role: str, name: str,
                choosable: bool = True) -> str:
    """The column that plays ``role``: ``wanted``, else the first of ``candidates`` present. ``choosable``:
    whether the user can name the column (the library's ``ColumnMap``, which the CLI's ``--text-column`` … and the
    dashboard's pickers fill; each says it in its own words); if not, the message says to rename it."""
    if wanted is not None:
        if wanted not in columns:
            raise DataError(
                f"expected a {role} column {wanted!r} in {name}, found columns {list(columns)}; "
                f"pass one of those as the {role} column"
            )
        return wanted
    for candidate in candidates:
        if candidate in columns:
            return candidate
    raise DataError(
        f"expected a {role} column (one of {', '.join(candidates)}) in {name}, found columns "
        f"{list(columns)}; "
        + (f"name the {role} column explicitly (columns=ColumnMap({role.replace(' ', '_')}=...))" if choosable
           else f"rename the {role} column to one of those names")
    )


def detect_columns(columns: Sequence[str], given: ColumnMap | None = None, pairs: bool = False) -> ColumnMap:
    """Which of ``columns`` the readers would take as text, second text (``pairs``) and label: a given
    name where the file has it, else the first usual name present, else None (the UI pre-fills its
    pickers with these, and asks for the missing ones)."""
    given = given or ColumnMap()

    def one(wanted, candidates):
        if wanted is not None:
            return wanted if wanted in columns else None
        return next((c for c in candidates if c in columns), None)

    return ColumnMap(one(given.text, TEXT_COLUMNS), one(given.text_pair, PAIR_COLUMNS) if pairs else None,
                     one(given.label, LABEL_COLUMNS))


def rows_to_examples(
    rows: list[Row], pairs: bool, columns: ColumnMap | None = None, name: str = "data", labelled: bool = True,
) -> list[Example]:
    """Table rows to sequence examples (second text None) or, with ``pairs``, pair examples."""
    text_col, pair_col, label_col = table_columns(rows, columns, name, pairs, labelled)
    examples = []
    for number, row in rows:
        text = text_field(row, text_col, number, name)
        pair = text_field(row, pair_col, number, name) if pair_col else None
        label = None
        if label_col:
            value = row.get(label_col)
            if value is None or str(value).strip() == "":
                raise DataError(f"expected a label on line {number} of {name}, found none; add it or drop the line")
            label = str(value).strip()
        examples.append(Example(text=text, text_pair=pair, label=label))
    return examples


def table_columns(rows: list[Row], columns: ColumnMap | None, name: str, pairs: bool = False, labelled: bool = True,
                  label_role: str = "label") -> tuple[str, str | None, str | None]:
    """(text, text pair, label) column names of table rows: given ones checked, the others detected (None:
    no pair column or, unlabelled, no label column); no rows at all are refused."""
    columns = columns or ColumnMap()
    if not rows:
        raise DataError(f"expected at least one example in {name}, found none; add examples")
    keys = list(rows[0][1].keys())
    text_col = pick_column(keys, columns.text, TEXT_COLUMNS, "text", name)
    pair_col = pick_column(keys, columns.text_pair, PAIR_COLUMNS, "text pair", name) if pairs else None
    label_col = pick_column(keys, columns.label, LABEL_COLUMNS, label_role, name) if labelled else None
    return text_col, pair_col, label_col


def text_field(row: dict, column: str, number: int, name: str) -> str:
    value = row.get(column)
    text = "" if value is None else str(value).strip()
    if not text:
        raise DataError(
            f"expected text in column {column!r} on line {number} of {name}, found it empty; "
            "fill it in or drop the line"
        )
    return text


def read_conll(path: str | Path, tag_column: int = -1) -> list[TokenExample]:
    """Sentences of a CoNLL column file (token first, tag in ``tag_column``); IOB1 becomes IOB2."""
    name = Path(path).name
    sentences: list[TokenExample] = []
    for _, lines, error in conll_sentences(existing(path)):
        if error:
            raise DataError(error)
        for number, fields in lines:
            if len(fields) < 2:
                raise DataError(
                    f"expected 'token ... tag' columns on line {number} of {name}, found {fields[0]!r}; "
                    "separate the token and its tag with a space or tab"
                )
            if not iob.is_tag(fields[tag_column]):
                raise DataError(
                    f"expected an IOB tag (O, B-TYPE or I-TYPE) on line {number} of {name}, found "
                    f"{fields[tag_column]!r}; put the entity tag in the last column"
                )
        sentences.append(TokenExample(tuple(f[0] for _, f in lines), tuple(f[tag_column] for _, f in lines)))
    if not sentences:
        raise DataError(f"expected CoNLL sentences in {name}, found none; check the file")
    return as_iob2(sentences)


def rows_to_token_examples(rows: list[Row], name: str = "data") -> list[TokenExample]:
    """JSONL / hub rows with a list of words and a parallel list of tags."""
    if not rows:
        raise DataError(f"expected at least one sentence in {name}, found none")
    keys = list(rows[0][1].keys())
    word_col = pick_column(keys, None, WORD_COLUMNS, "tokens", name, choosable=False)
    tag_col = pick_column(keys, None, TAG_COLUMNS, "tags", name, choosable=False)
    examples = []
    for number, row in rows:
        words, tags = row.get(word_col), row.get(tag_col)
        if not isinstance(words, list) or not isinstance(tags, list) or len(words) != len(tags) or not words:
            raise DataError(
                f"expected equally long, non-empty lists {word_col!r} and {tag_col!r} on line {number} of "
                f"{name}; fix that record"
            )
        wrong = next((str(t) for t in tags if not iob.is_tag(str(t))), None)
        if wrong is not None:
            raise DataError(
                f"expected IOB tags (O, B-TYPE or I-TYPE) in {tag_col!r} on line {number} of {name}, found {wrong!r}; "
                "fix that record"
            )
        examples.append(TokenExample(tuple(str(w) for w in words), tuple(str(t) for t in tags)))
    return as_iob2(examples)


def as_iob2(examples: list[TokenExample]) -> list[TokenExample]:
    """The sentences in IOB2, converted as a whole when the data set is written in IOB1."""
    if iob.detect_scheme(e.tags for e in examples) == "IOB1":
        return [TokenExample(e.words, tuple(iob.to_iob2(e.tags))) for e in examples]
    return examples


_HUB_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9_-])?"
_HUB_SPEC = re.compile(rf"^{_HUB_NAME}(?:/{_HUB_NAME})?(?::[A-Za-z0-9_.-]*)?(?::[A-Za-z0-9_-]*)?$")


def check_hub_spec(spec: str) -> str:
    """A hub dataset ``ID[:CONFIG[:SPLIT]]`` with ID ``owner/name`` or a canonical ``name``; anything
    that could name a local path, a URL or a pattern (``/``, ``..``, ``~``, ``://``, ``*`` …) is refused,
    so a dataset field never reads the server's own files."""
    spec = (spec or "").strip()
    if not _HUB_SPEC.match(spec) or ".." in spec:
        raise DataError(
            f"expected a hub dataset id such as glue:sst2:train or owner/name[:config[:split]], got {spec[:80]!r}; "
            "type a dataset id (local files go through the upload)"
        )
    return spec


def load_hub_dataset(spec: str, streaming: bool = False):
    """(dataset, dataset id) of ``ID[:CONFIG[:SPLIT]]`` from the Hugging Face Hub (``streaming``: an
    iterable one, read as it is walked); needs network or the datasets cache. Every failure is a
    :class:`DataError` that says what to do."""
    parts = check_hub_spec(spec).split(":")
    dataset_id, config = parts[0], (parts[1] or None) if len(parts) > 1 else None
    split = parts[2] if len(parts) > 2 else "train"
    try:
        import datasets

        if not hub.offline() and not hub.reachable():  # offline mode reads the datasets cache
            raise ConnectionError("the Hugging Face Hub cannot be reached from this machine")
        return datasets.load_dataset(dataset_id, config, split=split, streaming=streaming), dataset_id
    except Exception as exc:  # network, missing dataset, bad config: all reported the same way
        detail = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise DataError(
            f"expected a loadable hub dataset {dataset_id!r} (config {config!r}, split {split!r}), "
            f"but loading failed ({type(exc).__name__}: {detail}); check the id and that you are online, or use a local file"
        ) from exc


def read_hub_rows(spec: str) -> tuple[list[Row], str]:
    """``ID[:CONFIG[:SPLIT]]`` from the Hugging Face Hub as numbered rows (ClassLabel ints become
    their names); needs network or the datasets cache."""
    ds, dataset_id = load_hub_dataset(spec)
    return [(i + 1, decode_class_labels(ds.features, row)) for i, row in enumerate(ds)], dataset_id


def decode_class_labels(features, row: dict) -> dict:
    """Replace ClassLabel ints (and sequences of them) by their names."""
    out = dict(row)
    for key, feature in features.items():
        names = getattr(feature, "names", None)
        inner = getattr(getattr(feature, "feature", None), "names", None)
        if names is not None and isinstance(row[key], int):  # -1: no label (a test split)
            out[key] = names[row[key]] if 0 <= row[key] < len(names) else None
        elif inner is not None and isinstance(row[key], list):
            out[key] = [inner[v] if 0 <= v < len(inner) else None for v in row[key]]
    return out
