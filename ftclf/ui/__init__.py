"""The Gradio dashboard. This package is the only part of ftclf that imports gradio."""

from __future__ import annotations

import gradio as gr

from .context import store
from .explain_tab import build_explain_tab
from .models_tab import build_models_tab, heads_table, user_head_names
from .predict_tabs import build_ner_tab, build_pair_tab, build_sequence_tab, refresh_picker
from .train_tab import build_train_tab, save_trained

INTRO = """# ftclf — fine-tuning dashboard
Task heads on a pretrained encoder (default: the embedded **all-MiniLM-L6-v2**, offline). Try the shipped heads in
the task tabs, train your own in **Train**, manage them in **Models**, and see the numbers in **How it works**."""


def build_demo() -> gr.Blocks:
    # Uploaded and downloaded files in gradio's cache are removed after an hour (checked hourly).
    with gr.Blocks(title="ftclf — fine-tuning dashboard", delete_cache=(3600, 3600)) as demo:
        gr.Markdown(INTRO)
        with gr.Tabs():
            task_tabs = [build_sequence_tab(), build_pair_tab(), build_ner_tab()]
            train = build_train_tab()
            models = build_models_tab()
            explain = build_explain_tab()

        task_outputs = [c for tab in task_tabs for c in (tab["picker"], tab["notice"])]
        outputs = task_outputs + [models["table"], *models["pickers"], models["user_picker"], explain["picker"]]
        current = [tab["picker"] for tab in task_tabs]

        def refresh_all(*selected):
            updates = []
            for tab, value in zip(task_tabs, selected):
                updates += list(refresh_picker(tab["task"], value))
            names = store().names()
            updates.append(heads_table())
            updates += [gr.Dropdown(choices=names) for _ in models["pickers"]]
            updates.append(gr.Dropdown(choices=user_head_names(), value=None))
            updates.append(gr.Dropdown(choices=names))
            return updates

        demo.load(refresh_all, current, outputs)
        train["save_button"].click(save_trained, [train["name"]], [train["saved"]]).then(refresh_all, current, outputs)
        models["refresh"].click(refresh_all, current, outputs)
        models["delete_event"].then(refresh_all, current, outputs)
        models["load_event"].then(refresh_all, current, outputs)
    demo.queue(default_concurrency_limit=4)
    return demo
