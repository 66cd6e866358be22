"""Plotly figures for the dashboard (pure functions: plain data in, figure out)."""

from __future__ import annotations

import plotly.graph_objects as go

_LAYOUT = dict(template="plotly_white", margin=dict(l=10, r=10, t=40, b=10))


def probability_bars(probabilities: dict[str, float], title: str = "Class probabilities") -> go.Figure:
    """Horizontal bars of every class probability, highest on top, with percentages."""
    items = sorted(probabilities.items(), key=lambda kv: kv[1])
    labels, values = [k for k, _ in items], [v for _, v in items]
    fig = go.Figure(go.Bar(
        x=values, y=labels, orientation="h", text=[f"{100 * v:.1f}%" for v in values], textposition="auto",
        marker_color=["#4f46e5" if v == max(values) else "#a5b4fc" for v in values],
        hovertemplate="%{y}: %{x:.2%}<extra></extra>",
    ))
    fig.update_layout(title=title, xaxis=dict(range=[0, 1], tickformat=".0%"), height=120 + 40 * len(labels), **_LAYOUT)
    return fig


def token_heatmap(words: list[str], labels: list[str], probs: list[list[float]], title: str = "Per-token label probabilities") -> go.Figure:
    """Words down, labels across, probability as colour (rows are the per-word distributions)."""
    fig = go.Figure(go.Heatmap(
        z=probs, x=labels, y=[f"{i}: {w}" for i, w in enumerate(words)], colorscale="Blues", zmin=0, zmax=1,
        hovertemplate="%{y} → %{x}: %{z:.2%}<extra></extra>",
    ))
    fig.update_layout(title=title, yaxis=dict(autorange="reversed"), height=160 + 22 * len(words), **_LAYOUT)
    return fig


def confusion_heatmap(matrix: list[list[int]], labels: list[str]) -> go.Figure:
    fig = go.Figure(go.Heatmap(
        z=matrix, x=labels, y=labels, colorscale="Blues", text=matrix, texttemplate="%{text}",
        hovertemplate="gold %{y} → predicted %{x}: %{z}<extra></extra>",
    ))
    fig.update_layout(title="Confusion matrix (validation)", xaxis_title="predicted", yaxis_title="gold",
                      yaxis=dict(autorange="reversed"), height=200 + 40 * len(labels), **_LAYOUT)
    return fig


def training_curves(losses: list[tuple[int, float]], metrics: list[tuple[int, float]], metric_name: str) -> go.Figure:
    """Training loss and validation metric against the optimisation step."""
    fig = go.Figure()
    if losses:
        fig.add_trace(go.Scatter(x=[s for s, _ in losses], y=[v for _, v in losses], name="training loss", mode="lines"))
    if metrics:
        fig.add_trace(go.Scatter(x=[s for s, _ in metrics], y=[v for _, v in metrics], name=f"validation {metric_name}",
                                 mode="lines+markers", yaxis="y2"))
    fig.update_layout(title="Training curves", xaxis_title="step", yaxis=dict(title="loss"),
                      yaxis2=dict(title=metric_name, overlaying="y", side="right", range=[0, 1]), height=320,
                      legend=dict(orientation="h", y=-0.25), **_LAYOUT)
    return fig


def score_bars(labels: list[str], scores: list[float], probs: list[float]) -> go.Figure:
    """The scores h·W + b next to their softmax (How it works)."""
    fig = go.Figure([
        go.Bar(x=labels, y=scores, name="score h·W + b", marker_color="#f59e0b"),
        go.Bar(x=labels, y=probs, name="softmax probability", marker_color="#4f46e5"),
    ])
    fig.update_layout(title="Scores and probabilities", barmode="group", height=320, **_LAYOUT)
    return fig


def per_type_bars(per_type: dict[str, dict]) -> go.Figure:
    types = sorted(per_type)
    fig = go.Figure([
        go.Bar(x=types, y=[per_type[t][k] for t in types], name=k) for k in ("precision", "recall", "f1")
    ])
    fig.update_layout(title="Per-entity-type precision / recall / F1 (validation)", barmode="group",
                      yaxis=dict(range=[0, 1]), height=320, **_LAYOUT)
    return fig
