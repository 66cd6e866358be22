"""Transfer text for distillation: perturbed copies of training sentences for a teacher to label.

A teacher's soft labels carry most information where the gold labels have none: on text near the
training sentences that no annotator saw. Following Tang et al. (2019, "Distilling task-specific
knowledge from BERT into simple neural networks") and TinyBERT's augmentation, each variant of a
sentence is made by one of

* deletion: every word dropped with probability ``p``;
* replacement: every word swapped with probability ``p`` for a random word of the corpus;
* n-gram: a random run of 40-90 % of the words;
* splice: the first part of the sentence joined to the last part of another one.

For sentence pairs (``pair_variants``) one side, the other or both are perturbed, or the two are
swapped, so the teacher labels pairs whose relation shifts by degrees. Deterministic for a seed;
variants equal to an input are dropped.

    python benchmarks/augment.py          # prints a few variants of SST-2 training sentences
"""

from __future__ import annotations

import random
from collections.abc import Sequence


def _delete(words, rng, p):
    kept = [w for w in words if rng.random() >= p]
    return kept if len(kept) >= 2 else words[: max(2, len(words) // 2)]


def _replace(words, rng, p, vocabulary):
    return [rng.choice(vocabulary) if rng.random() < p else w for w in words]


def _ngram(words, rng):
    n = max(2, round(len(words) * rng.uniform(0.4, 0.9)))
    start = rng.randrange(0, max(1, len(words) - n + 1))
    return words[start:start + n]


def _splice(words, other, rng):
    cut_a = rng.randint(1, max(1, len(words) - 1))
    cut_b = rng.randint(0, max(0, len(other) - 1))
    return words[:cut_a] + other[cut_b:]


def _perturb(words, rng, p, vocabulary, tokenized):
    kind = rng.randrange(4)
    if kind == 0:
        return _delete(words, rng, p)
    if kind == 1:
        return _replace(words, rng, p, vocabulary)
    if kind == 2:
        return _ngram(words, rng)
    return _splice(words, rng.choice(tokenized), rng)


#: keyboard neighbours of each letter (QWERTY), for typos that a hand makes
_KEYS = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]
_NEAR = {c: "".join(row[max(0, i - 1):i] + row[i + 1:i + 2] + "".join(r[min(i, len(r) - 1)] for r in _KEYS if r is not row))
         for row in _KEYS for i, c in enumerate(row)}


def _typo(word: str, rng) -> str:
    """One typo inside a word (its first letter kept): a letter dropped, doubled, replaced by a keyboard
    neighbour, or swapped with the next one."""
    i = rng.randrange(1, len(word))
    kind = rng.randrange(4)
    if kind == 0:
        return word[:i] + word[i + 1:]
    if kind == 1:
        return word[:i] + word[i] + word[i:]
    if kind == 2:
        return word[:i] + rng.choice(_NEAR.get(word[i].lower(), word[i])) + word[i + 1:]
    return word[:i] + word[i + 1] + word[i] + word[i + 2:] if i + 1 < len(word) else word[:i]


def _typo_spot(word: str) -> bool:
    """Whether a typo may go into a word: letters only, four or more."""
    return len(word) >= 4 and word.isalpha()


def has_typo_spot(sentence: str) -> bool:
    """Whether ``typo_variants`` makes a copy of the sentence (it skips those without a word for a typo)."""
    return any(_typo_spot(w) for w in sentence.split())


def typo_variants(sentences: Sequence[str], typos: tuple[int, int] = (1, 2), seed: int = 0) -> list[str]:
    """A copy of every sentence with 1-2 typos in words of four letters or more (sentences without such a
    word are skipped), seeded: noise the label does not depend on."""
    rng = random.Random(seed)
    out = []
    for sentence in sentences:
        words = sentence.split()
        spots = [i for i, w in enumerate(words) if _typo_spot(w)]
        if not spots:
            continue
        for i in rng.sample(spots, min(len(spots), rng.randint(*typos))):
            words[i] = _typo(words[i], rng)
        out.append(" ".join(words))
    return out


def variants(sentences: Sequence[str], per_sentence: int = 4, p: float = 0.15, seed: int = 0) -> list[str]:
    """``per_sentence`` perturbed copies of every sentence (fewer where copies coincide), seeded."""
    rng = random.Random(seed)
    tokenized = [s.split() for s in sentences]
    vocabulary = sorted({w for words in tokenized for w in words})
    originals = set(sentences)
    seen: set[str] = set()
    out: list[str] = []
    for words in tokenized:
        if len(words) < 3:
            continue
        for _ in range(per_sentence):
            text = " ".join(_perturb(words, rng, p, vocabulary, tokenized))
            if text not in originals and text not in seen:
                seen.add(text)
                out.append(text)
    return out


def pair_variants(pairs: Sequence[tuple[str, str]], per_pair: int = 4, p: float = 0.15,
                  seed: int = 0) -> list[tuple[str, str]]:
    """``per_pair`` copies of every sentence pair (fewer where copies coincide), seeded: the first side
    perturbed, the second (the other kept, so the relation between them shifts by degrees), both, or
    neither; each copy in either order, a pair that is only swapped always in the other one."""
    rng = random.Random(seed)
    tokenized = [side.split() for pair in pairs for side in pair]
    vocabulary = sorted({w for words in tokenized for w in words})
    seen = set(pairs)
    out: list[tuple[str, str]] = []
    for a, b in pairs:
        wa, wb = a.split(), b.split()
        if len(wa) < 3 or len(wb) < 3:
            continue
        for _ in range(per_pair):
            kind = rng.randrange(4)
            new_a = " ".join(_perturb(wa, rng, p, vocabulary, tokenized)) if kind in (0, 2) else a
            new_b = " ".join(_perturb(wb, rng, p, vocabulary, tokenized)) if kind in (1, 2) else b
            pair = (new_b, new_a) if kind == 3 or (kind < 3 and rng.random() < 0.5) else (new_a, new_b)
            if pair not in seen:
                seen.add(pair)
                out.append(pair)
    return out


if __name__ == "__main__":  # reads the data through sst2_sentences (a leaf): heads_recipe imports this module
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import sst2_sentences

    texts = [text for text, _ in sst2_sentences.whole_training_sentences()]
    out = variants(texts)
    print(f"{len(texts):,} sentences -> {len(out):,} variants")
    for t in out[:12]:
        print(" ", t)
