"""Train tab: data (sample / upload / hub), preview with column mapping, head and mode options,
live progress and curves, final metrics, confusion matrix, most-confused examples, save.

The form is read as one dict (gradio passes a set of inputs as {component: value}); :func:`read_form`
turns it, keyed by field name, into a :class:`TrainRequest` of the same ``ModelConfig`` /
``TrainingConfig`` the API and the command line use. The run itself lives in the gradio-free
``ftclf.service`` job table; this module only streams its events.
"""

from __future__ import annotations

import html
import time
from typing import Any

import gradio as gr

from ..config import AUTO_RULE, CONTRASTIVE_BODIES, MODES, PAIR_MODES, ModelConfig, TrainingConfig
from ..data import ColumnMap, detect_columns, peek_columns
from ..encoders import POOLINGS
from ..errors import DataError, FtclfError, InputError
from ..heads import HEADS, heads_for
from ..service import MAX_UPLOAD_BYTES, DataSource, TrainRequest, samples
from ..tasks import TASKS, get_task
from ..training import TrainingEvent
from . import calibration_panel, charts, label_loop
from .context import browser_key, finished_run, for_browser, jobs, md, redact, store, ui_error, ui_errors

SOURCE_CHOICES = [("Built-in sample", "sample"), ("Upload a file", "upload"), ("Write examples", "write"),
                  ("Hugging Face dataset (online)", "hub")]
MODEL_FIELDS = ("head", "pooling", "pair_mode", "pair_features", "word_shape", "case_markers")
TRAINING_FIELDS = ("mode", "contrastive_body", "epochs", "learning_rate", "batch_size", "distill_weight")


def sample_names(task: str) -> list[str]:
    return [s.name for s in samples(task)]


def teacher_names(task: str) -> list[str]:
    """Saved heads (shipped and the user's) that can teach a head of ``task``."""
    return [h.name for h in store().list() if h.task == task]


def continuable_names(task: str, heads=None) -> list[str]:
    """Saved heads of ``task`` a run can continue (trained with LoRA or every weight; a frozen head refits);
    ``heads``: the store's heads of the task, when already listed."""
    return [h.name for h in (store().list(task) if heads is None else heads) if h.meta.mode in ("lora", "full")]


def _refresh_starts(task: str, current: str | None, heads=None):
    """The "continue from" picker with the heads saved since; a pick deleted since is dropped."""
    names = continuable_names(task, heads)
    return gr.Dropdown(choices=[""] + names, value=current if current in names else "")


def _refresh_teachers(task: str, current: list[str] | None, heads=None):
    """The teacher picker with the heads saved since; picks of heads deleted since are dropped."""
    names = teacher_names(task) if heads is None else [h.name for h in heads]
    return gr.Dropdown(choices=names, value=[c for c in current or [] if c in names], multiselect=True)


def _given(values: dict, names: tuple[str, ...]) -> dict:
    """The options the form set; empty boxes and 0 ("default") leave the dataclass default."""
    return {k: values[k] for k in names if isinstance(values.get(k), bool) or values.get(k) not in (None, "", 0)}


def read_form(values: dict[str, Any]) -> TrainRequest:
    """The Train tab's fields (by name) -> what to train, on which data, and how."""
    task, kind = values["task"], values.get("source") or "sample"
    spec = get_task(task)
    shown = {**values, **{k: values.get(k) if k in spec.options else None  # hidden boxes say nothing
                          for k in ("pair_features", "word_shape", "case_markers")}}
    upload = values.get("upload")
    value = {"sample": values.get("sample"), "upload": getattr(upload, "name", upload), "hub": values.get("hub"),
             "write": values.get("write_path")}.get(kind)
    columns = ColumnMap(*(values.get(k) or None for k in ("text_column", "text_pair_column", "label_column")))
    training = _given(values, TRAINING_FIELDS)
    for name, kind_of in (("epochs", int), ("batch_size", int), ("learning_rate", float), ("distill_weight", float)):
        if name in training:
            training[name] = kind_of(training[name])
    picked = values.get("teacher") or []  # the picker's names: none, one, or an ensemble
    teachers = [t for t in ([picked] if isinstance(picked, str) else picked) if t]
    if teachers:
        training["teacher"] = [str(store().info(t).path) for t in teachers]
    else:
        training.pop("distill_weight", None)
    if values.get("init_from"):  # a saved head's name: continue it instead of a new head
        training["init_from"] = str(store().info(values["init_from"]).path)
    return TrainRequest(
        DataSource(task, kind, value or "", columns),
        ModelConfig(task=task, **_given(shown, MODEL_FIELDS)),
        TrainingConfig(**training),
    )


