"""The saved-classifier format: round trips, atomic writes, older versions, and every kind of
damage reported as a ModelFormatError that names what to do."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from ftclf import Classifier, ModelConfig, predict
from ftclf import format as fmt
from ftclf.errors import ModelFormatError
from ftclf.evaluation import evaluate

from .conftest import sentiment_examples

TAGS = ["O", "B-PER", "I-PER"]


@pytest.fixture
def saved(tiny_encoder, tmp_path):
    torch.manual_seed(0)
    clf = Classifier(ModelConfig(task="token", labels=TAGS, encoder="tiny", head="crf"), tiny_encoder).eval()
    clf.metrics = {"f1": 0.5, "main_metric": "f1"}
    return clf, clf.save_pretrained(tmp_path / "head")


def test_round_trip_keeps_everything(saved, tiny_encoder):
    clf, path = saved
    meta = fmt.read_metadata(path)
    assert meta.model == clf.model_config and meta.encoder == clf.encoder_ref and meta.format_version == fmt.FORMAT_VERSION
    assert meta.main_metric == ("f1", 0.5)
    assert sorted(p.name for p in path.iterdir()) == ["README.md", "config.json", "head.safetensors"]
    again = Classifier.from_pretrained(path, encoder=tiny_encoder)
    assert all(torch.equal(v, again.head_state_dict()[k]) for k, v in clf.head_state_dict().items())
    assert "head.crf.transitions" in load_file(str(path / fmt.HEAD_NAME))  # the CRF is part of the head


def test_version_1_heads_load(saved, tiny_encoder):
    """Version 1 kept the CRF beside the head (crf.*); such files still load, unchanged in meaning."""
    clf, path = saved
    state = load_file(str(path / fmt.HEAD_NAME))
    save_file({k.removeprefix("head.") if k.startswith("head.crf.") else k: v for k, v in state.items()},
              str(path / fmt.HEAD_NAME))
    raw = json.loads((path / fmt.CONFIG_NAME).read_text())
    (path / fmt.CONFIG_NAME).write_text(json.dumps({**raw, "format_version": 1}))
    old = Classifier.from_pretrained(path, encoder=tiny_encoder)
    text = "john smith was here"
    assert [w.probabilities for w in predict(old, [text])[0].words] == [w.probabilities for w in predict(clf, [text])[0].words]


def _edit(path, change):
    raw = json.loads((path / fmt.CONFIG_NAME).read_text())
    change(raw)
    (path / fmt.CONFIG_NAME).write_text(json.dumps(raw))


@pytest.mark.parametrize("change,message", [
    (lambda raw: raw.pop("model"), "expected 'model' .* to be a JSON object, found NoneType"),
    (lambda raw: raw["model"].pop("task"), "missing or wrong"),
    (lambda raw: raw["model"].pop("labels"), "expected the label names"),
    (lambda raw: raw.update(encoder=None), "expected 'encoder' .* to be a JSON object, found NoneType"),
    (lambda raw: raw["encoder"].pop("fingerprint"), "the field 'fingerprint' is missing or wrong"),
    (lambda raw: raw.update(metrics="oops"), "expected 'metrics' .* to be a JSON object, found str"),
    (lambda raw: raw.update(mode="magic"), "expected mode one of frozen, lora, full"),
    (lambda raw: raw["model"].update(task="ranking"), "expected task to be one of"),
    (lambda raw: raw.update(format_version=99), "expected format version <= 2 .* upgrade ftclf"),
    (lambda raw: raw.update(format="something"), "plain transformers model"),
])
def test_damaged_metadata_is_one_error_type(saved, change, message):
    _, path = saved
    _edit(path, change)
    with pytest.raises(ModelFormatError, match=message):
        fmt.read_metadata(path)
    # The cheap probe answers a bool and never raises: the directory still claims the format, except
    # where the damage is to the "format" field itself.
    assert fmt.is_saved_classifier(path) is (message != "plain transformers model")


def test_damaged_or_foreign_files(saved, tiny_encoder, tmp_path):
    _, path = saved
    (path / fmt.CONFIG_NAME).write_text("{not json")
    with pytest.raises(ModelFormatError, match="expected valid JSON"):
        Classifier.from_pretrained(path)
    assert fmt.is_saved_classifier(path) is False
    (path / fmt.CONFIG_NAME).write_text("[1, 2]")  # valid JSON, not an object
    assert fmt.is_saved_classifier(path) is False
    assert fmt.is_saved_classifier(tmp_path / "nothing") is False
    with pytest.raises(ModelFormatError, match="expected a saved ftclf classifier directory"):
        Classifier.from_pretrained(tmp_path / "nothing")


def test_damaged_weights(saved, tiny_encoder):
    clf, path = saved
    (path / fmt.HEAD_NAME).write_bytes(b"garbage")
    with pytest.raises(ModelFormatError, match="expected readable safetensors"):
        Classifier.from_pretrained(path, encoder=tiny_encoder)
    save_file({"head.classifier.weight": torch.zeros(3, 5)}, str(path / fmt.HEAD_NAME))
    with pytest.raises(ModelFormatError, match="found missing .* unexpected .* wrongly shaped"):
        Classifier.from_pretrained(path, encoder=tiny_encoder)
    (path / fmt.HEAD_NAME).unlink()
    with pytest.raises(ModelFormatError, match="expected head.safetensors"):
        Classifier.from_pretrained(path, encoder=tiny_encoder)


def test_a_failed_write_leaves_the_old_head_and_no_debris(saved, tmp_path):
    clf, path = saved
    before = (path / fmt.CONFIG_NAME).read_text()

    def explode(directory):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        fmt.write(path, clf.metadata(), clf.head_state_dict(), "card", explode)
    assert (path / fmt.CONFIG_NAME).read_text() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["head"]


def test_label_aliases_are_saved_and_used_by_evaluate(tiny_encoder_dir, tmp_path):
    from ftclf import TrainingConfig, fit

    clf, _ = fit(ModelConfig(task="sequence", encoder=tiny_encoder_dir, max_length=32,
                             label_aliases={"1": "pos", "0": "neg"}),
                 TrainingConfig(mode="frozen", head_fit="adamw", epochs=20, learning_rate=3e-2, batch_size=16, patience=0), sentiment_examples(60))
    loaded = Classifier.from_pretrained(clf.save_pretrained(tmp_path / "aliased"))
    assert loaded.model_config.label_aliases == {"1": "pos", "0": "neg"}
    raw = [type(e)(e.text, None, {"pos": "1", "neg": "0"}[e.label]) for e in sentiment_examples(20, seed=9)]
    assert evaluate(loaded, raw) == evaluate(loaded, sentiment_examples(20, seed=9))
