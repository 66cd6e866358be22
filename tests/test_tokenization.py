import pytest

from ftclf.tasks import Example
from ftclf.tokenization import collate, encode_examples, encode_words, token_labels


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from ftclf.encoders import embedded_encoder_path

    return AutoTokenizer.from_pretrained(str(embedded_encoder_path()))


def test_first_subtoken_alignment_by_hand(tokenizer):
    words = ["Huggingface", "rocks", "in", "Paris"]
    rows, infos = encode_words(tokenizer, [words], 32, [["B-ORG", "O", "O", "B-LOC"]], {"O": 0, "B-ORG": 1, "B-LOC": 2})
    row = rows[0]
    pieces = tokenizer.convert_ids_to_tokens(row["input_ids"])
    assert pieces == ["[CLS]", "hugging", "##face", "rocks", "in", "paris", "[SEP]"]
    assert row["word_index"] == [1, 3, 4, 5]  # "##face" (position 2) is never labelled
    assert row["labels"] == [1, 0, 0, 2]
    assert row["word_shape"][0] != row["word_shape"][1]  # Capitalised vs lower
    assert infos[0].n_words == 4 and not infos[0].truncated
    # The same alignment seen the transformers way: -100 on specials and continuation pieces.
    word_ids = [None, 0, 0, 1, 2, 3, None]
    assert token_labels(word_ids, [1, 0, 0, 2]) == [-100, 1, -100, 0, 0, 2, -100]


def test_long_sentences_are_windowed_so_every_word_is_tagged(tokenizer):
    words = [f"word{i}" for i in range(40)]  # each "wordN" is 2-3 pieces
    rows, infos = encode_words(tokenizer, [words], 16)
    assert len(rows) > 1 and all(len(r["input_ids"]) <= 16 for r in rows)
    assert sum(len(r["word_index"]) for r in rows) == 40
    assert [i.word_offset for i in infos] == sorted(i.word_offset for i in infos)
    assert all(i.truncated for i in infos)


def test_word_dropped_by_tokenizer_still_gets_a_position(tokenizer):
    rows, _ = encode_words(tokenizer, [["a", "\u200b", "b"]], 16)
    assert len(rows[0]["word_index"]) == 3
    assert rows[0]["input_ids"][rows[0]["word_index"][1]] == tokenizer.unk_token_id


def test_truncation_flag_and_pair_modes(tokenizer):
    long_text = " ".join(["word"] * 50)
    rows, infos = encode_examples(tokenizer, [Example("short"), Example(long_text)], "sequence", "cross", 16)
    assert [i.truncated for i in infos] == [False, True]
    assert len(rows[1]["input_ids"]) == 16
    rows, infos = encode_examples(tokenizer, [Example("a b", "c")], "pair", "cross", 16)
    assert tokenizer.convert_ids_to_tokens(rows[0]["input_ids"]) == ["[CLS]", "a", "b", "[SEP]", "c", "[SEP]"]
    assert rows[0]["token_type_ids"] == [0, 0, 0, 0, 1, 1]
    rows, _ = encode_examples(tokenizer, [Example("a b", "c")], "pair", "concat", 16)
    assert len(rows[0]["input_ids"]) == 4 and len(rows[0]["input_ids_b"]) == 3


def test_collate_pads_each_kind_of_field():
    batch = collate([
        {"input_ids": [5, 6, 7], "attention_mask": [1, 1, 1], "word_index": [1, 2], "labels": [3, 4]},
        {"input_ids": [5], "attention_mask": [1], "word_index": [1], "labels": [2]},
    ], pad_token_id=0)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [5, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[3, 4], [2, -100]]
    assert batch["word_index"].tolist() == [[1, 2], [1, 0]]
