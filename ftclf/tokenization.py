"""Texts and words to encoder inputs (:class:`Item`), and items to padded tensors (:class:`Batch`).

Token tasks label the **first sub-token of each word** and ignore the rest. Instead of a label per
sub-token with ``IGNORE_INDEX`` (-100) on specials and continuation pieces (the transformers
convention), each item carries ``word_index`` — the position of every word's first
sub-token — and one label per word. The model gathers those positions, so continuation pieces
never reach the loss, exactly as -100 would make them. Sentences too long for the encoder are
split into windows of whole words so that no word goes untagged.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, fields

import torch

#: Label value the losses and metrics skip: padding positions of per-word label rows.
IGNORE_INDEX = -100

#: Word-shape classes for token heads; 0 is padding.
WORD_SHAPES = ("<pad>", "lower", "Capitalised", "UPPER", "mIxed", "digits", "alnum-digit", "punct", "other")

_WORD = re.compile(r"(?:[A-Za-z]\.){2,}|\w+(?:[-&.]\w+)*|['’]\w+|[^\w\s]")


@dataclass(slots=True)
class Item:
    """One encoder input, built from example ``source``.

    ``second`` holds a pair's second text when the two are encoded apart (concat mode); token
    items carry the positions (``word_index``) and shapes of the words ``word_offset ..
    word_offset + len(word_index)`` of their sentence. ``label`` is a label id, or one per word; ``soft`` a teacher's distribution.
    """

    input_ids: list[int]
    token_type_ids: list[int] | None = None
    source: int = 0
    truncated: bool = False
    second: Item | None = None
    word_index: list[int] | None = None
    word_shape: list[int] | None = None
    word_offset: int = 0
    label: int | list[int] | None = None
    #: a teacher's probabilities for this item (distillation): (num_labels,) or (n_words, num_labels)
    soft: object | None = None

    @property
    def length(self) -> int:
        """Tokens the encoder reads for this item (both texts of a concat pair)."""
        return len(self.input_ids) + (self.second.length if self.second is not None else 0)


@dataclass
class Batch:
    """Padded encoder inputs. Shapes: (batch, seq_len) for the token rows, (batch, n_words) for the
    word rows; ``word_index`` pads with 0, which is never a word ([CLS] sits there)."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    token_type_ids: torch.Tensor | None = None
    second: Batch | None = None
    word_index: torch.Tensor | None = None
    word_shape: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> Batch:
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        return Batch(**{k: None if v is None else v.to(device) for k, v in moved.items()})

    def encoder_inputs(self) -> dict[str, torch.Tensor]:
        """Keyword arguments of the encoder's forward."""
        inputs = {"input_ids": self.input_ids, "attention_mask": self.attention_mask}
        if self.token_type_ids is not None:
            inputs["token_type_ids"] = self.token_type_ids
        return inputs

    @property
    def word_mask(self) -> torch.Tensor | None:
        """(batch, n_words) True at real words (token tasks only)."""
        return None if self.word_index is None else self.word_index > 0


def pad(rows: Sequence[Sequence[int]], value: int) -> torch.Tensor:
    """Right-pad integer rows to one width -> (len(rows), width)."""
    width = max(1, max(len(r) for r in rows))
    return torch.tensor([list(r) + [value] * (width - len(r)) for r in rows])


def collate(items: Sequence[Item], pad_token_id: int = 0) -> Batch:
    """Pad items into one :class:`Batch` (labels are collated apart, by :func:`collate_labels`)."""
    first = items[0]
    return Batch(
        input_ids=pad([it.input_ids for it in items], pad_token_id),
        attention_mask=pad([[1] * len(it.input_ids) for it in items], 0),
        token_type_ids=None if first.token_type_ids is None else pad([it.token_type_ids for it in items], 0),
        second=None if first.second is None else collate([it.second for it in items], pad_token_id),
        word_index=None if first.word_index is None else pad([it.word_index for it in items], 0),
        word_shape=None if first.word_shape is None else pad([it.word_shape for it in items], 0),
    )


def collate_labels(items: Sequence[Item]) -> torch.Tensor:
    """(batch,) label ids, or (batch, n_words) per-word ids padded with IGNORE_INDEX."""
    labels = [it.label for it in items]
    if any(label is None for label in labels):
        raise ValueError("expected labelled items, got an item without a label")
    return pad(labels, IGNORE_INDEX) if isinstance(labels[0], list) else torch.tensor(labels)


def length_sorted_batches(items: Sequence[Item], batch_size: int) -> list[list[int]]:
    """Index batches of items of similar lengths (longest first), to minimise padding."""
    order = sorted(range(len(items)), key=lambda i: -items[i].length)
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


# ----------------------------------------------------------------------------- texts
def _type_ids(tokenizer, row) -> list[int] | None:
    return row.get("token_type_ids") if "token_type_ids" in tokenizer.model_input_names else None


