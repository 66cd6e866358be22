"""Readers for labelled data: CSV / TSV / JSONL tables, CoNLL column files, hub datasets.

Every reader returns plain examples (``tasks.Example`` / ``tasks.TokenExample``). TSV files
are read with no quoting at all (``csv.QUOTE_NONE``): a ``"`` is an ordinary character.
Problems are reported with the file's line number and what to do.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from .errors import DataError
from .tasks import Example, TokenExample

TEXT_COLUMNS = ("text", "sentence", "sentence1", "premise", "question1", "text_a", "review", "content")
PAIR_COLUMNS = ("text_pair", "sentence2", "hypothesis", "question2", "text_b")
LABEL_COLUMNS = ("label", "labels", "gold_label", "class", "target")
WORD_COLUMNS = ("tokens", "words")
TAG_COLUMNS = ("tags", "ner_tags", "labels", "label")
FORMATS = ("csv", "tsv", "jsonl", "conll")

_IOB = re.compile(r"^(O|[BI]-.+)$")


@dataclass
class ColumnMap:
    """Which columns hold the text(s) and the label; None = detect from the usual names."""

    text: str | None = None
    text_pair: str | None = None
    label: str | None = None


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


def read_text_file(path: str | Path) -> list[str]:
    """The file's lines, decoded as strict UTF-8 (a BOM is dropped)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"expected a data file, found nothing at {str(path)!r}; check the path")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(
            f"expected UTF-8 text, found an invalid byte 0x{raw[exc.start]:02x} on line {line} of "
            f"{path.name}; re-save the file as UTF-8"
        ) from None
    return text.splitlines()


def read_rows(path: str | Path, fmt: str | None = None) -> list[tuple[int, dict]]:
    """(line number, row dict) for every record of a CSV / TSV / JSONL file."""
    fmt = fmt or detect_format(path)
    lines = read_text_file(path)
    name = Path(path).name
    if fmt == "jsonl":
        rows = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"expected one JSON object per line, line {number} of {name} is not valid JSON "
                    f"({exc.msg}); fix or remove that line"
                ) from None
            if not isinstance(row, dict):
                raise DataError(
                    f"expected a JSON object on line {number} of {name}, got {type(row).__name__}; "
                    'write each example as {"text": ..., "label": ...}'
                )
            rows.append((number, row))
        return rows
    if fmt not in ("csv", "tsv"):
        raise DataError(f"expected a table format (csv, tsv or jsonl), got {fmt!r}")
    dialect = {"delimiter": "\t", "quoting": csv.QUOTE_NONE} if fmt == "tsv" else {"delimiter": ","}
    records = list(csv.reader(lines, **dialect))
    numbered = [(i, rec) for i, rec in enumerate(records, 1) if rec and any(f.strip() for f in rec)]
    if not numbered:
        raise DataError(f"expected a header line and examples, found an empty file {name}; add data")
    header = [h.strip() for h in numbered[0][1]]
    rows = []
    for number, rec in numbered[1:]:
        if len(rec) != len(header):
            raise DataError(
                f"expected {len(header)} {fmt.upper()} fields ({', '.join(header)}) on line {number} "
                f"of {name}, found {len(rec)}; fix that line"
                + (" (TSV fields are split on tabs only)" if fmt == "tsv" else "")
            )
        rows.append((number, dict(zip(header, rec))))
    return rows


def peek_columns(path: str | Path, fmt: str | None = None) -> list[str]:
    """Column names of a CSV / TSV / JSONL file from its first record only ([] for CoNLL)."""
    fmt = fmt or detect_format(path)
    if fmt == "conll":
        return []
    with open(path, encoding="utf-8-sig", errors="replace") as handle:
        first = next((line for line in handle if line.strip()), "")
    if fmt == "jsonl":
        try:
            record = json.loads(first)
        except json.JSONDecodeError:
            return []
        return list(record) if isinstance(record, dict) else []
    dialect = {"delimiter": "\t", "quoting": csv.QUOTE_NONE} if fmt == "tsv" else {"delimiter": ","}
    return [h.strip() for h in next(csv.reader([first], **dialect), [])]


def _pick(columns: Sequence[str], wanted: str | None, candidates: Sequence[str], role: str, name: str) -> str:
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
        f"{list(columns)}; name the {role} column explicitly (--{role.replace(' ', '-')}-column)"
    )


