"""Behaviour suites: expansion against counts worked out by hand, perturbations against their definitions,
the runner's verdicts against the head's own predictions made apart, untrusted suites refused with a
message, and the command line."""

from __future__ import annotations

import json
import math
import random

import pytest

from ftclf import ModelConfig, TrainingConfig, fit, predict
from ftclf.behaviour import load_suite, parse_suite, run_suite
from ftclf.behaviour import perturb as P
from ftclf.behaviour.suite import MAX_CASES, built_in_suites
from ftclf.errors import DataError

from .conftest import pair_examples, sentiment_examples, token_examples

SUITE = """
name: tiny
task: sequence
lexicons:
  thing: [food, room, film]
  good: [good, great]
  bad: [bad, awful]
tests:
  - name: good things
    capability: Vocabulary
    template: "The {thing} was {good}."
    expect: pos
  - name: two things
    capability: Vocabulary
    template: "The {thing} and the {thing#2} were {bad}."
    expect: neg
  - name: typos
    capability: Robustness
    type: inv
    template: "The {thing} was {good}."
    perturb: typos
  - name: very
    capability: Intensifiers
    type: dir
    template: "The {thing} was {good}."
    perturb: {template: "The {thing} was very {good}."}
    expect: {label: pos, direction: up, tolerance: 0.01}
"""


def test_templates_expand_to_every_combination_and_slot_copies_never_repeat():
    suite = parse_suite(__import__("yaml").safe_load(SUITE))
    assert [len(t.cases) for t in suite.tests] == [3 * 2, 3 * 2 * 2, 6, 6] and suite.cases == 30
    assert {c.text for c in suite.tests[0].cases} == {f"The {t} was {g}." for t in ("food", "room", "film")
                                                      for g in ("good", "great")}
    pairs = [c.text.split(" were ")[0] for c in suite.tests[1].cases]
    assert len(set(pairs)) == 6 and all(c.text.count("food") < 2 and c.text.count("room") < 2 for c in suite.tests[1].cases)
    assert all(c.variant == (c.text.replace(" was ", " was very "), None) for c in suite.tests[3].cases)
    assert load_suite(SUITE).cases == 30  # YAML text, as a browser sends it


def test_a_large_product_is_sampled_without_repeats_the_same_way_each_time():
    doc = {"task": "sequence", "lexicons": {"a": [f"a{i}" for i in range(1000)], "b": [f"b{i}" for i in range(1000)]},
           "tests": [{"name": "big", "template": "{a} {b} {a#2} {b#2}", "expect": "x", "max_cases": 300}]}
    cases = parse_suite(doc).tests[0].cases
    assert len(cases) == 300 == len({c.text for c in cases})  # from 10^12 combinations, none listed in full
    assert [c.text for c in cases] == [c.text for c in parse_suite(doc).tests[0].cases]
    assert all(len(set(c.text.split())) == 4 for c in cases)
    assert [c.text for c in parse_suite(doc, seed=1).tests[0].cases] != [c.text for c in cases]
    small = {**doc, "lexicons": {"a": ["x", "y", "z"], "b": ["u", "v"]}}
    assert len(parse_suite(small).tests[0].cases) == math.perm(3, 2) * math.perm(2, 2)


def test_perturbations_do_what_they_say():
    rng = random.Random(0)
    typo = P.typos("The service was excellent.", rng)
    assert typo != "The service was excellent." and sorted(typo) == sorted("The service was excellent.")
    assert P.punctuation("Fine!", rng) == "Fine" and P.punctuation("Fine", rng) == "Fine."
    assert P.lowercase("Anna in Paris", rng) == "anna in paris"
    assert P.neutral_clause("Good", rng).startswith("Good. ") and P.neutral_clause("Good.", rng).split(". ", 1)[1] in P.NEUTRAL_CLAUSES
    changed = [P.numbers("He paid 7 dollars for 25 apples", random.Random(s)) for s in range(30)]
    assert all(c.split()[2] != "7" and c.split()[5] != "25" and len(c.split()[5]) == 2 for c in changed)


