"""Models tab: every head in a table; compare two heads on one input; delete (the heads this browser
saved); download as zip; push to and load from the Hugging Face Hub. Who may change what is the
service's policy (``ftclf.service.access``): this tab only passes the visitor and the tokens on."""

from __future__ import annotations

import os

import gradio as gr

from .. import hub_heads
from ..errors import InputError
from ..service import policy
from ..tasks import get_task
from . import calibration_panel, charts
from .context import md, redact, store, ui_errors
from .predict_tabs import highlight

COLUMNS = ["name", "task", "labels", "head", "mode", "pair mode", "encoder", "data", "validation", "calibration",
           "size (MB)", "created", "source"]


#: Damaged heads listed one per row at most; the rest are counted in one row.
MAX_DAMAGED_ROWS = 20


def heads_table() -> list[list]:
    """Every head, usable ones first; a damaged one is listed with the reason (it is in no picker).
    Past ``MAX_DAMAGED_ROWS`` damaged folders, one row counts the rest (the page stays small)."""
    infos, damaged = store().scan()
    rows = [[h.row()[c] for c in COLUMNS] for h in infos]
    for d in damaged[:MAX_DAMAGED_ROWS]:
        row = {c: "" for c in COLUMNS} | {"name": d.name, "validation": f"damaged: {redact(d.reason)}",
                                            "source": "shipped" if d.shipped else "user"}
        rows.append([row[c] for c in COLUMNS])
    if len(damaged) > MAX_DAMAGED_ROWS:
        more = len(damaged) - MAX_DAMAGED_ROWS
        row = {c: "" for c in COLUMNS} | {"name": f"… {more:,} more", "validation": f"damaged: {more:,} more folders "
                                            "that hold no usable head (the server log names the first ones)"}
        rows.append([row[c] for c in COLUMNS])
    return rows


def _one(name: str, pred, widget: str):
    """One side of the comparison, drawn as the head's task says: highlighted entities, a label set's bars
    with their thresholds, or one label's probability bars."""
    if widget == "entities":
        segments, colors = highlight(pred.text, pred.entities, 0.0)
        return gr.HighlightedText(value=segments, color_map=colors, visible=True), gr.Plot(visible=False)
    if widget == "label_set":
        fig = charts.label_set_bars(pred.probabilities, pred.thresholds,
                                    title=f"{name}: {', '.join(pred.labels) or 'no label'}")
    else:
        fig = charts.probability_bars(pred.probabilities, title=f"{name}: {pred.label} ({pred.score:.1%})")
    return gr.HighlightedText(visible=False), gr.Plot(value=fig, visible=True)


@ui_errors
def compare(left: str, right: str, text: str, text_pair: str):
    if not left or not right:
        raise InputError("expected two heads to compare, got fewer; pick one on each side")
    tasks = {store().info(left).task, store().info(right).task}
    if len(tasks) > 1:
        raise InputError(f"expected two heads of the same task, got {' and '.join(sorted(tasks))}; pick heads of one task")
    if not (text or "").strip():
        raise InputError("expected some text to compare on, got an empty box; type some text")
    task = get_task(tasks.pop())
    a, b = store().compare([left, right], [text], task.second_texts([text_pair or ""]))  # one encoder pass where shared
    return (*_one(left, a[0], task.widget), *_one(right, b[0], task.widget))


@ui_errors
def delete_head(name: str, visitor: str | None = None, admin_token: str = "") -> str:
    """Delete a user head saved from this browser (``visitor``), or any user head with the operator token."""
    if not name:
        raise InputError("expected a user head to delete, got none; pick one you saved")
    store().delete(name, visitor=visitor, admin_token=admin_token or None)
    return f"Deleted **{md(name)}**."


@ui_errors
def download_head(name: str):
    if not name:
        raise InputError("expected a head to download, got none; pick one")
    return str(store().export_zip(name))


def server_token_pushes() -> bool:
    """Whether an empty token box pushes with the server's own token (an operator's opt-in): the box says so."""
    return policy().push_with_server_token and bool(os.environ.get("HF_TOKEN"))


