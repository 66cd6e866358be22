"""The task tabs' names and the heads they open on (shipped heads, a temporary user dir)."""

import gradio as gr
import pytest

from ftclf.service import HeadStore, shipped_heads_dir
from ftclf.ui import context, predict_tabs


@pytest.fixture
def ui_store(tmp_path):
    store = HeadStore(shipped_heads_dir(), tmp_path / "user-heads")
    context.set_store(store)
    yield store
    context.set_store(None)


def test_each_tab_opens_on_the_head_its_name_promises(ui_store):
    assert ui_store.names("pair") == ["nli-sick", "paraphrase-mrpc"]  # by name, NLI would come first
    for task, name in (("sequence", "sentiment-sst2"), ("pair", "paraphrase-mrpc"), ("token", "ner-conll2003")):
        assert predict_tabs.head_picker(task, "x").value == name
        assert predict_tabs.refresh_picker(task)[0].value == name  # a page load agrees with the tab
        assert predict_tabs.refresh_picker(task, "gone")[0].value == name
    assert predict_tabs.refresh_picker("pair", "nli-sick")[0].value == "nli-sick"  # the browser's pick is kept


def test_without_the_preferred_head_the_first_by_name_is_the_default():
    assert predict_tabs.default_head("pair", ["a-user-head", "nli-sick"]) == "a-user-head"
    assert predict_tabs.default_head("pair", []) is None


def test_the_pair_tab_names_both_heads_and_what_they_decide_from_their_labels(ui_store):
    line = predict_tabs.pair_heads_md()
    labels = {name: ui_store.info(name).meta.model.labels for name in ("paraphrase-mrpc", "nli-sick")}
    assert line.index("paraphrase\\-mrpc") < line.index("nli\\-sick")  # the tab's default first
    assert "decides " + " / ".join(labels["nli-sick"]) in line  # contradiction / entailment / neutral
    assert "decides " + " / ".join(lab.replace("_", "\\_") for lab in labels["paraphrase-mrpc"]) in line


def test_the_pair_heads_line_is_empty_without_pair_heads(tmp_path):
    context.set_store(HeadStore(tmp_path / "none", tmp_path / "user"))
    try:
        assert predict_tabs.pair_heads_md() == ""
    finally:
        context.set_store(None)


def test_the_sentiment_tab_is_named_text_classification_and_keeps_its_api(ui_store):
    with gr.Blocks() as demo, gr.Tabs():
        predict_tabs.build_sequence_tab()
        predict_tabs.build_pair_tab()
        predict_tabs.build_ner_tab()
    tabs = {b.id: b.label for b in demo.blocks.values() if isinstance(b, gr.Tab)}
    assert tabs == {"sentiment": "Text classification", "pair": "Paraphrase / NLI", "ner": "NER"}
    apis = {fn.api_name for fn in demo.fns.values()}
    assert {"sentiment", "pair", "ner"} <= apis
