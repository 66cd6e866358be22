"""Perturbations of a test case's text (CheckList's invariance and directional tests): each is a pure,
seeded function of a text, so a suite expands to the same cases on every run.

Named perturbations: ``typos``, ``punctuation``, ``lowercase``, ``neutral_clause``, ``numbers``. The
others a suite writes as data: ``{append: …}``, ``{prepend: …}``, ``{template: …}`` (a second template
over the same slot values) and ``{swap: SLOT}`` (another value of the slot), see ``ftclf.behaviour.suite``.
"""

from __future__ import annotations

import random
import re

#: clauses that say nothing about sentiment, entailment or entities, for ``neutral_clause``
NEUTRAL_CLAUSES = ("I went there on a Tuesday.", "It was in the afternoon.", "That is what I think.",
                   "We talked about it later.", "This was last year.", "I wrote this on my phone.")
_WORD = re.compile(r"[A-Za-z]{4,}")
_NUMBER = re.compile(r"\d+")
_END = re.compile(r"[.!?]+$")


def typos(text: str, rng: random.Random) -> str:
    """Two different neighbouring letters swapped inside a word of four letters or more, its first letter
    kept (the text unchanged when it has no such word)."""
    spots = [i for word in _WORD.finditer(text) for i in range(word.start() + 1, word.end() - 1) if text[i] != text[i + 1]]
    if not spots:
        return text
    i = rng.choice(spots)
    return text[:i] + text[i + 1] + text[i] + text[i + 2:]


def punctuation(text: str, rng: random.Random) -> str:
    """The final punctuation removed, or a full stop added where there is none."""
    stripped = text.rstrip()
    return _END.sub("", stripped) if _END.search(stripped) else stripped + "."


def lowercase(text: str, rng: random.Random) -> str:
    return text.lower()


def neutral_clause(text: str, rng: random.Random) -> str:
    """A clause that says nothing about the label, appended as a sentence of its own."""
    stripped = text.rstrip()
    joint = " " if _END.search(stripped) else ". "
    return stripped + joint + rng.choice(NEUTRAL_CLAUSES)


def numbers(text: str, rng: random.Random) -> str:
    """Each number replaced by another of as many digits (never itself)."""

    def other(match: re.Match) -> str:
        digits = match.group()
        low, high = (0, 9) if len(digits) == 1 else (10 ** (len(digits) - 1), 10 ** len(digits) - 1)
        value = rng.randint(low, high - 1)
        return str(value + 1 if value >= int(digits) else value)

    return _NUMBER.sub(other, text)


NAMED = {"typos": typos, "punctuation": punctuation, "lowercase": lowercase, "neutral_clause": neutral_clause,
         "numbers": numbers}