@ui_errors
def push_head(name: str, repo_id: str, private: bool, token: str) -> str:
    """Upload a head with the visitor's token (never shown or logged); the server's ``HF_TOKEN`` only where
    the operator opted in (``FTCLF_HUB_PUSH_WITH_SERVER_TOKEN=1``)."""
    token = policy().push_token(token)  # the visitor's own (the server's only where the operator opted in)
    if not name:
        raise InputError("expected a head to push, got none; pick one")
    url = hub_heads.push(store().info(name).path, repo_id, token=token, private=private)
    return f"Pushed **{md(name)}** to [{md(hub_heads.check_repo_id(repo_id))}]({url})."


@ui_errors
def load_from_hub(repo_id: str, name: str, token: str, visitor: str | None = None) -> str:
    """Download a pushed head and add it to the user heads (under ``name``, default the repository's name)."""
    rules = policy()
    token = rules.pull_token(token)  # the visitor's own or none: never the server's
    repo_id = hub_heads.check_repo_id(repo_id)
    name = (name or "").strip() or repo_id.split("/")[1].lower()
    store().check_new_name(name)  # before the download: a bad name or a full store costs nothing
    store().check_quota()
    path = hub_heads.pull(repo_id, token=token, max_bytes=rules.max_pull_bytes)
    info = store().add(path, name, owner=visitor)
    return f"Loaded **{md(repo_id)}** as the user head **{md(info.name)}** ({info.task}); it is in every picker now."


@ui_errors
def inspect_calibration(name: str):
    """The calibration panel of a head (reliability diagram, figures, and the operating point of binary heads)."""
    if not name:
        raise InputError("expected a head to inspect, got none; pick one")
    info = store().info(name)
    return calibration_panel.show(info.meta.calibration, info.meta.model.labels, info.meta.model.task_spec.shown_confidence)


@ui_errors
def save_threshold(name: str, threshold: float | None, visitor: str | None = None, admin_token: str = "") -> str:
    """Save (or, with None, clear) a binary user head's operating point; its predictions use it from now on."""
    if not name:
        raise InputError("expected a head to change, got none; pick one you saved")
    info = store().set_threshold(name, None if threshold is None else float(threshold), visitor=visitor,
                                 admin_token=admin_token or None)
    if threshold is None:
        return f"**{md(info.name)}** predicts with the argmax again."
    return (f"**{md(info.name)}** now predicts {md(info.meta.model.labels[1])} when its probability is at least "
            f"{float(threshold):.2f} (task tabs, API and batch prediction).")


def user_head_names(visitor: str | None = None) -> list[str]:
    """The user heads this browser saved (the ones it may delete)."""
    return store().owned_names(visitor)


def _picker(label: str, choices=None, **kw) -> gr.Dropdown:
    """A head picker that accepts any head that exists when the event runs (heads saved after the page
    loaded included): the handler checks the name, not gradio's choice list."""
    return gr.Dropdown(store().names() if choices is None else choices, label=label, allow_custom_value=True, **kw)


