"""Text classification, Paraphrase / NLI and NER tabs: handlers (plain functions) and layouts."""

from __future__ import annotations

import html
import time

import gradio as gr

from ..errors import InputError
from ..heads import get_head
from ..tasks import max_text_chars
from . import charts, why
from .context import md, no_head_notice, store, ui_errors

ENTITY_COLORS = {"PER": "#fca5a5", "ORG": "#93c5fd", "LOC": "#86efac", "MISC": "#fde68a"}
SEQUENCE_EXAMPLES = [
    "A gripping, beautifully acted film that stays with you for days.",
    "The plot is a mess and the jokes fall flat; two hours I will never get back.",
    "Not bad at all, though the ending drags a little.",
]
PAIR_EXAMPLES = [
    ["A man is playing a guitar on stage.", "A person is playing an instrument."],
    ["A man is playing a guitar on stage.", "Nobody is playing music."],
    ["The company said quarterly profit rose 10 percent.", "Quarterly profit at the company climbed 10 percent, it said."],
    ["A child is running through a field of flowers.", "A kid is sleeping in a bed."],
]
MAX_HEAT_MAP_WORDS = 200

#: The head each task tab opens on when it exists (else the first by name): the one its tab's name and
#: examples are about. The pair tab is "Paraphrase / NLI": it opens on paraphrase, NLI one pick away.
DEFAULT_HEADS = {"sequence": "sentiment-sst2", "pair": "paraphrase-mrpc", "token": "ner-conll2003"}
#: The NER entity table's columns (entity, type, confidence, start, end) as shares of its panel.
NER_TABLE_WIDTHS = ["40%", "14%", "18%", "14%", "14%"]
#: Pair heads listed by name under the pair tab's picker at most (the rest are counted).
MAX_LISTED_HEADS = 6

#: Prediction events share one concurrency group, wide enough that concurrent users' requests reach
#: the serving engine together (it batches them on one worker thread).
SERVING = {"concurrency_id": "predict", "concurrency_limit": 64}

NER_EXAMPLES = [
    "Angela Merkel met Emmanuel Macron in Paris to discuss the future of the European Union.",
    "Apple is planning to open a new store in London next spring, Tim Cook told Reuters.",
    "Novak Djokovic beat Rafael Nadal at the French Open on Sunday.",
]


def _text(value: str, what: str = "text") -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"expected some {what}, got an empty box; type or pick an example")
    return value


def _head(name: str | None, task: str) -> str:
    if not name:
        raise InputError(f"expected a head to be selected, got none; {no_head_notice(task)}")
    return name


async def _timed(name: str, *args):
    """(first prediction, milliseconds, the head's metadata): served by the engine, batched with other users'
    requests. The handlers are coroutines: gradio awaits them on its event loop, and the answer comes back
    from the engine's worker as a future, with no thread of gradio's pool held for it (under load that hop
    cost more than the chart)."""
    t0 = time.perf_counter()
    info = store().info(name)
    found = await store().engine.predict_async(info.path, *args)
    return found[0], 1000 * (time.perf_counter() - t0), info.meta


def _summary(pred, ms: float, name: str, meta, extra: str = "") -> str:
    notice = ("\n\n⚠️ The input was longer than the encoder's maximum and was **truncated** "
              f"to {meta.model.max_length} tokens." if pred.truncated else "")
    return (f"**{md(pred.label)}** with probability {pred.score:.1%} · latency **{ms:.0f} ms** · head `{name}` "
            f"({meta.model.head} head, {meta.mode}{extra}){notice}")


def _one_label_view(pred, ms: float, name: str, meta):
    return pred.probabilities, charts.probability_bars(pred.probabilities), _summary(pred, ms, name, meta)


def _label_set_view(pred, ms: float, name: str, meta):
    """A multi-label prediction: the chosen labels as chips, and a bar per label with its threshold marked."""
    chips = " ".join(f'<span class="ftclf-chip">{html.escape(label)} {pred.probabilities[label]:.0%}</span>'
                     for label in pred.labels) or '<span class="ftclf-chip ftclf-chip-none">no label</span>'
    summary = (f"{chips}\n\n{len(pred.labels)} of {len(pred.probabilities)} labels reach their thresholds (tuned per "
               f"label on validation) · latency **{ms:.0f} ms** · head `{name}` ({meta.model.head} head, {meta.mode}, "
               "one sigmoid per label)" + ("\n\n⚠️ The input was longer than the encoder's maximum and was "
                                           f"**truncated** to {meta.model.max_length} tokens." if pred.truncated else ""))
    return pred.probabilities, charts.label_set_bars(pred.probabilities, pred.thresholds), summary


#: How the Text classification tab draws a prediction, by its task's ``widget``.
VIEWS = {"probability_bars": _one_label_view, "label_set": _label_set_view}


@ui_errors
async def predict_sequence(head: str, text: str):
    """-> (label probabilities for gr.Label, plotly bar chart, summary markdown), drawn as the head's task says:
    one label of many, or a label set (chips, and each label's probability against its threshold)"""
    name = _head(head, "sequence")
    pred, ms, meta = await _timed(name, [_text(text)])
    if pred.truncated:
        gr.Warning("The text was truncated to the encoder's maximum length.")
    return VIEWS[meta.model.task_spec.widget](pred, ms, name, meta)


