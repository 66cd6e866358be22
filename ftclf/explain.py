"""The real numbers along the chapter's path for one input: the encoder vector -> scores h·W + b
-> softmax -> argmax (eqs. 11.11-11.13); for a structured head (CRF), its decoded path beside the
per-word argmax."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from .errors import InputError
from .heads import get_head
from .tokenization import collate


@dataclass
class VectorSummary:
    """A vector in a few numbers: its size, norm, mean, standard deviation and first values."""

    dim: int
    norm: float
    mean: float
    std: float
    first: list[float]


@dataclass
class Explanation:
    """The numbers along the chapter's path for one input (one row per word for token heads)."""

    task: str
    head: str
    labels: list[str]
    mode: str
    #: one row per word (token heads) rather than one per input
    per_word: bool
    pooling: str
    #: how a pair head reads its two texts (``cross`` or ``concat``); None for heads of one text
    pair_mode: str | None
    #: the head's input h (the first word's, for token heads)
    vector: VectorSummary
    #: W's shape, or None for a head that only has a score function
    weight_shape: list[int] | None
    scores: list
    probs: list
    #: the label (one per word for token heads) of the plain softmax's argmax
    argmax: str | list[str]
    truncated: bool
    #: calibration: softmax(scores / T) (then the confidence map), and the label a saved threshold picks
    temperature: float | None = None
    confidence_map: bool = False
    threshold: float | None = None
    calibrated: list | None = None
    decision: str | None = None
    #: token heads: the words; structured heads: the decoded path and its marginals
    words: list[str] | None = None
    decoded: list[str] | None = None
    marginals: list | None = None
    #: an MLP head's hidden layer, and how many of its units are active
    hidden: VectorSummary | None = None
    hidden_active: int | None = None
    #: the task's probability function ("softmax", or "sigmoid": one independent probability per label), and
    #: for a sigmoid head the softmax of the same scores beside it, each label's threshold and the labels chosen
    probability_function: str = "softmax"
    softmax: list | None = None
    thresholds: list[float] | None = None
    chosen: list[str] | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _vector_summary(v: torch.Tensor) -> VectorSummary:
    return VectorSummary(int(v.numel()), float(v.norm()), float(v.mean()), float(v.std()),
                         [round(float(x), 4) for x in v[:8]])


@torch.no_grad()
def explain(clf, text: str, text_pair: str | None = None) -> Explanation:
    """What ``clf`` computes for one input, step by step, as plain numbers."""
    if not isinstance(text, str) or not text.strip():
        raise InputError("expected non-empty text to explain, got an empty string; type some text")
    task = clf.task
    example = task.inputs([text], task.second_texts([text_pair or ""]))[0]
    clf.eval()
    items = task.encode(clf.tokenizer, [example], clf.model_config, clf.max_length)
    inputs, traces = [], []
    for item in items:  # one item; the word windows of a long sentence, in order
        batch = collate([item], clf.tokenizer.pad_token_id or 0).to(clf.device)
        x = clf.head_input(clf.features(batch), batch.word_shape)[0]  # (in_features,) or (n_words, in_features)
        inputs.append(x)
        traces.append(clf.head.trace(x))
    per_word = inputs[0].dim() == 2  # a token head's input: (n_words, in_features), its windows in order
    x = torch.cat(inputs) if per_word else inputs[0]
    scores = torch.cat([t.scores for t in traces]) if per_word else traces[0].scores
    probs = task.probabilities(scores)  # the task's own function, uncalibrated (softmax, or a sigmoid per label)
    labels = clf.labels
    argmax = probs.argmax(-1).tolist()
    cal = clf.calibration
    out = Explanation(
        task.name, clf.model_config.head, labels, clf.mode, per_word, clf.model_config.pooling,
        clf.model_config.pair_mode if "pair_mode" in task.options else None, _vector_summary(x[0] if per_word else x),
        None if traces[0].weight is None else list(traces[0].weight.shape), scores.tolist(), probs.tolist(),
        [labels[i] for i in argmax] if per_word else labels[argmax], any(item.truncated for item in items),
        temperature=cal.temperature if cal is not None else None, confidence_map=bool(cal is not None and cal.map_x),
        threshold=cal.threshold if cal is not None else None, probability_function=task.probability_function,
    )
    if task.probability_function != "softmax":  # the same scores through a softmax, for comparison
        out.softmax = scores.softmax(-1).tolist()
        ids, shown = clf.head.decode(scores.unsqueeze(0), None, cal)
        out.chosen = [labels[i] for i in ids[0]]
        out.thresholds = (cal.thresholds if cal is not None and cal.thresholds else None) or [0.5] * len(labels)
        if cal is not None:
            out.calibrated = shown[0].tolist()
    elif cal is not None:
        calibrated = task.probabilities(scores, cal)  # token heads: each word's tags at the temperature
        out.calibrated = calibrated.tolist()
        if not per_word:
            out.decision = labels[int(cal.choose(scores, calibrated))]
    if per_word:
        out.words = list(example.words)
    if traces[0].hidden is not None:
        out.hidden = _vector_summary(traces[0].hidden[0] if per_word else traces[0].hidden)
        out.hidden_active = int((traces[0].hidden > 0).sum())
    if get_head(clf.model_config.head).structured:
        ids, marginals = clf.head.decode(scores.unsqueeze(0), None, cal)
        out.decoded = [labels[i] for i in ids[0]]
        out.marginals = marginals[0].tolist()
    return out
