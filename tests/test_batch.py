"""Batch prediction of files: streamed JSON lines in input order, one line per example (bad rows
become error lines), resume and idempotent re-runs, refusal of another run's output, and word
lists that keep the input's words."""

from __future__ import annotations

import json
import os

import pytest
import torch

from ftclf import Classifier, ModelConfig, predict
from ftclf.batch import predict_file
from ftclf.cli import main
from ftclf.data import ColumnMap
from ftclf.errors import DataError, FtclfError, InputError

TAGS = ["O", "B-PER", "I-PER"]


@pytest.fixture(scope="module")
def heads(tiny_encoder_dir, tmp_path_factory):
    """An (untrained, seeded) sentiment head and NER head on the tiny encoder, saved."""
    from ftclf.encoders import load_encoder

    encoder, root = load_encoder(tiny_encoder_dir), tmp_path_factory.mktemp("batch-heads")
    torch.manual_seed(0)
    seq = Classifier(ModelConfig(task="sequence", labels=["neg", "pos"], encoder=tiny_encoder_dir), encoder)
    tok = Classifier(ModelConfig(task="token", labels=TAGS, encoder=tiny_encoder_dir, head="crf"), encoder)
    return seq.save_pretrained(root / "seq"), tok.save_pretrained(root / "tok")


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def _table(tmp_path, n: int = 50):
    path = tmp_path / "in.tsv"
    rows = ["sentence\tlabel"] + [f"a {'good' if i % 2 else 'bad'} film number {i}\t{i % 2}" for i in range(n)]
    rows[11] = "a broken line without its label"  # 10th example: too few fields
    rows[21] = " \t1"  # 20th: no text
    path.write_bytes("\n".join(rows).encode() + b"\n")
    with open(path, "ab") as handle:
        handle.write(b"caf\xe9 latin-1\t1\n")  # 50th: not UTF-8
        handle.write(b"the last one\t0\n")
    return path


def test_every_example_gets_one_line_in_input_order(heads, tmp_path):
    seq, _ = heads
    clf = Classifier.from_pretrained(seq)
    summary = predict_file(clf, _table(tmp_path), tmp_path / "out.jsonl", chunk_size=7, progress=False)
    lines = _lines(tmp_path / "out.jsonl")
    assert [x["index"] for x in lines] == list(range(52)) and summary["examples"] == 52 and summary["errors"] == 3
    assert [x["index"] for x in lines if "error" in x] == [10, 20, 50]
    assert "expected 2 TSV fields" in lines[10]["error"] and "line 12" in lines[10]["error"]
    assert "empty" in lines[20]["error"] and "UTF-8" in lines[50]["error"]
    expected = predict(clf, [f"a {'good' if i % 2 else 'bad'} film number {i}" for i in range(3)])
    assert [x["label"] for x in lines[:3]] == [p.label for p in expected]
    assert lines[0]["probabilities"]["pos"] == pytest.approx(expected[0].probabilities["pos"], abs=1e-5)
    assert [x["gold"] for x in lines[:3]] == ["0", "1", "0"] and lines[51]["gold"] == "0"


def test_resume_after_an_interruption_and_idempotent_reruns(heads, tmp_path):
    clf = Classifier.from_pretrained(heads[0])
    data, out = _table(tmp_path), tmp_path / "out.jsonl"
    predict_file(clf, data, out, chunk_size=8, progress=False, model="m")
    full = out.read_bytes()
    out.write_bytes(full[: full.index(b"\n", 2000) + 40])  # cut inside a line, as a killed run leaves it
    sidecar = tmp_path / "out.jsonl.ftclf.json"
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), "complete": False}))
    summary = predict_file(clf, data, out, chunk_size=8, progress=False, model="m")
    assert summary["resumed"] > 0 and summary["resumed"] + summary["predicted"] == 52
    assert out.read_bytes() == full
    again = predict_file(clf, data, out, chunk_size=8, progress=False, model="m")
    assert again["predicted"] == 0 and "nothing to do" in again["note"] and out.read_bytes() == full


def test_another_runs_output_is_refused_unless_overwritten(heads, tmp_path):
    clf = Classifier.from_pretrained(heads[0])
    data, out = _table(tmp_path), tmp_path / "out.jsonl"
    predict_file(clf, data, out, progress=False, model="m")
    with pytest.raises(FtclfError, match="written with another model"):
        predict_file(clf, data, out, progress=False, model="other")
    with pytest.raises(FtclfError, match="chunk_size"):
        predict_file(clf, data, out, progress=False, model="m", chunk_size=3)
    mine = tmp_path / "notes.jsonl"
    mine.write_text("my own notes\n")
    with pytest.raises(FtclfError, match="other content"):
        predict_file(clf, data, mine, progress=False)
    assert mine.read_text() == "my own notes\n"
    assert predict_file(clf, data, mine, progress=False, overwrite=True)["examples"] == 52


def test_conll_files_and_word_lists_keep_their_words(heads, tmp_path):
    _, tok = heads
    clf = Classifier.from_pretrained(tok)
    words = [["1.", "Paris", "St.", "Germain", "(", "France", ")"], ["U.S.-based", "firm", "'s", "profit"]]
    conll = tmp_path / "test.conll"
    conll.write_text("-DOCSTART- O\n\n" + "\n\n".join("\n".join(f"{w} O" for w in s) for s in words) + "\n")
    predict_file(clf, conll, tmp_path / "ner.jsonl", progress=False)
    lines = _lines(tmp_path / "ner.jsonl")
    assert [x["words"] for x in lines] == words and [len(x["tags"]) for x in lines] == [7, 4]
    by_api = predict(clf, words=words)
    assert [[w.word for w in p.words] for p in by_api] == words
    assert [[w.label for w in p.words] for p in by_api] == [x["tags"] for x in lines]
    assert by_api[0].text == "1. Paris St. Germain ( France )" and by_api[0].words[1].start == 3
    assert len(predict(clf, ["1. Paris St. Germain"])[0].words) != 4  # raw text is re-split: why word lists exist


