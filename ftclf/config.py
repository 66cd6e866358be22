"""Typed, validated configuration: what a classifier is (ModelConfig) and how it is trained
(TrainingConfig).

These dataclasses are the one source of options and defaults: the API takes them, the command
line is generated from their fields (``help`` in each field's metadata), and the dashboard builds
them from its form. Task and head names are checked against their registries.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .encoders import DEFAULT_ENCODER, POOLINGS
from .errors import ConfigError
from .heads import HEADS, get_head
from .tasks import TASKS, get_task

#: How a run trains: ``auto`` picks one of the others from the data (see ``ftclf.training.recipes``).
MODES = ("auto", "frozen", "lora", "full", "contrastive")
#: How a trained classifier's encoder is stored: unchanged, LoRA adapters, or whole.
WEIGHT_MODES = ("frozen", "lora", "full")
#: How a head is fitted on encoder features (frozen and contrastive runs).
HEAD_FITS = ("auto", "lbfgs", "adamw")
PAIR_MODES = ("cross", "concat")
#: Which encoder weights contrastive tuning moves: LoRA adapters (a head of a few MB) or every weight.
CONTRASTIVE_BODIES = ("lora", "full")

#: The ``auto`` rule's bounds (``ftclf.training.recipes`` applies them; README "Small data" has the
#: measurements): up to SMALL_DATA examples a run is small data; past CPU_LORA_MAX examples a CPU
#: trains frozen instead of LoRA.
SMALL_DATA = 1024
CPU_LORA_MAX = 20000
#: The rule in words, for every help text that states it (the CLI, the Train tab).
AUTO_RULE = (f"up to {SMALL_DATA:,} examples contrastive (token tasks: frozen), then lora, and frozen past "
             f"{CPU_LORA_MAX:,} examples on a CPU")

#: Encoder batch sizes, one place: offline passes over many texts (features, evaluation, teachers,
#: scoring files) and interactive prediction (``predict()``, the serving engine: latency first).
PASS_BATCH_SIZE = 64
PREDICT_BATCH_SIZE = 32
#: Examples ``ftclf predict --data`` reads, scores and writes at a time.
PREDICT_CHUNK = 1024

#: Default pooling for sequence and pair heads. Measured on an SST-2 validation split with the
#: embedded encoder and a frozen linear head: mean 84.1% vs cls 81.0% (see README, "Pooling").
DEFAULT_POOLING = "mean"

# Per-mode defaults: frozen trains a head on cached features (cheap epochs, higher rate);
# lora/full move encoder weights (few epochs, the rates used in the LoRA/BERT literature).
# contrastive: the rates of the LoRA body-tuning phase (the head is then fitted with L-BFGS).
DEFAULT_EPOCHS = {"frozen": 20, "lora": 3, "full": 3, "contrastive": 1}
DEFAULT_LEARNING_RATE = {"frozen": 2e-3, "lora": 1e-3, "full": 5e-5, "contrastive": 3e-4}
DEFAULT_BATCH_SIZE = {"frozen": 64, "lora": 32, "full": 32, "contrastive": 32}


def default_learning_rate(mode: str, contrastive_body: str = "lora") -> float:
    """The default rate of ``mode``; contrastive tuning of every weight takes full fine-tuning's."""
    return DEFAULT_LEARNING_RATE["full" if mode == "contrastive" and contrastive_body == "full" else mode]


def _opt(default: Any = dataclasses.MISSING, help: str = "", choices=None, cli: bool = True, **kw):
    """A dataclass field whose metadata carries its command-line help (and choices)."""
    metadata = {"help": help, "choices": choices, "cli": cli, "many": kw.pop("many", False)}
    if "default_factory" in kw:
        return field(default_factory=kw["default_factory"], metadata=metadata)
    return field(default=default, metadata=metadata)


def _choice(name: str, value: Any, allowed) -> None:
    if value not in allowed:
        raise ConfigError(
            f"expected {name} to be one of {', '.join(allowed)}, got {value!r}; "
            f"pass one of the listed values"
        )


