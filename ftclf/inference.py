"""Texts in, probabilities and entity spans out. Batches internally, sorted by length."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Sequence

import torch

from .data import split_words
from .errors import InputError
from .tasks import Example
from .tokenization import encode_examples, encode_words, length_sorted_batches


@dataclass
class SequencePrediction:
    """Probabilities over every label in id2label order, and the top label (eq. 11.11)."""

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

    def to_dict(self) -> dict:
        return asdict(self)


def _check_texts(texts, what: str = "texts") -> list[str]:
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, (list, tuple)) or not texts:
        raise InputError(f"expected a non-empty list of strings as {what}, got {type(texts).__name__}; pass [\"some text\"]")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputError(f"expected a string at position {i} of {what}, got {type(text).__name__}")
        if not text.strip():
            raise InputError(
                f"expected non-empty text, got an empty or whitespace-only string at position {i} of {what}; "
                "type some text"
            )
    return list(texts)


@torch.no_grad()
def run_items(clf, items: list[dict], batch_size: int) -> list[tuple[list, torch.Tensor]]:
    """Decoded (label ids, probabilities) for each input item, in the items' order."""
    clf.eval()
    out: list = [None] * len(items)
    for batch_ids in length_sorted_batches(items, batch_size):
        batch = clf.batch_inputs([items[i] for i in batch_ids])
        logits = clf(**batch).logits
        word_mask = batch["word_index"] > 0 if clf.is_token else None
        ids, probs = clf.decode(logits, word_mask)
        for row, i in enumerate(batch_ids):
            if clf.is_token:
                n = len(items[i]["word_index"])
                out[i] = (ids[row][:n], probs[row, :n].cpu())
            else:
                out[i] = (ids[row], probs[row].cpu())
    return out


def predict_sequences(clf, texts, text_pairs=None, batch_size: int = 32) -> list[SequencePrediction]:
    texts = _check_texts(texts)
    if clf.task == "pair":
        if text_pairs is None:
            raise InputError("expected text_pairs for a pair head (one second text per text), got none; pass text_pairs")
        text_pairs = _check_texts(text_pairs, "text_pairs")
        if len(text_pairs) != len(texts):
            raise InputError(f"expected as many text_pairs as texts ({len(texts)}), got {len(text_pairs)}")
    elif text_pairs is not None:
        raise InputError(f"expected no text_pairs for a {clf.task} head, got {len(text_pairs)}; drop them")
    examples = [Example(t, p) for t, p in zip(texts, text_pairs or [None] * len(texts))]
    items, infos = encode_examples(clf.tokenizer, examples, clf.task, clf.spec.pair_mode, clf.max_length)
    labels = clf.spec.labels
    results = []
    for (label_id, probs), info in zip(run_items(clf, items, batch_size), infos):
        p = probs.tolist()
        results.append(SequencePrediction(labels[label_id], p[label_id], dict(zip(labels, p)), info.truncated))
    return results


def tag_words(clf, sentences: Sequence[Sequence[str]], batch_size: int = 32):
    """Per-word tags and probability rows for pre-split sentences (windows stitched back)."""
    items, infos = encode_words(clf.tokenizer, sentences, clf.max_length)
    tags: list[list[str]] = [[] for _ in sentences]
    probs: list[list[list[float]]] = [[] for _ in sentences]
    windowed = [False] * len(sentences)
    labels = clf.spec.labels
    for (ids, p), info in zip(run_items(clf, items, batch_size), infos):
        tags[info.example_index].extend(labels[i] for i in ids)
        probs[info.example_index].extend(p.tolist())
        windowed[info.example_index] |= info.truncated
    return tags, probs, windowed


def iob2_spans(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """(type, first word, last word) of each entity; a stray I-X opens an entity (lenient)."""
    spans, current = [], None
    for i, tag in enumerate(list(tags) + ["O"]):
        starts = tag.startswith("B-") or (tag.startswith("I-") and (current is None or current[0] != tag[2:]))
        if current is not None and (tag == "O" or starts):
            spans.append((current[0], current[1], i - 1))
            current = None
        if starts:
            current = (tag[2:], i)
    return spans


def predict_tokens(clf, texts, batch_size: int = 32) -> list[TokenPrediction]:
    texts = _check_texts(texts)
    split = [split_words(t) for t in texts]
    for i, words in enumerate(split):
        if not words:
            raise InputError(f"expected words to tag at position {i}, found only spaces/symbols; type a sentence")
    tags, probs, windowed = tag_words(clf, [[w for w, _, _ in ws] for ws in split], batch_size)
    label_index = clf.spec.label2id
    results = []
    for text, words, t, p, win in zip(texts, split, tags, probs, windowed):
        preds = [
            WordPrediction(w, s, e, tag, row[label_index[tag]], row)
            for (w, s, e), tag, row in zip(words, t, p)
        ]
        entities = []
        for etype, first, last in iob2_spans(t):
            start, end = words[first][1], words[last][2]
            score = sum(preds[k].score for k in range(first, last + 1)) / (last - first + 1)
            entities.append(EntitySpan(etype, start, end, text[start:end], score))
        results.append(TokenPrediction(text, entities, preds, list(clf.spec.labels), win))
    return results


def predict(clf, texts, text_pairs=None, batch_size: int = 32):
    """Sequence/pair heads -> SequencePrediction per text; token heads -> TokenPrediction."""
    if clf.is_token:
        if text_pairs is not None:
            raise InputError("expected no text_pairs for a token head, got some; drop them")
        return predict_tokens(clf, texts, batch_size)
    return predict_sequences(clf, texts, text_pairs, batch_size)
