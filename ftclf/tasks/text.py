"""One label per text: ``sequence`` (a single text) and ``pair`` (two texts, encoded together as
``[CLS] a [SEP] b [SEP]`` or apart and concatenated)."""

from __future__ import annotations

import torch

from ..data import Example, rows_to_examples
from ..errors import DataError, InputError
from .base import TaskSpec, check_texts


class SequenceTask(TaskSpec):
    name = "sequence"
    name_example = "my-text-classifier"
    title = "Text classification"
    supports_contrastive = True
    usage = 'predict(clf, ["a gripping, beautifully acted film"])'


class PairTask(TaskSpec):
    """Two texts, one label: encoded together (``cross``) or apart and concatenated (``concat``,
    Proposition 1.1; ``pair_features`` adds |h_a - h_b| and h_a * h_b)."""

    name = "pair"
    options = ("pooling", "pair_mode", "pair_features", "case_markers")
    column_roles = ("text", "text_pair", "label")
    name_example = "my-pair-classifier"
    title = "Paraphrase / NLI"
    supports_contrastive = True
    text_pairs = True
    usage = 'predict(clf, ["A man is playing a guitar."], ["A person plays music."])'
    format_hint = "use a table with two text columns and a label column (task 'token' reads CoNLL files)"

    def from_rows(self, rows, columns, name, labelled):
        return rows_to_examples(rows, True, columns, name, labelled)

    def check_examples(self, examples):
        super().check_examples(examples)
        if any(e.text_pair is None for e in examples):
            raise DataError("expected a second text for every example of a pair task, found some without one")

    def inputs(self, texts, text_pairs=None):
        texts = check_texts(texts, "texts")
        if text_pairs is None:
            raise InputError("expected text_pairs for a pair head (one second text per text), got none; pass text_pairs")
        text_pairs = check_texts(text_pairs, "text_pairs")
        if len(text_pairs) != len(texts):
            raise InputError(f"expected as many text_pairs as texts ({len(texts)}), got {len(text_pairs)}")
        return [Example(t, p) for t, p in zip(texts, text_pairs)]

    def _pairs(self, examples):
        return [e.text_pair or "" for e in examples]

    def _apart(self, config) -> bool:
        return config.pair_mode == "concat"

    def cache_key(self, config) -> str:
        return f"{super().cache_key(config)}/{config.pair_mode}"

    def in_features(self, hidden_size, config):
        if not self._apart(config):
            return hidden_size
        return hidden_size * (4 if config.pair_features else 2)

    def features(self, encode, batch, poolings):
        out = super().features(encode, batch, poolings)
        if batch.second is not None:  # concat mode: the second text's own pass
            out.update({f"second.{k}": v for k, v in super().features(encode, batch.second, poolings).items()})
        return out

    def head_input(self, features, config):
        a = features[config.pooling]
        if not self._apart(config):
            return a
        b = features[f"second.{config.pooling}"]
        parts = [a, b] + ([torch.abs(a - b), a * b] if config.pair_features else [])
        return torch.cat(parts, dim=-1)  # shape: (batch, in_features)

    def _shown(self, example):
        return f"{example.text}  ||  {example.text_pair}"
