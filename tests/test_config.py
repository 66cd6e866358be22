import pytest

from ftclf.config import ModelConfig, TrainingConfig
from ftclf.errors import ConfigError, DataError


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(task="ranking"), "expected task to be one of sequence, pair, token, got 'ranking'"),
        (dict(task="sequence", head="svm"), "expected head to be one of linear, mlp, crf, got 'svm'"),
        (dict(task="sequence", head="crf"), "expected head 'crf' only with task 'token'"),
        (dict(task="sequence", pooling="max"), "expected pooling to be one of cls, mean, got 'max'"),
        (dict(task="pair", pair_mode="siamese"), "expected pair_mode to be one of cross, concat"),
        (dict(task="sequence", labels=["a"]), "expected at least 2 labels"),
        (dict(task="sequence", labels=["a", "a"]), "expected distinct labels"),
        (dict(task="sequence", word_shape=True), "expected word_shape only with task 'token'"),
        (dict(task="sequence", max_length=0), "expected max_length to be a positive integer, got 0"),
    ],
)
def test_model_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ModelConfig(**kwargs)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(mode="adapter"), "expected mode to be one of frozen, lora, full, got 'adapter'"),
        (dict(epochs=0), "expected epochs to be a positive integer"),
        (dict(learning_rate=-1.0), "expected learning_rate to be a positive number"),
        (dict(patience=-1), "expected patience to be an integer >= 0"),
        (dict(validation_fraction=0.9), "expected validation_fraction in"),
    ],
)
def test_training_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        TrainingConfig(**kwargs)


def test_per_mode_defaults_and_round_trip():
    assert TrainingConfig(mode="lora").learning_rate == 1e-3
    assert TrainingConfig(mode="full").learning_rate == 5e-5
    cfg = ModelConfig(task="token", labels=["O", "B-PER"], head="crf", word_shape=True)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.id2label == {0: "O", 1: "B-PER"} and cfg.label2id["B-PER"] == 1
    assert issubclass(ConfigError, ValueError) and issubclass(DataError, ValueError)


def test_hub_dataset_offline_is_a_clear_error(monkeypatch):
    from ftclf.data import read_examples

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(DataError, match=r"expected a loadable hub dataset 'nobody/nothing' .* or use a local file"):
        read_examples("hf:nobody/nothing::train", "sequence")


def test_evaluate_modules_work_offline():
    from ftclf.evaluation import classification_metrics
    from ftclf.hf_metrics import ClassificationMetric, EntityMetric

    metric = ClassificationMetric(labels=["neg", "pos"])
    metric.add_batch(predictions=[0, 1], references=[0, 0])
    metric.add_batch(predictions=[1], references=[1])
    assert metric.compute() == classification_metrics([0, 0, 1], [0, 1, 1], ["neg", "pos"])
    ent = EntityMetric().compute(predictions=[["B-PER", "I-PER", "O"]], references=[["B-PER", "I-PER", "O"]])
    assert ent["f1"] == 1.0
