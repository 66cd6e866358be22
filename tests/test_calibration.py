"""Calibrated probabilities: the measures against hand computations and scikit-learn, the fitted
temperature against the one that generated the labels, the CRF's tempered marginals against
enumeration of every tag path, and calibration end to end: fitted after training, saved, loaded,
applied by every path, never changing a decision unless a threshold is saved."""

import itertools
import json

import numpy as np
import pytest
import torch

from ftclf import Classifier, ModelConfig, TrainingConfig, predict
from ftclf.calibration import Calibration, _beta, _isotonic, fit_calibration
from ftclf.cli import main as cli
from ftclf.crf import CRF
from ftclf.errors import FtclfError, ModelFormatError
from ftclf.evaluation import decode_examples, evaluate
from ftclf.metrics import ece_interval, expected_calibration_error, probability_metrics, reliability
from ftclf.predictions import Decoded
from ftclf.recalibration import calibrate_saved, set_threshold
from ftclf.tasks import get_task
from ftclf.training import fit

from .conftest import sentiment_examples, token_examples

SEQUENCE = get_task("sequence")


# ----------------------------------------------------------------------------- measures
def test_ece_is_the_weighted_gap_between_confidence_and_accuracy_per_bin():
    conf = [0.95, 0.95, 0.95, 0.95, 0.55, 0.55]
    hit = [True, True, True, False, True, False]
    # bin 14 (0.933-1): confidence 0.95, accuracy 0.75, weight 4/6; bin 8: 0.55 vs 0.5, weight 2/6
    assert expected_calibration_error(conf, hit) == pytest.approx(4 / 6 * 0.2 + 2 / 6 * 0.05)
    assert reliability(conf, hit) == [[0.55, 0.5, 2], [0.95, 0.75, 4]]
    assert expected_calibration_error([1.0, 0.0], [True, False]) == 0.0  # the edges fall in the end bins


def test_nll_and_brier_match_scikit_learn():
    from sklearn.metrics import brier_score_loss, log_loss

    rng = np.random.default_rng(0)
    probs = rng.dirichlet([1, 1], size=50)
    gold = rng.integers(0, 2, size=50)
    out = probability_metrics(probs, gold)
    assert out["nll"] == pytest.approx(log_loss(gold, probs))
    assert out["brier"] == pytest.approx(2 * brier_score_loss(gold, probs[:, 1]))  # summed over both classes


def test_the_ece_interval_is_reflected_about_the_estimate_and_covers_a_calibrated_head():
    rng = np.random.default_rng(1)
    conf = rng.uniform(0.5, 1.0, 400)
    hit = rng.random(400) < conf  # perfectly calibrated: true ECE 0
    low, high = ece_interval(conf, hit)
    assert 0.0 <= low <= expected_calibration_error(conf, hit) * 2
    assert low == 0.0 or low < 0.02  # the interval reaches down to the truth
    assert high > low


# ----------------------------------------------------------------------------- fitting
def test_fitted_temperature_recovers_the_temperature_that_made_the_labels():
    torch.manual_seed(0)
    logits = torch.randn(4000, 3) * 4
    gold = torch.distributions.Categorical(logits=logits / 2.5).sample()
    clf = _FakeClassifier(["a", "b", "c"])
    decoded = [Decoded(int(z.argmax()), z.softmax(-1), z) for z in logits]
    cal = fit_calibration(clf, decoded, gold.tolist())
    assert cal.temperature == pytest.approx(2.5, rel=0.08)
    after, before = cal.metrics["after"], cal.metrics["before"]
    assert after["ece"] < before["ece"] and after["nll"] < before["nll"]
    assert after["ece_low"] <= 0.02  # calibrated up to sampling noise
    assert set(cal.metrics["compared"]) == {"temperature", "temperature+beta", "temperature+isotonic"}


@pytest.mark.parametrize("fit", [_beta, lambda c, h, f: _isotonic(c, h, f, anchored=True)], ids=["beta", "isotonic"])
def test_top_probability_maps_are_the_identity_up_to_the_tie_and_continuous_across_it(fit):
    """Where two labels tie, either side of the tie shows the same probabilities: a near-tie that flips
    (another input, an int8 backend's rounding) moves the chart by as little as it moves the scores."""
    rng = np.random.default_rng(0)
    top = rng.uniform(0.5, 1.0, 4000)
    correct = rng.random(4000) < np.clip(top + 0.08, 0, 0.99)  # under-confident, also near the tie
    x, y = fit(top, correct, 0.5)
    cal = Calibration(1.0, "temperature+beta", x, y)
    assert cal.map_confidence(0.5) == pytest.approx(0.5) and cal.map_confidence(0.3) == pytest.approx(0.3)
    assert np.all(np.diff(y) >= 0)
    for eps in (1e-3, 1e-4):
        left, right = cal.map_top(torch.tensor([[0.5 + eps, 0.5 - eps]])), cal.map_top(torch.tensor([[0.5 - eps, 0.5 + eps]]))
        assert float((left - right).abs().max()) < 50 * eps  # no step at the tie
    three = cal.map_top(torch.tensor([[0.4, 0.4 - 1e-4, 0.2 + 1e-4]]))  # a three-way head's tie below 1/2: untouched
    assert torch.allclose(three, torch.tensor([[0.4, 0.4 - 1e-4, 0.2 + 1e-4]]), atol=1e-6)


