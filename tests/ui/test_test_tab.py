"""The Test tab's handlers: a suite from the editor runs against a head (and a second head beside it), the
tables agree with the report of ``ftclf.run_suite``, a failing case is explained, and bad input is refused
with a message."""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr
import pytest

from ftclf import ModelConfig, TrainingConfig, fit
from ftclf.behaviour import run_suite
from ftclf.service import HeadStore
from ftclf.ui import context, test_tab

from ..conftest import sentiment_examples

SUITE = """
name: small
task: sequence
lexicons: {thing: [food, room, film, staff], good: [good, great, lovely], bad: [bad, awful, dull]}
tests:
  - {name: good, capability: Vocabulary, template: "The {thing} was {good}.", expect: pos}
  - {name: bad, capability: Vocabulary, template: "The {thing} was {bad}.", expect: neg}
  - {name: not bad, capability: Negation, template: "The {thing} was not {bad} at all.", expect: pos}
  - {name: typos, capability: Robustness, type: inv, template: "The {thing} was {good}.", perturb: typos}
"""


@pytest.fixture(scope="module")
def heads(tmp_path_factory, tiny_encoder_dir):
    tmp = tmp_path_factory.mktemp("test-tab")
    store = HeadStore(tmp / "shipped", tmp / "user")
    (tmp / "shipped").mkdir()
    for name, seed, n in (("small-a", 0, 80), ("small-b", 1, 20)):
        clf, _ = fit(ModelConfig(task="sequence", encoder=tiny_encoder_dir, max_length=32),
                     TrainingConfig(mode="frozen", epochs=3, seed=seed), sentiment_examples(n, seed=seed))
        store.add(clf.save_pretrained(tmp / name), name)
    context.set_store(store)
    yield store
    context.set_store(None)


def test_a_suite_runs_against_two_heads_and_a_failure_is_explained(heads):
    summary, caps, tests, failures, kept = test_tab.run_tests("small-a", "small-b", SUITE)
    a, b = (run_suite(heads.get(name), SUITE) for name in ("small-a", "small-b"))
    assert context.md("small-a") in summary and context.md("small-b") in summary and f"{a.cases} cases" in summary
    assert caps.value["headers"] == ["capability", "tests", "cases", "pass rate: small-a", "pass rate: small-b"]
    assert [r[0] for r in caps.value["data"]] == ["Vocabulary", "Negation", "Robustness"]
    assert [r[-2:] for r in tests.value["data"]] == [[f"{x.pass_rate:.1%}", f"{y.pass_rate:.1%}"]
                                                     for x, y in zip(a.tests, b.tests)]
    assert len(failures.value["data"]) == len(kept) == sum(t.cases - t.passed for t in a.tests)
    if kept:  # why the first failing case was answered as it was: every word of its text scored
        segments = test_tab.explain_failure("small-a", kept, SimpleNamespace(index=[0, 1]))
        text = kept[0][2] or kept[0][0]
        assert "".join(s for s, _ in segments) == text and any(score is not None for _, score in segments)
    one = test_tab.run_tests("small-a", test_tab.NO_OTHER, SUITE)
    assert one[1].value["headers"][-1] == "pass rate: small-a" and len(one[1].value["headers"]) == 4


def test_the_tab_refuses_what_it_cannot_run_with_a_message(heads):
    with pytest.raises(gr.Error, match="expected a head to test"):
        test_tab.run_tests(None, None, SUITE)
    with pytest.raises(gr.Error, match="found an empty editor"):
        test_tab.run_tests("small-a", None, "  ")
    with pytest.raises(gr.Error, match="expected a pair suite|expected a sequence suite"):
        test_tab.run_tests("small-a", None, test_tab.suite_text("nli"))
    with pytest.raises(gr.Error, match="expected a suite .a mapping"):  # a file name is text, never a file read
        test_tab.run_tests("small-a", None, str(test_tab.built_in_suites()["sentiment"]))
    with pytest.raises(gr.Error, match="syntax error"):
        test_tab.run_tests("small-a", None, "tests: [unclosed")
    with pytest.raises(gr.Error, match="expects positive, which the head does not predict"):
        test_tab.run_tests("small-a", None, test_tab.suite_text("sentiment"))


def test_picking_a_built_in_suite_fills_the_editor():
    text, _ = test_tab.on_suite_pick("ner")
    assert "task: token" in text and test_tab.on_suite_pick(None)[0] == ""
