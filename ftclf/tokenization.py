"""Texts and words to model inputs: truncation flags, pair modes, sub-word alignment, windows.

Token tasks label the **first sub-token of each word** and ignore the rest: instead of a
per-sub-token label row with -100 on continuation pieces (the transformers convention), each
item carries ``word_index`` — the position of every word's first sub-token — and one label per
word. The model gathers those positions, so continuation pieces never reach the loss, exactly as
-100 would make them. Sentences too long for the encoder are split into windows of whole words
so that no word goes untagged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from .heads import word_shape
from .tasks import Example

IGNORE_INDEX = -100


@dataclass(frozen=True)
class ItemInfo:
    """Where a model input item came from: its example and (token tasks) its word window."""

    example_index: int
    truncated: bool = False
    word_offset: int = 0
    n_words: int = 0


def _tokenize(tokenizer, texts: list[str], pairs: list[str] | None, max_length: int):
    """Tokenize, truncating to max_length; returns (encoding dicts, truncated flags)."""
    full = tokenizer(texts, pairs, truncation=False, verbose=False)
    too_long = [i for i, ids in enumerate(full["input_ids"]) if len(ids) > max_length]
    rows = [{k: full[k][i] for k in full.keys()} for i in range(len(texts))]
    if too_long:
        cut = tokenizer(
            [texts[i] for i in too_long],
            [pairs[i] for i in too_long] if pairs is not None else None,
            truncation=True, max_length=max_length,
        )
        for j, i in enumerate(too_long):
            rows[i] = {k: cut[k][j] for k in cut.keys()}
    flags = [False] * len(texts)
    for i in too_long:
        flags[i] = True
    return rows, flags


def encode_examples(
    tokenizer, examples: Sequence[Example], task: str, pair_mode: str, max_length: int,
    label2id: dict[str, int] | None = None,
) -> tuple[list[dict], list[ItemInfo]]:
    """Sequence and pair examples to input dicts (one path; a pair's second text may be None).

    ``cross``: one sequence "[CLS] a [SEP] b [SEP]". ``concat``: a and b encoded on their own,
    b's inputs under keys ending in ``_b``.
    """
    texts = [e.text for e in examples]
    pairs = [e.text_pair or "" for e in examples] if task == "pair" else None
    if pairs is not None and pair_mode == "concat":
        rows_a, cut_a = _tokenize(tokenizer, texts, None, max_length)
        rows_b, cut_b = _tokenize(tokenizer, pairs, None, max_length)
        rows = [{**a, **{f"{k}_b": v for k, v in b.items()}} for a, b in zip(rows_a, rows_b)]
        flags = [x or y for x, y in zip(cut_a, cut_b)]
    else:
        rows, flags = _tokenize(tokenizer, texts, pairs, max_length)
    if label2id is not None:
        for row, e in zip(rows, examples):
            row["labels"] = label2id[e.label]
    return rows, [ItemInfo(i, truncated=f) for i, f in enumerate(flags)]


def encode_words(
    tokenizer, sentences: Sequence[Sequence[str]], max_length: int,
    tags: Sequence[Sequence[str]] | None = None, label2id: dict[str, int] | None = None,
) -> tuple[list[dict], list[ItemInfo]]:
    """Word lists to input dicts with ``word_index``, ``word_shape`` and per-word ``labels``."""
    budget = max_length - 2  # room left after [CLS] and [SEP]
    enc = tokenizer([list(ws) for ws in sentences], is_split_into_words=True, add_special_tokens=False)
    cls_id, sep_id, unk_id = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.unk_token_id
    rows, infos = [], []
    for s, words in enumerate(sentences):
        pieces: list[list[int]] = [[] for _ in words]
        for tok, w in zip(enc["input_ids"][s], enc.word_ids(s)):
            pieces[w].append(tok)
        # A word the tokenizer drops entirely (e.g. a lone control character) still needs a
        # position to be tagged at: give it [UNK].
        pieces = [p[:budget] if p else [unk_id] for p in pieces]
        start = 0
        while start < len(words):
            end, used = start, 0
            while end < len(words) and used + len(pieces[end]) <= budget:
                used += len(pieces[end])
                end += 1
            ids, word_index = [cls_id], []
            for w in range(start, end):
                word_index.append(len(ids))  # the word's first sub-token: the only one labelled
                ids.extend(pieces[w])
            ids.append(sep_id)
            row = {
                "input_ids": ids,
                "attention_mask": [1] * len(ids),
                "token_type_ids": [0] * len(ids),
                "word_index": word_index,
                "word_shape": [word_shape(w) for w in words[start:end]],
            }
            if tags is not None and label2id is not None:
                row["labels"] = [label2id[t] for t in tags[s][start:end]]
            rows.append(row)
            infos.append(ItemInfo(s, truncated=end - start < len(words), word_offset=start, n_words=end - start))
            start = end
    return rows, infos


def token_labels(word_ids: Sequence[int | None], word_labels: Sequence[int]) -> list[int]:
    """The transformers-style view of the same alignment: a label per sub-token.

    Special tokens (word id None) get -100; a word's first sub-token gets the word's label;
    its continuation sub-tokens get -100 so the loss ignores them.
    """
    out, previous = [], None
    for wid in word_ids:
        if wid is None:
            out.append(IGNORE_INDEX)  # [CLS], [SEP], padding
        elif wid != previous:
            out.append(word_labels[wid])  # first sub-token of a word: carries its label
        else:
            out.append(IGNORE_INDEX)  # continuation piece of the same word: ignored
        previous = wid
    return out


_PAD_ZERO = ("attention_mask", "token_type_ids", "word_index", "word_shape")


def collate(items: Sequence[dict], pad_token_id: int = 0) -> dict[str, torch.Tensor]:
    """Pad a list of input dicts into a batch of tensors (labels of token items pad with -100)."""
    batch: dict[str, torch.Tensor] = {}
    for key in items[0]:
        values = [item[key] for item in items]
        if not isinstance(values[0], list):
            batch[key] = torch.tensor(values)
            continue
        if key.startswith("input_ids"):
            pad = pad_token_id
        elif key == "labels":
            pad = IGNORE_INDEX
        elif key.startswith(_PAD_ZERO):
            pad = 0
        else:  # pragma: no cover - every key above is known
            raise KeyError(key)
        width = max(1, max(len(v) for v in values))
        batch[key] = torch.tensor([v + [pad] * (width - len(v)) for v in values])
    return batch


def length_sorted_batches(items: Sequence[dict], batch_size: int) -> list[list[int]]:
    """Index batches of input items of similar lengths (longest first), to minimise padding."""
    lengths = [len(it["input_ids"]) + len(it.get("input_ids_b", ())) for it in items]
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def encode_for_training(clf, examples) -> list[dict]:
    """Labelled examples to input dicts for ``clf`` (label ids from its label map)."""
    label2id = clf.spec.label2id
    if clf.is_token:
        items, _ = encode_words(clf.tokenizer, [e.words for e in examples], clf.max_length, [e.tags for e in examples], label2id)
    else:
        items, _ = encode_examples(clf.tokenizer, examples, clf.task, clf.spec.pair_mode, clf.max_length, label2id)
    return items
