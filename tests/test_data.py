import pytest

from ftclf.data import ColumnMap, Example, TokenExample, read_conll
from ftclf.errors import DataError
from ftclf.splits import sample, split_train_validation
from ftclf.tasks import get_task, read_examples


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def test_tsv_is_read_without_quoting(tmp_path):
    path = write(tmp_path, "d.tsv", 'sentence\tlabel\n"quoted" start and a " inside \t1\nplain\t0\n')
    examples = read_examples(path, "sequence")
    assert examples[0] == Example('"quoted" start and a " inside', None, "1")
    assert examples[1].label == "0"


def test_csv_uses_standard_quoting_and_column_mapping(tmp_path):
    path = write(tmp_path, "d.csv", 'review,stars,premise\n"good, really",5,x\nbad,1,y\n')
    examples = read_examples(path, "sequence", columns=ColumnMap(text="review", label="stars"))
    assert [(e.text, e.label) for e in examples] == [("good, really", "5"), ("bad", "1")]


def test_jsonl_pairs_and_int_labels(tmp_path):
    path = write(tmp_path, "d.jsonl", '{"sentence1": "a", "sentence2": "b", "label": 1}\n\n{"sentence1": "c", "sentence2": "d", "label": 0}\n')
    assert read_examples(path, "pair") == [Example("a", "b", "1"), Example("c", "d", "0")]


def test_jsonl_token_examples(tmp_path):
    path = write(tmp_path, "d.jsonl", '{"tokens": ["John", "runs"], "ner_tags": ["I-PER", "O"]}\n')
    assert read_examples(path, "token") == [TokenExample(("John", "runs"), ("B-PER", "O"))]


def test_conll_iob1_is_converted_to_iob2(tmp_path):
    text = "-DOCSTART- -X- O O\n\nEU NNP B-NP I-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP I-MISC\n\nPeter NNP I-PER\nBlackburn NNP I-PER\nB I-PER\nC B-PER\n"
    sentences = read_conll(write(tmp_path, "d.conll", text))
    assert sentences[0] == TokenExample(("EU", "rejects", "German"), ("B-ORG", "O", "B-MISC"))
    assert sentences[1].tags == ("B-PER", "I-PER", "I-PER", "B-PER")


def test_malformed_conll_line_reports_line_number(tmp_path):
    path = write(tmp_path, "d.conll", "John B-PER\nruns O\nbroken\n")
    with pytest.raises(DataError, match=r"line 3 of d.conll, found 'broken'"):
        read_conll(path)
    path = write(tmp_path, "e.conll", "John B-PER\nruns PERSON\n")
    with pytest.raises(DataError, match=r"expected an IOB tag .* line 2 of e.conll, found 'PERSON'"):
        read_conll(path)


def test_non_utf8_file_is_refused_with_line_number(tmp_path):
    path = write(tmp_path, "d.tsv", b"sentence\tlabel\ncaf\xe9\t1\n")
    with pytest.raises(DataError, match=r"expected UTF-8 text, found an invalid byte 0xe9 on line 2 of d.tsv"):
        read_examples(path, "sequence")


def test_missing_label_column_names_the_columns(tmp_path):
    path = write(tmp_path, "d.tsv", "sentence\tscore\nfine\t1\n")
    with pytest.raises(DataError, match=r"expected a label column .* found columns \['sentence', 'score'\]"):
        read_examples(path, "sequence")


def test_wrong_field_count_and_empty_text(tmp_path):
    with pytest.raises(DataError, match=r"expected 2 TSV fields .* on line 3 of d.tsv, found 3"):
        read_examples(write(tmp_path, "d.tsv", "sentence\tlabel\nok\t1\na\tb\t1\n"), "sequence")
    with pytest.raises(DataError, match=r"expected text in column 'sentence' on line 2"):
        read_examples(write(tmp_path, "e.tsv", "sentence\tlabel\n  \t1\n"), "sequence")


