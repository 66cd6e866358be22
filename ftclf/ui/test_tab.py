"""The Test tab: run a behaviour suite (CheckList-style, ``ftclf.behaviour``) against a head, or two heads
side by side; see pass rates per capability and per test, the failing cases, and why the head failed one
(its word attributions)."""

from __future__ import annotations

import gradio as gr

from ..behaviour import built_in_suites, parse_suite, run_suite
from ..behaviour.suite import read_document
from ..errors import InputError
from .context import md, store, ui_errors
from .why import input_segments

#: the failing cases the table lists per head (each test keeps up to 50)
MAX_SHOWN_FAILURES = 500
#: the head each built-in suite is written for
SUITE_HEADS = {"sentiment": "sentiment-sst2", "paraphrase": "paraphrase-mrpc", "nli": "nli-sick", "ner": "ner-conll2003"}
FAILURE_HEADERS = ["test", "text", "second text", "perturbed", "expected", "predicted"]
#: the "Compare with" choice that compares with nothing
NO_OTHER = "(none)"


def suite_text(name: str | None) -> str:
    """The YAML of a built-in suite (empty for none)."""
    path = built_in_suites().get(name or "")
    return path.read_text(encoding="utf-8") if path else ""


def on_suite_pick(name: str | None):
    """-> (the suite's YAML in the editor, the head it is written for when there is one)."""
    head = SUITE_HEADS.get(name or "")
    return suite_text(name), (gr.Dropdown(value=head) if head and head in store().names() else gr.skip())


def _rate(value: float) -> str:
    return f"{value:.1%}"


@ui_errors
def run_tests(head: str | None, other: str | None, document: str):
    """-> (summary, capabilities table, tests table, failing cases table, the failures kept for "why")."""
    if not head:
        raise InputError("expected a head to test, got none; pick one")
    if not (document or "").strip():
        raise InputError("expected a suite, found an empty editor; pick a built-in suite or write one")
    # untrusted text: read as a document only (never a file name or a built-in's name), safe loader, bounded
    suite = parse_suite(read_document(document))
    heads = [head] + ([other] if other and other not in (head, NO_OTHER) else [])
    reports = [run_suite(store().get(name), suite, head=name) for name in heads]
    first = reports[0]
    summary = (f"**{md(suite.name)}**: {first.cases:,} cases in {len(suite.tests)} tests · "
               + " · ".join(f"**{md(r.head)}** passes {_rate(r.pass_rate)} ({r.seconds:.1f} s)" for r in reports))
    caps = [report.capabilities() for report in reports]
    cap_rows = [[c["capability"], c["tests"], c["cases"], *(_rate(cs[i]["pass_rate"]) for cs in caps)]
                for i, c in enumerate(caps[0])]
    test_rows = [[t.name, t.capability, t.kind, t.cases, *(_rate(r.tests[i].pass_rate) for r in reports)]
                 for i, t in enumerate(first.tests)]
    failures = [(t.name, f) for t in first.tests for f in t.failures][:MAX_SHOWN_FAILURES]
    pairs, perturbed = any(f.text_pair for _, f in failures), any(f.variant for _, f in failures)
    columns = [True, True, pairs, perturbed, True, True]  # the second text and the perturbed input where there are any
    fail_rows = [[v for v, keep in zip([name, f.text, f.text_pair or "", f.variant or "", f.expected, f.predicted],
                                       columns) if keep] for name, f in failures]
    rates = [f"pass rate: {r.head}" for r in reports]  # table headers are plain text
    return (summary,
            gr.Dataframe(value=cap_rows, headers=["capability", "tests", "cases", *rates]),
            gr.Dataframe(value=test_rows, headers=["test", "capability", "type", "cases", *rates]),
            gr.Dataframe(value=fail_rows, headers=[h for h, keep in zip(FAILURE_HEADERS, columns) if keep],
                         label=f"Failing cases of {first.head} (select one to see why)"),
            [[f.text, f.text_pair, f.variant, f.variant_pair] for _, f in failures])


@ui_errors
def explain_failure(head: str | None, kept: list, evt: gr.SelectData):
    """Why the head answered a failing case as it did: the word attributions of the input it got wrong (the
    perturbed one for an invariance or directional test)."""
    if not head or not kept or evt is None or evt.index is None:
        return []
    row = evt.index[0] if isinstance(evt.index, list | tuple) else evt.index
    if not 0 <= row < len(kept):
        return []
    text, pair, variant, variant_pair = kept[row]
    if variant:
        text, pair = variant, variant_pair
    return input_segments(store().get(head), text, pair)


def build_test_tab() -> dict:
    names = store().names()
    with gr.Tab("Test", id="test"):
        gr.Markdown("Behaviour tests (CheckList-style): templates expanded into cases a head must get right (**mft**), "
                    "must not change its answer for (**inv**: typos, names, punctuation…) or must move the stated way "
                    "(**dir**). Pick a built-in suite or edit the YAML; the format is in the docs' *Behaviour tests* "
                    "page.")
        with gr.Row():
            with gr.Column(scale=1):
                pick = gr.Dropdown(list(built_in_suites()), value="sentiment", label="Built-in suite",
                                   elem_id="test-suite")
                head = gr.Dropdown(names, value="sentiment-sst2" if "sentiment-sst2" in names else None, label="Head",
                                   elem_id="test-head", allow_custom_value=True)
                other = gr.Dropdown([NO_OTHER, *names], value=NO_OTHER, label="Compare with (optional)",
                                    elem_id="test-other", allow_custom_value=True)
                run = gr.Button("Run the suite", variant="primary", elem_id="test-run")
            with gr.Column(scale=2):
                code = gr.Code(suite_text("sentiment"), language="yaml", label="Suite (YAML; edit freely)", lines=16,
                               max_lines=30, elem_id="test-code")
        summary = gr.Markdown(elem_id="test-summary")
        capabilities = gr.Dataframe(headers=["capability", "tests", "cases", "pass rate"], interactive=False,
                                    label="Capabilities", elem_id="test-capabilities")
        tests = gr.Dataframe(headers=["test", "capability", "type", "cases", "pass rate"], interactive=False,
                             label="Tests", elem_id="test-tests")
        failures = gr.Dataframe(headers=FAILURE_HEADERS, interactive=False, wrap=True, label="Failing cases",
                                elem_id="test-failures")
        why = gr.HighlightedText(label="Why: how far leaving each word out lowers the probability of the head's answer "
                                       "(red) or raises it (blue)", elem_id="test-why", show_legend=False,
                                 combine_adjacent=False)
        kept = gr.State([])
        pick.change(on_suite_pick, [pick], [code, head], queue=False)
        run.click(run_tests, [head, other, code], [summary, capabilities, tests, failures, kept], concurrency_limit=2)
        failures.select(explain_failure, [head, kept], [why], concurrency_limit=2)
    return {"head": head, "other": other}


def picker_updates(names: list[str]) -> list:
    """The head pickers after heads were saved or deleted."""
    return [gr.Dropdown(choices=names), gr.Dropdown(choices=[NO_OTHER, *names])]
