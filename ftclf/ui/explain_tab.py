"""How it works: the real numbers along the chapter's path for one input and one head."""

from __future__ import annotations

import gradio as gr

from ..errors import InputError
from ..explain import explain
from ..heads import HEADS
from . import charts
from .context import md, store, ui_errors
from .why import input_segments

EQUATIONS = r"""
**Sequence / pair** (eq. 11.11): $y = \mathrm{softmax}(h \cdot W + b)$, where $h$ is the pooled encoder vector
($h_{CLS}$ or the mean of the token vectors; for concat-mode pairs $h = [h_a; h_b(; |h_a-h_b|; h_a \ast h_b)]$).

**Calibration**: a calibrated head reads $\mathrm{softmax}(s / T)$ of the scores $s$, with the temperature $T$
fitted on validation data so that its confidence matches its accuracy (a monotone map of the top probability may
follow); the argmax does not move.

**Token** (eqs. 11.12–11.13): $y_i = \mathrm{softmax}(h_i \cdot W + b)$, $t_i = \arg\max_k y_{ik}$; a CRF head instead
picks the tag path with the best total of emission and transition scores (Viterbi), which never breaks IOB2.
"""


def _fmt(v: list[float]) -> str:
    return "[" + ", ".join(f"{x:.3f}" for x in v) + "]"


def _heads_md() -> str:
    return "**Heads**: " + "; ".join(f"`{name}` — {spec.description}" for name, spec in HEADS.items()) + "."


def _per_word(out, vector: str):
    rows = []
    decoded = out.decoded
    for i, word in enumerate(out.words):
        row = [word, out.argmax[i], round(max(out.probs[i]), 3)]
        if decoded is not None:
            row += [decoded[i], "≠" if decoded[i] != out.argmax[i] else ""]
        rows.append(row)
    headers = ["word", "argmax tag (11.13)", "max softmax prob"] + (["decoded tag (Viterbi)", "differs"] if decoded else [])
    scores = "h_i·W + b" if out.weight_shape else "score(h_i)"
    md = (f"{vector} (first word)\n\n**2. Scores** {scores} for every word over {len(out.labels)} tags "
          f"(head `{out.head}`); **3. softmax** per word; **4. argmax** per word")
    if out.temperature is not None:
        md += f"; confidences calibrated with T = {out.temperature:.3f}"
    if decoded is not None:
        changed = sum(r[-1] == "≠" for r in rows)
        md += f"; **5. Viterbi** over the head's transition scores changes {changed} of {len(rows)} tags"
    fig = charts.token_heatmap(out.words, out.labels, out.probs, title="Softmax of the emission scores per word")
    return md + ".\n" + EQUATIONS, fig, gr.Dataframe(value=rows, headers=headers, visible=True)


@ui_errors
def run_explain(head: str, text: str, text_pair: str):
    """-> (markdown with the numbers, score/probability chart, token table, the words' attributions)"""
    if not head:
        raise InputError("expected a head to be selected, got none; pick one")
    clf = store().get(head)
    out = explain(clf, text, text_pair)
    return (*_numbers(out), _why(clf, text, text_pair))


def _why(clf, text: str, text_pair: str) -> list:
    """Step 5: how far each word moves the shown probability of the top label (leave-one-word-out);
    for a pair, both texts one after the other; for a tagger, every entity's evidence summed."""
    return input_segments(clf, text, text_pair)


def _numbers(out):
    v = out.vector
    vector = (f"**1. Encoder vector** h: {v.dim} numbers, norm {v.norm:.3f}, mean {v.mean:.4f}, "
              f"std {v.std:.4f}; first values {_fmt(v.first)}")
    if out.per_word:
        return _per_word(out, vector)
    hidden = ""
    if out.hidden is not None:
        hidden = (f"\n\n**1b. MLP hidden layer** ReLU(h·W₁ + b₁): {out.hidden.dim} units, "
                  f"{out.hidden_active} active (> 0)")
    labels = out.labels
    shown = (f"{vector} ({out.pooling} pooling"
          + (f", {out.pair_mode} pair mode" if out.pair_mode else "") + ")" + hidden
          + (f"\n\n**2. Scores** h·W + b with W of shape {out.weight_shape[0]}×{out.weight_shape[1]}: "
             if out.weight_shape else f"\n\n**2. Scores** of head `{md(out.head)}` (its `score(h)`): ")
          + ", ".join(f"{md(lab)} {s:.3f}" for lab, s in zip(labels, out.scores))
          + (_sigmoid(out) if out.softmax is not None else
             "\n\n**3. softmax**: " + ", ".join(f"{md(lab)} {p:.3f}" for lab, p in zip(labels, out.probs))
             + _calibrated(out) + f"\n\n**4. argmax** → **{md(out.argmax)}**" + _decision(out))
          + "\n" + EQUATIONS)
    shown_probs = out.calibrated or out.probs
    return (shown, charts.score_bars(labels, out.scores, shown_probs, out.probability_function),
            gr.Dataframe(visible=False))