def test_anchored_beta_recovers_a_known_distortion_of_the_top_probability():
    rng = np.random.default_rng(1)
    top = rng.uniform(0.5, 1.0, 20000)

    def truth(p):
        return 1 / (1 + np.exp(-(2.0 * np.log(2 * p) - 0.5 * np.log(2 * (1 - p)))))

    x, y = _beta(top, rng.random(len(top)) < truth(top), 0.5)
    grid = np.linspace(0.5, 0.99, 50)
    assert np.abs(np.interp(grid, x, y) - truth(grid)).max() < 0.03


def test_a_confidence_map_never_moves_the_top_class():
    cal = Calibration(1.0, "temperature+isotonic", [0.5, 0.8, 1.0], [0.5, 0.5, 0.6])  # squeezes hard
    probs = torch.tensor([[0.45, 0.55], [0.1, 0.9]])
    mapped = cal.map_top(probs)
    assert mapped.argmax(-1).tolist() == probs.argmax(-1).tolist()
    assert mapped.sum(-1).tolist() == pytest.approx([1.0, 1.0])
    three = torch.tensor([[0.4, 0.35, 0.25]])
    squeezed = Calibration(1.0, "temperature+isotonic", [0.0, 1.0], [0.0, 0.0]).map_top(three)  # maps everything to 0
    assert squeezed.argmax(-1).item() == 0 and squeezed.sum().item() == pytest.approx(1.0)
    assert squeezed[0, 0] >= squeezed[0, 1]  # clipped at the runner-up


def test_crf_tempered_marginals_equal_enumeration_and_keep_the_viterbi_path():
    torch.manual_seed(0)
    crf = CRF(3)
    emissions = torch.randn(1, 4, 3) * 2
    temperature = 1.7
    paths = list(itertools.product(range(3), repeat=4))
    scores = torch.stack([crf.score(emissions, torch.tensor([p]), torch.ones(1, 4, dtype=torch.bool))[0] for p in paths])
    weights = (scores / temperature).softmax(0)
    expected = torch.zeros(4, 3)
    for w, p in zip(weights, paths):
        for t, tag in enumerate(p):
            expected[t, tag] += w
    got = crf.marginals(emissions, temperature=temperature)[0]
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
    assert crf.decode(emissions / temperature) == crf.decode(emissions)


# ----------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def trained(tiny_encoder_dir):
    clf, result = fit(ModelConfig(task="sequence", encoder=tiny_encoder_dir, max_length=32),
                      TrainingConfig(mode="frozen", head_fit="adamw", epochs=15, learning_rate=3e-2, batch_size=16,
                                     patience=0, seed=1), sentiment_examples(240))
    return clf, result


def test_training_calibrates_and_reports_the_figures(trained):
    clf, result = trained
    cal = clf.calibration
    assert cal is not None and cal.temperature > 0 and cal.examples == len(result.validation_examples)
    for key in ("ece", "ece_low", "ece_high", "nll", "brier", "ece_uncalibrated", "temperature"):
        assert key in result.metrics and key in clf.metrics
    assert cal.validation["gold"] and len(cal.validation["positive"]) == len(cal.validation["gold"])
    assert cal.reliability["before"] and cal.reliability["after"]


