"""What prediction returns: one typed result per input, per task kind."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch


@dataclass
class Decoded:
    """A head's raw answer for one example: the label id(s) and the probabilities behind them.

    ``ids``: one label id, or one per word. ``probs``: (num_labels,) or (n_words, num_labels), calibrated
    when the head is. ``scores``: the head's raw scores of the same shape (what calibration is fitted on).
    """

    ids: int | list[int]
    probs: torch.Tensor
    scores: torch.Tensor | None = None


@dataclass
class SequencePrediction:
    """Probabilities over every label in id order, and the top label (eq. 11.11)."""

    label: str
    score: float
    probabilities: dict[str, float]
    truncated: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class WordPrediction:
    word: str
    start: int
    end: int
    label: str
    score: float
    probabilities: list[float]


@dataclass
class EntitySpan:
    """An entity: label, character span, text, and the mean probability of its words' tags."""

    label: str
    start: int
    end: int
    text: str
    score: float


@dataclass
class TokenPrediction:
    text: str
    entities: list[EntitySpan]
    words: list[WordPrediction]
    labels: list[str] = field(default_factory=list)
    #: the text was longer than the encoder's maximum and was tagged in several windows
    windowed: bool = False
    #: the text was longer than the input limit (ftclf.tasks.max_text_chars()): only its beginning was tagged
    truncated: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class MultiLabelPrediction:
    """Any number of labels for one text: those whose probability reaches their threshold."""

    labels: list[str]
    probabilities: dict[str, float]
    thresholds: dict[str, float]
    truncated: bool = False

    def to_dict(self) -> dict:
        return asdict(self)