def _positive(name: str, value: Any, *, allow_none: bool = False, integer: bool = False) -> None:
    if value is None and allow_none:
        return
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or value <= 0:
        what = "a positive integer" if integer else "a positive number"
        raise ConfigError(f"expected {name} to be {what}, got {value!r}; pass {what}")


class _DictIO:
    """JSON round trip of a config dataclass; unknown keys (from newer versions) are ignored."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class ModelConfig(_DictIO):
    """What a classifier is: task, labels, head and how the encoder's vectors reach the head."""

    task: str = _opt(help="what to predict: one label per text, per text pair, or per word", choices=lambda: tuple(TASKS))
    #: label names in id order; empty = take them from the training data
    labels: list[str] = _opt(default_factory=list, cli=False)
    head: str | None = _opt(None, "head type (default: the task's own: crf for token tasks, else linear)",
                            choices=lambda: tuple(HEADS))
    pooling: str = _opt(DEFAULT_POOLING, "how token vectors become one text vector", choices=POOLINGS)
    pair_mode: str = _opt("cross", "pair tasks: one joint pass over both texts, or two passes concatenated",
                          choices=PAIR_MODES)
    pair_features: bool | None = _opt(None, "concat pairs: also feed |a-b| and a*b to the head (default: on in concat mode)")
    mlp_hidden: int = _opt(256, "hidden units of the mlp head")
    dropout: float = _opt(0.1, "dropout before the head's last layer")
    word_shape: bool | None = _opt(None, "token tasks: join a learned word-shape embedding (Xx, XX, x, d …) to each "
                                         "word vector, the case cue an uncased encoder drops (default: on)")
    case_markers: bool = _opt(False, "text tasks: put a marker token before every capitalised word, the case cue "
                                     "an uncased encoder's tokenizer drops")
    max_length: int = _opt(128, "maximum tokens per encoder pass (longer texts are truncated, long sentences windowed)")
    encoder: str = _opt(DEFAULT_ENCODER, "hub id or local directory of the encoder (default: the embedded all-MiniLM-L6-v2)")
    #: raw label values of the source data -> label names (e.g. {"0": "negative"}), so that
    #: evaluation files with the original labels can be scored without relabelling
    label_aliases: dict[str, str] = _opt(default_factory=dict, cli=False)

    def __post_init__(self) -> None:
        spec = get_task(self.task)
        self.head = spec.default_head if self.head is None else self.head
        head = get_head(self.head)
        if not head.supports(spec):
            raise ConfigError(
                f"expected head {self.head!r} only with a token-level task, got task {self.task!r}; "
                f"use one of {', '.join(n for n, h in HEADS.items() if h.supports(spec))} for {self.task} tasks"
            )
        _choice("pooling", self.pooling, POOLINGS)
        _choice("pair_mode", self.pair_mode, PAIR_MODES)
        if self.word_shape and "word_shape" not in spec.options:
            raise ConfigError(
                f"expected word_shape only with a token-level task, got task {self.task!r}; "
                "drop word_shape for sequence and pair tasks"
            )
        if self.case_markers and "case_markers" not in spec.options:
            raise ConfigError(
                f"expected case_markers only with a text task, got task {self.task!r}; token tasks see the case "
                "through word_shape: drop case_markers"
            )
        self.case_markers = bool(self.case_markers)
        self.word_shape = ("word_shape" in spec.options) if self.word_shape is None else bool(self.word_shape)
        self.pair_features = self.pair_mode == "concat" if self.pair_features is None else bool(self.pair_features)
        self._check_labels()
        _positive("max_length", self.max_length, integer=True)
        _positive("mlp_hidden", self.mlp_hidden, integer=True)
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ConfigError(f"expected dropout in [0, 1), got {self.dropout!r}")

    def _check_labels(self) -> None:
        labels = [str(label) for label in self.labels]
        if len(labels) == 1:
            raise ConfigError(
                f"expected at least 2 labels, got {labels!r}; a classifier needs two or more classes "
                "(or none, to take them from the data)"
            )
        if len(set(labels)) != len(labels):
            raise ConfigError(f"expected distinct labels, got duplicates in {labels!r}")
        self.labels = labels
        self.label_aliases = {str(k): str(v) for k, v in (self.label_aliases or {}).items()}
        stray = sorted(set(self.label_aliases.values()) - set(labels)) if labels else []
        if stray:
            raise ConfigError(f"expected label_aliases to map onto the labels {labels}, got targets {stray}")

    @property
    def task_spec(self):
        return get_task(self.task)

    @property
    def label2id(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.labels)}

    @property
    def num_labels(self) -> int:
        return len(self.labels)