def test_calibration_never_changes_a_decision_and_a_threshold_does(trained):
    clf, _ = trained
    texts = [e.text for e in sentiment_examples(40, seed=5)]
    calibrated = predict(clf, texts)
    saved, clf.calibration = clf.calibration, None
    try:
        raw = predict(clf, texts)
    finally:
        clf.calibration = saved
    assert [p.label for p in calibrated] == [p.label for p in raw]
    assert any(abs(a.score - b.score) > 1e-4 for a, b in zip(calibrated, raw))
    second = clf.labels[1]
    positives = sorted(p.probabilities[second] for p in calibrated if p.label == second)
    assert positives[-1] < 1.0  # a validation split it gets all right does not make it certain
    clf.calibration = saved.with_threshold(positives[len(positives) // 2] + 1e-9)  # above half of them
    try:
        strict = predict(clf, texts)
    finally:
        clf.calibration = saved
    assert sum(p.label == second for p in strict) < sum(p.label == second for p in calibrated)


def test_calibration_is_saved_loaded_and_heads_without_it_load_as_before(trained, tmp_path):
    clf, _ = trained
    path = clf.save_pretrained(tmp_path / "h")
    raw = json.loads((path / "config.json").read_text())
    assert raw["calibration"]["version"] == 1 and raw["calibration"]["method"].startswith("temperature")
    texts = [e.text for e in sentiment_examples(10, seed=7)]
    loaded = Classifier.from_pretrained(path)
    assert [p.probabilities for p in predict(loaded, texts)] == [p.probabilities for p in predict(clf, texts)]
    assert "Calibration" in (path / "README.md").read_text()
    del raw["calibration"]  # a head saved before calibration existed
    (path / "config.json").write_text(json.dumps(raw))
    plain = Classifier.from_pretrained(path)
    assert plain.calibration is None
    assert predict(plain, texts)[0].probabilities != predict(loaded, texts)[0].probabilities
    raw["calibration"] = {"temperature": -1}
    (path / "config.json").write_text(json.dumps(raw))
    with pytest.raises(ModelFormatError, match="temperature -1.*positive number"):
        Classifier.from_pretrained(path)


def test_training_without_calibration_keeps_plain_softmax(tiny_encoder_dir):
    clf, result = fit(ModelConfig(task="sequence", encoder=tiny_encoder_dir, max_length=32),
                      TrainingConfig(mode="frozen", head_fit="adamw", epochs=2, patience=0, calibrate=False),
                      sentiment_examples(40))
    assert clf.calibration is None and "ece" not in result.metrics


def test_token_heads_calibrate_entity_confidences(tiny_encoder_dir):
    clf, result = fit(ModelConfig(task="token", head="crf", encoder=tiny_encoder_dir, max_length=32),
                      TrainingConfig(mode="frozen", head_fit="adamw", epochs=10, learning_rate=3e-2, patience=0),
                      token_examples(200))
    assert clf.calibration is not None and "entity_ece" in result.metrics
    pred = predict(clf, ["Anna Smith met Bob in town"])[0]
    for entity in pred.entities:  # shown through the confidence map
        assert 0.0 < entity.score < 1.0
    examples, decoded = decode_examples(clf, token_examples(30, seed=3))
    assert "entity_ece" in evaluate(clf, examples)


def test_calibrate_command_refits_a_saved_head_and_evaluate_reports_the_figures(trained, tmp_path, capsys):
    clf, _ = trained
    source = clf.save_pretrained(tmp_path / "src")
    data = tmp_path / "val.csv"
    data.write_text("text,label\n" + "\n".join(f"{e.text},{e.label}" for e in sentiment_examples(80, seed=9)))
    assert cli(["calibrate", "--model", str(source), "--data", str(data), "--output", str(tmp_path / "out"),
                "--threshold", "0.7"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["threshold"] == 0.7 and out["examples"] == 80 and "ece" in out["after"]
    assert Classifier.from_pretrained(tmp_path / "out").calibration.threshold == 0.7
    assert cli(["evaluate", "--model", str(tmp_path / "out"), "--data", str(data)]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert {"ece", "nll", "brier", "accuracy"} <= set(figures)


def test_calibrate_says_what_data_it_needs(trained, tmp_path, capsys):
    clf, _ = trained
    source = clf.save_pretrained(tmp_path / "h")
    assert cli(["calibrate", "--model", str(source)]) == 2  # trained from memory: no file to re-carve
    assert "pass --data with labelled examples" in capsys.readouterr().err
    assert cli(["calibrate", "--model", "sentiment-sst2"]) == 2
    assert "expected --output DIR for the shipped head" in capsys.readouterr().err


def test_thresholds_are_for_binary_text_heads(tmp_path, tiny_encoder_dir):
    clf, _ = fit(ModelConfig(task="token", head="linear", encoder=tiny_encoder_dir, max_length=32),
                 TrainingConfig(mode="frozen", head_fit="adamw", epochs=1, patience=0), token_examples(30))
    path = clf.save_pretrained(tmp_path / "tok")
    with pytest.raises(FtclfError, match="expected a binary text head"):
        set_threshold(path, 0.7)
    with pytest.raises(FtclfError, match="threshold in \\[0, 1\\]"):
        Calibration().with_threshold(1.5)


def test_calibrate_saved_rewrites_only_metadata(trained, tmp_path):
    clf, result = trained
    source = clf.save_pretrained(tmp_path / "h")
    weights = (source / "head.safetensors").read_bytes()
    out, cal = calibrate_saved(source, list(result.validation_examples))
    assert out == source.resolve() and (source / "head.safetensors").read_bytes() == weights
    assert cal.examples == len(result.validation_examples)


class _FakeClassifier:
    """What fit_calibration reads of a classifier: its task, head (probability function) and labels."""

    def __init__(self, labels):
        from ftclf.heads import LinearHead

        self.task, self.labels = SEQUENCE, labels
        self.head = LinearHead(SEQUENCE, 1, len(labels))