#: Shown where Train waits for a preview (an upload or a hub dataset is read and checked first).
PREVIEW_FIRST = "Train (preview the data first)"
#: A run's score rests on few examples below this many: the status says how little.
FEW_EXAMPLES = 200
COLUMN_LABELS = {"text_column": "Text column", "text_pair_column": "Second text column", "label_column": "Label column"}


def _column_dropdowns(task: str, columns: list[str], chosen) -> list:
    """The text / pair / label column pickers over the file's columns (hidden where it has none: CoNLL, hub,
    token tasks), pre-filled with the columns in use; one the readers could not find says it is needed."""
    spec = get_task(task)
    out = []
    for key, value in zip(COLUMN_LABELS, chosen):
        shown = bool(columns) and key.removesuffix("_column") in spec.column_roles
        missing = shown and not value
        label = COLUMN_LABELS[key] + (" — pick one (required)" if missing else "")
        out.append(gr.Dropdown(choices=[""] + columns, value=value if value in columns else "", visible=shown,
                               label=label, elem_classes=["ftclf-missing"] if missing else []))
    return out


def _failed(message: str, what: str = "Preview failed") -> str:
    """One readable failure, written where it happened (it stays: no toast, no red pills)."""
    return f"⚠️ **{what}:** {md(message)}"


@ui_errors
def on_preview(values: dict[str, Any]):
    """-> (preview rows, counts markdown, text / pair / label column pickers, Train button). A problem is
    one message in the counts line, with the file's columns offered in the pickers when it has some;
    Train is enabled only by a preview that worked."""
    task = values["task"]
    try:
        data = read_form(values).data
    except FtclfError as exc:
        return (gr.Dataframe(value=[], headers=["(nothing read)"]), _failed(for_browser(str(exc))),
                *_column_dropdowns(task, [], (None, None, None)), gr.Button(PREVIEW_FIRST, interactive=False))
    chosen = (data.columns.text, data.columns.text_pair, data.columns.label)
    try:
        info = data.preview()
    except DataError as exc:
        try:
            path = data.path()
            columns = [] if path.startswith("hf:") else peek_columns(path)
        except (FtclfError, OSError):
            columns = []
        detected = detect_columns(columns, data.columns, "text_pair" in get_task(task).column_roles) if columns else None
        shown = (detected.text, detected.text_pair, detected.label) if detected else chosen
        notice = _failed(for_browser(str(exc)))
        return (gr.Dataframe(value=[], headers=["(no rows parsed)"]), notice,
                *_column_dropdowns(task, columns, shown), gr.Button(PREVIEW_FIRST, interactive=False))
    rows, picked = info["rows"], info["chosen"]
    counts = ", ".join(f"{md(k)}: {v}" for k, v in sorted(info["counts"].items()))
    summary = f"**{info['examples']} examples** parsed · {info['counted']}: {counts}"
    table = gr.Dataframe(value=[list(r.values()) for r in rows], headers=list(rows[0]) if rows else [])
    return (table, summary, *_column_dropdowns(task, info["columns"], (picked.text, picked.text_pair, picked.label)),
            gr.Button("Train", interactive=True))


def _no_columns() -> list:
    """The column pickers emptied and hidden: they belong to the data previewed last, not to new data."""
    return [gr.Dropdown(choices=[""], value="", visible=False, label=label, elem_classes=[])
            for label in COLUMN_LABELS.values()]


