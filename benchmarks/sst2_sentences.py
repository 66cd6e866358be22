"""Sentence-level SST-2 splits: validation on whole sentences whose phrases are not in training.

SST-2's training file holds every phrase of its sentences (as parse-tree nodes). A random carve
puts fragments of training sentences into validation, so it overstates accuracy (a head scoring
94.1 on such a carve scored 88.9 on the GLUE dev sentences). This module builds the honest split:

* whole sentences are the phrases that are not contained (as a run of tokens) in any other phrase;
* about ``n_validation`` of them are held out, seeded;
* every phrase contained in a held-out sentence is dropped from training.

    python benchmarks/sst2_sentences.py          # prints the sizes of the default split
"""

from __future__ import annotations

import csv
import random
import re
import sys
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SST2 = ROOT.parent / "shared" / "data" / "sst2" / "train.tsv"


@lru_cache(maxsize=1)
def phrases(path: str = str(SST2)) -> tuple[tuple[str, str], ...]:
    """(phrase, label) rows of the SST-2 training file, distinct phrases, file order."""
    seen, rows = set(), []
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(reader)
        for text, label in reader:
            text = " ".join(text.split())
            if text and text not in seen:
                seen.add(text)
                rows.append((text, label))
    return tuple(rows)


def _spans(tokens: list[str]):
    """Every proper run of tokens (as text) of a phrase."""
    n = len(tokens)
    for i in range(n):
        for j in range(i + 1, n + 1):
            if j - i < n:
                yield " ".join(tokens[i:j])


@lru_cache(maxsize=1)
def whole_sentences(path: str = str(SST2)) -> tuple[int, ...]:
    """Indices (into ``phrases()``) of phrases contained in no other phrase."""
    rows = phrases(path)
    known = {text for text, _ in rows}
    contained = set()
    for text, _ in rows:
        for span in _spans(text.split()):
            if span in known:
                contained.add(span)
    return tuple(i for i, (text, _) in enumerate(rows) if text not in contained)


def split(n_validation: int = 1000, seed: int = 0, path: str = str(SST2)) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(training phrases, validation sentences): validation = ``n_validation`` whole sentences;
    training = every phrase not contained in a validation sentence."""
    rows = phrases(path)
    chosen = sorted(random.Random(seed).sample(whole_sentences(path), n_validation))
    validation = [rows[i] for i in chosen]
    banned = {text for text, _ in validation}
    for text, _ in validation:
        banned.update(_spans(text.split()))
    train = [row for row in rows if row[0] not in banned]
    return train, validation


def whole_training_sentences(n_validation: int = 1000, seed: int = 0, path: str = str(SST2)) -> list[tuple[str, str]]:
    """The split's training rows that are whole sentences (no fragments), in file order."""
    train, _ = split(n_validation, seed, path)
    rows = phrases(path)
    whole = {rows[i][0] for i in whole_sentences(path)}
    return [row for row in train if row[0] in whole]


def sentence_like(rows, min_words: int = 6):
    """Training rows that read like sentences: at least ``min_words`` tokens."""
    return [row for row in rows if len(row[0].split()) >= min_words]


#: words that negate what follows them in a phrase
NEGATORS = frozenset(["not", "n't", "never", "no", "nothing", "hardly", "without", "nobody", "none", "nor", "neither"])


def negated_negatives(rows, max_scope: int = 6) -> list[tuple[str, str]]:
    """Positive training phrases in which a negator scopes over a negative phrase ("does n't become smug",
    "never dull", "without stooping to gooeyness"): SST's own annotators' labels of negated negatives, found by
    a negator followed by a run of at most ``max_scope`` tokens that is itself a training phrase labelled
    negative."""
    label = dict(rows)
    out = []
    for text, y in rows:
        if y != "1":
            continue
        words = text.split()
        for i, word in enumerate(words):
            rest = words[i + 1 : i + 1 + max_scope]
            if word in NEGATORS and any(label.get(" ".join(rest[:j])) == "0" for j in range(1, len(rest) + 1)):
                out.append((text, y))
                break
    return out


#: finite copulas "n't" and "not" follow; linking verbs "never" precedes
COPULAS = frozenset(["is", "was", "are", "were"])
LINKING_VERBS = frozenset(["seems", "feels", "looks", "sounds", "remains", "becomes", "gets"])


def negated_predicates(rows, max_words: int = 3) -> list[tuple[str, str]]:
    """Counterfactual negations of SST's own short predicates, both ways: a training phrase "COPULA X" (or a
    linking verb and X) whose X, at most ``max_words`` tokens, is a training phrase of the same label gets a
    negated copy with the other label ("is deadly dull" -> "is n't deadly dull", "is not deadly dull": positive;
    "feels contrived" -> "never feels contrived"; "is top-notch" -> "is n't top-notch": negative). Made from
    training phrases only, in SST's tokenization."""
    label = dict(rows)
    flip = {"0": "1", "1": "0"}
    out = []
    for text, y in rows:
        words = text.split()
        rest = " ".join(words[1:])
        if not 1 <= len(words) - 1 <= max_words or label.get(rest) != y or y not in flip:
            continue
        if words[0] in COPULAS:
            out += [(f"{words[0]} n't {rest}", flip[y]), (f"{words[0]} not {rest}", flip[y])]
        elif words[0] in LINKING_VERBS:
            out.append((f"never {text}", flip[y]))
    known = {text for text, _ in rows}
    return [row for row in out if row[0] not in known]  # SST's own label wins where it has the phrase