def test_the_runner_judges_each_case_by_the_heads_own_predictions(tiny_encoder_dir):
    clf, _ = fit(ModelConfig(task="sequence", encoder=tiny_encoder_dir, max_length=32),
                 TrainingConfig(mode="frozen", epochs=3, seed=0), sentiment_examples(60))
    suite = load_suite(SUITE)
    report = run_suite(clf, suite, head="tiny")
    for test, result in zip(suite.tests, report.tests):
        got = predict(clf, [c.text for c in test.cases])
        if test.kind == "mft":
            expected = sum(p.label == test.expect for p in got)
        elif test.kind == "inv":
            expected = sum(p.label == q.label for p, q in zip(got, predict(clf, [c.variant[0] for c in test.cases])))
        else:
            after = predict(clf, [c.variant[0] for c in test.cases])
            expected = sum(q.probabilities["pos"] >= p.probabilities["pos"] - 0.01 for p, q in zip(got, after))
        assert result.passed == expected and result.cases == len(test.cases)
        assert len(result.failures) == result.cases - result.passed
    caps = {c["capability"]: c for c in report.capabilities()}
    assert caps["Vocabulary"]["cases"] == 18 and report.to_dict()["cases"] == 30
    with pytest.raises(DataError, match="expects nice, which the head does not predict"):
        run_suite(clf, SUITE.replace("expect: pos", "expect: nice"))
    with pytest.raises(DataError, match="expected a sequence suite"):
        run_suite(clf, "nli")


def test_token_and_pair_suites_read_entities_and_second_texts(tiny_encoder_dir):
    tagger, _ = fit(ModelConfig(task="token", encoder=tiny_encoder_dir, max_length=32),
                    TrainingConfig(mode="frozen", epochs=3, seed=0), token_examples(40))
    doc = {"task": "token", "lexicons": {"who": ["Anna", "Maria"]}, "tests": [
        {"name": "who", "template": "{who} lives in {city}", "expect": {"PER": "{who}"}, "max_cases": 8},
        {"name": "swap", "type": "inv", "template": "{who} lives in {city}", "perturb": {"swap": "who"}, "max_cases": 8}]}
    suite = parse_suite(doc)
    assert suite.tests[0].cases[0].entities == (("PER", suite.tests[0].cases[0].text.split()[0]),)
    report = run_suite(tagger, suite)
    found = predict(tagger, [c.text for c in suite.tests[0].cases])
    assert report.tests[0].passed == sum(set(c.entities) <= {(e.label, e.text) for e in p.entities}
                                         for c, p in zip(suite.tests[0].cases, found))
    judge, _ = fit(ModelConfig(task="pair", encoder=tiny_encoder_dir, max_length=32),
                   TrainingConfig(mode="frozen", epochs=3, seed=0), pair_examples(60))
    pairs = parse_suite({"task": "pair", "lexicons": {"n": ["one", "two", "three"]}, "tests": [
        {"name": "n", "template": ["I saw {n} cats", "I saw {n#2} cats"], "expect": judge.labels[0]}]})
    got = predict(judge, [c.text for c in pairs.tests[0].cases], [c.text_pair for c in pairs.tests[0].cases])
    assert run_suite(judge, pairs).tests[0].passed == sum(p.label == judge.labels[0] for p in got)


