"""Plotly figures for the dashboard (pure functions: plain data in, figure out).

Figures are written as plotly.js JSON and built without plotly's per-property validation
(``_validate=False``): validation cost about 11 ms per bar chart, more than the model's own
prediction, on every request. The theme is plotly_white, expanded once and cut to what these charts use.

plotly.js renders a subset of HTML in every string it draws (``<a href>``, ``<b>``, ``<br>``, ``<span style>``
…) and decodes entities, so every string a figure shows passes through :func:`text` once: a label
``<a href="…">click</a>`` is drawn as those characters, never as a link.
"""

from __future__ import annotations

import functools
import html
import json

import plotly.colors
import plotly.graph_objects as go
import plotly.io as pio


def _theme() -> dict:
    """plotly_white, cut to what these charts use (a seventh of its size, sent with every figure)."""
    full = pio.templates["plotly_white"].to_plotly_json()
    layout_keys = ("colorway", "font", "hovermode", "hoverlabel", "paper_bgcolor", "plot_bgcolor", "xaxis", "yaxis",
                   "title", "colorscale")
    return {"layout": {k: full["layout"][k] for k in layout_keys if k in full["layout"]},
            "data": {k: full["data"][k] for k in ("bar", "heatmap", "scatter") if k in full["data"]}}


_TEMPLATE = _theme()
_MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}

#: The one colour scale of every heat map: sequential, light (0) to dark (max), so more reads darker.
#: Spelled out as [position, colour] pairs: plotly's *named* "Blues" runs the other way (dark to light),
#: and figures skip the validation that would expand a bare colour list.
HEAT_SCALE = tuple((at, colour) for at, colour in plotly.colors.make_colorscale(plotly.colors.sequential.Blues))


def text(value) -> str:
    """A string (a label, a word, a head name) as plotly.js draws it literally: ``&``, ``<`` and ``>``
    written as entities, which plotly decodes back to those characters when it draws (tags are
    only read from a raw ``<``). Injective, so category axes keep distinct labels distinct."""
    return html.escape(str(value), quote=False)  # plotly decodes &amp; &lt; &gt; but not &quot;


def _texts(values) -> list[str]:
    return [text(v) for v in values]


def _spec(data: list[dict], **layout) -> dict:
    title = layout.pop("title", None)
    layout = {"template": _TEMPLATE, "margin": _MARGIN, **({"title": {"text": text(title)}} if title else {}), **layout}
    return {"data": data, "layout": layout}


def _figure(data: list[dict], **layout) -> go.Figure:
    return go.Figure(_spec(data, **layout), _validate=False)


class Chart:
    """A figure of the prediction path, kept as its plotly.js JSON spec: ``gr.Plot`` sends ``to_json()`` as it is,
    where a ``go.Figure`` is built and then serialised by plotly (0.4 ms a request, of the ≈ 10 ms of CPU a
    prediction costs the server). Reading ``.data``, ``.layout`` … builds that figure (tests, notebooks)."""

    def __init__(self, spec: dict) -> None:
        self.spec = spec

    def to_json(self) -> str:
        return json.dumps(self.spec)

    @functools.cached_property
    def figure(self) -> go.Figure:
        return go.Figure(self.spec, _validate=False)

    def __getattr__(self, name: str):
        if name.startswith("__") or name in ("spec", "figure"):
            raise AttributeError(name)
        return getattr(self.figure, name)


def probability_bars(probabilities: dict[str, float], title: str = "Class probabilities") -> Chart:
    """Horizontal bars of every class probability, highest on top, with percentages."""
    items = sorted(probabilities.items(), key=lambda kv: kv[1])
    labels, values = [k for k, _ in items], [v for _, v in items]
    top = max(values)
    bars = {"type": "bar", "x": values, "y": _texts(labels), "orientation": "h", "textposition": "auto",
            "text": [f"{100 * v:.1f}%" for v in values], "hovertemplate": "%{y}: %{x:.2%}<extra></extra>",
            "marker": {"color": ["#4f46e5" if v == top else "#a5b4fc" for v in values]}}
    return Chart(_spec([bars], title=title, xaxis={"range": [0, 1], "tickformat": ".0%"}, height=120 + 40 * len(labels)))