@ui_errors
async def predict_pair(head: str, text: str, text_pair: str):
    name = _head(head, "pair")
    pred, ms, meta = await _timed(name, [_text(text, "first text")], [_text(text_pair, "second text")])
    mode = meta.model.pair_mode
    how = "joint [CLS] a [SEP] b [SEP]" if mode == "cross" else "concat(h_a, h_b) of separate encodings"
    if pred.truncated:
        gr.Warning("The pair was truncated to the encoder's maximum length.")
    return pred.probabilities, charts.probability_bars(pred.probabilities), _summary(pred, ms, name, meta, f", {mode}-mode: {how}")


def highlight(text: str, entities, threshold: float) -> tuple[list[tuple[str, str | None]], dict[str, str]]:
    """Text segments for gr.HighlightedText, entity labels carrying their confidence ("PER 0.97")."""
    segments, colors, cursor = [], {}, 0
    for e in entities:
        if e.score < threshold:
            continue
        if e.start > cursor:
            segments.append((text[cursor : e.start], None))
        tag = f"{e.label} {e.score:.2f}"
        segments.append((text[e.start : e.end], tag))
        colors[tag] = ENTITY_COLORS.get(e.label, "#d8b4fe")
        cursor = e.end
    if cursor < len(text):
        segments.append((text[cursor:], None))
    return segments, colors


def entity_view(pred, meta, name: str, threshold: float, ms: float):
    """(highlighted text, entity table rows, per-token heat map, summary markdown) of one prediction."""
    segments, colors = highlight(pred.text, pred.entities, threshold)
    shown = [e for e in pred.entities if e.score >= threshold]
    rows = [[e.text, e.label, round(e.score, 3), e.start, e.end] for e in shown]
    heat = pred.words[:MAX_HEAT_MAP_WORDS]  # a readable heat map (and a bounded response)
    fig = charts.token_heatmap([w.word for w in heat], pred.labels, [w.probabilities for w in heat])
    decoder = ("the best whole tag path (Viterbi), confidences are its marginals"
               if get_head(meta.model.head).structured else "per-token softmax argmax")
    hidden = len(pred.entities) - len(shown)
    info = (f"**{len(shown)} entities** above confidence {threshold:.2f}"
            + (f" ({hidden} below it hidden)" if hidden else "")
            + f" · latency **{ms:.0f} ms** · head `{name}` · decoding: {decoder}"
            + (" · ⚠️ long text tagged in several windows" if pred.windowed else "")
            + (f" · ⚠️ only the first {max_text_chars():,} characters were tagged" if pred.truncated else "")
            + (f" · heat map: the first {len(heat)} of {len(pred.words)} words" if len(pred.words) > len(heat) else ""))
    return gr.HighlightedText(value=segments, color_map=colors), rows, fig, info


@ui_errors
async def tag_entities(head: str, text: str, threshold: float = 0.5):
    """-> (highlighted text, entity table rows, per-token heat map, summary markdown)"""
    name = _head(head, "token")
    pred, ms, meta = await _timed(name, [_text(text)])
    return entity_view(pred, meta, name, threshold, ms)


#: The tasks whose heads each tab serves (the Text classification tab: one label or a label set per text).
TAB_TASKS = {"sequence": ("sequence", "multilabel")}


def tab_heads(task: str) -> list[str]:
    """The names of the heads a task tab lists."""
    return [name for t in TAB_TASKS.get(task, (task,)) for name in store().names(t)]


def default_head(task: str, names: list[str]) -> str | None:
    """The head a task tab opens on: its :data:`DEFAULT_HEADS` entry where it exists, else the first name."""
    preferred = DEFAULT_HEADS.get(task)
    return preferred if preferred in names else (names[0] if names else None)


def head_picker(task: str, elem_id: str) -> gr.Dropdown:
    names = tab_heads(task)
    # any head that exists when the event runs is accepted (one saved after the page loaded, too): the
    # handler checks the name against the store, not against this page's choice list
    return gr.Dropdown(choices=names, value=default_head(task, names), label="Head", interactive=True, elem_id=elem_id,
                       allow_custom_value=True)


def refresh_picker(task: str, current: str | None = None):
    """(picker, no-head notice) on a page load: the browser's choice kept while its head exists."""
    names = tab_heads(task)
    value = current if current in names else default_head(task, names)
    return gr.Dropdown(choices=names, value=value), gr.Markdown(no_head_notice(task), visible=not names)


def pair_heads_md() -> str:
    """One line naming each pair head and what it decides (its labels, read from the store), the tab's
    default first: paraphrase or not, entailment / neutral / contradiction, or a user head's own labels."""
    infos = store().list("pair")
    if not infos:
        return ""
    first = default_head("pair", [i.name for i in infos])
    infos.sort(key=lambda i: i.name != first)  # stable: the rest stay in name order
    listed = [f"**{md(i.name)}** decides {md(' / '.join(i.meta.model.labels))}" for i in infos[:MAX_LISTED_HEADS]]
    more = len(infos) - len(listed)
    return ("**Pair heads**: " + " · ".join(listed) + (f" · and {more} more in the picker" if more else "")
            + ". Pick one above.")