def test_format_mismatch_messages(tmp_path):
    with pytest.raises(DataError, match="expected a CoNLL"):
        read_examples(write(tmp_path, "d.tsv", "sentence\tlabel\na\t1\n"), "token")
    with pytest.raises(DataError, match="expected a CSV, TSV or JSONL file for a sequence task, got a CoNLL file; .*task 'token' reads CoNLL"):
        read_examples(write(tmp_path, "d.conll", "a O\n"), "sequence")
    with pytest.raises(DataError, match="found nothing at"):
        read_examples(tmp_path / "missing.tsv", "sequence")


def test_stratified_seeded_split():
    examples = [Example(f"t{i}", None, "a" if i < 80 else "b") for i in range(100)]
    stratum = get_task("sequence").stratum
    train, val = split_train_validation(examples, 0.2, seed=1, stratum=stratum)
    assert len(val) == 20 and len(train) == 80
    assert sum(e.label == "b" for e in val) == 4  # 20% of each class
    assert split_train_validation(examples, 0.2, seed=1, stratum=stratum) == (train, val)
    assert not set(train) & set(val)


def test_random_split_and_sample_are_seeded():
    examples = [TokenExample((f"w{i}",), ("O",)) for i in range(50)]
    train, val = split_train_validation(examples, 0.1, seed=3)
    assert len(val) == 5 and train + val != examples and sorted(train + val, key=examples.index) == examples
    assert sample(examples, 10, 0) == sample(examples, 10, 0) and len(sample(examples, 10, 0)) == 10
    assert sample(examples, None, 0) is examples
    with pytest.raises(DataError, match="expected at least 4 examples to carve a validation split, found 3"):
        split_train_validation(examples[:3], 0.1, seed=0)


def test_label_list_orders():
    assert get_task("sequence").label_list([Example("a", None, "10"), Example("b", None, "2")]) == ["2", "10"]
    tags = [TokenExample(("a", "b", "c"), ("B-PER", "O", "B-LOC")), TokenExample(("d",), ("I-LOC",))]
    assert get_task("token").label_list(tags) == ["O", "B-LOC", "I-LOC", "B-PER"]
    assert get_task("token").label_list([TokenExample(("a",), ("B-PER",))]) == ["O", "B-PER"]  # O always has an id


def test_examples_relabel_and_texts():
    assert Example("a", None, "0").relabel({"0": "neg"}) == Example("a", None, "neg")
    assert TokenExample(("a",), ("B-X",)).relabel({"B-X": "B-Y"}).tags == ("B-Y",)
    assert Example("a", "b").texts() == ("a", "b") and TokenExample(("a", "b")).texts() == ("a", "b")


def test_shared_files_parse_to_their_documented_sizes(shared_data):
    assert len(read_examples(shared_data / "sst2" / "train.tsv", "sequence")) == 67349
    sick = read_examples(shared_data / "sick" / "trial.tsv", "pair")
    assert len(sick) == 495 and get_task("pair").label_list(sick) == ["contradiction", "entailment", "neutral"]
    dev = read_examples(shared_data / "conll2003" / "dev.txt", "token")
    assert len(dev) == 3250 and sum(len(s.words) for s in dev) == 51362
    assert sum(t.startswith("B-") for s in dev for t in s.tags) == 5942


def test_peek_columns_reads_only_the_header(tmp_path):
    from ftclf.data import peek_columns

    assert peek_columns(write(tmp_path, "d.tsv", '\nsentence1\tsentence2\tlabel\n"a\tb\t1\n')) == ["sentence1", "sentence2", "label"]
    assert peek_columns(write(tmp_path, "d.jsonl", '{"text": "x", "label": 1}\n')) == ["text", "label"]
    assert peek_columns(write(tmp_path, "d.conll", "a O\n")) == []


def test_unreachable_hub_dataset_is_a_clear_error_at_once(monkeypatch):
    import time

    import ftclf.hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setattr(ftclf.hub, "reachable", lambda timeout=3.0: False)
    t0 = time.perf_counter()
    with pytest.raises(DataError, match=r"expected a loadable hub dataset 'nobody/nothing' .*cannot be reached.* or use a local file"):
        read_examples("hf:nobody/nothing::train", "sequence")
    assert time.perf_counter() - t0 < 10