def on_source_change(source: str):
    """The data source's own box shows; Train waits for a preview unless the data is a built-in sample or typed
    examples (checked as they are typed)."""
    boxes = [gr.update(visible=source == v) for v in ("sample", "upload", "hub", "write")]
    ready = source in ("sample", "write")
    return (*boxes, gr.Button("Train" if ready else PREVIEW_FIRST, interactive=ready), *_no_columns(),
            gr.update(visible=source != "write"))


def on_new_data():
    """Another file or dataset: the pickers start afresh and Train waits for its preview."""
    return (gr.Button(PREVIEW_FIRST, interactive=False), *_no_columns())


def needs_preview():
    """New data or another column: Train waits for a new preview (the button says so; the preview line,
    which a preview may be writing at this moment, is left alone)."""
    return gr.Button(PREVIEW_FIRST, interactive=False)


def on_task_change(task: str):
    """Choices that depend on the task: samples, heads (and the task's default head), pair and
    pooling options, word shapes, the head name's example."""
    spec, names = get_task(task), sample_names(task)
    defaults, heads = ModelConfig(task=task), store().list(task)  # one scan of the saved heads for both pickers
    return (
        gr.Textbox(placeholder=get_task(task).name_example),
        _refresh_teachers(task, None, heads),
        _refresh_starts(task, None, heads),
        gr.Dropdown(choices=names, value=names[0] if names else None),
        gr.Radio(choices=heads_for(spec), value=defaults.head),
        gr.Radio(visible="pair_mode" in spec.options),
        gr.Checkbox(visible="pair_features" in spec.options),
        gr.Radio(visible="pooling" in spec.options),
        gr.Checkbox(visible="word_shape" in spec.options, value=defaults.word_shape),
        gr.Checkbox(visible="case_markers" in spec.options, value=defaults.case_markers),
    )


def _evaluated_on(metrics: dict) -> int | None:
    """How many examples (sentences, for token tasks: their entities' support otherwise) a score rests on."""
    if isinstance(metrics.get("examples"), int):
        return metrics["examples"]
    per_type = metrics.get("per_type")
    return sum(m.get("support", 0) for m in per_type.values()) if isinstance(per_type, dict) else None


def few_examples_note(metrics: dict) -> str:
    """A plain warning when the score rests on few examples (a perfect score on 45 rows is optimistic)."""
    n = _evaluated_on(metrics)
    if not n or n >= FEW_EXAMPLES:
        return ""
    return (f" ⚠️ **This score rests on {n} examples**: one example more or less right moves it by "
            f"{100 / n:.1f} points, so expect less on new data (a score of 1.000 here is optimistic).")


def final_view(run: dict, note: str = ""):
    """(curves, status, metrics table, confusion matrix / per-type chart, most-confused table) of a finished
    run, from plain data: a run that just ended, or a draft kept on disk (``run.json``)."""
    result, metrics = run["result"], run["result"]["metrics"]
    state = {"losses": [], "evals": [], "name": result.get("metric_name") or "metric", "offset": 0,
             "progress": lambda *a, **k: None}
    for event in run.get("events", []):
        _status(event if isinstance(event, TrainingEvent) else TrainingEvent(**event), state)
    # the headline's Markdown is ours; a label from the user's file in it is made inert
    headline, headers, rows = get_task(run["task"]).report(metrics, quote=lambda label: f"“{md(label)}”")
    figure = (charts.confusion_heatmap(metrics["confusion_matrix"], metrics["labels"]) if "confusion_matrix" in metrics
              else charts.per_type_bars(metrics.get("per_type") or metrics["per_label"]))  # entity types, or labels
    done = "cancelled — the best head so far is kept" if result["cancelled"] else "finished"
    stopped = ", stopped early" if result["stopped_early"] else ""
    status = (f"{note}Training {done} in {result['seconds']:.0f} s{stopped}. **Recipe:** "
              f"{html.escape(run['recipe'], quote=False)}. **Kept:** {html.escape(result['selection'], quote=False)}. "
              f"**Measured on** {html.escape(result['validation'], quote=False)}: {headline}.{few_examples_note(metrics)} "
              "Name the head below and save it to use it in the task tabs.")
    confused = run["confused"]
    confused_value = gr.Dataframe(value=[list(r.values()) for r in confused], headers=list(confused[0]) if confused else ["(none)"])
    return (charts.training_curves(state["losses"], state["evals"], state["name"]), status,
            gr.Dataframe(value=rows, headers=headers), figure, confused_value)


