"""Train tab: data (sample / upload / hub), preview with column mapping, head and mode options,
live progress and curves, final metrics, confusion matrix, most-confused examples, save."""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field

import gradio as gr

from ..errors import FtclfError, InputError
from ..service import MAX_UPLOAD_BYTES, TrainJob, TrainOutcome, preview, run_training, samples
from . import charts
from .context import store, ui_errors

TASK_CHOICES = [("Sentiment / text (sequence)", "sequence"), ("Paraphrase / NLI (pair)", "pair"), ("NER (token)", "token")]
SOURCE_CHOICES = [("Built-in sample", "sample"), ("Upload a file", "upload"), ("Hugging Face dataset (online)", "hub")]


@dataclass
class Job:
    """One training run of one browser session."""

    cancel: threading.Event = field(default_factory=threading.Event)
    events: queue.Queue = field(default_factory=queue.Queue)
    outcome: TrainOutcome | None = None
    error: Exception | None = None
    thread: threading.Thread | None = None


JOBS: dict[str, Job] = {}
MAX_KEPT_JOBS = 8  # finished runs keep their classifier until saved; older ones are dropped


def _remember(session: str, job: Job) -> None:
    JOBS.pop(session, None)
    JOBS[session] = job
    finished = [k for k, j in JOBS.items() if k != session and not (j.thread and j.thread.is_alive())]
    for key in finished[: max(0, len(JOBS) - MAX_KEPT_JOBS)]:
        del JOBS[key]


def _session(request) -> str:
    return getattr(request, "session_hash", None) or "default"


def sample_names(task: str) -> list[str]:
    return [s.name for s in samples() if s.task == task]


def make_job(task, source, sample_name, upload, hub, text_col, pair_col, label_col, head="linear", pooling="mean",
             pair_mode="cross", mode="frozen", epochs=None, learning_rate=None, batch_size=None) -> TrainJob:
    path = {"sample": sample_name, "upload": getattr(upload, "name", upload), "hub": hub}.get(source)
    return TrainJob(
        task=task, source=source, path=path or "", head=head, mode=mode, pooling=pooling, pair_mode=pair_mode,
        epochs=int(epochs) if epochs else None, learning_rate=float(learning_rate) if learning_rate else None,
        batch_size=int(batch_size) if batch_size else None,
        text_column=text_col or None, text_pair_column=pair_col or None, label_column=label_col or None,
    )


@ui_errors
def on_preview(task, source, sample_name, upload, hub, text_col=None, pair_col=None, label_col=None):
    """-> (preview rows, counts markdown, text / pair / label column dropdowns)"""
    info = preview(make_job(task, source, sample_name, upload, hub, text_col, pair_col, label_col))
    rows = info["rows"]
    headers = list(rows[0].keys()) if rows else []
    what = "entities per type" if task == "token" else "examples per label"
    counts = ", ".join(f"{k}: {v}" for k, v in sorted(info["counts"].items()))
    md = f"**{info['examples']} examples** parsed · {what}: {counts}"
    cols = [""] + info["columns"]
    dropdowns = [gr.Dropdown(choices=cols, value=v or "", visible=bool(info["columns"])) for v in (text_col, pair_col, label_col)]
    return (gr.Dataframe(value=[list(r.values()) for r in rows], headers=headers), md, *dropdowns)


def on_task_change(task):
    names = sample_names(task)
    heads = ["linear", "mlp", "crf"] if task == "token" else ["linear", "mlp"]
    return (
        gr.Dropdown(choices=names, value=names[0] if names else None),
        gr.Radio(choices=heads, value="crf" if task == "token" else "linear"),
        gr.Radio(visible=task == "pair"),
        gr.Radio(visible=task != "token"),
    )


def _metrics_table(task: str, metrics: dict) -> tuple[list[str], list[list]]:
    if task == "token":
        rows = [[t, round(m["precision"], 4), round(m["recall"], 4), round(m["f1"], 4), m["support"]]
                for t, m in sorted(metrics["per_type"].items())]
        rows.append(["overall (micro)", round(metrics["precision"], 4), round(metrics["recall"], 4), round(metrics["f1"], 4),
                     sum(m["support"] for m in metrics["per_type"].values())])
        return ["entity type", "precision", "recall", "f1", "support"], rows
    rows = [[c, round(m["precision"], 4), round(m["recall"], 4), round(m["f1"], 4), m["support"]]
            for c, m in metrics["per_class"].items()]
    rows.append(["macro average", "", "", round(metrics["f1"], 4), metrics["examples"]])
    return ["class", "precision", "recall", "f1", "support"], rows


