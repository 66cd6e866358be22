"""Every training mode learns small separable data; save -> load round trips; bad input is explained."""

import threading

import pytest
import torch

from ftclf import Classifier, ModelConfig, TrainingConfig, predict
from ftclf.data import Example
from ftclf.errors import DataError, EncoderMismatchError, InputError, ModelFormatError
from ftclf.evaluation import evaluate
from ftclf.training import fit

from .conftest import pair_examples, sentiment_examples, token_examples

FAST = {"frozen": dict(learning_rate=3e-2, epochs=30, head_fit="adamw"), "lora": dict(learning_rate=5e-3, epochs=6), "full": dict(learning_rate=1e-3, epochs=8)}


def train(tiny_encoder_dir, task, examples, mode="frozen", val=None, fast=None, **model_kw):
    model = ModelConfig(task=task, encoder=tiny_encoder_dir, max_length=32, **model_kw)
    training = TrainingConfig(mode=mode, batch_size=16, patience=0, seed=3, validation_fraction=0.25, **(fast or FAST[mode]))
    return fit(model, training, examples, val)


@pytest.mark.parametrize("head", ["linear", "mlp"])
def test_frozen_sequence_heads_learn(tiny_encoder_dir, head):
    clf, result = train(tiny_encoder_dir, "sequence", sentiment_examples(80), head=head)
    assert result.metrics["accuracy"] >= 0.9, result.history
    assert len(result.history) == 30 and result.history[-1]["loss"] < result.history[0]["loss"]
    assert predict(clf, ["a wonderful superb film"])[0].label == "pos"


@pytest.mark.parametrize(
    "pair_mode,pair_features,rule", [("cross", False, "same"), ("concat", False, "second"), ("concat", True, "same")]
)
def test_frozen_pair_modes_learn(tiny_encoder_dir, pair_mode, pair_features, rule):
    # Plain concatenation feeds a and b side by side, so a rule about b alone is in reach; the
    # |a-b| and a*b features make the joint "same class?" rule learnable too.
    clf, result = train(tiny_encoder_dir, "pair", pair_examples(120, rule=rule), head="mlp", pair_mode=pair_mode,
                        pair_features=pair_features)
    assert result.metrics["accuracy"] >= 0.8, result.history
    expected = {False: 2, True: 4}[pair_features] * 64 if pair_mode == "concat" else 64
    assert clf.in_features == expected


@pytest.mark.parametrize("head", ["linear", "crf"])
def test_frozen_token_heads_learn(tiny_encoder_dir, head):
    clf, result = train(tiny_encoder_dir, "token", token_examples(80), head=head, word_shape=True)
    assert result.metrics["f1"] >= 0.9, result.history
    if head == "crf":
        assert result.metrics["invalid_transition_rate"] == 0.0
    pred = predict(clf, ["the movie john smith was"])[0]
    assert [(e.label, e.text) for e in pred.entities] == [("PER", "john smith")]
    assert 0.0 < pred.entities[0].score <= 1.0
    assert all(abs(sum(w.probabilities) - 1) < 1e-4 for w in pred.words)


@pytest.mark.parametrize("mode", ["lora", "full"])
def test_encoder_training_modes_learn(tiny_encoder_dir, mode):
    clf, result = train(tiny_encoder_dir, "sequence", sentiment_examples(64), mode=mode)
    assert result.metrics["accuracy"] >= 0.9, result.history
    trainable = clf.count_parameters(trainable_only=True)
    if mode == "lora":
        assert trainable < 0.2 * clf.count_parameters()
    else:
        assert trainable == clf.count_parameters()


def test_lora_crf_token_training_through_trainer(tiny_encoder_dir, tmp_path):
    clf, result = train(tiny_encoder_dir, "token", token_examples(60), mode="lora", head="crf",
                        fast=dict(learning_rate=1e-2, epochs=8))
    assert result.metrics["f1"] >= 0.8, result.history
    assert result.history and "f1" in result.history[-1]
    out = clf.save_pretrained(tmp_path / "ner")
    again = Classifier.from_pretrained(out)
    a = predict(clf, ["john was here"])[0]
    b = predict(again, ["john was here"])[0]
    for x, y in zip(a.words, b.words):
        assert x.label == y.label and x.probabilities == pytest.approx(y.probabilities, abs=1e-6)


@pytest.mark.parametrize("mode", ["frozen", "lora", "full"])
def test_save_load_gives_identical_probabilities(tiny_encoder_dir, tmp_path, mode):
    clf, _ = train(tiny_encoder_dir, "sequence", sentiment_examples(40), mode=mode)
    out = clf.save_pretrained(tmp_path / "head")
    files = sorted(p.name for p in out.iterdir())
    assert {"config.json", "head.safetensors", "README.md"} <= set(files)
    assert ("adapter" in files) == (mode == "lora") and ("encoder" in files) == (mode == "full")
    assert not list(tmp_path.glob(".*tmp*"))  # nothing half-written left behind
    loaded = Classifier.from_pretrained(out)
    texts = ["good good film", "awful boring plot", "the movie"]
    assert [p.probabilities for p in predict(loaded, texts)] == [p.probabilities for p in predict(clf, texts)]
    assert loaded.metrics["accuracy"] == clf.metrics["accuracy"]
    if mode == "lora":
        size = sum(f.stat().st_size for f in (out / "adapter").iterdir())
        assert size < 5_000_000