def label_set_bars(probabilities: dict[str, float], thresholds: dict[str, float],
                   title: str = "Label probabilities (one sigmoid each; | marks a label's threshold)") -> Chart:
    """A multi-label prediction: one bar per label (its own probability; the labels do not share 100 %),
    dark where the probability reaches the label's threshold, which a tick marks on the bar."""
    items = sorted(probabilities.items(), key=lambda kv: kv[1])
    labels, values = [k for k, _ in items], [v for _, v in items]
    cut = [thresholds.get(k, 0.5) for k in labels]
    bars = {"type": "bar", "x": values, "y": _texts(labels), "orientation": "h", "textposition": "auto",
            "text": [f"{100 * v:.1f}%" for v in values], "name": "probability",
            "hovertemplate": "%{y}: %{x:.2%}<extra></extra>",
            "marker": {"color": ["#4f46e5" if v >= t else "#c7d2fe" for v, t in zip(values, cut)]}}
    ticks = {"type": "scatter", "mode": "markers", "x": cut, "y": _texts(labels), "name": "threshold",
             "marker": {"symbol": "line-ns-open", "size": 26, "line": {"width": 3, "color": "#f59e0b"}},
             "hovertemplate": "%{y} threshold: %{x:.2f}<extra></extra>"}
    return Chart(_spec([bars, ticks], title=title, xaxis={"range": [0, 1], "tickformat": ".0%"}, showlegend=False,
                       height=120 + 40 * len(labels)))


def _heat(z, x, y, scale_title: str, tickformat: str = "", **trace) -> dict:
    """A heat-map trace on :data:`HEAT_SCALE` with a titled colour bar; numbers drawn in the cells
    (``texttemplate``) take black or white by the cell's colour (plotly.js's ``"auto"`` text colour)."""
    colorbar = {"title": {"text": scale_title, "side": "right"}, **({"tickformat": tickformat} if tickformat else {})}
    return {"type": "heatmap", "z": z, "x": x, "y": y, "colorscale": HEAT_SCALE, "textfont": {"color": "auto"},
            "colorbar": colorbar, **trace}


def token_heatmap(words: list[str], labels: list[str], probs: list[list[float]],
                  title: str = "Per-token label probabilities") -> go.Figure:
    """Words down, labels across, probability as colour (rows are the per-word distributions)."""
    heat = _heat(probs, _texts(labels), [text(f"{i}: {w}") for i, w in enumerate(words)], "probability",
                 ".0%", zmin=0, zmax=1, hovertemplate="%{y} → %{x}: %{z:.2%}<extra></extra>")
    return _figure([heat], title=title, yaxis={"autorange": "reversed"}, height=160 + 22 * len(words))


def confusion_heatmap(matrix: list[list[int]], labels: list[str]) -> go.Figure:
    """Gold labels down, predicted across, the count of validation examples in each cell."""
    heat = _heat(matrix, _texts(labels), _texts(labels), "examples", zmin=0, text=matrix, texttemplate="%{text}",
                 hovertemplate="gold %{y} → predicted %{x}: %{z}<extra></extra>")
    return _figure([heat], title="Confusion matrix (validation)", xaxis={"title": {"text": "predicted"}},
                   yaxis={"title": {"text": "gold"}, "autorange": "reversed"}, height=200 + 40 * len(labels))


def training_curves(losses: list[tuple[int, float]], metrics: list[tuple[int, float]], metric_name: str) -> go.Figure:
    """Training loss and validation metric against the optimisation step."""
    data = []
    if losses:
        data.append({"type": "scatter", "x": [s for s, _ in losses], "y": [v for _, v in losses],
                     "name": "training loss", "mode": "lines"})
    if metrics:
        data.append({"type": "scatter", "x": [s for s, _ in metrics], "y": [v for _, v in metrics],
                     "name": text(f"validation {metric_name}"), "mode": "lines+markers", "yaxis": "y2"})
    return _figure(data, title="Training curves", xaxis={"title": {"text": "step"}}, yaxis={"title": {"text": "loss"}},
                   yaxis2={"title": {"text": text(metric_name)}, "overlaying": "y", "side": "right", "range": [0, 1]},
                   height=320, legend={"orientation": "h", "y": -0.25})


def rounds_chart(rounds: list[dict]) -> go.Figure:
    """The head's score after each labelling round (x: round; hover: how many examples it trained on)."""
    name = rounds[-1].get("metric_name", "accuracy") if rounds else "accuracy"
    data = [{"type": "scatter", "x": [r["round"] for r in rounds], "y": [r["metric"] for r in rounds],
             "mode": "lines+markers+text", "text": [f"{r['examples']} ex." for r in rounds], "textposition": "top center",
             "name": text(name)}] if rounds else []
    return _figure(data, title="Score per labelling round", height=280, showlegend=False,
                   xaxis={"title": {"text": "round"}, "dtick": 1}, yaxis={"title": {"text": text(name)}, "range": [0, 1.05]})


