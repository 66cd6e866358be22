"""Task heads behind one protocol, and the registry that names them.

A head maps the task's input vectors to scores (logits) and owns how they become a loss and
labels: ``forward(x, labels=None, mask=None) -> HeadOutput`` (the loss only when labels are
given) and ``decode(logits, mask) -> (ids, probabilities)``. Plain heads take both from their
task (cross-entropy; softmax + argmax); a structured head such as the CRF replaces them.

``linear`` is multinomial logistic regression, y = softmax(h·W + b) (chapter eqs. 11.11/11.12);
``mlp`` is Linear -> ReLU -> dropout -> Linear (Observation 1 / Corollary 1.1); ``crf`` scores
every word linearly and decodes whole tag paths with a linear-chain CRF (Viterbi, IOB2-constrained).
Shapes: x is (batch, in_features) for text tasks, (batch, n_words, in_features) for token tasks;
logits keep the leading dimensions with num_labels last.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .crf import CRF
from .iob import crf_constraints
from .registry import Registry


@dataclass
class HeadOutput:
    logits: torch.Tensor
    loss: torch.Tensor | None = None


@dataclass
class HeadTrace:
    """The numbers a head computes for one input, layer by layer (the How it works tab)."""

    #: the last affine map's weight, (in, num_labels): scores = input · weight + bias; None where the head
    #: has no such map to show (the default trace of a head that only implements ``score``)
    weight: torch.Tensor | None
    scores: torch.Tensor
    #: an MLP's hidden layer ReLU(h·W1 + b1), None for a single-layer head
    hidden: torch.Tensor | None = None


class Head(nn.Module):
    """The head protocol. Subclasses implement :meth:`score`; structured heads also override
    :meth:`loss` and :meth:`decode`; :meth:`trace` may be overridden to show a head's weights and
    layers. ``task`` is the :class:`ftclf.tasks.TaskSpec` it serves."""

    def __init__(self, task) -> None:
        super().__init__()
        self.task = task
        #: the task's loss weights for this run's training data (``TaskSpec.loss_weight``; not saved)
        self.register_buffer("loss_weight", None, persistent=False)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None, mask: torch.Tensor | None = None) -> HeadOutput:
        logits = self.score(x)
        return HeadOutput(logits, None if labels is None else self.loss(logits, labels, mask))

    def loss(self, logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if self.loss_weight is None:  # a task written before loss weights takes two arguments
            return self.task.loss(logits, labels)
        return self.task.loss(logits, labels, self.loss_weight)

    @torch.no_grad()
    def decode(self, logits: torch.Tensor, mask: torch.Tensor | None = None,
               calibration=None) -> tuple[list, torch.Tensor]:
        """(label ids, probabilities) of scores, calibrated by ``calibration`` (``ftclf.calibration``)."""
        if calibration is None:  # a task that replaces decode may predate calibration: two arguments
            return self.task.decode(logits, mask)
        return self.task.decode(logits, mask, calibration)

    def log_probs(self, logits: torch.Tensor, mask: torch.Tensor | None = None, temperature=1.0) -> torch.Tensor:
        """log p(label) per row at a temperature, differentiable (a distilled student's side of the KL,
        and what calibration fits T on): the task's probability function of ``logits / temperature``."""
        return self.task.log_probabilities(logits / temperature)

    @torch.no_grad()
    def trace(self, x: torch.Tensor) -> HeadTrace:
        """The head's numbers for ``x`` (in_features,) or (n_words, in_features), for the How it works tab;
        by default only its scores (eval mode: no dropout), which is all a head that implements just
        :meth:`score` can say. Heads with an affine last layer override it to show the weight."""
        return HeadTrace(None, self.score(x))


class LinearHead(Head):
    """Dropout then one affine map: (..., in_features) -> (..., num_labels)."""

    def __init__(self, task, in_features: int, num_labels: int, dropout: float = 0.1) -> None:
        super().__init__(task)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(in_features, num_labels)

    def score(self, x):
        return self.classifier(self.dropout(x))

    @torch.no_grad()
    def trace(self, x):
        return HeadTrace(self.classifier.weight.T, x @ self.classifier.weight.T + self.classifier.bias)


