"""The "Why?" views of the task tabs: word attributions (``ftclf.attribution``) as highlighted text, for
a chosen label, or for one entity of a NER prediction."""

from __future__ import annotations

import time

import gradio as gr

from ..attribution import DEFAULT_METHOD, METHODS, attribute
from ..errors import InputError
from .context import md, store, ui_errors

PREDICTED = "(the predicted label)"
METHOD_NAMES = {"occlusion": "occlusion (leave one word out)", "integrated_gradients": "integrated gradients"}
#: highlighted words at most (a long text keeps its first ones; the rest is plain text)
MAX_WORDS = 400


def scored_segments(text: str, words) -> list[tuple[str, float | None]]:
    """``text`` cut into gr.HighlightedText segments: each word with its score scaled so the strongest
    is ±1 (positive: supports the label), the text between words unscored."""
    words = list(words)[:MAX_WORDS]
    peak = max((abs(w.score) for w in words), default=0.0) or 1.0
    segments, cursor = [], 0
    for w in words:
        if w.start > cursor:
            segments.append((text[cursor:w.start], None))
        segments.append((text[w.start:w.end], round(w.score / peak, 3)))
        cursor = w.end
    if cursor < len(text):
        segments.append((text[cursor:], None))
    return segments


def input_segments(clf, text: str, text_pair: str | None) -> list[tuple[str, float | None]]:
    """One input's words scored (occlusion of the predicted label; for a pair, both texts one after the other;
    for a tagger, every entity's evidence summed), as gr.HighlightedText segments."""
    (a,) = attribute(clf, [text], clf.task.second_texts([text_pair or ""]))
    segments = scored_segments(text, a.words)
    if a.pair_words is not None:
        segments += [("  ‖  ", None)] + scored_segments(text_pair or "", a.pair_words)
    return segments


def _top(words, n: int = 3) -> str:
    ranked = sorted(words, key=lambda w: -w.score)[:n]
    return ", ".join(f"**{md(w.word)}** ({w.score:+.3f})" for w in ranked if w.score > 0) or "no word"


def _target(choice: str | None) -> str | None:
    return None if not choice or choice == PREDICTED else choice


def _method(choice: str | None) -> str:
    for key, name in METHOD_NAMES.items():
        if choice in (key, name):
            return key
    return DEFAULT_METHOD


def _explain(head: str, texts, pairs, target, method):
    if not head:
        raise InputError("expected a head to be selected, got none; pick one")
    info = store().info(head)
    t0 = time.perf_counter()
    (a,) = store().engine.attribute(info.path, texts, pairs, target=target, method=method)
    return a, 1000 * (time.perf_counter() - t0)


def _summary(a, ms: float) -> str:
    delta = f" · completeness gap (Captum's delta) {a.delta:+.4f}" if a.delta is not None else ""
    return (f"Why **{md(a.target)}** ({a.probability:.1%}): red words support it, blue words speak against it. "
            f"Strongest: {_top(list(a.words) + list(a.pair_words or []))} · {METHOD_NAMES[a.method]} · "
            f"{ms:.0f} ms{delta}")


def struck(text: str, removed) -> str:
    """``text`` as inert Markdown with the ``removed`` words struck through."""
    out, last = [], 0
    for w in sorted(removed, key=lambda w: w.start):
        out.append(md(text[last:w.start]) + f"~~{md(w.word)}~~")
        last = w.end
    return "".join(out) + md(text[last:])


def _flip(head: str, a, text: str, text_pair: str | None) -> str:
    """The minimal flip of a predicted label, as a line of Markdown (only when the predicted label is explained)."""
    if a.target != a.label:
        return ""
    flip = store().engine.minimal_flip(store().info(head).path, a, text, text_pair)
    n = len(flip.removed) + len(flip.removed_pair)
    shown = struck(text, flip.removed) + (f"  ‖  {struck(text_pair, flip.removed_pair)}" if text_pair is not None else "")
    if flip.label is None:
        return f"\n\n**Minimal flip**: removing all {n} supporting words keeps **{md(a.label)}**: {shown}"
    return (f"\n\n**Minimal flip**: removing {n} word{'s' if n != 1 else ''} makes it **{md(flip.label)}** "
            f"({flip.probability:.1%}): {shown}")


@ui_errors
def why_text(head: str, text: str, target: str | None, method: str | None):
    """-> (highlighted text, summary markdown)"""
    if not isinstance(text, str) or not text.strip():
        raise InputError("expected some text to explain, got an empty box; type or pick an example")
    a, ms = _explain(head, [text], None, _target(target), _method(method))
    return scored_segments(text, a.words), _summary(a, ms) + _flip(head, a, text, None)


@ui_errors
def why_pair(head: str, text: str, text_pair: str, target: str | None, method: str | None):
    """-> (first text highlighted, second text highlighted, summary markdown)"""
    if not all(isinstance(t, str) and t.strip() for t in (text, text_pair)):
        raise InputError("expected both texts to explain, got an empty box; fill in both")
    a, ms = _explain(head, [text], [text_pair], _target(target), _method(method))
    return (scored_segments(text, a.words), scored_segments(text_pair, a.pair_words),
            _summary(a, ms) + _flip(head, a, text, text_pair))