@dataclass
class TrainingConfig(_DictIO):
    """How a classifier is trained. ``None`` fields take the per-mode default."""

    mode: str = _opt("auto", f"auto: pick the recipe from the data ({AUTO_RULE}); "
                             "frozen: train the head on cached encoder features; lora: low-rank adapters in the "
                             "encoder too; full: every weight; contrastive: tune the encoder on same/different-label "
                             "pairs (SetFit's idea), then fit the head", choices=MODES)
    epochs: int | None = _opt(None, f"maximum passes over the data (default per mode: {DEFAULT_EPOCHS})")
    learning_rate: float | None = _opt(None, f"AdamW learning rate (default per mode: {DEFAULT_LEARNING_RATE})")
    batch_size: int | None = _opt(None, "examples per step (default: 32 for lora/full; for frozen 64, "
                                        "or a tenth of the data down to 8 for small data)")
    seed: int = _opt(42, "seed of the validation split, the head's initial weights and the data order")
    patience: int = _opt(3, "stop after this many evaluations without a better validation metric (0: never)")
    weight_decay: float = _opt(0.01, "AdamW weight decay")
    warmup_ratio: float = _opt(0.06, "lora/full: share of the steps spent warming the learning rate up")
    lora_r: int = _opt(16, "lora: rank of the adapters")
    lora_alpha: int = _opt(32, "lora: scale of the adapters")
    lora_dropout: float = _opt(0.1, "lora: dropout on the adapters' input")
    max_examples: int | None = _opt(None, "train on at most this many examples (a seeded sample)")
    validation_fraction: float = _opt(0.1, "share of the data carved out for validation when no validation file is given")
    max_validation: int | None = _opt(5000, "cap on the carved validation split")
    evals_per_epoch: int = _opt(1, "lora/full: validation passes per epoch (finer early stopping)")
    head_fit: str = _opt("auto", "frozen/contrastive: lbfgs fits the head full-batch to convergence with the weight "
                                 "decay chosen by k-fold cross-validation (no validation split carved); adamw trains "
                                 "it in epochs with early stopping on a validation split; auto: lbfgs for small data",
                         choices=HEAD_FITS)
    contrastive_steps: int | None = _opt(None, "contrastive: encoder updates, each on every pair of a batch of examples "
                                               "(default: by data size, 2.5 per example, 20 to 180)")
    contrastive_body: str = _opt("lora", "contrastive: the encoder weights the pairs tune: lora (adapters, a head of a "
                                         "few MB) or full (every weight, learning rate 5e-05: +1.8 points at 64 examples "
                                         "per class on SST-2, a head of about 90 MB)", choices=CONTRASTIVE_BODIES)
    teacher: str | list[str] | None = _opt(
        None, "a trained ftclf classifier of the same task and labels (its directory or hub id; the command line and the "
              "Train tab also take a saved head's name), typically on a larger encoder: its probabilities (soft labels) "
              "train this model beside the gold labels, and it labels --unlabeled text (lora and full modes); several "
              "teachers (an ensemble, e.g. one recipe trained with different seeds) teach their mean probabilities",
        many=True)
    distill_temperature: float = _opt(2.0, "with a teacher: temperature T softening both models' distributions "
                                           "(p^(1/T), renormalised); the soft loss is scaled by T^2")
    distill_weight: float = _opt(0.5, "with a teacher: weight of the soft-label loss (KL to the teacher); the gold "
                                      "labels' loss gets 1 minus it (unlabeled text: soft loss only)")
    init_from: str | None = _opt(
        None, "continue training a saved classifier (its directory or hub id; the command line and the Train tab "
              "also take a saved head's name) instead of a new head: its task, labels, encoder, head and adapter carry over and it "
              "trains in its own mode (lora or full); the data may hold only its labels. A lower learning rate "
              "than a fresh run's (e.g. a fifth) keeps what it knew")
    calibrate: bool = _opt(True, "after training, fit the probabilities to the validation split (a temperature, and a "
                                 "monotone confidence map where that calibrates better on held-out folds): a shown "
                                 "probability of 0.9 is then right about 9 times in 10; decisions never change")
    #: what the run did and why, in words (set by the run; ``auto`` explains its choice here)
    recipe: str = _opt("", cli=False)

    def __post_init__(self) -> None:
        _choice("mode", self.mode, MODES)
        if self.mode != "auto":  # auto settles its defaults once it has picked a mode (``resolved``)
            self.epochs = DEFAULT_EPOCHS[self.mode] if self.epochs is None else self.epochs
            if self.learning_rate is None:
                self.learning_rate = default_learning_rate(self.mode, self.contrastive_body)
        _positive("epochs", self.epochs, integer=True, allow_none=True)
        _positive("learning_rate", self.learning_rate, allow_none=True)
        _positive("batch_size", self.batch_size, allow_none=True, integer=True)
        _positive("lora_r", self.lora_r, integer=True)
        _positive("lora_alpha", self.lora_alpha, integer=True)
        _positive("max_examples", self.max_examples, allow_none=True, integer=True)
        _positive("max_validation", self.max_validation, allow_none=True, integer=True)
        _positive("evals_per_epoch", self.evals_per_epoch, integer=True)
        _positive("contrastive_steps", self.contrastive_steps, allow_none=True, integer=True)
        _choice("head_fit", self.head_fit, HEAD_FITS)
        _choice("contrastive_body", self.contrastive_body, CONTRASTIVE_BODIES)
        _positive("distill_temperature", self.distill_temperature)
        if isinstance(self.distill_weight, bool) or not isinstance(self.distill_weight, (int, float)) \
                or not 0.0 <= self.distill_weight <= 1.0:
            raise ConfigError(f"expected distill_weight in [0, 1], got {self.distill_weight!r}; 0 ignores the teacher, "
                              "1 ignores the gold labels")
        if isinstance(self.teacher, (list, tuple)):  # one teacher is stored as itself, an ensemble as a list
            self.teacher = self.teacher[0] if len(self.teacher) == 1 else list(self.teacher)
        if self.teacher == [] or not all(isinstance(t, str) and t.strip() for t in self.teachers):
            raise ConfigError(f"expected teacher to be a directory, saved head name or hub id (or a list of them), "
                              f"got {self.teacher!r}")
        if self.teacher and self.mode in ("frozen", "contrastive"):
            raise ConfigError(f"expected mode lora, full or auto with a teacher, got {self.mode!r}; the teacher's soft "
                              "labels train through the encoder: pick lora (or full), or drop the teacher")
        if self.init_from is not None and not (isinstance(self.init_from, str) and self.init_from.strip()):
            raise ConfigError(f"expected init_from to be a saved classifier's directory, name or hub id, got "
                              f"{self.init_from!r}")
        if self.init_from and self.mode in ("frozen", "contrastive"):
            raise ConfigError(f"expected mode lora, full or auto when continuing a saved classifier, got {self.mode!r}; "
                              "a frozen head refits from scratch in seconds: drop init_from, or pick the saved "
                              "classifier's mode (lora or full)")
        if isinstance(self.patience, bool) or not isinstance(self.patience, int) or self.patience < 0:
            raise ConfigError(f"expected patience to be an integer >= 0, got {self.patience!r}")
        if not 0.0 < float(self.validation_fraction) < 0.5:
            raise ConfigError(
                f"expected validation_fraction in (0, 0.5), got {self.validation_fraction!r}"
            )

    @property
    def teachers(self) -> list:
        """The teacher references as a list: none, one, or an ensemble's members."""
        if self.teacher is None:
            return []
        return list(self.teacher) if isinstance(self.teacher, list) else [self.teacher]