def _final_outputs(task: str, outcome: TrainOutcome, losses, evals, name):
    result = outcome.result
    m = result.metrics
    headers, rows = _metrics_table(task, m)
    if task == "token":
        figure = charts.per_type_bars(m["per_type"])
        headline = (f"entity F1 **{m['f1']:.3f}** (P {m['precision']:.3f}, R {m['recall']:.3f}), invalid IOB2 "
                    f"transitions {m['invalid_transition_rate']:.2%}")
    else:
        figure = charts.confusion_heatmap(m["confusion_matrix"], m["labels"])
        headline = f"accuracy **{m['accuracy']:.3f}**, macro-F1 **{m['f1']:.3f}**"
        if "f1_positive" in m:
            headline += f", F1 of `{m['labels'][1]}` {m['f1_positive']:.3f}"
    state = "cancelled — the best head so far is kept" if result.cancelled else "finished"
    status = (f"Training {state} in {result.seconds:.0f} s ({len(result.history)} evaluations"
              f"{', stopped early' if result.stopped_early else ''}). Validation ({len(result.validation_examples)} "
              f"examples): {headline}. Name the head below and save it to use it in the task tabs.")
    confused = outcome.confused
    confused_value = gr.Dataframe(value=[list(r.values()) for r in confused], headers=list(confused[0].keys()) if confused else ["(none)"])
    return (charts.training_curves(losses, evals, name), status, gr.Dataframe(value=rows, headers=headers), figure, confused_value)


def run_train(task, source, sample_name, upload, hub, text_col, pair_col, label_col, head, pooling, pair_mode, mode,
              epochs, learning_rate, batch_size, request: gr.Request = None, progress=gr.Progress()):
    """Generator: trains in a worker thread and streams curves; the final yield has the metrics."""
    try:
        job_spec = make_job(task, source, sample_name, upload, hub, text_col, pair_col, label_col, head, pooling,
                            pair_mode, mode, epochs, learning_rate, batch_size)
        from ..service import resolve_data_path

        resolve_data_path(job_spec)  # upload size, sample/task match: fail before starting a thread
    except FtclfError as exc:
        raise gr.Error(str(exc)) from exc
    session = _session(request)
    if session in JOBS and JOBS[session].thread and JOBS[session].thread.is_alive():
        raise gr.Error("A training run is already going in this browser session; wait for it or cancel it.")
    job = Job()
    _remember(session, job)

    def work():
        try:
            job.outcome = run_training(job_spec, on_event=job.events.put, cancel=job.cancel)
        except Exception as exc:  # reported to the user below; the server keeps serving
            job.error = exc

    job.thread = threading.Thread(target=work, daemon=True, name=f"ftclf-train-{session}")
    job.thread.start()
    losses, evals, name, last = [], [], "metric", 0.0
    status = "Reading data and loading the encoder…"
    while job.thread.is_alive() or not job.events.empty():
        try:
            event = job.events.get(timeout=0.3)
        except queue.Empty:
            event = None
        if event is not None:
            if event.stage == "features":
                progress(event.step / max(1, event.total_steps), desc=f"encoding {event.metric_name} once (frozen encoder)")
                status = f"Encoding the {event.metric_name} texts once ({event.step}/{event.total_steps} batches)…"
            elif event.stage in ("train", "eval"):
                frac = event.step / max(1, event.total_steps)
                eta = f", about {event.eta_seconds:.0f} s left" if event.eta_seconds is not None else ""
                progress(frac, desc=f"epoch {event.epoch:.1f}{eta}")
                if event.loss is not None:
                    losses.append((event.step, event.loss))
                if event.stage == "eval" and event.metric is not None:
                    evals.append((event.step, event.metric))
                    name = event.metric_name
                status = f"Training: step {event.step}/{event.total_steps}, epoch {event.epoch:.1f}{eta}."
                if evals:
                    status += f" Last validation {name}: {evals[-1][1]:.3f}."
        if time.perf_counter() - last > 0.8 or (event is not None and event.stage == "eval"):
            last = time.perf_counter()
            yield charts.training_curves(losses, evals, name), status, gr.skip(), gr.skip(), gr.skip()
    if job.error is not None:
        message = str(job.error) if isinstance(job.error, FtclfError) else f"Training failed: {type(job.error).__name__}: {job.error}"
        raise gr.Error(message)
    yield _final_outputs(task, job.outcome, losses, evals, name)


def cancel_train(request: gr.Request = None) -> str:
    job = JOBS.get(_session(request))
    if job is None or job.thread is None or not job.thread.is_alive():
        return "Nothing to cancel: no training is running in this session."
    job.cancel.set()
    return "Cancelling… the best head so far will be kept."