def test_same_seed_same_result(tiny_encoder_dir):
    a, ra = train(tiny_encoder_dir, "sequence", sentiment_examples(40), head="mlp")
    b, rb = train(tiny_encoder_dir, "sequence", sentiment_examples(40), head="mlp")
    assert ra.history == rb.history
    assert [p.probabilities for p in predict(a, ["good"])] == [p.probabilities for p in predict(b, ["good"])]


def test_progress_events_and_cancel(tiny_encoder_dir):
    events, cancel = [], threading.Event()

    def on_event(event):
        events.append(event)
        if event.stage == "eval" and event.epoch >= 2:
            cancel.set()

    model = ModelConfig(task="sequence", encoder=tiny_encoder_dir, max_length=32)
    clf, result = fit(model, TrainingConfig(mode="frozen", head_fit="adamw", epochs=50, batch_size=8, patience=0),
                      sentiment_examples(40), on_event=on_event, cancel=cancel)
    stages = {e.stage for e in events}
    assert {"features", "train", "eval", "done"} <= stages
    assert result.cancelled and len(result.history) <= 3
    assert all(e.eta_seconds is None or e.eta_seconds >= 0 for e in events)


def test_one_class_and_wrong_task_data_are_refused(tiny_encoder_dir):
    one_class = [Example(f"text {i}", None, "pos") for i in range(10)]
    with pytest.raises(DataError, match=r"expected at least 2 classes in the training data, found only \['pos'\]"):
        train(tiny_encoder_dir, "sequence", one_class)
    with pytest.raises(DataError, match="expected tagged sentences for task 'token'"):
        train(tiny_encoder_dir, "token", sentiment_examples(10))


def test_unknown_labels_at_evaluation_are_refused(tiny_encoder_dir):
    clf, _ = train(tiny_encoder_dir, "sequence", sentiment_examples(20))
    with pytest.raises(DataError, match=r"expected only labels the head knows \(neg, pos\), found neutral"):
        evaluate(clf, [Example("so so", None, "neutral")])


def test_bad_prediction_input(tiny_encoder_dir):
    clf, _ = train(tiny_encoder_dir, "sequence", sentiment_examples(20))
    with pytest.raises(InputError, match="empty, whitespace-only or control-character-only string at position 1"):
        predict(clf, ["fine", "   "])
    with pytest.raises(InputError, match="expected no text_pairs for a sequence head"):
        predict(clf, ["fine"], ["other"])


def test_long_inputs_are_flagged(tiny_encoder_dir):
    clf, _ = train(tiny_encoder_dir, "sequence", sentiment_examples(20))
    pred = predict(clf, ["good " * 100])[0]
    assert pred.truncated


def test_not_a_saved_head_and_encoder_mismatch(tiny_encoder_dir, tmp_path):
    with pytest.raises(ModelFormatError, match="expected a saved ftclf classifier directory"):
        Classifier.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(ModelFormatError, match="plain transformers model"):
        Classifier.from_pretrained(tmp_path)
    clf, _ = train(tiny_encoder_dir, "sequence", sentiment_examples(20))
    out = clf.save_pretrained(tmp_path / "head")
    from ftclf.encoders import load_encoder

    other = load_encoder(tiny_encoder_dir)
    with torch.no_grad():
        next(other.model.parameters()).add_(0.01)
    other.fingerprint = "0123456789abcdef"
    with pytest.raises(EncoderMismatchError, match=r"expected the encoder this head was trained with, .* got .*0123456789abcdef"):
        Classifier.from_pretrained(out, encoder=other)


def test_save_refuses_to_overwrite_unrelated_directory(tiny_encoder_dir, tmp_path):
    clf, _ = train(tiny_encoder_dir, "sequence", sentiment_examples(20))
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="found other files there"):
        clf.save_pretrained(tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    clf.save_pretrained(tmp_path / "head")
    clf.save_pretrained(tmp_path / "head")  # overwriting a saved head is fine (atomic swap)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["head", "mine"]


def test_trainer_compute_metrics_scores_through_evaluate_by_hand(tiny_encoder):
    import numpy as np
    from transformers import EvalPrediction

    from ftclf.training.trainer import _compute_metrics

    seq = Classifier(ModelConfig(task="sequence", labels=["neg", "pos"], encoder="tiny"), tiny_encoder)
    logits = np.array([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0], [1.0, -1.0]])  # argmax 0 1 0 0, gold 0 1 1 0
    assert _compute_metrics(seq)(EvalPrediction(logits, np.array([0, 1, 1, 0]))) == {"accuracy": pytest.approx(0.75)}
    tok = Classifier(ModelConfig(task="token", labels=["O", "B-PER", "I-PER"], encoder="tiny", head="linear"), tiny_encoder)
    gold = np.array([[1, 2, 0], [0, -100, -100]])  # one PER; the second sentence's padding is skipped
    logits = np.eye(3)[[[1, 2, 0], [1, 0, 0]]] * 5  # predicts PER(0-1), then a stray B-PER: P 1/2, R 1
    assert _compute_metrics(tok)(EvalPrediction(logits, gold)) == {"f1": pytest.approx(2 / 3)}