def suite_words() -> frozenset[str]:
    """Every word of every lexicon of the sentiment suites, built-in (``assets/suites``) and held out
    (``benchmarks/suites``): left out of any lexicon that generates training data, so that the suites still
    test words the head never saw in generated text."""
    import yaml

    words = set()
    for path in (ROOT / "assets" / "suites" / "sentiment.yaml", ROOT / "benchmarks" / "suites" / "sentiment.yaml"):
        for values in (yaml.safe_load(path.read_text(encoding="utf-8")).get("lexicons") or {}).values():
            words.update(str(v).lower() for v in values)
    return frozenset(words)


def sentiment_adjectives(min_valence: float = 1.5, exclude: frozenset[str] = frozenset()) -> dict[str, str]:
    """Adjective -> SST label ("1" positive, "0" negative) from two published lexicons on PyPI
    (``benchmarks/requirements-lexicon.txt``): VADER's human-rated valence (the mean of ten raters, -4 … 4;
    kept where its magnitude is at least ``min_valence``) for the words whose first tag in the Brill tagger's
    lexicon (as TextBlob ships it) is JJ. The packages' data files are read, not their code imported."""
    adjective = _brill_adjectives()
    out = {}
    for line in _package_data("vaderSentiment", "vader_lexicon.txt").read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) < 2 or not parts[0].isalpha() or parts[0] not in adjective or parts[0] in exclude:
            continue
        valence = float(parts[1])
        if abs(valence) >= min_valence:
            out[parts[0]] = "1" if valence > 0 else "0"
    return out


def adjective_substitutions(rows, adjectives: dict[str, str], per_frame: int = 2, max_words: int = 12,
                            seed: int = 0) -> list[tuple[str, str]]:
    """Counterfactual vocabulary from SST's own predicates: a training phrase of at most ``max_words`` tokens in
    which a copula or linking verb is followed by a lexicon adjective whose polarity is the phrase's label
    ("the acting is terrific ." positive) gets ``per_frame`` copies with the adjective replaced by other lexicon
    adjectives of that polarity (label kept), and, where the predicate ends the phrase (at most a full stop
    after it), a copy with a replacement negated ("the acting is n't splendid ."; the other label)."""
    rng = random.Random(seed)
    flip = {"0": "1", "1": "0"}
    by_label = {y: sorted(w for w, lab in adjectives.items() if lab == y) for y in flip}
    out = []
    for text, y in rows:
        words = text.split()
        if y not in flip or len(words) > max_words:
            continue
        for i in range(len(words) - 1):
            if words[i] not in COPULAS | LINKING_VERBS or adjectives.get(words[i + 1]) != y:
                continue
            others = [w for w in by_label[y] if w != words[i + 1]]
            for w in rng.sample(others, per_frame):
                out.append((" ".join([*words[: i + 1], w, *words[i + 2 :]]), y))
            if len(words) - (i + 2) <= 1 and all(t not in NEGATORS for t in words[: i + 1]):
                negation = ["n't"] if words[i] in COPULAS else []
                verb = words[: i + 1] if negation else [*words[:i], "never", words[i]]
                out.append((" ".join([*verb, *negation, rng.choice(others), *words[i + 2 :]]), flip[y]))
            break
    known = {text for text, _ in rows}
    return [row for row in out if row[0] not in known]


@lru_cache(maxsize=1)
def _brill_adjectives() -> frozenset[str]:
    """Lowercase alphabetic words whose first tag in the Brill tagger's lexicon (as TextBlob ships it) is JJ."""
    out = set()
    for line in _package_data("textblob", "en", "en-lexicon.txt").read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 2 and not line.startswith(";") and parts[1] == "JJ" and parts[0].isalpha() and parts[0].islower():
            out.add(parts[0])
    return frozenset(out)


def _package_data(package: str, *parts: str) -> Path:
    from importlib.util import find_spec

    spec = find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"expected the package {package} (pip install -r benchmarks/requirements-lexicon.txt)")
    return Path(list(spec.submodule_search_locations)[0], *parts)


def common_adjectives(min_zipf: float = 3.0) -> list[str]:
    """English adjectives without labels: the Brill lexicon's JJ words (TextBlob) that occur at least once per
    million words of general English (wordfreq's Zipf frequency >= ``min_zipf``; 3,061 words at 3.0), sorted."""
    from wordfreq import zipf_frequency

    return sorted(w for w in _brill_adjectives() if zipf_frequency(w, "en") >= min_zipf)