def _failure(exc: Exception, worker: bool = False) -> str:
    """A run that could not start or ended in an error, as the one message the status line keeps. Here, a
    failure that is not ours is logged and named by its kind only; the worker's (``worker``) reached this
    process as its kind and message, shown with server paths redacted."""
    if isinstance(exc, FtclfError):
        return _failed(for_browser(str(exc)), "Training failed")
    if worker:
        return _failed(redact(str(exc)), "Training failed")
    return _failed(ui_error(exc).message, "Training failed")


#: what a run's progress events are doing, by their ``detail``
PHASES = {"contrastive": "Tuning the encoder on same/different-label pairs",
          "cross-validation": "Choosing the head's weight decay by cross-validation"}


def _status(event, state: dict) -> str | None:
    """Fold one training event into the curves; the status line to show (None: keep the last)."""
    if event.stage == "features":
        state["progress"](event.step / max(1, event.total_steps), desc=f"encoding {event.detail} once (frozen encoder)")
        return f"Encoding the {event.detail} texts once ({event.step}/{event.total_steps} batches)…"
    if event.stage == "recipe":
        state["recipe"] = event.detail
        return f"Recipe: {event.detail}."
    if event.stage == "teacher":
        return f"Distillation: {event.detail} (soft labels) before training starts…"
    if event.stage not in ("train", "eval"):
        return None
    eta = f", about {event.eta_seconds:.0f} s left" if event.eta_seconds is not None else ""
    phase = PHASES["cross-validation"] if event.detail.startswith("weight decay") else PHASES.get(event.detail, "Training")
    where = f"epoch {event.epoch:.1f}" if phase == "Training" else phase.lower()
    state["progress"](event.step / max(1, event.total_steps), desc=f"{where}{eta}")
    if event.loss is not None:
        state["losses"].append((event.step + state["offset"], event.loss))
    if event.stage == "eval" and event.metric is not None:
        state["evals"].append((event.step + state["offset"], event.metric))
        state["name"] = event.metric_name
    if event.stage == "train" and event.step == event.total_steps and phase != "Training":
        state["offset"] += event.total_steps  # the next phase's steps follow this one's on the curves
    status = f"{phase}: step {event.step}/{event.total_steps}{eta}." if phase != "Training" else \
        f"Training: step {event.step}/{event.total_steps}, epoch {event.epoch:.1f}{eta}."
    if state["evals"]:
        label = "cross-validated" if event.detail.startswith(("cross", "weight")) else "validation"
        status += f" Last {label} {state['name']}: {state['evals'][-1][1]:.3f}."
    if state.get("recipe"):
        status += f" Recipe: {state['recipe']}."
    return status


def _stream(job, key: str, progress=None, note: str = ""):
    """Stream a run's curves and status to one page (replaying what it did so far), then its results; when
    the page goes away (gradio closes the generator), the page detaches: with no page of that browser
    left, the run is cancelled after a grace period (a reload reattaches within it)."""
    state = {"losses": [], "evals": [], "name": "metric", "offset": 0, "progress": progress or (lambda *a, **k: None)}
    status, last = note + "Reading data and loading the encoder…", 0.0
    try:
        for event in job.stream():
            if event is not None:
                status = note + (_status(event, state) or status.removeprefix(note))
            if time.perf_counter() - last > 0.8 or (event is not None and event.stage == "eval"):
                last = time.perf_counter()
                yield charts.training_curves(state["losses"], state["evals"], state["name"]), status, gr.skip(), gr.skip(), gr.skip()
    finally:
        jobs().detach(key, job)
    if job.error is not None:
        yield gr.skip(), _failure(job.error, worker=True), gr.skip(), gr.skip(), gr.skip()
        return
    yield final_view(job.summary())