def rows_to_examples(
    rows: list[tuple[int, dict]], task: str, columns: ColumnMap | None = None, name: str = "data",
    labelled: bool = True,
) -> list[Example]:
    """Turn table rows into sequence (second text None) or pair examples."""
    columns = columns or ColumnMap()
    if not rows:
        raise DataError(f"expected at least one example in {name}, found none; add examples")
    keys = list(rows[0][1].keys())
    text_col = _pick(keys, columns.text, TEXT_COLUMNS, "text", name)
    pair_col = _pick(keys, columns.text_pair, PAIR_COLUMNS, "text pair", name) if task == "pair" else None
    label_col = _pick(keys, columns.label, LABEL_COLUMNS, "label", name) if labelled else None
    examples = []
    for number, row in rows:
        text = _field(row, text_col, number, name)
        pair = _field(row, pair_col, number, name) if pair_col else None
        label = None
        if label_col:
            value = row.get(label_col)
            if value is None or str(value).strip() == "":
                raise DataError(f"expected a label on line {number} of {name}, found none; add it or drop the line")
            label = str(value).strip()
        examples.append(Example(text=text, text_pair=pair, label=label))
    return examples


def _field(row: dict, column: str, number: int, name: str) -> str:
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
    words: list[str] = []
    tags: list[str] = []
    for number, line in enumerate(read_text_file(path) + [""], 1):
        fields = line.split()
        if not fields:
            if words:
                sentences.append(TokenExample(tuple(words), tuple(tags)))
                words, tags = [], []
            continue
        if fields[0] == "-DOCSTART-":
            continue
        if len(fields) < 2:
            raise DataError(
                f"expected 'token ... tag' columns on line {number} of {name}, found {line.strip()!r}; "
                "separate the token and its tag with a space or tab"
            )
        tag = fields[tag_column]
        if not _IOB.match(tag):
            raise DataError(
                f"expected an IOB tag (O, B-TYPE or I-TYPE) on line {number} of {name}, found {tag!r}; "
                "put the entity tag in the last column"
            )
        words.append(fields[0])
        tags.append(tag)
    if not sentences:
        raise DataError(f"expected CoNLL sentences in {name}, found none; check the file")
    if detect_scheme(s.tags for s in sentences) == "IOB1":
        sentences = [TokenExample(s.words, tuple(iob1_to_iob2(s.tags))) for s in sentences]
    return sentences


def detect_scheme(tag_sequences: Iterable[Sequence[str]]) -> str:
    """'IOB1' if some entity opens with I- (as in the original CoNLL-2003 files), else 'IOB2'."""
    for tags in tag_sequences:
        previous = "O"
        for tag in tags:
            if tag.startswith("I-") and previous[2:] != tag[2:]:
                return "IOB1"
            previous = tag
    return "IOB2"


def iob1_to_iob2(tags: Sequence[str]) -> list[str]:
    """Every entity starts with B-: an I-X that does not continue an X entity becomes B-X."""
    out = []
    previous = "O"
    for tag in tags:
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            tag = "B-" + tag[2:]
        out.append(tag)
        previous = tag
    return out


def rows_to_token_examples(rows: list[tuple[int, dict]], name: str = "data") -> list[TokenExample]:
    """JSONL / hub rows with a list of words and a parallel list of tags."""
    if not rows:
        raise DataError(f"expected at least one sentence in {name}, found none")
    keys = list(rows[0][1].keys())
    word_col = _pick(keys, None, WORD_COLUMNS, "tokens", name)
    tag_col = _pick(keys, None, TAG_COLUMNS, "tags", name)
    examples = []
    for number, row in rows:
        words, tags = row.get(word_col), row.get(tag_col)
        if not isinstance(words, list) or not isinstance(tags, list) or len(words) != len(tags) or not words:
            raise DataError(
                f"expected equally long, non-empty lists {word_col!r} and {tag_col!r} on line {number} of "
                f"{name}; fix that record"
            )
        examples.append(TokenExample(tuple(str(w) for w in words), tuple(str(t) for t in tags)))
    return iob2_examples(examples)


def iob2_examples(examples: list[TokenExample]) -> list[TokenExample]:
    if detect_scheme(e.tags for e in examples) == "IOB1":
        return [TokenExample(e.words, tuple(iob1_to_iob2(e.tags))) for e in examples]
    return examples


def read_examples(
    path: str | Path, task: str, fmt: str | None = None, columns: ColumnMap | None = None, labelled: bool = True,
) -> list[Example] | list[TokenExample]:
    """Read a labelled file for ``task``; ``hf:ID[:CONFIG[:SPLIT]]`` reads a hub dataset."""
    if str(path).startswith("hf:"):
        return read_hub_dataset(str(path)[3:], task, columns)
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise DataError(f"expected a format among {', '.join(FORMATS)}, got {fmt!r}")
    if task == "token":
        if fmt == "conll":
            return read_conll(path)
        if fmt == "jsonl":
            return rows_to_token_examples(read_rows(path, fmt), Path(path).name)
        raise DataError(
            f"expected a CoNLL (.conll/.txt) or JSONL file for a token task, got a {fmt.upper()} file; "
            "write one token and its tag per line, sentences separated by blank lines"
        )
    if fmt == "conll":
        raise DataError(
            f"expected a CSV, TSV or JSONL table for a {task} task, got a CoNLL file; "
            "use task 'token' for CoNLL data"
        )
    return rows_to_examples(read_rows(path, fmt), task, columns, Path(path).name, labelled)


