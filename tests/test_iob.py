"""The IOB2 rule and everything derived from it, checked by hand and against brute force."""

import itertools

from ftclf import iob

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def test_the_rule():
    assert iob.allowed(None, "B-PER") and iob.allowed(None, "O") and not iob.allowed(None, "I-PER")
    assert iob.allowed("B-PER", "I-PER") and iob.allowed("I-PER", "I-PER")
    assert not iob.allowed("O", "I-PER") and not iob.allowed("B-LOC", "I-PER") and not iob.allowed("I-LOC", "I-PER")


def test_invalid_transitions():
    assert iob.invalid_transitions(["O", "I-PER", "B-LOC", "I-PER", "I-PER"]) == 2
    assert iob.invalid_transitions(["B-PER", "I-PER", "O"]) == 0
    assert iob.invalid_transitions(["I-PER"]) == 1  # a sentence may not open inside an entity


def test_iob1_to_iob2_and_detection():
    iob1 = ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG"]
    assert iob.to_iob2(iob1) == ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-ORG"]
    assert iob.detect_scheme([iob1]) == "IOB1"
    assert iob.detect_scheme([iob.to_iob2(iob1)]) == "IOB2"


def test_conversion_always_yields_valid_iob2_and_keeps_valid_sequences():
    for tags in itertools.product(TAGS, repeat=4):  # every sequence of 4 tags
        converted = iob.to_iob2(tags)
        assert iob.invalid_transitions(converted) == 0
        if iob.invalid_transitions(tags) == 0:
            assert converted == list(tags)


def test_crf_constraints_follow_the_rule():
    start, trans = iob.crf_constraints(TAGS)
    assert start == [True, True, False, True, False]
    i = {label: k for k, label in enumerate(TAGS)}
    assert not trans[i["O"]][i["I-PER"]] and not trans[i["B-LOC"]][i["I-PER"]]
    assert trans[i["B-PER"]][i["I-PER"]] and trans[i["I-PER"]][i["I-PER"]] and trans[i["I-PER"]][i["B-LOC"]]


def test_spans_by_hand_lenient_on_stray_inside_tags():
    assert iob.spans(["B-PER", "I-PER", "O", "B-LOC"]) == [("PER", 0, 1), ("LOC", 3, 3)]
    assert iob.spans(["I-ORG", "I-ORG", "B-ORG"]) == [("ORG", 0, 1), ("ORG", 2, 2)]  # a stray I- opens an entity
    assert iob.spans(["B-PER", "I-LOC"]) == [("PER", 0, 0), ("LOC", 1, 1)]
    assert iob.spans(["O", "O"]) == []


def test_sort_tags_puts_o_first_then_types():
    assert iob.sort_tags(["I-LOC", "B-PER", "O", "B-LOC"]) == ["O", "B-LOC", "I-LOC", "B-PER"]