def test_evaluate_through_the_evaluate_module_equals_the_pure_scoring(tiny_encoder_dir):
    from ftclf.evaluation import decode_examples, score

    clf, _ = train(tiny_encoder_dir, "sequence", sentiment_examples(40))
    held_out = sentiment_examples(30, seed=9)
    scored = evaluate(clf, held_out)
    calibration = {"ece", "nll", "brier"}  # the calibration of the probabilities shown, beside the task's metrics
    assert calibration <= set(scored)
    assert {k: v for k, v in scored.items() if k not in calibration} == score(clf, *decode_examples(clf, held_out))


@pytest.mark.parametrize("mode", ["lora", "full"])
def test_continuing_a_saved_classifier_starts_from_its_weights(tiny_encoder_dir, tmp_path, mode):
    start, _ = train(tiny_encoder_dir, "sequence", sentiment_examples(64), mode=mode)
    saved = start.save_pretrained(tmp_path / "start")
    texts = ["good good film", "awful boring plot", "the movie"]
    before = [p.probabilities for p in predict(start, texts)]
    calibration, start.calibration = start.calibration, None
    raw = [list(p.probabilities.values()) for p in predict(start, texts)]
    start.calibration = calibration
    # a learning rate too small to move anything: the continued classifier is the saved one
    still = TrainingConfig(init_from=str(saved), learning_rate=1e-12, epochs=1, batch_size=16, patience=0, seed=3,
                           calibrate=False)
    same, result = fit(ModelConfig(task="sequence"), still, sentiment_examples(32, seed=1))
    assert same.mode == mode and result.metrics["accuracy"] >= 0.9
    for got, want in zip((list(p.probabilities.values()) for p in predict(same, texts)), raw):
        assert got == pytest.approx(want, abs=1e-4)
    assert same.training_config.init_from == str(saved) and "continued_from" in same.data_info
    assert f"of {saved} trained on" in same.training_config.recipe  # the recipe's words name the start
    # trained on the opposite labels it moves away from them, and the saved classifier is untouched
    swapped = [Example(e.text, None, "neg" if e.label == "pos" else "pos") for e in sentiment_examples(64, seed=2)]
    moved, _ = fit(ModelConfig(task="sequence"), TrainingConfig(init_from=str(saved), batch_size=16, patience=0, seed=3,
                                                                **FAST[mode]), swapped)
    held_out = sentiment_examples(20, seed=5)
    flipped = [p.label != e.label for p, e in zip(predict(moved, [e.text for e in held_out]), held_out)]
    assert sum(flipped) >= 14, flipped  # 20 held-out examples: most follow the new labels
    assert [p.probabilities for p in predict(Classifier.from_pretrained(saved), texts)] == before
    if mode == "lora":
        assert moved.count_parameters(trainable_only=True) == start.count_parameters(trainable_only=True)
        assert moved.save_pretrained(tmp_path / "moved").joinpath("adapter").is_dir()


def test_continuing_refuses_what_cannot_be_continued(tiny_encoder_dir, tmp_path):
    from ftclf.errors import ConfigError

    frozen, _ = train(tiny_encoder_dir, "sequence", sentiment_examples(40))
    lora, _ = train(tiny_encoder_dir, "sequence", sentiment_examples(40), mode="lora")
    frozen_dir, lora_dir = frozen.save_pretrained(tmp_path / "f"), lora.save_pretrained(tmp_path / "l")
    with pytest.raises(ConfigError, match="trained 'frozen'"):
        fit(ModelConfig(task="sequence"), TrainingConfig(init_from=str(frozen_dir)), sentiment_examples(20))
    with pytest.raises(ConfigError, match="expected mode lora or auto"):
        fit(ModelConfig(task="sequence"), TrainingConfig(init_from=str(lora_dir), mode="full"), sentiment_examples(20))
    with pytest.raises(ConfigError, match="of the pair task to continue, got one for .sequence."):
        fit(ModelConfig(task="pair"), TrainingConfig(init_from=str(lora_dir)), pair_examples(20))
    with pytest.raises(DataError, match=r"found \['neutral'\]"):
        fit(ModelConfig(task="sequence"), TrainingConfig(init_from=str(lora_dir)),
            sentiment_examples(20) + [Example("so so", None, "neutral")] * 4)
    with pytest.raises(ConfigError, match="frozen head refits"):
        TrainingConfig(init_from=str(lora_dir), mode="frozen")
