"""The streaming readers and the eager ones over them: a file reads, and fails, the same way for
training (the first bad record raised) and for batch prediction (one error record each, the walk
goes on); nesting, field size and encoding limits are reported with the line, never a traceback."""

from __future__ import annotations

import csv

import pytest

from ftclf.cli import main
from ftclf.data import peek_columns, read_conll, read_rows
from ftclf.errors import DataError
from ftclf.readers import MAX_JSON_DEPTH, file_records
from ftclf.stream import records
from ftclf.tasks import read_examples

DEEP = "[" * 100_000 + "]" * 100_000


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def errors(path, fmt):
    return [(r.line, r.error) for r in file_records(path, fmt) if r.error]


def test_deep_json_is_an_error_record_when_streamed_and_a_data_error_when_read(tmp_path):
    text = '{"text": "a", "label": "x"}\n' + DEEP + '\n{"text": ' + DEEP + ', "label": "y"}\n{"text": "b", "label": "z"}\n'
    path = write(tmp_path, "d.jsonl", text)
    got = list(records(path))
    assert [r.line for r in got] == [1, 2, 3, 4] and [r.row for r in got[::3]] == [{"text": "a", "label": "x"},
                                                                                 {"text": "b", "label": "z"}]
    message = f"expected one JSON object per line, line 2 of d.jsonl nests deeper than {MAX_JSON_DEPTH} levels; fix or remove that line"
    assert got[1].error == message and "line 3 of d.jsonl nests deeper" in got[2].error
    with pytest.raises(DataError, match=f"^{message}$"):
        read_examples(path, "sequence")
    assert peek_columns(write(tmp_path, "p.jsonl", DEEP + "\n")) == []


def test_nesting_limit_is_exact_and_brackets_in_strings_do_not_count(tmp_path):
    def line(depth):  # the row object is one level, the list under "x" the rest
        return '{"text": "t", "label": "a", "x": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"

    brackets_in_text = '{"text": "' + "[{" * 300 + '\\"[", "label": "b"}'
    path = write(tmp_path, "d.jsonl", "\n".join([line(MAX_JSON_DEPTH), brackets_in_text, line(MAX_JSON_DEPTH + 1)]) + "\n")
    message = f"expected one JSON object per line, line 3 of d.jsonl nests deeper than {MAX_JSON_DEPTH} levels"
    assert errors(path, "jsonl") == [(3, message + "; fix or remove that line")]
    assert [len(r.row["text"]) for r in file_records(path, "jsonl") if r.row][1] == 602


