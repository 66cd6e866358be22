from pathlib import Path

import pytest

from ftclf.config import DEFAULT_EPOCHS, DEFAULT_LEARNING_RATE, ModelConfig, TrainingConfig
from ftclf.errors import ConfigError, DataError
from ftclf.tasks import get_task
from ftclf.training.recipes import MAX_STEPS, MIN_STEPS, resolve

from .conftest import token_examples

SEQ = get_task("sequence")


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(task="ranking"), "expected task to be one of sequence, pair, token, multilabel, got 'ranking'"),
        (dict(task="sequence", head="svm"), "expected head to be one of linear, mlp, crf, got 'svm'"),
        (dict(task="sequence", head="crf"), "expected head 'crf' only with a token-level task, got task 'sequence'; use one of linear, mlp"),
        (dict(task="sequence", pooling="attention"), "expected pooling to be one of cls, mean, max, got 'attention'"),
        (dict(task="pair", pair_mode="siamese"), "expected pair_mode to be one of cross, concat"),
        (dict(task="sequence", labels=["a"]), "expected at least 2 labels"),
        (dict(task="sequence", labels=["a", "a"]), "expected distinct labels"),
        (dict(task="sequence", word_shape=True), "expected word_shape only with a token-level task"),
        (dict(task="token", case_markers=True), "expected case_markers only with a text task"),
        (dict(task="sequence", max_length=0), "expected max_length to be a positive integer, got 0"),
    ],
)
def test_model_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ModelConfig(**kwargs)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(mode="adapter"), "expected mode to be one of auto, frozen, lora, full, contrastive, got 'adapter'"),
        (dict(epochs=0), "expected epochs to be a positive integer"),
        (dict(learning_rate=-1.0), "expected learning_rate to be a positive number"),
        (dict(patience=-1), "expected patience to be an integer >= 0"),
        (dict(validation_fraction=0.9), "expected validation_fraction in"),
    ],
)
def test_training_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        TrainingConfig(**kwargs)


def test_defaults_follow_the_task_and_the_data():
    assert ModelConfig(task="token").head == "crf" and ModelConfig(task="token").word_shape is True
    assert ModelConfig(task="sequence").head == "linear" and ModelConfig(task="sequence").word_shape is False
    assert ModelConfig(task="pair", pair_mode="concat").pair_features is True
    assert ModelConfig(task="pair", pair_mode="concat", pair_features=False).pair_features is False
    assert ModelConfig(task="token", word_shape=False).word_shape is False
    assert TrainingConfig().batch_size is None and TrainingConfig().mode == "auto"
    frozen = TrainingConfig(mode="frozen")
    assert resolve(frozen, SEQ, 62_000).batch_size == 64 and resolve(frozen, SEQ, 100).batch_size == 10
    assert resolve(frozen, SEQ, 30).batch_size == 8 and resolve(TrainingConfig(mode="lora"), SEQ, 30).batch_size == 32
    assert resolve(TrainingConfig(mode="frozen", batch_size=5), SEQ, 10_000).batch_size == 5


@pytest.mark.parametrize(("task", "n", "gpu", "mode", "head_fit"), [
    ("sequence", 16, False, "contrastive", "lbfgs"),
    ("pair", 1024, False, "contrastive", "lbfgs"),
    ("token", 200, False, "frozen", "lbfgs"),
    ("token", 2000, False, "lora", "auto"),
    ("sequence", 5000, False, "lora", "auto"),
    ("sequence", 60_000, False, "frozen", "adamw"),
    ("sequence", 60_000, True, "lora", "auto"),
])
def test_auto_picks_a_recipe_from_the_data_and_says_why(task, n, gpu, mode, head_fit):
    cfg = resolve(TrainingConfig(), get_task(task), n, on_gpu=gpu)
    assert (cfg.mode, cfg.head_fit) == (mode, head_fit)
    assert cfg.recipe.startswith("auto chose") and "because" in cfg.recipe and f"{n:,}" in cfg.recipe
    assert cfg.epochs == DEFAULT_EPOCHS[mode] and cfg.learning_rate == DEFAULT_LEARNING_RATE[mode]
    assert resolve(cfg, get_task(task), n, on_gpu=gpu) == cfg  # settled once: resolving again changes nothing
    if mode == "contrastive":
        assert MIN_STEPS <= cfg.contrastive_steps <= MAX_STEPS
    explicit = resolve(TrainingConfig(mode="frozen", epochs=7), get_task(task), n, on_gpu=gpu)
    assert explicit.mode == "frozen" and explicit.epochs == 7 and not explicit.recipe.startswith("auto")


def test_contrastive_is_refused_for_token_tasks(tiny_encoder):
    from ftclf.training import fit

    with pytest.raises(ConfigError, match="sequence or pair task"):
        fit(ModelConfig(task="token", encoder=tiny_encoder.name), TrainingConfig(mode="contrastive"),
            token_examples(10), encoder=tiny_encoder)


def test_per_mode_defaults_and_round_trip():
    assert TrainingConfig(mode="lora").learning_rate == 1e-3
    assert TrainingConfig(mode="full").learning_rate == 5e-5
    cfg = ModelConfig(task="token", labels=["O", "B-PER"], head="crf", word_shape=True)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.label2id == {"O": 0, "B-PER": 1}
    assert issubclass(ConfigError, ValueError) and issubclass(DataError, ValueError)


def test_the_auto_rule_is_stated_from_its_constants():
    """Help texts state the rule from the constants the recipe chooser applies (one source)."""
    from ftclf.config import AUTO_RULE, CPU_LORA_MAX, SMALL_DATA
    from ftclf.tasks import get_task
    from ftclf.training.recipes import choose_mode

    assert f"{SMALL_DATA:,}" in AUTO_RULE and f"{CPU_LORA_MAX:,}" in AUTO_RULE
    assert AUTO_RULE in TrainingConfig.__dataclass_fields__["mode"].metadata["help"]
    sequence, token = get_task("sequence"), get_task("token")
    assert choose_mode(sequence, SMALL_DATA, False)[0] == "contrastive" and choose_mode(token, SMALL_DATA, False)[0] == "frozen"
    assert choose_mode(sequence, SMALL_DATA + 1, False)[0] == "lora" and choose_mode(sequence, CPU_LORA_MAX, False)[0] == "lora"
    assert choose_mode(sequence, CPU_LORA_MAX + 1, False)[0] == "frozen" and choose_mode(sequence, CPU_LORA_MAX + 1, True)[0] == "lora"
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert f"up to {SMALL_DATA:,} examples `contrastive`" in readme and f"past {CPU_LORA_MAX:,} examples on a CPU" in readme


def test_a_server_can_cap_the_contrastive_steps(monkeypatch):
    from ftclf.training.recipes import steps_for

    assert steps_for(4) == MIN_STEPS and steps_for(10_000) == MAX_STEPS
    monkeypatch.setenv("FTCLF_MAX_CONTRASTIVE_STEPS", "12")
    assert steps_for(4) == 12 and steps_for(10_000) == 12
    monkeypatch.setenv("FTCLF_MAX_CONTRASTIVE_STEPS", "many")
    with pytest.raises(ConfigError, match="FTCLF_MAX_CONTRASTIVE_STEPS"):
        steps_for(10)
