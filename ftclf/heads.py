"""Task heads: map encoder vectors to class scores (logits). Softmax lives in the loss/decoder.

``linear`` is multinomial logistic regression, y = softmax(h·W + b) (chapter eqs. 11.11/11.12);
``mlp`` is Linear -> ReLU -> dropout -> Linear (Observation 1 / Corollary 1.1).
"""

from __future__ import annotations

import torch
from torch import nn

from .errors import ConfigError

#: Word-shape classes for token heads; 0 is padding.
WORD_SHAPES = ("<pad>", "lower", "Capitalised", "UPPER", "mIxed", "digits", "alnum-digit", "punct", "other")
WORD_SHAPE_DIM = 16


class LinearHead(nn.Module):
    """Dropout then one affine map: (..., in_features) -> (..., num_labels)."""

    def __init__(self, in_features: int, num_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(in_features, num_labels)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(features))


class MLPHead(nn.Module):
    """Linear -> ReLU -> dropout -> Linear: (..., in_features) -> (..., num_labels)."""

    def __init__(self, in_features: int, num_labels: int, hidden: int = 256, dropout: float = 0.1) -> None:
        super().__init__()
        self.dense = nn.Linear(in_features, hidden)
        self.activation = nn.ReLU()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden, num_labels)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.activation(self.dense(features))))


def build_head(kind: str, in_features: int, num_labels: int, hidden: int = 256, dropout: float = 0.1) -> nn.Module:
    """The scoring module for ``kind``; a ``crf`` head scores with a linear layer (its emissions)."""
    if kind in ("linear", "crf"):
        return LinearHead(in_features, num_labels, dropout)
    if kind == "mlp":
        return MLPHead(in_features, num_labels, hidden, dropout)
    raise ConfigError(f"expected head 'linear', 'mlp' or 'crf', got {kind!r}")


def word_shape(word: str) -> int:
    """Index into WORD_SHAPES of one word's orthographic shape."""
    if not word:
        return WORD_SHAPES.index("other")
    if word.isdigit():
        return WORD_SHAPES.index("digits")
    if any(ch.isdigit() for ch in word):
        return WORD_SHAPES.index("alnum-digit")
    letters = [ch for ch in word if ch.isalpha()]
    if not letters:
        return WORD_SHAPES.index("punct") if all(not ch.isalnum() for ch in word) else WORD_SHAPES.index("other")
    if all(ch.islower() for ch in letters):
        return WORD_SHAPES.index("lower")
    if all(ch.isupper() for ch in letters):
        return WORD_SHAPES.index("UPPER") if len(letters) > 1 else WORD_SHAPES.index("Capitalised")
    if letters[0].isupper() and all(ch.islower() for ch in letters[1:]):
        return WORD_SHAPES.index("Capitalised")
    return WORD_SHAPES.index("mIxed")