class MLPHead(Head):
    """Linear -> ReLU -> dropout -> Linear: (..., in_features) -> (..., num_labels)."""

    def __init__(self, task, in_features: int, num_labels: int, hidden: int = 256, dropout: float = 0.1) -> None:
        super().__init__(task)
        self.dense = nn.Linear(in_features, hidden)
        self.activation = nn.ReLU()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden, num_labels)

    def score(self, x):
        return self.classifier(self.dropout(self.activation(self.dense(x))))

    @torch.no_grad()
    def trace(self, x):
        hidden = self.activation(self.dense(x))
        return HeadTrace(self.classifier.weight.T, hidden @ self.classifier.weight.T + self.classifier.bias, hidden)


class CRFHead(LinearHead):
    """Linear emission scores per word, then a linear-chain CRF over the label sequence: trained
    by its negative log-likelihood, decoded by Viterbi, confidences from forward-backward marginals.
    Transitions that break IOB2 are forbidden, so it never emits ``O -> I-X`` or ``B-X -> I-Y``."""

    def __init__(self, task, in_features: int, labels: list[str], dropout: float = 0.1) -> None:
        super().__init__(task, in_features, len(labels), dropout)
        start, transitions = crf_constraints(labels)
        self.crf = CRF(len(labels), torch.tensor(start), torch.tensor(transitions))

    def loss(self, logits, labels, mask=None):
        return self.crf.neg_log_likelihood(logits, labels, mask)

    def log_probs(self, logits, mask=None, temperature=1.0):
        """log marginals p(tag_i = k) by forward-backward (what decode reports as confidences), with every
        emission and transition score divided by ``temperature``."""
        return self.crf.log_marginals(logits, mask, temperature)

    @torch.no_grad()
    def decode(self, logits, mask=None, calibration=None):
        """(Viterbi paths, forward-backward marginals (batch, n_words, num_labels)); a calibration's
        temperature softens or sharpens the marginals, never the path."""
        temperature = calibration.temperature if calibration is not None else 1.0
        return self.crf.decode(logits, mask), self.crf.marginals(logits, mask, temperature)


# --------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class HeadSpec:
    """A named head type: how to build it and what it is."""

    name: str
    #: (in_features, config, task) -> Head; ``config`` is the ModelConfig (labels, mlp_hidden, dropout …)
    build: Callable[..., Head]
    #: one line for people (the Train tab, the How it works tab, --help)
    description: str
    #: scores whole label sequences: only for token-level tasks
    structured: bool = False

    def supports(self, task) -> bool:
        return task.supports_head(self)


HEADS: Registry[HeadSpec] = Registry("head")


def register_head(spec: HeadSpec) -> HeadSpec:
    """Make a head type available by name to configs, loading and the dashboard."""
    return HEADS.register(spec)


def get_head(name: str) -> HeadSpec:
    return HEADS.lookup(name)


def heads_for(task) -> list[str]:
    """Names of the head types a task can use."""
    return [name for name, spec in HEADS.items() if spec.supports(task)]


register_head(HeadSpec(
    "linear", lambda n_in, config, task: LinearHead(task, n_in, config.num_labels, config.dropout),
    "softmax(h·W + b): multinomial logistic regression on the encoder vector (eq. 11.11)",
))
register_head(HeadSpec(
    "mlp", lambda n_in, config, task: MLPHead(task, n_in, config.num_labels, config.mlp_hidden, config.dropout),
    "Linear → ReLU → dropout → Linear: one hidden layer before the softmax",
))
register_head(HeadSpec(
    "crf", lambda n_in, config, task: CRFHead(task, n_in, config.labels, config.dropout),
    "linear word scores + a linear-chain CRF: the best whole tag path (Viterbi), never invalid IOB2",
    structured=True,
))