def encode_texts(
    tokenizer, texts: Sequence[str], pairs: Sequence[str] | None, max_length: int, apart: bool = False,
    case_markers: bool = False,
) -> list[Item]:
    """Texts (and second texts) to items, truncated to ``max_length`` tokens with a flag.

    Together: one sequence ``[CLS] a [SEP] b [SEP]``. ``apart``: a and b encoded on their own, b
    as the item's ``second``. ``case_markers``: a marker token before every capitalised word (see
    :func:`marked_tokens`).
    """
    if pairs is not None and apart:
        firsts = encode_texts(tokenizer, texts, None, max_length, case_markers=case_markers)
        seconds = encode_texts(tokenizer, pairs, None, max_length, case_markers=case_markers)
        for a, b in zip(firsts, seconds):
            a.second, a.truncated = b, a.truncated or b.truncated
        return firsts
    if case_markers:
        return _encode_marked(tokenizer, texts, pairs, max_length)
    full = tokenizer(list(texts), None if pairs is None else list(pairs), truncation=False, verbose=False)
    rows = [{k: full[k][i] for k in full} for i in range(len(texts))]
    too_long = [i for i, row in enumerate(rows) if len(row["input_ids"]) > max_length]
    if too_long:
        firsts = _cut_to_tokens(tokenizer, [texts[i] for i in too_long], max_length)
        seconds = _cut_to_tokens(tokenizer, [pairs[i] for i in too_long], max_length) if pairs is not None else None
        cut = tokenizer(firsts, seconds, truncation=True, max_length=max_length)
        for j, i in enumerate(too_long):
            rows[i] = {k: cut[k][j] for k in cut}
    long = set(too_long)
    return [Item(row["input_ids"], _type_ids(tokenizer, row), i, i in long) for i, row in enumerate(rows)]


#: the tokens put before a Capitalised and an ALL-CAPITALS word when ``case_markers`` is on: rare symbols the
#: encoder has trained embeddings for, so that an uncased encoder sees the case its tokenizer lowercases away
CASE_MARKERS = ("†", "‡")


def case_marker_ids(tokenizer) -> list[int]:
    """The ids of CASE_MARKERS; a ValueError when the tokenizer lacks either."""
    ids = [tokenizer.convert_tokens_to_ids(t) for t in CASE_MARKERS]
    if tokenizer.unk_token_id in ids or None in ids:
        raise ValueError(f"expected the case-marker tokens {' '.join(CASE_MARKERS)} in the encoder's vocabulary, found "
                         "them unknown; turn case_markers off for this encoder (a cased encoder does not need them)")
    return ids


def _case(text: str, start: int) -> int:
    """0: the token at ``start`` does not begin a capitalised word; 1: Capitalised; 2: ALL CAPITALS."""
    if start >= len(text) or not text[start].isupper() or (start > 0 and text[start - 1].isalnum()):
        return 0
    end = start
    while end < len(text) and text[end].isalnum():
        end += 1
    letters = [ch for ch in text[start:end] if ch.isalpha()]
    return 2 if len(letters) > 1 and all(ch.isupper() for ch in letters) else 1


def marked_tokens(tokenizer, texts: Sequence[str]) -> list[tuple[list[int], list[tuple[int, int]]]]:
    """Each text's token ids without specials, a case marker before the first piece of every capitalised
    word, and each position's character offsets (a marker's are empty, at its word's start)."""
    markers = case_marker_ids(tokenizer)
    enc = tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    out = []
    for text, ids, offsets in zip(texts, enc["input_ids"], enc["offset_mapping"]):
        marked, spans = [], []
        for tok, (s, e) in zip(ids, offsets):
            kind = _case(text, s) if e > s else 0
            if kind:
                marked.append(markers[kind - 1])
                spans.append((s, s))
            marked.append(tok)
            spans.append((s, e))
        out.append((marked, spans))
    return out


