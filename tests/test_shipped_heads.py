"""The heads shipped under assets/heads: they load on the embedded encoder, get obvious cases
right, and reproduce their recorded validation metric on a fixed slice of ../shared/data."""

import json
import sys
from pathlib import Path

import pytest

from ftclf import Classifier, predict
from ftclf.service import shipped_heads_dir

from .conftest import SHARED_DATA

HEADS = shipped_heads_dir()
NAMES = ["sentiment-sst2", "paraphrase-mrpc", "nli-sick", "ner-conll2003"]

OBVIOUS = {
    "sentiment-sst2": [(("a wonderful , moving and beautifully acted film",), "positive"),
                       (("a dull , boring and badly written mess",), "negative")],
    "paraphrase-mrpc": [(("The company said its profit rose 10 percent in the quarter.",
                          "Its quarterly profit rose 10 percent, the company said."), "paraphrase"),
                        (("The company said its profit rose 10 percent in the quarter.",
                          "Heavy rain flooded several streets in the city on Monday."), "not_paraphrase")],
    "nli-sick": [(("A man is playing a guitar.", "A man is playing an instrument."), "entailment"),
                 (("A man is playing a guitar.", "Nobody is playing a guitar."), "contradiction"),
                 (("A man is playing a guitar.", "A man is singing on a stage."), "neutral")],
}


@pytest.fixture(scope="module")
def heads():
    return {name: Classifier.from_pretrained(HEADS / name) for name in NAMES}


def test_shipped_heads_are_small_and_pickle_free():
    files = [p for p in HEADS.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 25 * 2**20
    assert {p.suffix for p in files} <= {".json", ".safetensors", ".md"}
    assert not any(p.name == "encoder" for p in HEADS.rglob("*"))


@pytest.mark.parametrize("name", list(OBVIOUS))
def test_obvious_cases(heads, name):
    clf = heads[name]
    for inputs, expected in OBVIOUS[name]:
        pred = predict(clf, [inputs[0]], [inputs[1]] if len(inputs) > 1 else None)[0]
        assert pred.label == expected, (inputs, pred.probabilities)
        assert sum(pred.probabilities.values()) == pytest.approx(1.0, abs=1e-5)


def test_obvious_entities(heads):
    pred = predict(heads["ner-conll2003"], ["Angela Merkel met Emmanuel Macron in Paris on Monday."])[0]
    assert [(e.label, e.text) for e in pred.entities] == [("PER", "Angela Merkel"), ("PER", "Emmanuel Macron"), ("LOC", "Paris")]
    assert all(e.score > 0.5 for e in pred.entities)


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="needs ../shared/data")
@pytest.mark.parametrize("name", NAMES)
def test_recorded_metric_reproduces_on_fixed_slice(heads, name):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import heads_recipe

    from ftclf.evaluation import evaluate

    meta = json.loads((HEADS / name / "config.json").read_text())["metrics"]
    _, val = heads_recipe.recipe(name).load(SHARED_DATA)
    value = evaluate(heads[name], val[: meta["slice_examples"]])[meta["main_metric"]]
    assert value == pytest.approx(meta["slice_value"], abs=0.006)  # at most one example of 200 may flip across CPUs