def read_hub_dataset(spec: str, task: str, columns: ColumnMap | None = None):
    """``ID[:CONFIG[:SPLIT]]`` from the Hugging Face Hub (needs network or the datasets cache)."""
    parts = spec.split(":")
    dataset_id, config = parts[0], (parts[1] or None) if len(parts) > 1 else None
    split = parts[2] if len(parts) > 2 else "train"
    try:
        import datasets

        from .encoders import hub_reachable

        if os.environ.get("HF_DATASETS_OFFLINE", os.environ.get("HF_HUB_OFFLINE", "0")) not in ("1", "true") and not hub_reachable():
            raise ConnectionError("the Hugging Face Hub cannot be reached from this machine")
        ds = datasets.load_dataset(dataset_id, config, split=split)
    except Exception as exc:  # network, missing dataset, bad config: all reported the same way
        raise DataError(
            f"expected a loadable hub dataset {dataset_id!r} (config {config!r}, split {split!r}), "
            f"but loading failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
            "check the id and that you are online, or use a local file"
        ) from exc
    rows = [(i + 1, _decode_class_labels(ds.features, row)) for i, row in enumerate(ds)]
    if task == "token":
        return rows_to_token_examples(rows, dataset_id)
    return rows_to_examples(rows, task, columns, dataset_id)


def _decode_class_labels(features, row: dict) -> dict:
    """Replace ClassLabel ints (and sequences of them) by their names."""
    out = dict(row)
    for key, feature in features.items():
        names = getattr(feature, "names", None)
        inner = getattr(getattr(feature, "feature", None), "names", None)
        if names is not None and isinstance(row[key], int):
            out[key] = names[row[key]]
        elif inner is not None and isinstance(row[key], list):
            out[key] = [inner[v] for v in row[key]]
    return out


def label_list(examples: Sequence[Example] | Sequence[TokenExample]) -> list[str]:
    """Sorted label set; integers sort numerically, token tags put O first then by type."""
    if examples and isinstance(examples[0], TokenExample):
        tags = {t for e in examples for t in (e.tags or ())}
        return sorted(tags, key=lambda t: (t != "O", t[2:], t[:1]))
    labels = {e.label for e in examples if e.label is not None}
    if all(re.fullmatch(r"-?\d+", label) for label in labels):
        return sorted(labels, key=int)
    return sorted(labels)


def split_train_validation(
    examples: list, fraction: float, seed: int, max_validation: int | None = None
) -> tuple[list, list]:
    """Seeded split; stratified by label for sequence/pair examples (each class keeps a share)."""
    rng = random.Random(seed)
    n_val = max(1, round(len(examples) * fraction))
    if max_validation:
        n_val = min(n_val, max_validation)
    if len(examples) < 4:
        raise DataError(
            f"expected at least 4 examples to carve a validation split, found {len(examples)}; "
            "add data or pass a validation file"
        )
    if isinstance(examples[0], TokenExample):
        order = list(range(len(examples)))
        rng.shuffle(order)
        chosen = set(order[:n_val])
    else:
        groups = defaultdict(list)
        for i, e in enumerate(examples):
            groups[e.label].append(i)
        chosen = set()
        for label in sorted(groups):
            idx = groups[label]
            rng.shuffle(idx)
            take = min(len(idx) - 1, max(1, round(len(idx) * n_val / len(examples))))
            chosen.update(idx[:take])
    train = [e for i, e in enumerate(examples) if i not in chosen]
    val = [e for i, e in enumerate(examples) if i in chosen]
    return train, val


def sample(examples: list, n: int | None, seed: int) -> list:
    """A seeded sample of at most n examples, in original order."""
    if n is None or n >= len(examples):
        return examples
    keep = sorted(random.Random(seed).sample(range(len(examples)), n))
    return [examples[i] for i in keep]


def data_hash(examples: Sequence[Example] | Sequence[TokenExample]) -> str:
    """Hash of the texts (not the labels): the key of cached encoder features."""
    digest = hashlib.sha256()
    for e in examples:
        if isinstance(e, TokenExample):
            digest.update("\x1f".join(e.words).encode())
        else:
            digest.update(e.text.encode())
            digest.update(b"\x1e" + (e.text_pair or "").encode())
        digest.update(b"\x00")
    return digest.hexdigest()[:16]


_WORD = re.compile(r"(?:[A-Za-z]\.){2,}|\w+(?:[-&.]\w+)*|['’]\w+|[^\w\s]")


def split_words(text: str) -> list[tuple[str, int, int]]:
    """Split raw text into CoNLL-like words with character offsets: (word, start, end).

    Abbreviations ("U.S."), hyphenated and dotted words stay whole; punctuation stands alone.
    """
    return [(m.group(), m.start(), m.end()) for m in _WORD.finditer(text)]