def run_train(request: TrainRequest, key: str, progress=None, visitor: str | None = None):
    """Generator: starts the run in the service's job table (for the browser ``key``; its finished run
    becomes ``visitor``'s draft) and streams curves; the final yield has the metrics. A run that cannot
    start or fails shows one message in the status line (the other outputs keep what they had).
    ``progress``: gr.Progress (or any callable(fraction, desc=...))."""
    try:
        job = jobs().start(key, request, visitor=visitor)
    except Exception as exc:  # noqa: BLE001 (every failure becomes the status line's message)
        yield gr.skip(), _failure(exc), gr.skip(), gr.skip(), gr.skip()
        return
    yield from _stream(job, key, progress)


def restore(visitor: str | None, request: gr.Request = None):
    """On page load: a run this browser has going is shown again and followed (a reload reattaches);
    else its last finished, unsaved run (a draft: it survives reloads and restarts) is shown, ready to save."""
    key = browser_key(visitor, request)
    job = jobs().attach(key)
    if job is not None:
        yield from _stream(job, key, note="↻ Your run is still going: ")
        return
    job = jobs().get(key)
    draft = jobs().drafts.get(visitor) if jobs().drafts is not None else None
    if job is not None and job.outcome is not None:
        run, finished = job.summary(), draft.finished if draft is not None else time.time()
    elif draft is not None:
        run, finished = draft.run, draft.finished
    else:
        yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return
    when = time.strftime("%H:%M", time.localtime(finished))
    yield final_view(run, note=f"↻ **Your last run (finished at {when}) is kept until you save it or train again "
                               "(24 h at most).** ")


def cancel_train(visitor: str | None = None, request: gr.Request = None) -> str:
    if not jobs().cancel(browser_key(visitor, request)):
        return "Nothing to cancel: no training is running in this browser."
    return "Cancelling… the best head so far will be kept."


def run_calibration(visitor: str | None = None, request: gr.Request = None):
    """The calibration panel of this browser's finished run (after a run, and on page load for a kept one)."""
    found = finished_run(visitor, request)
    if found is None or "labels" not in found[0]:  # no run, or a draft kept before calibration was shown
        return [gr.skip()] * 8
    run = found[0]
    return calibration_panel.show(run.get("calibration"), run["labels"], get_task(run["task"]).shown_confidence,
                                  why_none=run["result"].get("calibration", ""))


@ui_errors
def save_trained(name: str, visitor: str | None = None, request: gr.Request = None, threshold: float | None = None,
                 use_threshold: bool = False) -> str:
    """Save this browser's finished run as a user head owned by this browser (``visitor``); with
    ``use_threshold``, a binary head predicts with the operating point ``threshold``."""
    found = finished_run(visitor, request)
    if found is None:
        raise InputError("expected a finished training run to save, found none; train a head first")
    info = store().add(found[1], name, owner=visitor)
    point = ""
    if use_threshold and threshold is not None and found[0].get("calibration", {}).get("validation"):
        info = store().set_threshold(info.name, float(threshold), visitor=visitor)
        point = f" It predicts {md(found[0]['labels'][1])} from a probability of {float(threshold):.2f}."
    key, value = info.meta.main_metric
    return (f"Saved **{md(info.name)}** ({info.task}, validation {key} {value:.3f}).{point} It is now selectable in "
            "its task tab.")