def _sigmoid(out) -> str:
    """Steps 3-4 of a multi-label head: a sigmoid per label (beside the softmax of the same scores, which would
    force the labels to share 100 %), calibrated per label, and each label's threshold."""
    labels = out.labels
    calibrated = ("\n\n**3b. Calibrated per label** (σ(a·score / T + b), T = "
                  f"{out.temperature:.3f}): " + ", ".join(f"{md(lab)} {p:.3f}" for lab, p in zip(labels, out.calibrated))
                  if out.calibrated is not None else "\n\n**3b. Calibration**: none (raw sigmoids)")
    chosen = ", ".join(f"**{md(lab)}**" for lab in out.chosen) or "**no label** (the empty set is an answer)"
    return ("\n\n**3. sigmoid** σ(score) per label, each on its own (they need not add up to 1): "
            + ", ".join(f"{md(lab)} {p:.3f}" for lab, p in zip(labels, out.probs))
            + "\n\n*The same scores through a softmax* would make the labels compete for one 100 %: "
            + ", ".join(f"{md(lab)} {p:.3f}" for lab, p in zip(labels, out.softmax))
            + calibrated
            + "\n\n**4. threshold per label** (" + ", ".join(f"{md(lab)} ≥ {t:.2f}" for lab, t in zip(labels, out.thresholds))
            + f") → {chosen}")


def _calibrated(out) -> str:
    """Step 3b: softmax(scores / T) beside the plain softmax (eq. 11.11), for a calibrated head."""
    if out.temperature is None:
        return "\n\n**3b. Calibration**: none (plain softmax; `ftclf calibrate` fits a temperature on validation data)"
    mapped = " then the monotone confidence map" if out.confidence_map else ""
    return (f"\n\n**3b. Calibrated** softmax(scores / T) with T = {out.temperature:.3f}{mapped}: "
            + ", ".join(f"{md(lab)} {p:.3f}" for lab, p in zip(out.labels, out.calibrated)))


def _decision(out) -> str:
    if out.threshold is None:
        return ""
    return (f"; the saved operating point (p({md(out.labels[1])}) ≥ {out.threshold:.3f}) decides "
            f"**{md(out.decision)}**")


def build_explain_tab() -> dict:
    with gr.Tab("How it works", id="explain"):
        gr.Markdown("Pick any head and an input: the page shows the actual numbers the head computes, step by step. "
                    + _heads_md())
        with gr.Row():
            with gr.Column():
                head = gr.Dropdown(store().names(), value=(store().names() or [None])[0], label="Head", elem_id="explain-head",
                                   allow_custom_value=True)  # a head saved since the page loaded is accepted too
                text = gr.Textbox(label="Text", lines=2, value="Apple is planning to open a new store in London.", elem_id="explain-text")
                text_pair = gr.Textbox(label="Second text (pair heads)", lines=2)
                button = gr.Button("Explain", variant="primary", elem_id="explain-run")
            with gr.Column():
                plot = gr.Plot(label="Scores and probabilities")
        md = gr.Markdown(elem_id="explain-md", latex_delimiters=[{"left": "$", "right": "$", "display": False}])
        why = gr.HighlightedText(label="5. Why: how far leaving each word out lowers the shown probability of the "
                                       "label (red) or raises it (blue); for NER, of its entities",
                                 elem_id="explain-why", show_legend=False, combine_adjacent=False)
        table = gr.Dataframe(label="Per word", interactive=False, visible=False)
        button.click(run_explain, [head, text, text_pair], [md, plot, table, why])
    return {"picker": head}