def _kept(a: int, b: int, budget: int) -> tuple[int, int]:
    """How many tokens of a and of b fit ``budget`` when the longer is cut first (``longest_first``)."""
    if a + b <= budget:
        return a, b
    keep_a = min(a, max(budget - b, (budget + 1) // 2))
    return keep_a, min(b, budget - keep_a)


def _layout(tokenizer, first, second, max_length: int):
    """(ids, type ids, offsets, sequence ids, truncated) of one marked text (and pair): ``first`` and
    ``second`` as :func:`marked_tokens` gives them (``second`` None: a single text)."""
    (a, a_spans), (b, b_spans) = first, second or ([], [])
    paired = second is not None
    ka, kb = _kept(len(a), len(b), max_length - (3 if paired else 2))
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    ids = [cls] + a[:ka] + [sep] + (b[:kb] + [sep] if paired else [])
    spans = [(0, 0)] + a_spans[:ka] + [(0, 0)] + (b_spans[:kb] + [(0, 0)] if paired else [])
    sequence = [None] + [0] * ka + [None] + ([1] * kb + [None] if paired else [])
    types = [0] * (ka + 2) + ([1] * (kb + 1) if paired else [])
    return ids, types, spans, sequence, ka < len(a) or kb < len(b)


def _encode_marked(tokenizer, texts, pairs, max_length) -> list[Item]:
    with_types = "token_type_ids" in tokenizer.model_input_names
    firsts = marked_tokens(tokenizer, texts)
    seconds = marked_tokens(tokenizer, pairs) if pairs is not None else [None] * len(firsts)
    items = []
    for i, (first, second) in enumerate(zip(firsts, seconds)):
        ids, types, _, _, cut = _layout(tokenizer, first, second, max_length)
        items.append(Item(ids, types if with_types else None, i, cut))
    return items


def token_offsets(tokenizer, text: str, pair: str | None, n: int, case_markers: bool = False):
    """Character offsets and sequence ids (0: text, 1: pair, None: special) of the ``n`` positions of an
    encoded text (pair), as :func:`encode_texts` laid them out."""
    if case_markers:
        second = marked_tokens(tokenizer, [pair])[0] if pair is not None else None
        _, _, spans, sequence, _ = _layout(tokenizer, marked_tokens(tokenizer, [text])[0], second, n)
        return spans[:n], sequence[:n]
    enc = tokenizer(text, pair, return_offsets_mapping=True, truncation=True, max_length=n)
    return enc["offset_mapping"][:n], enc.sequence_ids()[:n]


def _cut_to_tokens(tokenizer, texts: Sequence[str], max_length: int) -> list[str]:
    """Each text cut after the characters of its first ``max_length`` tokens (a linear pass). A
    pair's joint truncation (``longest_first``) costs time and memory quadratic in the texts'
    lengths, and can keep no more than that from either text, so it then gets the same result
    from bounded inputs."""
    enc = tokenizer(list(texts), truncation=True, max_length=max_length, add_special_tokens=False,
                    return_offsets_mapping=True, verbose=False)
    return [text[: offsets[-1][1]] if len(offsets) == max_length else text
            for text, offsets in zip(texts, enc["offset_mapping"])]


# ----------------------------------------------------------------------------- words
def split_words(text: str) -> list[tuple[str, int, int]]:
    """Split raw text into CoNLL-like words with character offsets: (word, start, end).

    Abbreviations ("U.S."), hyphenated and dotted words stay whole; punctuation stands alone. Words
    are read in NFC (an accent typed as a combining mark, "e" + "́", is one letter "é"), while the
    offsets point into ``text`` as given.
    """
    nfc, starts = _nfc_with_offsets(text)
    return [(m.group(), starts[m.start()], starts[m.end()]) for m in _WORD.finditer(nfc)]


def _nfc_with_offsets(text: str) -> tuple[str, list[int]]:
    """``text`` in NFC, and for every position of it (and its end) the position in ``text``."""
    if unicodedata.is_normalized("NFC", text):
        return text, list(range(len(text) + 1))
    pieces, starts, i = [], [], 0
    while i < len(text):
        j = i + 1
        while j < len(text) and unicodedata.combining(text[j]):  # a base letter and its marks
            j += 1
        piece = unicodedata.normalize("NFC", text[i:j])
        pieces.append(piece)
        starts.extend([i] * len(piece))
        i = j
    return "".join(pieces), starts + [len(text)]


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


def _word_pieces(tokenizer, sentences: Sequence[Sequence[str]], budget: int) -> list[list[list[int]]]:
    """Sub-token ids of every word of every sentence (at most ``budget`` per word)."""
    enc = tokenizer([list(ws) for ws in sentences], is_split_into_words=True, add_special_tokens=False)
    out = []
    for s, words in enumerate(sentences):
        pieces: list[list[int]] = [[] for _ in words]
        for tok, w in zip(enc["input_ids"][s], enc.word_ids(s)):
            pieces[w].append(tok)
        # A word the tokenizer drops entirely (e.g. a lone control character) still needs a
        # position to be tagged at: give it [UNK].
        out.append([p[:budget] if p else [tokenizer.unk_token_id] for p in pieces])
    return out


def encode_words(tokenizer, sentences: Sequence[Sequence[str]], max_length: int) -> list[Item]:
    """Word lists to items with ``word_index`` and ``word_shape``, in windows of whole words."""
    budget = max_length - 2  # room left after [CLS] and [SEP]
    with_types = "token_type_ids" in tokenizer.model_input_names
    items = []
    for s, (words, pieces) in enumerate(zip(sentences, _word_pieces(tokenizer, sentences, budget))):
        start = 0
        while start < len(words):
            end, used = start, 0
            while end < len(words) and used + len(pieces[end]) <= budget:
                used += len(pieces[end])
                end += 1
            ids, word_index = [tokenizer.cls_token_id], []
            for w in range(start, end):
                word_index.append(len(ids))  # the word's first sub-token: the only one labelled
                ids.extend(pieces[w])
            ids.append(tokenizer.sep_token_id)
            items.append(Item(
                ids, [0] * len(ids) if with_types else None, s, truncated=end - start < len(words),
                word_index=word_index, word_shape=[word_shape(w) for w in words[start:end]], word_offset=start,
            ))
            start = end
    return items