def build_train_tab(visitor: gr.BrowserState) -> dict:
    """``visitor``: the browser's visitor id (its runs, drafts and saved heads)."""
    start_task = next(iter(TASKS))
    model_defaults, training_defaults = ModelConfig(task=start_task), TrainingConfig()
    with gr.Tab("Train", id="train"):
        modes = " ".join(f"**{h}**: {HEADS[h].description}." for h in HEADS)
        gr.Markdown("Fine-tune a head on your data. **Auto** (the default) picks the recipe from your data and says why: "
                    f"{AUTO_RULE} (small data is fitted by cross-validation: no examples lost to a validation "
                    "split). **Frozen** trains only the head on encoder features computed once; "
                    "**LoRA** adds small low-rank adapters to the encoder; **full** trains every weight (slow on a CPU); "
                    "**contrastive** tunes LoRA adapters (or every weight) on same/different-label pairs (SetFit's idea), then fits the head. "
                    f"Heads — {modes} Uploads: CSV, TSV (unquoted), JSONL or CoNLL, up to {MAX_UPLOAD_BYTES // 2**20} MB.")
        form: dict[str, gr.components.Component] = {}
        with gr.Row():
            form["task"] = gr.Radio([(f"{s.title} ({n})", n) for n, s in TASKS.items()], value=start_task, label="Task",
                                    elem_id="train-task")
            form["source"] = gr.Radio(SOURCE_CHOICES, value="sample", label="Data", elem_id="train-source")
        with gr.Row():
            names = sample_names(start_task)
            form["sample"] = gr.Dropdown(names, value=(names or [None])[0], label="Sample", elem_id="train-sample")
            form["upload"] = gr.File(label="Upload", file_types=[".csv", ".tsv", ".jsonl", ".json", ".conll", ".txt"],
                                     elem_id="train-upload", visible=False)
            form["hub"] = gr.Textbox(label="Hub dataset ID[:CONFIG[:SPLIT]]", placeholder="nyu-mll/glue:sst2:train",
                                     elem_id="train-hub", visible=False)
        write = label_loop.build(start_task, form)
        preview_button = gr.Button("Preview data", elem_id="train-preview")
        counts = gr.Markdown(elem_id="train-counts")
        with gr.Row():
            for key, label in COLUMN_LABELS.items():
                form[key] = gr.Dropdown([""], value="", label=label, visible=False, allow_custom_value=True,
                                        elem_id="train-" + key.replace("_", "-"))
        table = gr.Dataframe(label="Parsed rows (first 20)", interactive=False, elem_id="train-preview-table")
        with gr.Row():
            form["head"] = gr.Radio(heads_for(get_task(start_task)), value=model_defaults.head, label="Head", elem_id="train-head")
            form["pooling"] = gr.Radio(list(POOLINGS), value=model_defaults.pooling, label="Pooling")
            form["pair_mode"] = gr.Radio(list(PAIR_MODES), value=model_defaults.pair_mode, label="Pair mode", visible=False)
            form["pair_features"] = gr.Checkbox(value=True, label="concat: add |a−b| and a∗b",  # concat's default
                                                visible=False)
            form["word_shape"] = gr.Checkbox(value=model_defaults.word_shape, label="Word-shape features", visible=False)
            form["case_markers"] = gr.Checkbox(value=model_defaults.case_markers, label="Case markers",
                                               visible="case_markers" in get_task(start_task).options,
                                               info="a marker token before each capitalised word: the case an "
                                                    "uncased encoder cannot see (names, organisations)")
            form["mode"] = gr.Radio(list(MODES), value=training_defaults.mode, label="Training mode", elem_id="train-mode",
                                    info="auto: chosen from the data (the recipe and the reason show when training starts)")
        with gr.Row():
            form["epochs"] = gr.Number(label="Epochs (0 = default)", value=0, precision=0)
            form["learning_rate"] = gr.Number(label="Learning rate (0 = default)", value=0)
            form["batch_size"] = gr.Number(label="Batch size (0 = default)", value=0, precision=0)
            form["contrastive_body"] = gr.Radio(list(CONTRASTIVE_BODIES), value=training_defaults.contrastive_body,
                                                label="Contrastive tuning moves", elem_id="train-body",
                                                info="lora: adapters, a small head; full: every weight, a little more "
                                                     "accurate on small data, a ~90 MB head")
        with gr.Row():
            form["teacher"] = gr.Dropdown(teacher_names(start_task), value=[], multiselect=True, allow_custom_value=True,
                                          label="Teacher (distillation)", elem_id="train-teacher",
                                          info="a saved head of this task, typically on a larger encoder: its "
                                               "probabilities train the new head beside the gold labels (lora/full); "
                                               "pick several for an ensemble (their mean probabilities)")
            form["distill_weight"] = gr.Slider(0, 1, value=training_defaults.distill_weight, step=0.05,
                                               label="Teacher weight", elem_id="train-teacher-weight",
                                               info="share of the loss on the teacher's soft labels; the rest on the gold labels")
            form["init_from"] = gr.Dropdown([""] + continuable_names(start_task), value="", label="Continue from",
                                            elem_id="train-init-from",
                                            info="a saved head of this task (lora/full) to train on instead of a new "
                                                 "one: its encoder, labels and head carry over; a lower learning "
                                                 "rate (e.g. a fifth) keeps what it knew")
        with gr.Row():
            train_button = gr.Button("Train", variant="primary", elem_id="train-run")  # a sample needs no preview
            cancel_button = gr.Button("Cancel", variant="stop", elem_id="train-cancel")
        status = gr.Markdown(elem_id="train-status")
        curves = gr.Plot(label="Live curves", elem_id="train-curves")
        with gr.Row():
            metrics = gr.Dataframe(label="Validation metrics", interactive=False, elem_id="train-metrics", wrap=True,
                                   column_widths=["36%", "16%", "16%", "16%", "16%"])  # every column in its panel
            matrix = gr.Plot(label="Confusion matrix / per-type scores", elem_id="train-matrix")
        confused = gr.Dataframe(label="Most confused validation examples", interactive=False, wrap=True)
        with gr.Accordion("Calibration: are the probabilities honest?", open=True):
            panel = calibration_panel.build_panel("train")
            use_threshold = gr.Checkbox(label="Save this threshold with the head (its predictions then use it instead "
                                              "of the argmax)", value=False, elem_id="train-use-threshold")
        with gr.Row():
            name = gr.Textbox(label="Head name", placeholder=get_task(start_task).name_example, elem_id="train-name")
            save_button = gr.Button("Save head", elem_id="train-save")
        saved = gr.Markdown(elem_id="train-saved")
        loop = label_loop.build_loop()
        retrain = gr.State(False)

        def by_name(values: dict) -> dict[str, Any]:
            return {key: values[component] for key, component in form.items() if component in values}

        def preview(values):
            return on_preview(by_name(values))

        def train(values, request: gr.Request = None, progress=gr.Progress()):  # noqa: B008 (gradio injects it)
            visitor_id = values.get(visitor)  # the inputs are a set: one dict of {component: value}
            try:
                fields = by_name(values)
                if fields.get("source") == "write":  # the table, checked, kept and written as the run's file
                    fields["write_path"] = label_loop.typed_file(visitor_id, fields["task"], fields.get("write"))
                train_request = read_form(fields)
            except Exception as exc:  # noqa: BLE001 (one message in the status line)
                yield gr.skip(), _failure(exc), gr.skip(), gr.skip(), gr.skip()
                return
            yield from run_train(train_request, browser_key(visitor_id, request), progress, visitor=visitor_id)

        def train_again(values, request: gr.Request = None, progress=gr.Progress()):  # noqa: B008 (gradio injects it)
            """Train after "Add" or "Apply", when they changed the examples."""
            if not values.get(retrain):
                yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
                return
            yield from train(values, request, progress)

        previewed = [table, counts, form["text_column"], form["text_pair_column"], form["label_column"], train_button]
        form["task"].change(on_task_change, [form["task"]], [name, *(form[k] for k in (  # a form update: no queue
            "teacher", "init_from", "sample", "head", "pair_mode", "pair_features", "pooling", "word_shape", "case_markers"))],
            queue=False)
        columns = [form["text_column"], form["text_pair_column"], form["label_column"]]
        form["source"].change(on_source_change, [form["source"]],  # a pure form update: no queue, no wait
                              [form["sample"], form["upload"], form["hub"], write["box"], train_button, *columns,
                               preview_button], queue=False)
        preview_button.click(preview, set(form.values()), previewed)
        # a built-in sample previews itself, with its own columns (not the ones of the data before)
        form["sample"].change(_no_columns, None, columns, queue=False).then(preview, set(form.values()), previewed)
        for changed in (form["upload"].upload, form["upload"].clear, form["hub"].input):
            changed(on_new_data, None, [train_button, *columns], queue=False)
        for changed in (c.input for c in columns):
            changed(needs_preview, None, [train_button], queue=False)
        train_event = train_button.click(train, {*form.values(), visitor}, [curves, status, metrics, matrix, confused],
                                         concurrency_limit=2)
        train_event.then(run_calibration, [visitor], panel.outputs).then(label_loop.record_round, [visitor], [loop["rounds"]])
        _wire_loop(form, write, loop, visitor, retrain, train_again, [curves, status, metrics, matrix, confused], panel)
        cancel_button.click(cancel_train, [visitor], [status], queue=False)
        form["teacher"].focus(_refresh_teachers,
                              [form["task"], form["teacher"]], [form["teacher"]], queue=False)  # heads saved since
        form["init_from"].focus(_refresh_starts, [form["task"], form["init_from"]], [form["init_from"]], queue=False)
    return {"save_button": save_button, "name": name, "saved": saved, "train_event": train_event, "write": write,
            "loop": loop, "task": form["task"], "source": form["source"],
            "results": [curves, status, metrics, matrix, confused], "calibration": panel.outputs,
            "threshold": panel.threshold, "use_threshold": use_threshold}