@pytest.mark.parametrize("document,message", [
    ("!!python/object/apply:os.system ['echo pwned']", "syntax error|could not determine a constructor|expected a suite"),
    ("name: [unclosed", "syntax error at line 1"),
    ("task: audio\ntests: [{}]", "expected the suite's task among"),
    ("tests: []", "expected a list of tests"),
    ("tests: [{template: 'x {nope}', expect: a}]", r"expected a lexicon for the slot \{nope\}"),
    ("tests: [{template: 'x', examples: [y], expect: a}]", "either template: or examples:, found both"),
    ("tests: [{type: inv, template: 'x'}]", "expected perturb: in an inv test"),
    ("tests: [{type: dir, template: 'x', perturb: typos, expect: a}]", "direction: up or down"),
    ("tests: [{type: inv, template: 'x', perturb: shout}]", "expected a perturbation among"),
    ("tests: [{template: '{a#2}', expect: x}]\nlexicons: {a: [one]}", "needs 2 different values"),
    ("tests: [{type: inv, template: 'x {city}', perturb: {swap: first_name}}]", r"expected the slot \{first_name\} in the template"),
    ("tests: [{type: inv, examples: [a], perturb: {swap: city}}]", "expected a template: for a perturbation by swap"),
    ("task: pair\ntests: [{template: 'just one', expect: x}]", "two strings"),
    ("task: token\ntests: [{type: dir, template: 'x', perturb: typos, expect: {label: PER, direction: up}}]", "mft or inv tests for a token task"),
    ("tests: [{template: '{a} {b} {c}', expect: x, max_cases: 5000}, {template: '{a} {b} {c}', expect: x, max_cases: 5000}]\n"
     "lexicons: {a: [" + ",".join(f"a{i}" for i in range(40)) + "], b: [" + ",".join(f"b{i}" for i in range(40)) + "], c: [c1, c2, c3, c4]}",
     f"at most {MAX_CASES:,} cases in a suite, found 10,000 by test 2"),
])
def test_untrusted_suites_are_refused_with_what_to_do(document, message):
    with pytest.raises(DataError, match=message):
        load_suite(document)


def test_a_huge_document_is_refused_before_it_is_parsed():
    with pytest.raises(DataError, match="at most 200,000 characters"):
        load_suite("tests:\n" + "  - {template: x, expect: y}\n" * 10_000)


def test_every_built_in_suite_parses_within_the_bounds():
    suites = built_in_suites()
    assert set(suites) == {"sentiment", "paraphrase", "nli", "ner"}
    for name in suites:
        suite = load_suite(name)
        assert 0 < suite.cases <= MAX_CASES and len({t.name for t in suite.tests}) == len(suite.tests), name


def test_the_command_line_reports_and_exits_under_min_pass(tiny_encoder_dir, tmp_path, capsys):
    from ftclf.cli import main

    clf, _ = fit(ModelConfig(task="sequence", encoder=tiny_encoder_dir, max_length=32),
                 TrainingConfig(mode="frozen", epochs=3, seed=0), sentiment_examples(60))
    model = clf.save_pretrained(tmp_path / "head")
    (tmp_path / "suite.yaml").write_text(SUITE)
    status = main(["test", "--model", str(model), "--suite", str(tmp_path / "suite.yaml"), "--output",
                   str(tmp_path / "report.json"), "--min-pass", "1.0"])
    out = json.loads(capsys.readouterr().out)
    report = json.loads((tmp_path / "report.json").read_text())
    assert out["cases"] == report["cases"] == 30 and [t["name"] for t in out["tests"]] == [t["name"] for t in report["tests"]]
    assert status == (1 if out["below"] else 0) and out["below"] == [t["name"] for t in report["tests"] if t["pass_rate"] < 1]
    assert main(["test", "--model", str(model), "--suite", str(tmp_path / "suite.yaml"), "--min-pass", "0"]) == 0
    capsys.readouterr()
    assert main(["test", "--model", str(model), "--suite", str(tmp_path / "missing.yaml")]) == 2
    assert "found no file missing.yaml" in capsys.readouterr().err


def test_the_suite_in_the_docs_is_one_users_can_copy():
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "behaviour.md").read_text()
    block = page.split("```yaml\n", 1)[1].split("```", 1)[0]
    suite = load_suite(block)
    assert [t.kind for t in suite.tests] == ["mft", "inv", "dir"] and suite.cases == 4 * 4 * 3