@ui_errors
def save_trained(name: str, request: gr.Request = None) -> str:
    job = JOBS.get(_session(request))
    if job is None or job.outcome is None:
        raise InputError("expected a finished training run to save, found none; train a head first")
    info = store().add(job.outcome.classifier, name)
    key, value = info.main_metric
    return f"Saved **{info.name}** ({info.task}, validation {key} {value:.3f}). It is now selectable in its task tab."


def build_train_tab() -> dict:
    with gr.Tab("Train", id="train"):
        gr.Markdown("Fine-tune a head on your data. **Frozen** trains only the head on encoder features computed once; "
                    "**LoRA** adds small low-rank adapters to the encoder; **full** trains every weight (slow on a CPU). "
                    f"Uploads: CSV, TSV (unquoted), JSONL or CoNLL, up to {MAX_UPLOAD_BYTES // 2**20} MB.")
        with gr.Row():
            task = gr.Radio(TASK_CHOICES, value="sequence", label="Task", elem_id="train-task")
            source = gr.Radio(SOURCE_CHOICES, value="sample", label="Data", elem_id="train-source")
        with gr.Row():
            sample = gr.Dropdown(sample_names("sequence"), value=(sample_names("sequence") or [None])[0], label="Sample", elem_id="train-sample")
            upload = gr.File(label="Upload", file_types=[".csv", ".tsv", ".jsonl", ".json", ".conll", ".txt"], elem_id="train-upload", visible=False)
            hub = gr.Textbox(label="Hub dataset ID[:CONFIG[:SPLIT]]", placeholder="glue:sst2:train", elem_id="train-hub", visible=False)
        preview_button = gr.Button("Preview data", elem_id="train-preview")
        counts = gr.Markdown()
        with gr.Row():
            text_col = gr.Dropdown([""], value="", label="Text column", visible=False, allow_custom_value=True)
            pair_col = gr.Dropdown([""], value="", label="Second text column", visible=False, allow_custom_value=True)
            label_col = gr.Dropdown([""], value="", label="Label column", visible=False, allow_custom_value=True)
        table = gr.Dataframe(label="Parsed rows (first 20)", interactive=False, elem_id="train-preview-table")
        with gr.Row():
            head = gr.Radio(["linear", "mlp"], value="linear", label="Head", elem_id="train-head")
            pooling = gr.Radio(["mean", "cls"], value="mean", label="Pooling")
            pair_mode = gr.Radio(["cross", "concat"], value="cross", label="Pair mode", visible=False)
            mode = gr.Radio(["frozen", "lora", "full"], value="frozen", label="Training mode", elem_id="train-mode")
        with gr.Row():
            epochs = gr.Number(label="Epochs (0 = default)", value=0, precision=0)
            lr = gr.Number(label="Learning rate (0 = default)", value=0)
            batch = gr.Number(label="Batch size (0 = default)", value=0, precision=0)
        with gr.Row():
            train_button = gr.Button("Train", variant="primary", elem_id="train-run")
            cancel_button = gr.Button("Cancel", variant="stop", elem_id="train-cancel")
        status = gr.Markdown(elem_id="train-status")
        curves = gr.Plot(label="Live curves", elem_id="train-curves")
        with gr.Row():
            metrics = gr.Dataframe(label="Validation metrics", interactive=False, elem_id="train-metrics")
            matrix = gr.Plot(label="Confusion matrix / per-type scores", elem_id="train-matrix")
        confused = gr.Dataframe(label="Most confused validation examples", interactive=False, wrap=True)
        with gr.Row():
            name = gr.Textbox(label="Head name", placeholder="my-sentiment-head", elem_id="train-name")
            save_button = gr.Button("Save head", elem_id="train-save")
        saved = gr.Markdown(elem_id="train-saved")

        task.change(on_task_change, [task], [sample, head, pair_mode, pooling])
        source.change(lambda src: [gr.update(visible=src == v) for v in ("sample", "upload", "hub")], [source], [sample, upload, hub])
        data_inputs = [task, source, sample, upload, hub, text_col, pair_col, label_col]
        preview_button.click(on_preview, data_inputs, [table, counts, text_col, pair_col, label_col])
        train_event = train_button.click(
            run_train, data_inputs + [head, pooling, pair_mode, mode, epochs, lr, batch],
            [curves, status, metrics, matrix, confused], concurrency_limit=2,
        )
        cancel_button.click(cancel_train, None, [status], queue=False)
    return {"save_button": save_button, "name": name, "saved": saved, "train_event": train_event}
