"""The three task shapes and their examples.

Single texts and pairs share one path: a sequence example is a pair example whose second text
is ``None``. Token examples carry words (already split) and one IOB2 tag per word.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Example:
    """A sequence (``text_pair is None``) or pair example; ``label`` is None when unlabelled."""

    text: str
    text_pair: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class TokenExample:
    """A sentence as words, with one IOB2 tag per word (``tags`` None when unlabelled)."""

    words: tuple[str, ...]
    tags: tuple[str, ...] | None = None