def score_bars(labels: list[str], scores: list[float], probs: list[float], function: str = "softmax") -> go.Figure:
    """The scores h·W + b next to their probabilities (softmax, or a sigmoid per label) (How it works)."""
    labels = _texts(labels)
    return _figure([
        {"type": "bar", "x": labels, "y": scores, "name": "score h·W + b", "marker": {"color": "#f59e0b"}},
        {"type": "bar", "x": labels, "y": probs, "name": f"{function} probability", "marker": {"color": "#4f46e5"}},
    ], title="Scores and probabilities", barmode="group", height=320)


def per_type_bars(per_type: dict[str, dict]) -> go.Figure:
    types = sorted(per_type)
    return _figure([{"type": "bar", "x": _texts(types), "y": [per_type[t][k] for t in types], "name": k}
                    for k in ("precision", "recall", "f1")],
                   title="Per-entity-type precision / recall / F1 (validation)", barmode="group",
                   yaxis={"range": [0, 1]}, height=320)


def reliability_diagram(before: list[list], after: list[list], what: str = "top probability") -> go.Figure:
    """Confidence against accuracy per confidence bin, before and after calibration ([confidence, accuracy,
    count] points); on the diagonal, a shown probability is right that often. Marker area ~ bin count."""
    def trace(points, name, colour):
        biggest = max((c for _, _, c in points), default=1)
        return {"type": "scatter", "mode": "lines+markers", "name": name, "x": [p[0] for p in points],
                "y": [p[1] for p in points], "text": [f"{p[2]:,}" for p in points],
                "marker": {"color": colour, "size": [6 + 14 * (p[2] / biggest) ** 0.5 for p in points]},
                "line": {"color": colour}, "hovertemplate": "confidence %{x:.3f} → right %{y:.3f} (%{text})<extra></extra>"}

    data = [{"type": "scatter", "mode": "lines", "x": [0, 1], "y": [0, 1], "name": "perfectly calibrated",
             "line": {"color": "#9ca3af", "dash": "dash"}, "hoverinfo": "skip"}]
    if before:
        data.append(trace(before, "uncalibrated", "#f59e0b"))
    if after:
        data.append(trace(after, "calibrated (held-out folds)", "#4f46e5"))
    return _figure(data, title="Reliability diagram (validation)", height=340,
                   xaxis={"title": {"text": text(f"confidence ({what})")}, "range": [0, 1.02]},
                   yaxis={"title": {"text": "accuracy"}, "range": [0, 1.02]}, legend={"orientation": "h", "y": -0.3})


def operating_curves(gold: list[int], positive: list[float], threshold: float, label: str) -> go.Figure:
    """Precision-recall and ROC curves of p(``label``) on validation, with the point of ``threshold``."""
    import numpy as np
    from sklearn.metrics import auc, precision_recall_curve, roc_curve

    y, p = np.asarray(gold), np.asarray(positive)
    precision, recall, _ = precision_recall_curve(y, p)
    fpr, tpr, _ = roc_curve(y, p)
    chosen = p >= threshold
    tp, fp, fn, tn = (int((chosen & (y == 1)).sum()), int((chosen & (y == 0)).sum()),
                      int((~chosen & (y == 1)).sum()), int((~chosen & (y == 0)).sum()))
    at_p, at_r = tp / max(1, tp + fp), tp / max(1, tp + fn)
    at_fpr = fp / max(1, fp + tn)
    data = [
        {"type": "scatter", "mode": "lines", "x": recall.tolist(), "y": precision.tolist(), "name": "precision–recall",
         "line": {"color": "#4f46e5"}},
        {"type": "scatter", "mode": "lines", "x": fpr.tolist(), "y": tpr.tolist(), "name": f"ROC (AUC {auc(fpr, tpr):.3f})",
         "xaxis": "x2", "yaxis": "y2", "line": {"color": "#059669"}},
        {"type": "scatter", "mode": "markers", "x": [at_r], "y": [at_p], "name": f"threshold {threshold:.2f}",
         "marker": {"color": "#dc2626", "size": 12}},
        {"type": "scatter", "mode": "markers", "x": [at_fpr], "y": [at_r], "xaxis": "x2", "yaxis": "y2",
         "marker": {"color": "#dc2626", "size": 12}, "showlegend": False},
    ]
    return _figure(data, title=f"Operating point for {label} (validation)", height=340,
                   xaxis={"title": {"text": "recall"}, "domain": [0, 0.45], "range": [0, 1.02]},
                   yaxis={"title": {"text": "precision"}, "range": [0, 1.02]},
                   xaxis2={"title": {"text": "false positive rate"}, "domain": [0.55, 1], "range": [0, 1.02]},
                   yaxis2={"title": {"text": "recall (true positive rate)"}, "anchor": "x2", "range": [0, 1.02]},
                   legend={"orientation": "h", "y": -0.3})
