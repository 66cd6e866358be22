"""The training data the shipped heads' behaviour recipes add (benchmarks/counterfactual.py, augment.py,
sst2_sentences.py): counterfactual pairs change exactly what they say they change, typos keep the words'
first letters, and SST's negated negatives are read from its own phrase labels."""

import random
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import augment  # noqa: E402
import counterfactual as cf  # noqa: E402
import sst2_sentences  # noqa: E402


@pytest.mark.parametrize("a,b", [
    ("Sales rose 2.1 percent in 2003.", "In 2003 sales rose 2.1 percent."),
    ("The firm cut 1,200 jobs.", "1,200 jobs were cut by the firm."),
])
def test_a_changed_number_changes_one_shared_number_in_its_written_form(a, b):
    for seed in range(20):
        edited = cf.changed_number(a, b, random.Random(seed))
        before, after = cf.NUMBER.findall(b), cf.NUMBER.findall(edited)
        changed = [(x, y) for x, y in zip(before, after) if x != y]
        assert len(before) == len(after) and len(changed) == 1, (b, edited)
        old, new = changed[0]
        assert ("." in old) == ("." in new)  # decimals kept; thousands keep their commas
        assert "," not in old or "," in new or float(new) < 1000
        if re.fullmatch(r"(19|20)\d\d", old):  # a year moves by 1-9 years
            assert 1 <= abs(int(new) - int(old)) <= 9
    assert cf.changed_number("No numbers here.", "None here.", random.Random(0)) is None


def test_a_changed_name_is_another_name_of_the_corpus_everywhere_in_the_second_sentence():
    names = cf.names_of(["He met Smith and Jones in Paris .", "Then Smith saw Jones again .", "Paris and Rome ."] * 2)
    assert names == ["Jones", "Paris", "Rome", "Smith"]  # capitalised mid-sentence, twice or more; "Then" is no name
    a, b = "Smith said Jones would resign .", "Jones will resign , Smith said ; Jones confirmed ."
    for seed in range(10):  # "Jones" opens the second sentence, so only "Smith" may change
        edited = cf.changed_name(a, b, random.Random(seed), names)
        new = edited.split()[4]
        assert edited == b.replace("Smith", new) and new in names and new not in a


def test_negation_goes_in_after_the_first_auxiliary_or_comes_out():
    assert cf.negated("The plant was closed in May.") == "The plant was not closed in May."
    assert cf.negated("He didn't go.") == "He did go."
    assert cf.negated("It is not true.") == "It is true."
    assert cf.negated("They shut down the plant.") is None  # "down" holds no auxiliary


def test_counterfactual_pairs_come_from_paraphrases_only_and_are_labelled_not_paraphrase():
    pairs = [("The firm was sold for 5 million .", "For 5 million , the firm was sold .", "1"),
             ("Smith was hired by Acme .", "Acme hired Smith .", "0")] * 30
    out = cf.counterfactual_pairs(pairs, "1", "0", share=1.0, seed=3)
    assert out and all(label == "0" for *_, label in out)
    assert {a for a, _, _ in out} == {"The firm was sold for 5 million ."}
    assert all(b != "For 5 million , the firm was sold ." for _, b, _ in out)
    assert out == cf.counterfactual_pairs(pairs, "1", "0", share=1.0, seed=3)  # seeded


def test_minimal_pairs_differ_by_one_edit_and_each_side_is_also_paired_with_itself():
    sentences = ["The firm was sold for 5 million in Paris .", "Acme said Smith would resign .",
                 "Smith met the Acme board in Paris ."] * 10
    out = cf.minimal_pairs(sentences, "1", "0", share=1.0, seed=2)
    negatives = [(a, b) for a, b, label in out if label == "0"]
    assert negatives and len(out) == 3 * len(negatives)
    for a, b in negatives:
        original, edited = (a, b) if a in sentences else (b, a)
        assert original in sentences and edited not in sentences
        words = [(x, y) for x, y in zip(original.split(), edited.split()) if x != y]
        assert len(words) <= 1 or {w for pair in words for w in pair} & {"not"}  # one word changed, or "not" in/out
        assert (original, original, "1") in out and (edited, edited, "1") in out
    assert out == cf.minimal_pairs(sentences, "1", "0", share=1.0, seed=2)  # seeded


def test_negated_predicates_flip_sst_short_predicates_both_ways():
    rows = [("boring", "0"), ("is boring", "0"), ("top-notch", "1"), ("is top-notch", "1"), ("feels contrived", "0"),
            ("contrived", "0"), ("is a film", "1"), ("is n't boring", "1")]
    assert sorted(sst2_sentences.negated_predicates(rows)) == [
        ("is n't top-notch", "0"), ("is not boring", "1"), ("is not top-notch", "0"), ("never feels contrived", "1")]


def test_typo_variants_keep_first_letters_and_change_one_or_two_words():
    sentences = ["the staff were friendly and the room was spotless .", "a moving and thoughtful film", "ok ."]
    out = augment.typo_variants(sentences, seed=1)
    assert len(out) == 2  # a sentence without a word of four letters is skipped
    for before, after in zip(sentences, out):
        changed = [(x, y) for x, y in zip(before.split(), after.split()) if x != y]
        assert len(before.split()) == len(after.split()) and 1 <= len(changed) <= 2
        assert all(x[0] == y[0] and len(x) >= 4 for x, y in changed)
    assert out == augment.typo_variants(sentences, seed=1)


def test_negated_negatives_are_positive_phrases_negating_a_negative_phrase():
    rows = [("boring", "0"), ("never boring", "1"), ("not good", "0"), ("good", "1"), ("is n't smug at all", "1"),
            ("smug", "0"), ("no fun", "0"), ("fun", "1"), ("never misses", "1")]
    assert sst2_sentences.negated_negatives(rows) == [("never boring", "1"), ("is n't smug at all", "1")]
