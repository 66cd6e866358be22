"""Counterfactual training pairs: minimal edits of a training pair that change its label.

A paraphrase head trained on MRPC alone never sees two sentences that say the same thing except for one
number, one name or one negation, so it calls them paraphrases (a behaviour suite measures it). Each
counterfactual here is made from a *paraphrase* training pair by editing its second sentence once, so that
it no longer says what the first one says:

* a changed number: a number both sentences share is changed in the second one (a year moves by 1-9
  years, any other number is scaled or shifted, keeping its written form: digits, commas, decimals);
* a changed name: a capitalised word both sentences share (not the first word) becomes another name of
  the same kind taken from the training corpus itself (words seen capitalised mid-sentence, never a
  lexicon of the behaviour suites);
* a negation: ``not`` goes in after the second sentence's first auxiliary verb, or comes out of it
  when it already has one (``is not`` -> ``is``; ``didn't`` -> ``did``).

Every edit is made on training pairs only (carve the validation split first), from their own words; the
templates and lexicons of the behaviour suites are never read. Deterministic for a seed.

    python benchmarks/counterfactual.py      # prints a few counterfactuals of MRPC training pairs
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Sequence

NUMBER = re.compile(r"(?<![\w.,])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w])|(?<![\w.,])\d+(?:\.\d+)?(?![\w])")
AUXILIARY = re.compile(r"\b(is|was|are|were|has|have|had|will|would|can|could|should|may|might|must|does|did|do)"
                       r"(?:(n't)\b|\b( not\b)?)", re.IGNORECASE)
WORD = re.compile(r"[A-Z][a-z]{2,}")
#: capitalised words that are not names (sentence openers, titles of months and days are kept: they are facts)
NOT_NAMES = frozenset(["The", "This", "That", "These", "Those", "There", "Then", "They", "Their", "Its", "It", "He", "She", "We", "You", "His", "Her", "Our", "Your", "But", "And", "For", "With", "From", "Into", "When", "While", "After", "Before", "Since", "Under", "Over", "About", "Also", "Both", "Each", "Many", "Most", "Some", "Such", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "Mr", "Mrs", "Ms", "Dr", "Inc", "Corp", "Co", "Ltd"])


def _format_number(value: float, like: str) -> str:
    decimals = len(like.split(".")[1]) if "." in like else 0
    text = f"{value:,.{decimals}f}" if "," in like else f"{value:.{decimals}f}"
    return text


def _other_number(token: str, rng: random.Random) -> str:
    value = float(token.replace(",", ""))
    if "." not in token and "," not in token and 1900 <= value <= 2100:  # a year
        return str(int(value) + rng.choice([-1, 1]) * rng.randint(1, 9))
    for _ in range(10):
        new = value * rng.choice([0.5, 2, 3, 1.5]) if value >= 10 else value + rng.randint(1, 9)
        text = _format_number(new, token)
        if text != token:
            return text
    return _format_number(value + 1, token)


def _number_swap(a: str, b: str, rng: random.Random) -> tuple[re.Match, str] | None:
    """(a number of ``b`` that ``a`` has too, another number for it), or None when they share none."""
    shared = [m for m in NUMBER.finditer(b) if m.group() in set(NUMBER.findall(a))]
    if not shared:
        return None
    m = rng.choice(shared)
    return m, _other_number(m.group(), rng)


def changed_number(a: str, b: str, rng: random.Random) -> str | None:
    """``b`` with a number it shares with ``a`` changed (None when they share none)."""
    swap = _number_swap(a, b, rng)
    if swap is None:
        return None
    m, new = swap
    return b[: m.start()] + new + b[m.end():]


def names_of(sentences: Sequence[str], min_count: int = 2) -> list[str]:
    """Words seen capitalised in the middle of a sentence at least ``min_count`` times: the corpus's names."""
    counts: Counter = Counter()
    for s in sentences:
        words = s.split()
        for w in words[1:]:
            w = w.strip(".,;:\"'()")
            if WORD.fullmatch(w) and w not in NOT_NAMES:
                counts[w] += 1
    return sorted(w for w, c in counts.items() if c >= min_count)


def _name_swap(a: str, b: str, rng: random.Random, names: Sequence[str]) -> tuple[str, str] | None:
    """(a name both sentences have, not ``b``'s first word; another of ``names`` that ``a`` lacks), or None."""
    known = set(names)
    first = b.split()[0] if b.split() else ""
    shared = sorted({w for w in WORD.findall(b) if w in known and w != first and re.search(rf"\b{w}\b", a)})
    if not shared:
        return None
    old = rng.choice(shared)
    for _ in range(50):  # the corpus has thousands of names: a draw that ``a`` lacks comes quickly
        new = rng.choice(names)
        if new != old and not re.search(rf"\b{new}\b", a):
            return old, new
    return None