def build_models_tab(visitor: gr.BrowserState) -> dict:
    """``visitor``: the browser's visitor id (who saved which head)."""
    rules = policy()
    with gr.Tab("Models", id="models"):
        table = gr.Dataframe(value=heads_table, headers=COLUMNS, label="Available heads", interactive=False, wrap=True,
                             elem_id="models-table")
        refresh = gr.Button("Refresh")
        gr.Markdown("### Compare two heads of the same task")
        with gr.Row():
            left = _picker("Head A")
            right = _picker("Head B")
        with gr.Row():
            text = gr.Textbox(label="Text", lines=2)
            text_pair = gr.Textbox(label="Second text (pair heads)", lines=2)
        compare_button = gr.Button("Compare", variant="primary")
        with gr.Row():
            with gr.Column():
                left_spans = gr.HighlightedText(label="Head A", visible=False)
                left_plot = gr.Plot(label="Head A")
            with gr.Column():
                right_spans = gr.HighlightedText(label="Head B", visible=False)
                right_plot = gr.Plot(label="Head B")
        gr.Markdown("### Calibration and operating point\nHow honest a head's probabilities are: a shown 90 % should "
                    "be right 9 times in 10.")
        with gr.Row():
            to_inspect = _picker("Head to inspect", elem_id="models-inspect-head")
            inspect_button = gr.Button("Show calibration", elem_id="models-inspect")
        panel = calibration_panel.build_panel("models")
        with gr.Row(visible=not rules.readonly):
            threshold_button = gr.Button("Save this threshold to the head (user heads saved from this browser)",
                                         elem_id="models-save-threshold")
            argmax_button = gr.Button("Back to the argmax", elem_id="models-clear-threshold")
        gr.Markdown("### Manage" + ("" if not rules.readonly else
                                    "\nThis dashboard is **read-only**: deleting and the Hub are turned off."))
        with gr.Row():
            to_delete = _picker("User head to delete (saved from this browser)", [], elem_id="models-delete-head",
                                visible=not rules.readonly)
            delete_button = gr.Button("Delete", variant="stop", elem_id="models-delete", visible=not rules.readonly)
            to_download = _picker("Head to download")
            download_button = gr.Button("Download as zip")
        file = gr.File(label="Zip", interactive=False)
        with gr.Accordion("Operator", open=False, visible=not rules.readonly):
            admin_token = gr.Textbox(label="Operator token (FTCLF_ADMIN_TOKEN): delete any user head", type="password",
                                     elem_id="models-admin-token")
        with gr.Group(visible=not rules.readonly):
            gr.Markdown("### Share on the Hugging Face Hub\n"
                        "A head is pushed as its saved directory (JSON and safetensors, with a model card); anyone "
                        "loads it with `Classifier.from_pretrained(\"owner/name\")` or here. Needs the network. "
                        "Your token is used for this request only, never stored or logged.")
            with gr.Row():
                to_push = _picker("Head to push")
                push_repo = gr.Textbox(label="Repository (owner/name)", placeholder="my-user/my-head")
                push_private = gr.Checkbox(label="Private", value=True)
                token = gr.Textbox(label="Your Hugging Face token (write access to push; private repositories to load)",
                                   type="password", elem_id="hub-token",
                                   placeholder="empty: the server's HF_TOKEN" if server_token_pushes() else "hf_…")
                push_button = gr.Button("Push to the Hub")
            with gr.Row():
                pull_repo = gr.Textbox(label="Repository to load (owner/name)", placeholder="some-user/some-ftclf-head")
                pull_name = gr.Textbox(label="Save as (head name)", placeholder="default: the repository's name")
                pull_button = gr.Button("Load from the Hub")
        message = gr.Markdown(elem_id="models-message")
        compare_button.click(compare, [left, right, text, text_pair], [left_spans, left_plot, right_spans, right_plot])
        inspect_button.click(inspect_calibration, [to_inspect], panel.outputs)
        threshold_event = threshold_button.click(save_threshold, [to_inspect, panel.threshold, visitor, admin_token],
                                                 [message])
        argmax_event = argmax_button.click(lambda name, v, a: save_threshold(name, None, v, a),
                                           [to_inspect, visitor, admin_token], [message])
        for event in (threshold_event, argmax_event):
            event.then(inspect_calibration, [to_inspect], panel.outputs)
        download_button.click(download_head, [to_download], [file])
        delete_event = delete_button.click(delete_head, [to_delete, visitor, admin_token], [message])
        push_button.click(push_head, [to_push, push_repo, push_private, token], [message])
        load_event = pull_button.click(load_from_hub, [pull_repo, pull_name, token, visitor], [message])
    return {"table": table, "refresh": refresh, "pickers": [left, right, to_download, to_push, to_inspect],
            "user_picker": to_delete,
            "delete_event": delete_event, "load_event": load_event}
