"""The calibration panel of the Train and Models tabs: how honest a head's probabilities are (reliability
diagram; ECE, NLL and Brier score before and after calibration, with the ECE's interval and the noise floor),
and, for binary heads, the operating point: precision-recall and ROC curves on validation, and a threshold
slider whose confusion matrix follows it live."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr
import numpy as np

from ..calibration import Calibration
from . import charts
from .context import md

#: below this many validation confidences the figures are mostly noise, and the panel says so first
FEW_CONFIDENCES = 200


@dataclass
class CalibrationPanel:
    """The panel's components; ``state`` holds the shown head's calibration (a plain dict) and labels."""

    figures: gr.Markdown
    diagram: gr.Plot
    operating: gr.Group
    curves: gr.Plot
    threshold: gr.Slider
    matrix: gr.Plot
    readout: gr.Markdown
    state: gr.State

    @property
    def outputs(self) -> list:
        return [self.figures, self.diagram, self.operating, self.curves, self.threshold, self.matrix, self.readout,
                self.state]


def build_panel(prefix: str) -> CalibrationPanel:
    """The panel (empty until :func:`show` fills it); element ids start with ``prefix``."""
    figures = gr.Markdown(elem_id=f"{prefix}-calibration")
    diagram = gr.Plot(label="Reliability diagram", elem_id=f"{prefix}-reliability")
    with gr.Group(visible=False) as operating:
        gr.Markdown("**Operating point** (two labels): where to cut the second label's probability. The default is "
                    "the argmax (0.5); move the slider to trade precision for recall, on validation.")
        curves = gr.Plot(label="Precision–recall and ROC (validation)", elem_id=f"{prefix}-pr-roc")
        threshold = gr.Slider(0.01, 0.99, value=0.5, step=0.01, label="Threshold on the second label's probability",
                              elem_id=f"{prefix}-threshold")
        with gr.Row():
            matrix = gr.Plot(label="Confusion matrix at this threshold (validation)", elem_id=f"{prefix}-threshold-matrix")
            readout = gr.Markdown(elem_id=f"{prefix}-threshold-readout")
    state = gr.State(None)
    panel = CalibrationPanel(figures, diagram, operating, curves, threshold, matrix, readout, state)
    threshold.change(on_threshold, [threshold, state], [curves, matrix, readout], queue=False, show_progress="hidden")
    return panel


def figures_text(cal: Calibration | None, why_none: str = "") -> str:
    """The figures in words: ECE before → after with its interval and the noise floor, NLL, Brier."""
    if cal is None:
        why = f" ({md(why_none)})" if why_none else ""
        return (f"**Calibration:** none{why}: this head shows a plain softmax, which fine-tuned heads tend to make "
                "over-confident. `ftclf calibrate --model NAME --data held-out.csv` fits it to labelled data.")
    before, after = cal.metrics.get("before", {}), cal.metrics.get("after", {})
    key = "entity_ece" if "entity_ece" in after else "ece"
    unit = "entities" if key == "entity_ece" else "label probabilities" if cal.thresholds else "examples"
    method = f"temperature T = {cal.temperature:.3g}" + (
        ", then Platt scaling per label" if cal.scales else
        f", then a {cal.method.split('+')[1]} map of the confidence" if "+" in cal.method else "")
    lines = [f"**Calibration** ({method}), fitted on {md(cal.fitted_on or 'validation data')}."]
    if key in after:
        few = cal.examples < FEW_CONFIDENCES
        warn = (f"⚠️ **Only {cal.examples:,} {unit}: read the interval, not the number.** " if few else "")
        held = "in-sample (too few to hold any out)" if after.get("in_sample") else "measured on held-out folds"
        lines.append(
            f"{warn}ECE {before.get(key, float('nan')):.3f} → **{after[key]:.3f}** ({held}; 90 % interval of the true "
            f"ECE {after[f'{key}_low']:.3f}–{after[f'{key}_high']:.3f}; sampling noise alone gives about "
            f"{after.get(f'{key}_floor', float('nan')):.3f} on {cal.examples:,} {unit})")
    for name, label in (("nll", "NLL"), ("brier", "Brier score")):
        if name in after:
            lines.append(f"{label} {before.get(name, float('nan')):.3f} → **{after[name]:.3f}**")
    if cal.thresholds:
        lines.append("Each label is predicted where its probability reaches its own threshold, tuned for F1 on "
                     "validation (the reported figures at thresholds tuned on the other folds)")
    else:
        lines.append("Calibration never changes a decision" + (
            f"; this head's saved operating point is {cal.threshold:.2f}." if cal.threshold is not None else "."))
    return " · ".join(lines)


def show(calibration: dict | Calibration | None, labels: list[str], what: str = "top probability", why_none: str = ""):
    """Values of the panel's outputs for a head's calibration (None: an uncalibrated head, ``why_none`` says why);
    ``what``: the probability it calibrates, in words (the task's ``shown_confidence``)."""
    cal = Calibration.from_dict(calibration) if isinstance(calibration, dict) else calibration
    diagram = (charts.reliability_diagram(cal.reliability.get("before", []), cal.reliability.get("after", []), what)
               if cal is not None and cal.reliability else None)
    binary = cal is not None and len(labels) == 2 and bool(cal.validation.get("gold"))  # kept for binary text heads
    state = {"calibration": cal.to_dict() if cal is not None else None, "labels": list(labels)} if cal else None
    if not binary:
        return (figures_text(cal, why_none), diagram, gr.Group(visible=False), None, gr.Slider(value=0.5), None, "", state)
    threshold = cal.threshold if cal.threshold is not None else 0.5
    curves, matrix, readout = on_threshold(threshold, state)
    return (figures_text(cal), diagram, gr.Group(visible=True), curves, gr.Slider(value=threshold), matrix, readout,
            state)


def on_threshold(threshold: float, state: dict | None):
    """(curves with the point, confusion matrix, precision / recall) at ``threshold`` on the stored validation scores."""
    if not state or not state.get("calibration"):
        return gr.skip(), gr.skip(), ""
    validation, labels = state["calibration"].get("validation") or {}, state["labels"]
    gold, positive = np.asarray(validation.get("gold", []), dtype=int), np.asarray(validation.get("positive", []))
    if not len(gold):
        return gr.skip(), gr.skip(), ""
    threshold = float(threshold)
    predicted = (positive >= threshold).astype(int)
    matrix = [[int(((gold == g) & (predicted == p)).sum()) for p in (0, 1)] for g in (0, 1)]
    tp, fp, fn = matrix[1][1], matrix[0][1], matrix[1][0]
    precision, recall = tp / max(1, tp + fp), tp / max(1, tp + fn)
    readout = (f"At **{threshold:.2f}**: {md(labels[1])} precision **{precision:.3f}**, recall **{recall:.3f}**, "
               f"accuracy {(predicted == gold).mean():.3f} on {len(gold):,} validation examples.")
    return (charts.operating_curves(gold.tolist(), positive.tolist(), threshold, labels[1]),
            charts.confusion_heatmap(matrix, labels), readout)