def changed_name(a: str, b: str, rng: random.Random, names: Sequence[str]) -> str | None:
    """``b`` with a name it shares with ``a`` (capitalised, not its first word) replaced by another of
    ``names`` everywhere in ``b`` (None when they share none)."""
    swap = _name_swap(a, b, rng, names)
    return None if swap is None else re.sub(rf"\b{swap[0]}\b", swap[1], b)


def renamed_both(a: str, b: str, rng: random.Random, names: Sequence[str]) -> tuple[str, str] | None:
    """The pair with a name they share (or, failing one, a number) changed the same way in both: what they say
    still matches (None when they share neither)."""
    swap = _name_swap(a, b, rng, names)
    if swap is not None:
        pattern, new = rf"\b{swap[0]}\b", swap[1]
    else:
        number = _number_swap(a, b, rng)
        if number is None:
            return None
        pattern, new = rf"(?<![\w.,]){re.escape(number[0].group())}(?![\w])", number[1]
    return re.sub(pattern, new, a), re.sub(pattern, new, b)


def negated(b: str) -> str | None:
    """``b`` with its first auxiliary verb negated, or un-negated when it is already (None without one)."""
    m = AUXILIARY.search(b)
    if m is None:
        return None
    verb, negation = m.group(1), m.group(2) or m.group(3)
    return b[: m.start()] + (verb if negation else f"{verb} not") + b[m.end():]


def counterfactual_pairs(pairs: Sequence[tuple[str, str, str]], positive: str, negative: str, share: float = 0.33,
                         seed: int = 0, every_kind: bool = False, contrast: float = 0.0) -> list[tuple[str, str, str]]:
    """(text, text_pair, label) counterfactuals of ``pairs`` labelled ``positive``, seeded: about ``share`` of
    them each give one, of a kind drawn among those that apply (``every_kind``: one of every kind that
    applies), labelled ``negative``; and about ``contrast`` of them give a copy with a name or number changed
    the same way in both sentences, still ``positive`` (so a changed word alone is no sign: only a mismatch is)."""
    rng = random.Random(seed)
    names = names_of([s for a, b, _ in pairs for s in (a, b)])
    out: list[tuple[str, str, str]] = []
    for a, b, label in pairs:
        if label != positive:
            continue
        if contrast and rng.random() < contrast:
            both = renamed_both(a, b, rng, names)
            if both is not None and both != (a, b):
                out.append((*both, positive))
        if rng.random() >= share:
            continue
        for edited in _edits(a, b, rng, names):
            out.append((a, edited, negative))
            if not every_kind:
                break
    return out


def _edits(a: str, b: str, rng: random.Random, names: Sequence[str]):
    """``b`` edited once by each kind of edit that applies (a number or a name it shares with ``a``, or a
    negation), the kinds in a seeded order; lazily, so that a caller taking the first draws no more."""
    kinds = ["number", "name", "negation"]
    rng.shuffle(kinds)
    for kind in kinds:
        edited = (changed_number(a, b, rng) if kind == "number" else
                  changed_name(a, b, rng, names) if kind == "name" else negated(b))
        if edited and edited != b:
            yield edited


def minimal_pairs(sentences: Sequence[str], positive: str, negative: str, share: float = 0.15,
                  seed: int = 0) -> list[tuple[str, str, str]]:
    """Minimal pairs, seeded: about ``share`` of ``sentences`` are each paired with a copy of themselves with one
    fact edited (a number, a name or a negation, of a kind drawn among those that apply; the order of the two
    drawn too), labelled ``negative``; the sentence and the edited copy are each also paired with themselves,
    labelled ``positive``, so that the mismatch, not near-identity or the new word, tells them apart.

    Editing one sentence of a reworded pair instead contradicts a corpus whose paraphrases tolerate loose
    figures: MRPC labels 11 % of its training paraphrases paraphrase although their numbers differ. A sentence
    against its own edited copy contradicts no label."""
    rng = random.Random(seed)
    names = names_of(sentences)
    out: list[tuple[str, str, str]] = []
    for a in sentences:
        if rng.random() >= share:
            continue
        for edited in _edits(a, a, rng, names):
            out.append((a, edited, negative) if rng.random() < 0.5 else (edited, a, negative))
            out += [(a, a, positive), (edited, edited, positive)]
            break
    return out


if __name__ == "__main__":
    import csv
    import sys
    from pathlib import Path

    data = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared" / "data"
    with open(data / "mrpc" / "train.tsv", encoding="utf-8", newline="") as handle:
        rows = [(r["sentence1"], r["sentence2"], r["label"]) for r in csv.DictReader(handle, delimiter="\t",
                                                                                      quoting=csv.QUOTE_NONE)]
    out = counterfactual_pairs(rows, "1", "0")
    print(f"{len(rows):,} pairs ({sum(r[2] == '1' for r in rows):,} paraphrases) -> {len(out):,} counterfactuals")
    for a, b, _ in out[:8]:
        print(f"  {a}\n  {b}\n")