def _wire_loop(form: dict, write: dict, loop: dict, visitor, retrain, train_again, results: list, panel) -> None:
    """The typed examples' live check and persistence, and the improve panel's suggest / add / audit / apply,
    each change of the examples followed by a run (and the round it makes)."""
    task, table = form["task"], write["table"]
    # edits send their requests unqueued, so their answers may cross: "always_last" runs the latest edit after
    # the one in flight, and the check line and the kept rows end on the table's last value
    table.change(label_loop.on_table_change, [visitor, task, table], [write["check"]], queue=False,
                 trigger_mode="always_last")
    write["paste"].click(label_loop.add_pasted, [task, table, write["pasted"]], [table, write["check"], write["pasted"]],
                         queue=False)
    task.change(label_loop.on_task_change, [visitor, task], [table, write["check"], loop["suggestions"], loop["suspects"]],
                queue=False)
    loop["pool"].blur(label_loop.on_pool_change, [visitor, loop["pool"]], None, queue=False)
    loop["suggestions"].change(label_loop.on_suggestions_change, [visitor, loop["suggestions"]], None, queue=False,
                               trigger_mode="always_last")
    loop["suggest"].click(label_loop.on_suggest, [visitor, task, table, loop["pool"], loop["pool_file"], loop["k"]],
                          [loop["suggestions"], loop["status"]], concurrency_limit=1)
    loop["audit"].click(label_loop.on_audit, [task, table], [loop["suspects"], loop["status"]], concurrency_limit=1)
    inputs = {*form.values(), visitor, retrain}
    for changed in (
        loop["add"].click(label_loop.add_labelled, [visitor, task, table, loop["suggestions"], loop["pool"]],
                          [table, loop["suggestions"], loop["pool"], form["source"], loop["status"], retrain]),
        loop["apply"].click(label_loop.apply_suspects, [visitor, task, table, loop["suspects"]],
                            [table, loop["suspects"], form["source"], loop["status"], retrain]),
    ):
        changed.then(train_again, inputs, results, concurrency_limit=2).then(
            run_calibration, [visitor], panel.outputs).then(label_loop.record_round, [visitor], [loop["rounds"]])
