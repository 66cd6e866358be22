"""gradio's own ceiling on this machine: an app with the Text classification tab's inputs and outputs (head
Dropdown + Textbox -> Label + Plot + Markdown) that answers constants, served as ``app.py`` serves the dashboard
(uvicorn, the same queue settings). ``benchmarks/load.py --floor`` measures it in the same run as the app.

    GRADIO_SERVER_PORT=7861 python benchmarks/floor_app.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import gradio as gr
import plotly.graph_objects as go

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # ftclf from this checkout
from ftclf.ui import queue  # noqa: E402

LABEL = {"positive": 0.9, "negative": 0.1}
FIGURE = go.Figure([go.Bar(x=[0.9, 0.1], y=["positive", "negative"], orientation="h")])


def constant(head: str, text: str):
    return LABEL, FIGURE, "**positive** with probability 90.0% · latency **0 ms**"


def build() -> gr.Blocks:
    with gr.Blocks() as demo:
        head = gr.Dropdown(["sentiment-sst2"], value="sentiment-sst2", allow_custom_value=True)
        text = gr.Textbox()
        label, plot, summary = gr.Label(), gr.Plot(), gr.Markdown()
        gr.Button().click(constant, [head, text], [label, plot, summary], api_name="sentiment",
                          concurrency_id="predict", concurrency_limit=64)
    queue(demo)  # the dashboard's own queue settings
    return demo


if __name__ == "__main__":
    import uvicorn
    from fastapi import FastAPI

    demo = build()
    demo.max_threads = 128
    app = gr.mount_gradio_app(FastAPI(), demo, path="/")
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("GRADIO_SERVER_PORT") or 7861), log_level="warning")
