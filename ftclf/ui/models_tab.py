"""Models tab: every head in a table; compare two heads on one input; delete; download as zip; push
to and load from the Hugging Face Hub."""

from __future__ import annotations

import os

import gradio as gr

from .. import hub_heads
from ..errors import InputError
from ..tasks import get_task
from . import charts
from .context import md, redact, store, ui_errors
from .predict_tabs import highlight

COLUMNS = ["name", "task", "labels", "head", "mode", "pair mode", "encoder", "data", "validation", "size (MB)", "created", "source"]


def heads_table() -> list[list]:
    """Every head, usable ones first; a damaged one is listed with the reason (it is in no picker)."""
    infos, damaged = store().scan()
    rows = [[h.row()[c] for c in COLUMNS] for h in infos]
    for d in damaged:
        row = {c: "" for c in COLUMNS} | {"name": d.name, "validation": f"damaged: {redact(d.reason)}",
                                            "source": "shipped" if d.shipped else "user"}
        rows.append([row[c] for c in COLUMNS])
    return rows


def _one(name: str, pred, token_level: bool):
    """One side of the comparison: highlighted entities for token heads, a bar chart otherwise."""
    if token_level:
        segments, colors = highlight(pred.text, pred.entities, 0.0)
        return gr.HighlightedText(value=segments, color_map=colors, visible=True), gr.Plot(visible=False)
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
    if task.text_pairs and not (text_pair or "").strip():
        raise InputError("expected a second text for pair heads, got an empty box; fill in both texts")
    a, b = store().compare([left, right], [text], [text_pair] if task.text_pairs else None)  # one encoder pass where shared
    return (*_one(left, a[0], task.token_level), *_one(right, b[0], task.token_level))


@ui_errors
def delete_head(name: str) -> str:
    if not name:
        raise InputError("expected a user head to delete, got none; pick one")
    store().delete(name)
    return f"Deleted **{name}**."


@ui_errors
def download_head(name: str):
    if not name:
        raise InputError("expected a head to download, got none; pick one")
    return str(store().export_zip(name))


@ui_errors
def push_head(name: str, repo_id: str, private: bool, token: str) -> str:
    """Upload a head; the token comes from the password box or ``HF_TOKEN`` and is never shown or logged."""
    if not name:
        raise InputError("expected a head to push, got none; pick one")
    if not (token or os.environ.get("HF_TOKEN")):
        raise InputError("expected a Hugging Face token with write access, got none; paste one in the token box "
                         "(or start the app with HF_TOKEN set)")
    url = hub_heads.push(store().info(name).path, repo_id, token=token or None, private=private)
    return f"Pushed **{md(name)}** to [{md(hub_heads.check_repo_id(repo_id))}]({url})."


@ui_errors
def load_from_hub(repo_id: str, name: str, token: str) -> str:
    """Download a pushed head and add it to the user heads (under ``name``, default the repository's name)."""
    repo_id = hub_heads.check_repo_id(repo_id)
    name = (name or "").strip() or repo_id.split("/")[1].lower()
    store().check_new_name(name)  # before the download: a bad name costs nothing
    path = hub_heads.pull(repo_id, token=token or None)
    info = store().add(path, name)
    return f"Loaded **{md(repo_id)}** as the user head **{md(info.name)}** ({info.task}); it is in every picker now."


def user_head_names() -> list[str]:
    return [h.name for h in store().list() if not h.shipped]


def build_models_tab() -> dict:
    with gr.Tab("Models", id="models"):
        table = gr.Dataframe(value=heads_table, headers=COLUMNS, label="Available heads", interactive=False, wrap=True,
                             elem_id="models-table")
        refresh = gr.Button("Refresh")
        gr.Markdown("### Compare two heads of the same task")
        with gr.Row():
            left = gr.Dropdown(store().names(), label="Head A")
            right = gr.Dropdown(store().names(), label="Head B")
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
        gr.Markdown("### Manage")
        with gr.Row():
            to_delete = gr.Dropdown(user_head_names(), label="User head to delete")
            delete_button = gr.Button("Delete", variant="stop")
            to_download = gr.Dropdown(store().names(), label="Head to download")
            download_button = gr.Button("Download as zip")
        file = gr.File(label="Zip", interactive=False)
        gr.Markdown("### Share on the Hugging Face Hub\n"
                    "A head is pushed as its saved directory (JSON and safetensors, with a model card); anyone loads "
                    "it with `Classifier.from_pretrained(\"owner/name\")` or here. Needs the network.")
        with gr.Row():
            to_push = gr.Dropdown(store().names(), label="Head to push")
            push_repo = gr.Textbox(label="Repository (owner/name)", placeholder="my-user/my-sentiment-head")
            push_private = gr.Checkbox(label="Private", value=True)
            token = gr.Textbox(label="Hugging Face token (write access)", type="password",
                               placeholder="empty: the server's HF_TOKEN", elem_id="hub-token")
            push_button = gr.Button("Push to the Hub")
        with gr.Row():
            pull_repo = gr.Textbox(label="Repository to load (owner/name)", placeholder="some-user/some-ftclf-head")
            pull_name = gr.Textbox(label="Save as (head name)", placeholder="default: the repository's name")
            pull_button = gr.Button("Load from the Hub")
        message = gr.Markdown()
        compare_button.click(compare, [left, right, text, text_pair], [left_spans, left_plot, right_spans, right_plot])
        download_button.click(download_head, [to_download], [file])
        delete_event = delete_button.click(delete_head, [to_delete], [message])
        push_button.click(push_head, [to_push, push_repo, push_private, token], [message])
        load_event = pull_button.click(load_from_hub, [pull_repo, pull_name, token], [message])
    return {"table": table, "refresh": refresh, "pickers": [left, right, to_download, to_push], "user_picker": to_delete,
            "delete_event": delete_event, "load_event": load_event}