def test_jsonl_token_input_by_words_or_by_text(heads, tmp_path):
    clf = Classifier.from_pretrained(heads[1])
    path = tmp_path / "in.jsonl"
    path.write_text('{"tokens": ["John", "lives", "here"]}\n{"tokens": []}\nnot json\n{"tokens": ["a", "b"]}\n')
    predict_file(clf, path, tmp_path / "a.jsonl", progress=False)
    lines = _lines(tmp_path / "a.jsonl")
    assert lines[0]["words"] == ["John", "lives", "here"] and "error" in lines[1] and "not valid JSON" in lines[2]["error"]
    assert lines[3]["words"] == ["a", "b"]
    path.write_text('{"text": "John Smith lives in Paris."}\n')
    predict_file(clf, path, tmp_path / "b.jsonl", progress=False)
    assert _lines(tmp_path / "b.jsonl")[0]["words"] == ["John", "Smith", "lives", "in", "Paris", "."]


def test_word_lists_are_checked(heads):
    seq, tok = (Classifier.from_pretrained(h) for h in heads)
    with pytest.raises(InputError, match="word lists are for token"):
        predict(seq, words=[["a", "b"]])
    for bad in (["a", "b"], [[]], [["a b"]], [["a", ""]], [[1, 2]], "text"):
        with pytest.raises(InputError, match="expected a non-empty list"):
            predict(tok, words=bad)
    with pytest.raises(InputError, match="texts or word lists"):
        predict(tok, ["a"], words=[["a"]])


def test_cli_predict_data(heads, tmp_path, capsys):
    data = _table(tmp_path)
    assert main(["predict", "--model", str(heads[0]), "--data", str(data)]) == 2
    assert "--output" in capsys.readouterr().err
    out = tmp_path / "cli.jsonl"
    assert main(["predict", "--model", str(heads[0]), "--data", str(data), "--output", str(out), "--chunk-size", "16"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["examples"] == 52 and summary["errors"] == 3 and summary["processes"] == 1
    assert main(["predict", "--model", str(heads[0]), "--data", str(tmp_path / "missing.tsv"), "--output", str(out)]) == 2
    assert "found nothing" in capsys.readouterr().err


def test_missing_columns_stop_before_anything_is_written(heads, tmp_path):
    clf = Classifier.from_pretrained(heads[0])
    path = tmp_path / "in.jsonl"
    path.write_text('{"review_body": "fine"}\n')
    with pytest.raises(DataError, match="expected a text column"):
        predict_file(clf, path, tmp_path / "out.jsonl", progress=False)
    path.write_text("")
    with pytest.raises(DataError, match="found none"):
        predict_file(clf, path, tmp_path / "out.jsonl", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]
    summary = predict_file(clf, _table(tmp_path), tmp_path / "out.jsonl", columns=ColumnMap(text="sentence"), progress=False)
    assert summary["examples"] == 52


def test_cli_deeply_nested_json_costs_one_error_line(heads, tmp_path, capsys):
    deep = "[" * 100_000 + "]" * 100_000
    path = tmp_path / "x.jsonl"
    path.write_text('{"text": "a good film"}\n' + deep + '\n{"text": ' + deep + '}\n{"text": "a bad film"}\n')
    out = tmp_path / "o.jsonl"
    assert main(["predict", "--model", str(heads[0]), "--data", str(path), "--output", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["errors"] == 2
    lines = _lines(out)
    assert [x["index"] for x in lines] == [0, 1, 2, 3] and "label" in lines[0] and "label" in lines[3]
    assert "line 2 of x.jsonl nests deeper than 100 levels; fix or remove that line" in lines[1]["error"]
    assert "line 3 of x.jsonl nests deeper" in lines[2]["error"]


def test_a_second_run_writing_the_same_output_is_refused(heads, tmp_path, monkeypatch):
    import threading

    import ftclf.batch

    clf = Classifier.from_pretrained(heads[0])
    data, out = _table(tmp_path), tmp_path / "same.jsonl"
    scoring, go_on, score = threading.Event(), threading.Event(), ftclf.batch._score

    def held_score(*args):  # the first run waits, holding the output, until the second has been refused
        scoring.set()
        assert go_on.wait(60)
        return score(*args)

    monkeypatch.setattr(ftclf.batch, "_score", held_score)
    first: dict = {}
    thread = threading.Thread(target=lambda: first.update(predict_file(clf, data, out, chunk_size=8, progress=False)))
    thread.start()
    try:
        assert scoring.wait(60)
        lock = tmp_path / "same.jsonl.ftclf.lock"
        assert lock.read_text() == str(os.getpid())
        for overwrite in (False, True):  # not even --overwrite takes the output from a running run
            with pytest.raises(FtclfError, match=rf"^expected to be the only run writing same.jsonl, found another run "
                                                 rf"writing it \(pid {os.getpid()}\); wait for it or choose another --output$"):
                predict_file(clf, data, out, chunk_size=8, progress=False, overwrite=overwrite)
    finally:
        go_on.set()
        thread.join(120)
    assert first["examples"] == 52 and [x["index"] for x in _lines(out)] == list(range(52))
    assert json.loads((tmp_path / "same.jsonl.ftclf.json").read_text())["complete"] is True
    assert not lock.exists()  # released and removed with the run
    lock.write_text("999999")  # left by a run that was killed: the system released its lock
    assert "nothing to do" in predict_file(clf, data, out, chunk_size=8, progress=False)["note"]
