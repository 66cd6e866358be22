"""The Gradio dashboard. This package is the only part of ftclf that imports gradio."""

from __future__ import annotations

import os
import re

import gradio as gr

from ..service import new_visitor_id, policy, visitor_secret
from . import label_loop
from .context import store
from .explain_tab import build_explain_tab
from .models_tab import build_models_tab, heads_table, user_head_names
from .predict_tabs import build_ner_tab, build_pair_tab, build_sequence_tab, refresh_picker
from .test_tab import build_test_tab, picker_updates
from .train_tab import build_train_tab, restore, run_calibration, save_trained

INTRO = """# ftclf — fine-tuning dashboard
Task heads on a pretrained encoder (default: the embedded **all-MiniLM-L6-v2**, offline). Try the shipped heads in
the task tabs, train your own in **Train**, manage them in **Models**, and see the numbers in **How it works**."""


#: The dashboard's own styles (passed to ``demo.launch(css=CSS)``): a column picker the data needs stands out.
CSS = (".ftclf-missing { outline: 2px solid #f59e0b; border-radius: 6px; }"
       " .ftclf-chip { display: inline-block; padding: 2px 10px; margin: 2px; border-radius: 999px;"
       " background: #4f46e5; color: white; font-weight: 600; }"
       " .ftclf-chip-none { background: #9ca3af; }")

READONLY_NOTICE = ("\n\n🔒 **Read-only demo**: predictions and *How it works* are open to everyone; training, saving, "
                   "deleting and the Hub are turned off on this server.")
_VISITOR = re.compile(r"^[0-9a-f]{32}$")


def visitor_or_new(value) -> str:
    """The browser's visitor id, or a fresh one for a browser that has none yet (kept in its storage)."""
    return value if isinstance(value, str) and _VISITOR.match(value) else new_visitor_id()


def build_demo() -> gr.Blocks:
    readonly = policy().readonly
    # Uploaded and downloaded files in gradio's cache are removed after an hour (checked hourly).
    with gr.Blocks(title="ftclf — fine-tuning dashboard", delete_cache=(3600, 3600)) as demo:
        gr.Markdown(INTRO + (READONLY_NOTICE if readonly else ""))
        # who this browser is (a random id in its local storage, encrypted): it owns the heads it saves
        visitor = gr.BrowserState(None, storage_key="ftclf-visitor", secret=visitor_secret(store().user_dir))
        with gr.Tabs():
            task_tabs = [build_sequence_tab(), build_pair_tab(), build_ner_tab()]
            train = None if readonly else build_train_tab(visitor)
            models = build_models_tab(visitor)
            explain = build_explain_tab()
            tests = build_test_tab()

        task_outputs = [c for tab in task_tabs for c in (tab["picker"], tab["notice"])]
        outputs = [visitor, *task_outputs, models["table"], *models["pickers"], models["user_picker"], explain["picker"],
                   tests["head"], tests["other"]]
        current = [visitor, *(tab["picker"] for tab in task_tabs)]

        def refresh_all(visitor_id, *selected):
            visitor_id = visitor_or_new(visitor_id)
            updates = [visitor_id]
            for tab, value in zip(task_tabs, selected):
                updates += list(refresh_picker(tab["task"], value))
            names = store().names()
            updates.append(heads_table())
            updates += [gr.Dropdown(choices=names) for _ in models["pickers"]]
            updates.append(gr.Dropdown(choices=user_head_names(visitor_id), value=None))
            updates.append(gr.Dropdown(choices=names))
            updates += picker_updates(names)
            return updates

        demo.load(refresh_all, current, outputs)
        if train is not None:  # this browser's run: still going (reattach) or finished and unsaved (its draft)
            demo.load(restore, [visitor], train["results"], concurrency_limit=None).then(
                run_calibration, [visitor], train["calibration"])
            loop, write = train["loop"], train["write"]
            demo.load(label_loop.restore, [visitor, train["task"]],  # typed examples, pool, suggestions, rounds
                      [train["task"], train["source"], write["table"], loop["pool"], loop["suggestions"], loop["rounds"],
                       write["check"]], queue=False)
            train["save_button"].click(save_trained, [train["name"], visitor, train["threshold"], train["use_threshold"]],
                                       [train["saved"]]).then(refresh_all, current, outputs)
        models["refresh"].click(refresh_all, current, outputs)
        models["delete_event"].then(refresh_all, current, outputs)
        models["load_event"].then(refresh_all, current, outputs)
    queue(demo)
    return demo


#: gradio's queue records every event for its monitoring summary and, by default, rebuilds that summary (a
#: pandas frame of up to 10,000 past events, grouped and ranked) after every single event: 18 % of the
#: server's busy time under load, growing with the history kept. Here it is rebuilt every 500 events, from the
#: last 1,000 (``benchmarks/load.py --profile`` measured it).
QUEUE_ENV = {"GRADIO_ANALYTICS_CACHE_FREQUENCY": "500", "GRADIO_ANALYTICS_MAX_EVENTS": "1000"}


def queue(demo: gr.Blocks) -> gr.Blocks:
    """The dashboard's queue settings (and any gradio app measured beside it, such as the load benchmark's
    floor app): QUEUE_ENV where the environment does not set it, and four concurrent events by default."""
    for key, value in QUEUE_ENV.items():
        os.environ.setdefault(key, value)
    return demo.queue(default_concurrency_limit=4)