def build_sequence_tab() -> dict:
    with gr.Tab("Text classification", id="sentiment"):
        gr.Markdown("Text classification: one label for a text, from any label set a head was trained on (topics, "
                    "intents, spam …). The first shipped head, `sentiment-sst2`, tells **positive** from "
                    "**negative** reviews; train your own in **Train**. The encoder's pooled vector **h** goes "
                    "through the head, y = softmax(h·W + b) (eq. 11.11). A **multi-label** head (such as `mentions-conll2003`) "
                    "gives each label its own sigmoid and answers every label that reaches its threshold.")
        notice = gr.Markdown(no_head_notice("sequence"), visible=not tab_heads("sequence"))
        with gr.Row():
            with gr.Column():
                head = head_picker("sequence", "sentiment-head")
                text = gr.Textbox(label="Text", lines=3, placeholder="Type a text (a review, a message, a headline …)", elem_id="sentiment-text")
                button = gr.Button("Classify", variant="primary", elem_id="sentiment-run")
                gr.Examples([[e] for e in SEQUENCE_EXAMPLES], inputs=[text], cache_examples=False)
            with gr.Column():
                label = gr.Label(label="Prediction", elem_id="sentiment-label")
                plot = gr.Plot(label="Probabilities", elem_id="sentiment-plot")
                summary = gr.Markdown(elem_id="sentiment-summary")
        gr.on([button.click, text.submit], predict_sequence, [head, text], [label, plot, summary], api_name="sentiment",
              **SERVING)
        why.build_text_why("sentiment", head, text, SERVING)
    return {"task": "sequence", "picker": head, "notice": notice}


def build_pair_tab() -> dict:
    with gr.Tab("Paraphrase / NLI", id="pair"):
        gr.Markdown("Sequence-pair classification: either one joint pass over `[CLS] a [SEP] b [SEP]` (cross mode) "
                    "or two separate encodings concatenated, concat(h_a, h_b) (concat mode, Proposition 1.1).")
        notice = gr.Markdown(no_head_notice("pair"), visible=not store().names("pair"))
        with gr.Row():
            with gr.Column():
                head = head_picker("pair", "pair-head")
                gr.Markdown(pair_heads_md, elem_id="pair-heads")  # a callable: read again on every page load
                a = gr.Textbox(label="First text (premise)", lines=2, elem_id="pair-a")
                b = gr.Textbox(label="Second text (hypothesis)", lines=2, elem_id="pair-b")
                button = gr.Button("Classify pair", variant="primary", elem_id="pair-run")
                gr.Examples(PAIR_EXAMPLES, inputs=[a, b], cache_examples=False)
            with gr.Column():
                label = gr.Label(label="Prediction", elem_id="pair-label")
                plot = gr.Plot(label="Probabilities", elem_id="pair-plot")
                summary = gr.Markdown(elem_id="pair-summary")
        gr.on([button.click, a.submit, b.submit], predict_pair, [head, a, b], [label, plot, summary], api_name="pair",
              **SERVING)
        why.build_pair_why("pair", head, a, b, SERVING)
    return {"task": "pair", "picker": head, "notice": notice}


def build_ner_tab() -> dict:
    with gr.Tab("NER", id="ner"):
        gr.Markdown("Sequence labelling: every word's vector h_i is scored, y_i = softmax(h_i·W + b) (eq. 11.12), "
                    "and tagged by argmax (eq. 11.13) or, with a CRF head, by the best joint tag path (Viterbi).")
        notice = gr.Markdown(no_head_notice("token"), visible=not store().names("token"))
        with gr.Row():
            with gr.Column():
                head = head_picker("token", "ner-head")
                text = gr.Textbox(label="Text", lines=3, elem_id="ner-text")
                threshold = gr.Slider(0.0, 1.0, value=0.5, step=0.05, label="Confidence threshold", elem_id="ner-threshold")
                button = gr.Button("Find entities", variant="primary", elem_id="ner-run")
                gr.Examples([[e] for e in NER_EXAMPLES], inputs=[text], cache_examples=False)
            with gr.Column():
                spans = gr.HighlightedText(label="Entities (label and confidence)", elem_id="ner-spans", show_legend=False)
                # widths as shares of the panel and long entities wrapped: every column stays in view
                table = gr.Dataframe(headers=["entity", "type", "confidence", "start", "end"], label="Entities",
                                     interactive=False, wrap=True, column_widths=NER_TABLE_WIDTHS, elem_id="ner-table")
                summary = gr.Markdown(elem_id="ner-summary")
        heat = gr.Plot(label="Per-token label probabilities", elem_id="ner-heatmap")
        gr.on([button.click, text.submit, threshold.release], tag_entities, [head, text, threshold],
              [spans, table, heat, summary], api_name="ner", **SERVING)
        why.build_entity_why("ner", head, text, SERVING)
    return {"task": "token", "picker": head, "notice": notice}