def _entity_name(e) -> str:
    return f"{e.text} ({e.label}, {e.confidence:.2f}) @ {e.start}"


@ui_errors
def why_entities(head: str, text: str, method: str | None):
    """-> (entity picker, the first entity's evidence highlighted, summary markdown, attribution state)"""
    if not isinstance(text, str) or not text.strip():
        raise InputError("expected some text to explain, got an empty box; type or pick an example")
    a, ms = _explain(head, [text], None, None, _method(method))
    names = [_entity_name(e) for e in a.entities]
    if not names:
        return (gr.Dropdown(choices=[], value=None), [(text, None)], "No entity found in this text: nothing to explain.",
                None)
    state = {"text": text, "method": a.method, "ms": ms, "entities": [e for e in a.entities]}
    first = a.entities[0]
    return (gr.Dropdown(choices=names, value=names[0]), scored_segments(text, first.words),
            _entity_summary(first, a.method, ms, a.delta), state)


def _entity_summary(e, method: str, ms: float, delta=None) -> str:
    own = [w for w in e.words if e.start <= w.start and w.end <= e.end]
    context = [w for w in e.words if not (e.start <= w.start and w.end <= e.end)]
    return (f"Why **{md(e.text)}** is **{md(e.label)}** (confidence {e.confidence:.2f}): its own words "
            f"{_top(own)}; context {_top(context)} · {METHOD_NAMES[method]} · {ms:.0f} ms"
            + (f" · completeness gap {delta:+.4f}" if delta is not None else ""))


@ui_errors
def show_entity(choice: str | None, state: dict | None):
    """-> (the chosen entity's evidence highlighted, summary markdown)"""
    if not state or not choice:
        raise InputError("expected an explained text and an entity to show, got none; press Why? first")
    names = [_entity_name(e) for e in state["entities"]]
    if choice not in names:
        raise InputError(f"expected one of the explained entities, got {choice!r}; press Why? again")
    e = state["entities"][names.index(choice)]
    return scored_segments(state["text"], e.words), _entity_summary(e, state["method"], state["ms"])


def _label_choices(head: str | None) -> list[str]:
    labels = []
    if head:
        try:
            labels = list(store().info(head).meta.model.labels)
        except Exception:  # an unknown head: the handler says so when asked
            labels = []
    return [PREDICTED, *labels]


def target_choices(head: str | None) -> gr.Dropdown:
    """The label picker of a text tab's Why? view, for ``head``."""
    return gr.Dropdown(choices=_label_choices(head), value=PREDICTED)


def _controls(prefix: str, head=None):
    with gr.Row():
        target = None
        if head is not None:
            target = gr.Dropdown(choices=_label_choices(head.value), value=PREDICTED, label="Explain the label",
                                 elem_id=f"{prefix}-why-target", allow_custom_value=True)
        method = gr.Radio([METHOD_NAMES[m] for m in METHODS], value=METHOD_NAMES[DEFAULT_METHOD], label="Method",
                          elem_id=f"{prefix}-why-method")
    button = gr.Button("Why?", elem_id=f"{prefix}-why-run")
    return target, method, button


def _highlight(label: str, elem_id: str) -> gr.HighlightedText:
    return gr.HighlightedText(label=label, elem_id=elem_id, show_legend=False, combine_adjacent=False,
                              show_inline_category=False)


def build_text_why(prefix: str, head, text, serving: dict) -> None:
    """A "Why?" accordion under a text classification tab."""
    with gr.Accordion("Why? Which words made this label", open=False, elem_id=f"{prefix}-why"):
        target, method, button = _controls(prefix, head)
        shown = _highlight("Word attributions (red: supports the label, blue: against it)", f"{prefix}-why-text")
        summary = gr.Markdown(elem_id=f"{prefix}-why-summary")
    head.change(target_choices, [head], [target], queue=False)
    button.click(why_text, [head, text, target, method], [shown, summary], api_name=f"{prefix}_why", **serving)


def build_pair_why(prefix: str, head, a, b, serving: dict) -> None:
    with gr.Accordion("Why? Which words of each text made this label", open=False, elem_id=f"{prefix}-why"):
        target, method, button = _controls(prefix, head)
        first = _highlight("First text", f"{prefix}-why-a")
        second = _highlight("Second text", f"{prefix}-why-b")
        summary = gr.Markdown(elem_id=f"{prefix}-why-summary")
    head.change(target_choices, [head], [target], queue=False)
    button.click(why_pair, [head, a, b, target, method], [first, second, summary], api_name=f"{prefix}_why", **serving)


def build_entity_why(prefix: str, head, text, serving: dict) -> None:
    with gr.Accordion("Why? The evidence for each entity", open=False, elem_id=f"{prefix}-why"):
        _, method, button = _controls(prefix)
        entity = gr.Dropdown(choices=[], label="Entity", elem_id=f"{prefix}-why-entity", interactive=True)
        shown = _highlight("Evidence for the entity's label (red: supports it, blue: against it)", f"{prefix}-why-text")
        summary = gr.Markdown(elem_id=f"{prefix}-why-summary")
        state = gr.State(None)
    button.click(why_entities, [head, text, method], [entity, shown, summary, state], api_name=f"{prefix}_why", **serving)
    entity.input(show_entity, [entity, state], [shown, summary], queue=False)
