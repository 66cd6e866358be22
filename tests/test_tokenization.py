import pytest

from ftclf.tokenization import (
    WORD_SHAPES,
    Item,
    collate,
    collate_labels,
    encode_texts,
    encode_words,
    split_words,
    word_shape,
)


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from ftclf.encoders import embedded_encoder_path

    return AutoTokenizer.from_pretrained(str(embedded_encoder_path()))


def test_first_subtoken_alignment_by_hand(tokenizer):
    words = ["Huggingface", "rocks", "in", "Paris"]
    [item] = encode_words(tokenizer, [words], 32)
    pieces = tokenizer.convert_ids_to_tokens(item.input_ids)
    assert pieces == ["[CLS]", "hugging", "##face", "rocks", "in", "paris", "[SEP]"]
    assert item.word_index == [1, 3, 4, 5]  # "##face" (position 2) is never labelled
    assert item.word_shape[0] != item.word_shape[1]  # Capitalised vs lower
    assert len(item.word_index) == 4 and not item.truncated and item.token_type_ids == [0] * 7


def test_long_sentences_are_windowed_so_every_word_is_tagged(tokenizer):
    words = [f"word{i}" for i in range(40)]  # each "wordN" is 2-3 pieces
    items = encode_words(tokenizer, [words], 16)
    assert len(items) > 1 and all(len(i.input_ids) <= 16 for i in items)
    assert sum(len(i.word_index) for i in items) == 40
    offsets = [i.word_offset for i in items]
    assert offsets[0] == 0 and all(b == a + len(i.word_index) for a, b, i in zip(offsets, offsets[1:], items))
    assert all(i.truncated and i.source == 0 for i in items)


def test_word_dropped_by_tokenizer_still_gets_a_position(tokenizer):
    [item] = encode_words(tokenizer, [["a", "\u200b", "b"]], 16)
    assert len(item.word_index) == 3
    assert item.input_ids[item.word_index[1]] == tokenizer.unk_token_id


def test_truncation_flag_and_pair_modes(tokenizer):
    long_text = " ".join(["word"] * 50)
    items = encode_texts(tokenizer, ["short", long_text], None, 16)
    assert [i.truncated for i in items] == [False, True] and [i.source for i in items] == [0, 1]
    assert len(items[1].input_ids) == 16
    [item] = encode_texts(tokenizer, ["a b"], ["c"], 16)
    assert tokenizer.convert_ids_to_tokens(item.input_ids) == ["[CLS]", "a", "b", "[SEP]", "c", "[SEP]"]
    assert item.token_type_ids == [0, 0, 0, 0, 1, 1] and item.second is None
    [item] = encode_texts(tokenizer, ["a b"], [long_text], 16, apart=True)
    assert len(item.input_ids) == 4 and len(item.second.input_ids) == 16
    assert item.truncated and item.length == 20  # the second text was cut: the pair is flagged


def test_collate_pads_each_kind_of_field():
    items = [Item([5, 6, 7], [0, 0, 0], word_index=[1, 2], word_shape=[1, 2], label=[3, 4]),
             Item([5], [0], word_index=[1], word_shape=[3], label=[2])]
    batch = collate(items, pad_token_id=9)
    assert batch.input_ids.tolist() == [[5, 6, 7], [5, 9, 9]]
    assert batch.attention_mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch.word_index.tolist() == [[1, 2], [1, 0]] and batch.word_mask.tolist() == [[True, True], [True, False]]
    assert batch.word_shape.tolist() == [[1, 2], [3, 0]] and batch.second is None
    assert collate_labels(items).tolist() == [[3, 4], [2, -100]]
    assert collate_labels([Item([1], label=0), Item([1, 2], label=1)]).tolist() == [0, 1]
    pair = collate([Item([1, 2], second=Item([3])), Item([4], second=Item([5, 6]))])
    assert pair.second.input_ids.tolist() == [[3, 0], [5, 6]] and pair.token_type_ids is None


def test_split_words_offsets():
    text = "Tim Cook's team visited the U.S. (again)."
    words = split_words(text)
    assert [w for w, _, _ in words] == ["Tim", "Cook", "'s", "team", "visited", "the", "U.S.", "(", "again", ")", "."]
    assert all(text[s:e] == w for w, s, e in words)


@pytest.mark.parametrize(
    "word,shape",
    [("apple", "lower"), ("Apple", "Capitalised"), ("IBM", "UPPER"), ("I", "Capitalised"), ("iPhone", "mIxed"),
     ("1996", "digits"), ("F16", "alnum-digit"), (",", "punct"), ("U.S.", "UPPER")],
)
def test_word_shape(word, shape):
    assert WORD_SHAPES[word_shape(word)] == shape


def test_case_markers_show_an_uncased_encoder_where_capitals_were(tokenizer):
    """A marker before the first piece of every Capitalised word, another before every ALL-CAPITALS one; never
    inside a word, never for lowercase text; the same items as plain encoding once the markers are dropped."""
    from ftclf.tokenization import case_marker_ids

    cap, upper = case_marker_ids(tokenizer)
    text = "EU rejects German call, says McDonald of iPhone."
    [marked] = encode_texts(tokenizer, [text], None, 64, case_markers=True)
    [plain] = encode_texts(tokenizer, [text], None, 64)
    pieces = tokenizer.convert_ids_to_tokens(marked.input_ids)
    assert pieces[:6] == ["[CLS]", "‡", "eu", "rejects", "†", "german"]
    assert pieces.count("†") == 2 and pieces.count("‡") == 1  # German, McDonald; EU ("iPhone": its P is mid-word)
    assert [i for i in marked.input_ids if i not in (cap, upper)] == plain.input_ids
    [lower] = encode_texts(tokenizer, ["no capitals here"], None, 64, case_markers=True)
    assert lower.input_ids == encode_texts(tokenizer, ["no capitals here"], None, 64)[0].input_ids


@pytest.mark.parametrize("pair", [None, "In PARIS, Anna met Bob"])
@pytest.mark.parametrize("max_length", [8, 64])
def test_case_marked_offsets_line_up_with_the_encoded_positions(tokenizer, pair, max_length):
    """token_offsets gives every position of a marked item its characters (a marker: none), so attributions
    map tokens back to words; truncation keeps [SEP] and cuts the longer text first."""
    from ftclf.tokenization import case_marker_ids, token_offsets

    text = "Peter Smith visited the United Nations"
    [item] = encode_texts(tokenizer, [text], None if pair is None else [pair], max_length, case_markers=True)
    assert len(item.input_ids) <= max_length and item.truncated == (max_length == 8)
    assert item.input_ids[-1] == tokenizer.sep_token_id
    offsets, sequence = token_offsets(tokenizer, text, pair, len(item.input_ids), case_markers=True)
    assert len(offsets) == len(sequence) == len(item.input_ids)
    markers = set(case_marker_ids(tokenizer))
    for tok, (s, e), seq in zip(item.input_ids, offsets, sequence):
        if tok in markers or seq is None:
            assert e == s
        else:
            source = text if seq == 0 else pair
            assert tokenizer.convert_ids_to_tokens(tok).lstrip("#") == source[s:e].lower()
    if pair is not None:
        assert item.token_type_ids == [0 if s == 0 or (s is None and i <= sequence.index(1)) else 1
                                       for i, s in enumerate(sequence)]
