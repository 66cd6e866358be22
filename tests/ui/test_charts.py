"""Every figure draws user strings literally: plotly.js reads tags (<a href>, <b>, <br> …) from a raw
``<`` and decodes entities, so the figures' JSON holds labels entity-escaped and never a raw tag."""

import html
import json

import pytest

from ftclf.ui import charts

HOSTILE = ['<a href="https://evil.example/">click</a>', "<b>bold</b> &amp; <br>", "a<", "a&lt;", "plain"]


def figures(labels):
    n = len(labels)
    return {
        "probability_bars": charts.probability_bars({lab: (i + 1) / 10 for i, lab in enumerate(labels)},
                                                    title=f"my-head: {labels[0]} (90.0%)"),
        "token_heatmap": charts.token_heatmap(labels, labels, [[1 / n] * n for _ in labels], title=labels[0]),
        "confusion_heatmap": charts.confusion_heatmap([[1] * n for _ in labels], labels),
        "score_bars": charts.score_bars(labels, [0.0] * n, [1 / n] * n),
        "per_type_bars": charts.per_type_bars({lab: {"precision": 1, "recall": 1, "f1": 1} for lab in labels}),
        "training_curves": charts.training_curves([(1, 0.5)], [(1, 0.5)], labels[0]),
    }


def strings(node):
    """Every string in a figure's JSON (keys aside)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


@pytest.mark.parametrize("name", list(figures(HOSTILE)))
def test_no_figure_carries_a_raw_tag_from_a_label(name):
    figure = json.loads(figures(HOSTILE)[name].to_json())
    drawn = list(strings(figure))
    assert not any("<a" in s or "<b>" in s or "<br>" in s for s in drawn), name
    assert any("&lt;a href=\"https://evil.example/\"&gt;click&lt;/a&gt;" in s for s in drawn), name


def test_labels_round_trip_and_stay_distinct():
    """The oracle: plotly decodes &amp; &lt; &gt; back, so what it draws is the label itself; "a<" and
    "a&lt;" stay two categories."""
    bars = figures(HOSTILE)["probability_bars"].data[0]
    assert [html.unescape(y) for y in bars.y] == HOSTILE  # sorted by probability: the input order here
    assert len(set(bars.y)) == len(HOSTILE)
    matrix = figures(HOSTILE)["confusion_heatmap"].data[0]
    assert [html.unescape(x) for x in matrix.x] == HOSTILE and list(matrix.x) == list(matrix.y)


def test_the_compare_title_is_escaped():
    title = figures(HOSTILE)["probability_bars"].layout.title.text
    assert title == "my-head: &lt;a href=\"https://evil.example/\"&gt;click&lt;/a&gt; (90.0%)"
    assert charts.text('say "hi"') == 'say "hi"'  # plotly does not decode &quot;: quotes stay as they are


def test_a_label_cannot_break_out_of_the_training_headline():
    """The F1-of-the-positive-class label sits in the status line's Markdown: a backtick or a link in it stays text."""
    from ftclf.tasks import get_task
    from ftclf.ui.context import md

    hostile = "x` [click](https://evil.example) `"
    metrics = {"accuracy": 0.5, "f1": 0.5, "f1_positive": 0.5, "labels": ["a", hostile], "per_class": {}, "examples": 2}
    headline, _, _ = get_task("sequence").report(metrics, quote=lambda label: f"“{md(label)}”")
    assert "](" not in headline and "https://" not in headline and "\\`" in headline


def luminance(rgb: str) -> float:
    """WCAG relative luminance of an ``rgb(r,g,b)`` string: 0 black, 1 white."""
    def linear(c: int) -> float:
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(int(v)) for v in rgb.strip().removeprefix("rgb(").removesuffix(")").split(","))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_the_heat_scale_runs_light_to_dark():
    """More reads darker: luminance falls along the scale, from near white at 0 to a dark blue at the top."""
    positions = [at for at, _ in charts.HEAT_SCALE]
    shades = [luminance(colour) for _, colour in charts.HEAT_SCALE]
    assert positions[0] == 0 and positions[-1] == 1 and positions == sorted(positions)
    assert shades[0] > 0.9 > 0.1 > shades[-1]
    assert shades == sorted(shades, reverse=True)


@pytest.mark.parametrize("name", ["token_heatmap", "confusion_heatmap"])
def test_every_heat_map_uses_the_shared_scale_with_a_titled_colour_bar(name):
    trace = json.loads(figures(["a", "b"])[name].to_json())["data"][0]
    assert trace["colorscale"] == [list(step) for step in charts.HEAT_SCALE]
    assert trace["colorbar"]["title"]["text"] in {"probability", "examples"}
    assert trace["textfont"]["color"] == "auto"  # plotly.js picks black or white per cell: numbers stay readable


def test_prediction_charts_send_the_json_plotly_would():
    """The prediction path's charts skip building a plotly figure: what gr.Plot sends is the same figure."""
    import json

    import gradio as gr

    for chart in (charts.probability_bars({"neg": 0.25, "<b>pos</b>": 0.75}),
                  charts.label_set_bars({"food": 0.9, "price": 0.2}, {"food": 0.5, "price": 0.4})):
        sent = json.loads(gr.Plot().postprocess(chart).plot)
        built = json.loads(chart.figure.to_json())
        assert sent["data"] == built["data"] and sent["layout"]["title"] == built["layout"]["title"]
        assert sent["layout"]["xaxis"] == built["layout"]["xaxis"] and sent["layout"]["height"] == built["layout"]["height"]