_WORD = re.compile(r"[a-z][a-z'-]*|'s")
_NOT_OPENING = frozenset(["and", "but", "or", "while", "yet", "as", "if", "that", "which", "who", "so", "because", "still"])
_NOT_IN_SUBJECT = frozenset(["as", "that", "it", "at", "which", "who", "than"])


def predicate_frames(rows, max_words: int = 12) -> list[tuple[str, str, str]]:
    """SST's own short predicates as frames for another adjective: a training phrase of at most ``max_words``
    tokens that ends in a copula or linking verb and one adjective of the Brill lexicon (a full stop may follow)
    whose subject is one to five plain words gives (subject, verb, after): "the acting is terrific ." ->
    ("the acting", "is", ".")."""
    adjectives = _brill_adjectives()
    frames = set()
    for text, _ in rows:
        words = text.split()
        end = len(words) - 1 if words and words[-1] == "." else len(words)
        subject = words[: end - 2]
        if (len(words) > max_words or not 1 <= len(subject) <= 5 or words[end - 1] not in adjectives
                or words[end - 2] not in COPULAS | LINKING_VERBS or subject[0] in _NOT_OPENING
                or any(t in NEGATORS | _NOT_IN_SUBJECT or not _WORD.fullmatch(t) for t in subject)):
            continue
        frames.add((" ".join(words[: end - 2]), words[end - 2], " ".join(words[end:])))
    return sorted(frames)


def vocabulary_rows(rows, adjectives: dict[str, str], per_word: int = 2, negated: int = 1,
                    seed: int = 0) -> list[tuple[str, str]]:
    """Each adjective (word -> SST label) in SST's own predicates (``predicate_frames``): ``per_word`` frames as
    they are, with its label ("the acting is spotless ." positive), and ``negated`` negated ones, with the other
    ("the acting is n't spotless .", "the plot never seems spotless ." negative). Training phrases only."""
    rng = random.Random(seed)
    flip = {"0": "1", "1": "0"}
    frames = predicate_frames(rows)
    out = []
    for word, y in adjectives.items():
        for i, (before, verb, after) in enumerate(rng.sample(frames, per_word + negated)):
            if i < per_word:
                middle, label = [verb, word], y
            elif verb in COPULAS:
                middle, label = [verb, "n't", word], flip[y]
            else:
                middle, label = ["never", verb, word], flip[y]
            out.append((" ".join(t for t in (before, *middle, after) if t), label))
    return out


def rated_adjectives(exclude: frozenset[str] = frozenset()) -> dict[str, str]:
    """Adjective -> SST label ("1" positive, "0" negative) where published human ratings agree, for the Brill
    lexicon's JJ words: a word enters when one of VADER's mean valence (|v| >= 1.5), AFINN-165's score (|s| >= 2)
    or the Pattern lexicon's polarity as TextBlob ships it (the mean over its senses, |p| >= 0.4) rates it
    clearly, and is left out when any of them leans the other way at all (VADER |v| >= 0.5, any AFINN score,
    Pattern |p| >= 0.1; AFINN calls "ominous" +3, VADER -1.4). Read from the packages' data files
    (requirements-lexicon.txt)."""
    import xml.etree.ElementTree as ET

    adjectives = _brill_adjectives()
    strong: dict[str, set[int]] = {}
    leans: dict[str, set[int]] = {}

    def rate(word: str, value: float, clear: float, lean: float) -> None:
        if word in adjectives and word not in exclude and abs(value) >= lean:
            leans.setdefault(word, set()).add(1 if value > 0 else -1)
            if abs(value) >= clear:
                strong.setdefault(word, set()).add(1 if value > 0 else -1)

    for line in _package_data("vaderSentiment", "vader_lexicon.txt").read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) >= 2:
            rate(parts[0], float(parts[1]), 1.5, 0.5)
    for line in _package_data("afinn", "data", "AFINN-en-165.txt").read_text(encoding="utf-8").splitlines():
        word, _, score = line.rpartition("\t")
        if word:
            rate(word, int(score), 2, 1)
    senses: dict[str, list[float]] = {}
    for node in ET.parse(_package_data("textblob", "en", "en-sentiment.xml")).getroot():
        if node.get("pos") == "JJ":
            senses.setdefault(node.get("form", ""), []).append(float(node.get("polarity", 0)))
    for word, polarities in senses.items():
        rate(word, sum(polarities) / len(polarities), 0.4, 0.1)
    return {w: "1" if 1 in signs else "0" for w, signs in sorted(strong.items()) if len(leans[w]) == 1}


if __name__ == "__main__":
    train, val = split()
    print(f"phrases {len(phrases())}, whole sentences {len(whole_sentences())}, "
          f"training phrases {len(train)}, sentence-like (>= 6 words) {len(sentence_like(train))}, "
          f"validation sentences {len(val)}")
    sys.exit(0)