def test_cli_train_refuses_deep_json_by_its_line(tmp_path, capsys):
    path = write(tmp_path, "train.jsonl", '{"text": "a", "label": "x"}\n{"text": ' + DEEP + ', "label": "y"}\n')
    assert main(["train", "--task", "sequence", "--data", str(path), "--output", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "line 2 of train.jsonl nests deeper than" in err and "Traceback" not in err and not (tmp_path / "m").exists()


def test_a_field_over_the_csv_limit_says_so(tmp_path):
    text = "text,label\nshort,a\n" + "x" * (2**20 + 10) + ",b\nafter,c\n"
    path = write(tmp_path, "d.csv", text)
    before = csv.field_size_limit(2**20)
    try:
        with pytest.raises(DataError, match=r"^expected fields of at most 1 MB on line 3 of d.csv, found a longer one; "
                                            "split that text"):
            read_rows(path)
        assert [(r.line, r.row) for r in file_records(path, "csv") if r.row] == [(2, {"text": "short", "label": "a"}),
                                                                                (4, {"text": "after", "label": "c"})]
        csv.field_size_limit(1000)
        assert "at most 1,000 characters on line 3" in errors(path, "csv")[0][1]
    finally:
        csv.field_size_limit(before)
    assert len(read_rows(path)) == 3  # the 32 MB default reads it


@pytest.mark.parametrize("name,data,line,message", [
    ("bom.tsv", b"\xef\xbb\xbfsentence\tlabel\na\t1\n\xff\t2\n", 3,
     "expected UTF-8 text, found an invalid byte 0xff on line 3 of bom.tsv; re-save the file as UTF-8"),
    ("count.tsv", 'sentence\tlabel\n"a\t1\nb\t2\t3\n', 3,
     "expected 2 TSV fields (sentence, label) on line 3 of count.tsv, found 3; fix that line (TSV fields are split on tabs only)"),
    ("count.csv", "text,label\n\"one\ntwo\",a\nshort\n", 4,
     "expected 2 CSV fields (text, label) on line 4 of count.csv, found 1; fix that line"),
    ("cr.csv", 'text,label\na,b\nx\ry,c\nok,d\n', 3,
     "expected well-formed CSV from line 3 of cr.csv, found a broken record (new-line character seen"),
    ("inside.csv", b'text,label\n"one\ntw\xe9o",a\nok,b\n', 2,
     "expected UTF-8 text, found an invalid byte 0xe9 on line 3 of inside.csv"),
    ("d.jsonl", '{"text": "a"}\n\n{"text": \n', 3,
     "expected one JSON object per line, line 3 of d.jsonl is not valid JSON (Expecting value); fix or remove that line"),
    ("e.jsonl", '{"text": "a"}\n[1, 2]\n', 2,
     'expected a JSON object on line 2 of e.jsonl, got list; write each example as {"text": ..., "label": ...}'),
])
def test_streamed_and_eager_readers_say_the_same(tmp_path, name, data, line, message):
    """Oracle: the message written by hand; both paths must give it, with the record's first line."""
    path = write(tmp_path, name, data)
    fmt = name.rsplit(".", 1)[1]
    (got_line, got), *_ = errors(path, fmt)
    assert got_line == line and got.startswith(message)
    with pytest.raises(DataError) as raised:
        read_rows(path)
    assert str(raised.value) == got
    assert len([r for r in records(path) if r.row]) >= 1  # the walk went on past it


def test_whole_file_problems_raise_before_any_record(tmp_path):
    cases = [("twice.csv", "text,text\na,b\n", "expected distinct column names in the header of twice.csv"),
             ("empty.tsv", "\n \t \n", "expected a header line and examples, found an empty file empty.tsv"),
             ("head.tsv", b"sent\xe9nce\tlabel\na\t1\n", "invalid byte 0xe9 on line 1 of head.tsv"),
             ("gone.tsv", None, "expected a data file, found nothing at")]
    for name, data, message in cases:
        path = write(tmp_path, name, data) if data is not None else tmp_path / name
        with pytest.raises(DataError, match=message):
            next(iter(records(path)))
        with pytest.raises(DataError, match=message):
            read_rows(path)


def test_bom_crlf_and_multiline_fields(tmp_path):
    path = write(tmp_path, "d.csv", b'\xef\xbb\xbftext,label\r\n"one\r\ntwo",a\r\n\r\nthree,b\r\n')
    assert read_rows(path) == [(2, {"text": "one\ntwo", "label": "a"}), (5, {"text": "three", "label": "b"})]
    assert [(r.line, r.row) for r in records(path)] == read_rows(path)
    assert read_rows(write(tmp_path, "d.tsv", 'text\tlabel\n"a "b\t1\n')) == [(2, {"text": '"a "b', "label": "1"})]


def test_conll_is_walked_once_for_both_readers(tmp_path):
    path = write(tmp_path, "d.conll", "-DOCSTART- O\nEU B-ORG\nrejects O\n\n\nPeter B-PER\n")
    assert [(r.line, r.words, r.error) for r in records(path)] == [(2, ("EU", "rejects"), None), (6, ("Peter",), None)]
    assert [s.words for s in read_conll(path)] == [r.words for r in records(path)]
    bad = write(tmp_path, "e.conll", b"a O\n\nb\xff O\nc O\n\nd O\n")
    assert [(r.line, r.error is not None) for r in records(bad)] == [(1, False), (3, True), (6, False)]
    with pytest.raises(DataError, match="invalid byte 0xff on line 3 of e.conll"):
        read_conll(bad)
    with pytest.raises(DataError, match="found nothing at"):
        read_conll(tmp_path / "missing.conll")
