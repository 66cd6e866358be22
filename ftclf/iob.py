"""The IOB2 tagging scheme, written once.

A tag is ``O`` or ``B-TYPE`` / ``I-TYPE``. IOB2 has one rule, :func:`allowed`: an ``I-X`` may only
follow ``B-X`` or ``I-X`` (so it never starts a sentence). Everything else here derives from that
rule: counting violations, detecting IOB1 files, converting them, constraining a CRF, and reading
entity spans off a tag sequence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

OUTSIDE = "O"
_TAG = re.compile(r"^(O|[BI]-.+)$")


def is_tag(tag: str) -> bool:
    """Whether ``tag`` is written in the IOB scheme (``O``, ``B-X`` or ``I-X``)."""
    return bool(_TAG.match(tag))


def allowed(previous: str | None, tag: str) -> bool:
    """IOB2's rule: ``tag`` may follow ``previous`` (None: the sentence start)."""
    return not tag.startswith("I-") or previous in (f"B-{tag[2:]}", tag)


def invalid_transitions(tags: Sequence[str]) -> int:
    """How many tags break the IOB2 rule (a sentence-initial ``I-X`` included)."""
    return sum(not allowed(prev, tag) for prev, tag in zip([None, *tags], tags))


def detect_scheme(tag_sequences: Iterable[Sequence[str]]) -> str:
    """``"IOB1"`` if some entity opens with ``I-`` (as in the original CoNLL-2003 files), else ``"IOB2"``."""
    return "IOB1" if any(invalid_transitions(tags) for tags in tag_sequences) else "IOB2"


def to_iob2(tags: Sequence[str]) -> list[str]:
    """IOB1 to IOB2: an ``I-X`` that may not follow the previous tag opens an entity, ``B-X``."""
    out: list[str] = []
    for tag in tags:
        out.append(tag if allowed(out[-1] if out else None, tag) else "B-" + tag[2:])
    return out


def crf_constraints(labels: Sequence[str]) -> tuple[list[bool], list[list[bool]]]:
    """(allowed first tags, allowed transitions[from][to]) for a CRF over ``labels``."""
    start = [allowed(None, to) for to in labels]
    transitions = [[allowed(frm, to) for to in labels] for frm in labels]
    return start, transitions


def spans(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """(type, first word, last word) of each entity. Lenient, for predictions: a stray ``I-X``
    opens an entity instead of being dropped."""
    found, current = [], None
    for i, tag in enumerate([*tags, OUTSIDE]):
        opens = tag.startswith("B-") or (tag.startswith("I-") and (current is None or current[0] != tag[2:]))
        if current is not None and (tag == OUTSIDE or opens):
            found.append((current[0], current[1], i - 1))
            current = None
        if opens:
            current = (tag[2:], i)
    return found


def sort_tags(tags: Iterable[str]) -> list[str]:
    """``O`` first, then by entity type, ``B-`` before ``I-``."""
    return sorted(set(tags), key=lambda t: (t != OUTSIDE, t[2:], t[:1]))
