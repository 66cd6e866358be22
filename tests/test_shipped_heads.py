"""The heads shipped under assets/heads: they load on the embedded encoder, get obvious cases
right, and reproduce their recorded validation metric on a fixed slice of ../shared/data."""

import json
import sys
from pathlib import Path

import pytest

from ftclf import Classifier, predict
from ftclf.service import shipped_heads_dir

from .conftest import shared_data_or_skip

HEADS = shipped_heads_dir()
NAMES = ["sentiment-sst2", "paraphrase-mrpc", "nli-sick", "ner-conll2003", "mentions-conll2003"]

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


def test_obvious_mentions(heads):
    clf = heads["mentions-conll2003"]
    (named, plain) = predict(clf, ["Angela Merkel met the board of Siemens in Munich on Monday.",
                                   "The weather stayed warm and dry for the whole week."])
    assert named.labels == ["LOC", "ORG", "PER"] and plain.labels == [], (named.probabilities, plain.probabilities)
    assert named.thresholds == dict(zip(clf.labels, clf.calibration.thresholds))  # tuned per label, shipped


@pytest.mark.parametrize("name", NAMES)
def test_recorded_metric_reproduces_on_fixed_slice(heads, name, shared_data):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import heads_recipe

    from ftclf.evaluation import evaluate

    meta = json.loads((HEADS / name / "config.json").read_text())["metrics"]
    val = heads_recipe.recipe(name).validation(shared_data)
    value = evaluate(heads[name], val[: meta["slice_examples"]])[meta["main_metric"]]
    assert value == pytest.approx(meta["slice_value"], abs=0.006)  # at most one example of 200 may flip across CPUs


def test_missing_data_skips_or_fails_under_the_switch(tmp_path, monkeypatch):
    missing = tmp_path / "no-data"
    monkeypatch.delenv("FTCLF_REQUIRE_DATA", raising=False)
    with pytest.raises(pytest.skip.Exception, match="FTCLF_REQUIRE_DATA=1 makes this a failure"):
        shared_data_or_skip(missing)
    monkeypatch.setenv("FTCLF_REQUIRE_DATA", "1")
    with pytest.raises(pytest.fail.Exception, match=f"expected the benchmark data at {missing}"):
        shared_data_or_skip(missing)
    assert shared_data_or_skip(tmp_path) == tmp_path  # present: used, whatever the switch


def test_ship_heads_refuses_a_head_the_app_backend_moves_more_than_half_a_point():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import ship_heads

    assert ship_heads.INT8_BOUND == 0.005  # the bound tests/test_app_backend.py holds the shipped heads to
    ship_heads.check_int8("h", "f1", 0.9000, "onnx-int8", 0.8951, allow=False)  # 0.49 points: shipped
    with pytest.raises(ship_heads.Int8BoundError, match=r"expected the app's backend \(onnx-int8\) within 0.5 points .* "
                       r"found f1 89.40 vs 90.00 \(-0.60\); not shipped.*--allow-int8-shift"):
        ship_heads.check_int8("h", "f1", 0.9000, "onnx-int8", 0.8940, allow=False)
    ship_heads.check_int8("h", "f1", 0.9000, "onnx-int8", 0.8940, allow=True)  # the explicit override
