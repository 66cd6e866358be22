"""One IOB2 tag per word: the ``token`` task (named entities), read from each word's first
sub-token vector; entity spans are read back off the tags."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import iob
from ..calibration import ScoreRows, entity_confidence
from ..data import TEXT_COLUMNS, WORD_COLUMNS, TokenExample, pick_column, read_conll, read_rows, rows_to_token_examples
from ..errors import DataError, InputError
from ..metrics import token_metrics
from ..predictions import Decoded, EntitySpan, TokenPrediction, WordPrediction
from ..tokenization import IGNORE_INDEX, encode_words, split_words
from .base import TaskSpec, check_texts, max_text_chars


@dataclass(frozen=True)
class _Sentence(TokenExample):
    """A raw text to tag, split into words that remember their character offsets."""

    text: str = ""
    offsets: tuple[tuple[int, int], ...] = ()
    #: the text was longer than max_text_chars(): only its beginning is tagged
    cut: bool = False


class TokenTask(TaskSpec):
    """A sentence tagger: one IOB2 tag per word, read from each word's first sub-token vector."""

    name = "token"
    name_example = "my-ner-tagger"
    title = "NER"
    metric = "f1"
    pipeline_tag = "token-classification"
    widget = "entities"
    options = ("word_shape",)
    column_roles = ()  # no column pickers: a word and its tag per line (CoNLL), or words and tags lists
    unit = "sentence"
    shown_confidence = "an entity's confidence"
    token_level = True
    default_head = "crf"
    formats = ("conll", "jsonl")
    example_type = TokenExample
    example_kind = "tagged sentences"
    usage = 'predict(clf, ["Angela Merkel visited Paris on Monday."])'
    format_hint = "write one token and its tag per line, sentences separated by blank lines"

    explained = "entity"
    suggestible = False  # a sentence has a tag per word, not one label

    behaviour_directional = False  # tags have no single probability to move

    def behaviour_expect(self, raw):
        """Entities every case should contain: {entity type: its text}, the text a template of the test's slots."""
        if not isinstance(raw, dict) or not raw or not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
            raise DataError(f"expected expect: as entity types and their texts, e.g. {{PER: \"{{first_name}}\"}}, found "
                            f"{str(raw)[:200]!r}; name each entity the case must contain")
        return dict(raw)

    def behaviour_names(self, expect, labels):
        return list(expect), sorted({label[2:] for label in labels if label[:2] in ("B-", "I-")})

    def behaviour_outcome(self, prediction):
        """The entities found, their types in order as the answer (an invariance test compares those)."""
        entities = tuple((e.label, e.text) for e in prediction.entities)
        return " ".join(kind for kind, _ in entities) or "no entity", {}, entities

    def audit_probabilities(self, prediction, labels):
        """(words, tags): each word's out-of-fold tag probabilities."""
        return np.array([w.probabilities for w in prediction.words]).reshape(len(prediction.words), len(labels))

    def find_label_issues(self, examples, probs, labels):
        """Sentences whose tags the out-of-fold tagger contradicts (cleanlab's token classification: a word is
        flagged by confident learning over all words; a sentence scores its least likely given tag). The given
        and suggested labels name the flagged words: ``Paris/B-PER`` against ``Paris/B-LOC``."""
        from cleanlab.token_classification.filter import find_label_issues
        from cleanlab.token_classification.rank import get_label_quality_scores

        given, rows = [], []
        for e, p in zip(examples, probs):
            n = min(len(e.tags), len(p))  # a sentence cut at the input limit: its tagged words only
            given.append([labels.index(t) for t in e.tags[:n]])
            rows.append(np.clip(p[:n], 1e-9, 1.0) / np.clip(p[:n], 1e-9, 1.0).sum(axis=1, keepdims=True))
        scores, _ = get_label_quality_scores(given, rows)
        words: dict[int, list[int]] = {}
        for i, j in find_label_issues(given, rows, n_jobs=1):  # no process pool (see TaskSpec.find_label_issues)
            words.setdefault(int(i), []).append(int(j))
        flagged = sorted(words, key=lambda i: scores[i])

        def named(i: int, pick) -> str:
            return " ".join(f"{examples[i].words[j]}/{labels[pick(j)]}" for j in sorted(words[i]))

        issues = [(i, named(i, lambda j, i=i: given[i][j]), named(i, lambda j, i=i: int(rows[i][j].argmax())),
                   float(scores[i])) for i in flagged]
        return issues, np.argsort(scores, kind="stable").tolist()

    def supports_head(self, head):
        return True  # per-word scores: a linear or MLP head per word, or a CRF over the sentence

    def input_columns(self, keys, columns, name):
        """A column of word lists (unless a text column is named), else a text column."""
        words = next((c for c in WORD_COLUMNS if c in keys), None)
        if words is not None and columns.text is None:
            return ("words", words)
        return ("text", pick_column(keys, columns.text, TEXT_COLUMNS, "text", name))

    def without_labels(self, examples):
        return [TokenExample(tuple(e.words)) for e in examples]  # words only: no tags, no offsets

    def read_file(self, path, fmt, columns, labelled):
        return read_conll(path) if fmt == "conll" else rows_to_token_examples(read_rows(path, fmt), Path(path).name)

    def from_rows(self, rows, columns, name, labelled):
        return rows_to_token_examples(rows, name)

    def label_list(self, examples):
        return iob.sort_tags([iob.OUTSIDE, *(t for e in examples for t in e.label_values())])

    def check_training_labels(self, labels):
        if labels == [iob.OUTSIDE]:
            raise DataError("expected some entity tags in the training data, found only 'O'; add tagged sentences")

    stratum = None  # sentences are split at random

    def preview(self, examples, limit):
        rows = [{"words": " ".join(e.words), "tags": " ".join(e.tags)} for e in examples[:limit]]
        counts = Counter(t[2:] for e in examples for t in e.tags if t.startswith("B-"))
        return rows, dict(counts), "entities per type"

    def inputs(self, texts, text_pairs=None):
        if text_pairs is not None:
            raise InputError("expected no text_pairs for a token head, got some; drop them")
        sentences = []
        checked = check_texts(texts, "texts")  # some content, so at least one word; cut to max_text_chars()
        for original, text in zip([texts] if isinstance(texts, str) else texts, checked):
            words = split_words(text)
            sentences.append(_Sentence(tuple(w for w, _, _ in words), None, text, tuple((s, e) for _, s, e in words),
                                       cut=len(original) > len(text)))
        return sentences

    def example_inputs(self, examples):
        return self.word_inputs([list(e.words) for e in examples])  # their words, as tagged

    def word_inputs(self, words):
        """Sentences given as word lists keep their words (a CoNLL file's "1." stays one word); the text
        is the words joined by single spaces, and each word's offsets point into it."""
        if not isinstance(words, (list, tuple)) or not words or isinstance(words[0], str):
            raise InputError(f"expected a non-empty list of word lists, got {type(words).__name__}"
                             f"{' of strings' if words and isinstance(words, (list, tuple)) else ''}; "
                             'pass [["EU", "rejects", "German", "call"]]')
        limit, sentences = max_text_chars(), []
        for i, sentence in enumerate(words):
            if (not isinstance(sentence, (list, tuple)) or not sentence
                    or not all(isinstance(w, str) and w.strip() and not any(c.isspace() for c in w) for w in sentence)):
                raise InputError(f"expected a non-empty list of words without spaces at position {i}, got {sentence!r:.80}; "
                                 "split the sentence into words (or pass it as text)")
            kept, offsets, start = [], [], 0
            for word in sentence:
                if start + len(word) > limit:
                    break
                kept.append(word)
                offsets.append((start, start + len(word)))
                start += len(word) + 1
            sentences.append(_Sentence(tuple(kept), None, " ".join(kept), tuple(offsets), cut=len(kept) < len(sentence)))
        return sentences

    def encode(self, tokenizer, examples, config, max_length, label2id=None):
        items = encode_words(tokenizer, [e.words for e in examples], max_length)
        if label2id is not None:
            for item in items:
                tags = examples[item.source].tags[item.word_offset : item.word_offset + len(item.word_index)]
                item.label = [label2id[t] for t in tags]
        return items

    def features(self, encode, batch, poolings):
        hidden = encode(batch)  # shape: (batch, seq_len, hidden)
        index = batch.word_index.unsqueeze(-1).expand(-1, -1, hidden.size(-1))
        return {"words": hidden.gather(1, index)}  # each word's first sub-token: (batch, n_words, hidden)

    def feature_rows(self, item):
        return len(item.word_index)

    def head_input(self, features, config):
        return features["words"]  # shape: (batch, n_words, hidden): h_i of eq. 11.12

    def gold_ids(self, examples, label2id):
        return [[label2id[t] for t in e.tags] for e in examples]

    def label_mask(self, labels):
        return labels != IGNORE_INDEX  # padding words of shorter sentences

    def label_rows(self, labels):
        return [row[row != IGNORE_INDEX].tolist() for row in labels]

    def metrics(self, gold, predicted, labels):
        return token_metrics([[labels[i] for i in row] for row in gold], [[labels[i] for i in row] for row in predicted])

    def prediction(self, example: _Sentence, decoded, labels, truncated, calibration=None):
        tags = [labels[i] for i in decoded.ids]
        words = [
            WordPrediction(w, s, e, tag, row[i], row)
            for w, (s, e), tag, i, row in zip(example.words, example.offsets, tags, decoded.ids, decoded.probs.tolist())
        ]
        entities = []
        for etype, first, last in iob.spans(tags):
            start, end = words[first].start, words[last].end
            score = entity_confidence(decoded.probs, decoded.ids, first, last)
            if calibration is not None:
                score = float(calibration.map_confidence(score))
            entities.append(EntitySpan(etype, start, end, example.text[start:end], score))
        return TokenPrediction(example.text, entities, words, list(labels), truncated, getattr(example, "cut", False))

    # calibration: entity confidences (the mean probability of an entity's words' tags), one temperature
    calibration_error = "entity_ece"
    shared_temperature = True  # a CRF's forward-backward makes refitting per fold costly

    def calibration_maps(self):
        from ..calibration import TOKEN_MAPS

        return TOKEN_MAPS, False  # no decision hangs on an entity's confidence: no anchor at a tie

    def shown_confidences(self, probs, gold, ids, labels, calibration=None):
        """Each predicted entity's confidence (mapped by ``calibration`` when given) and whether it is a
        gold entity."""
        conf, hit = [], []
        for p, g, i in zip(probs, gold, ids):
            gold_spans = set(iob.spans([labels[t] for t in g]))
            for etype, first, last in iob.spans([labels[t] for t in i]):
                conf.append(entity_confidence(p, i, first, last))
                hit.append((etype, first, last) in gold_spans)
        conf = np.asarray(conf, dtype=np.float64)
        if calibration is not None:
            conf = np.asarray(calibration.map_confidence(conf), dtype=np.float64)
        return conf, np.asarray(hit, dtype=bool)

    def probability_rows(self, probs, gold):
        return torch.cat(list(probs)).double().numpy(), [t for g in gold for t in g]  # one row per word

    def calibrated_rows(self, calibration, probs):
        return probs  # the tag probabilities stay at the temperature; only entity confidences are mapped

    def calibrate_decoded(self, clf, decoded):
        """Keep the decoded tags (a CRF's Viterbi path); read each word's probabilities at the temperature."""
        rows = ScoreRows(clf.head, [d.scores for d in decoded], [None] * len(decoded))
        probs = rows.probs(range(len(decoded)), clf.calibration.temperature)
        return [Decoded(d.ids, p, d.scores) for d, p in zip(decoded, probs)]

    def operating_point(self, labels):
        return False

    def json_line(self, index, prediction):
        """Compact: words, tags, their scores and the entities."""
        return {"index": index, "words": [w.word for w in prediction.words], "tags": [w.label for w in prediction.words],
                "scores": [round(w.score, 4) for w in prediction.words],
                "entities": [{"label": e.label, "start": e.start, "end": e.end, "text": e.text, "score": round(e.score, 4)}
                             for e in prediction.entities],
                **({"truncated": True} if prediction.truncated else {}), **({"windowed": True} if prediction.windowed else {})}

    def mistakes(self, examples, decoded, labels, limit=10):
        rows = []
        for e, d in zip(examples, decoded):
            tags = [labels[i] for i in d.ids]
            wrong = sum(a != b for a, b in zip(e.tags, tags))
            if wrong:
                rows.append({"errors": wrong, "sentence": " ".join(e.words), "gold": " ".join(e.tags),
                             "predicted": " ".join(tags)})
        return sorted(rows, key=lambda r: -r["errors"])[:limit]

    def report(self, metrics, quote=repr):
        headline = (f"entity F1 **{metrics['f1']:.3f}** (P {metrics['precision']:.3f}, R {metrics['recall']:.3f}), "
                    f"invalid IOB2 transitions {metrics['invalid_transition_rate']:.2%}")
        per_type = metrics["per_type"]
        rows = [[t, round(m["precision"], 4), round(m["recall"], 4), round(m["f1"], 4), m["support"]]
                for t, m in sorted(per_type.items())]
        rows.append(["overall (micro)", round(metrics["precision"], 4), round(metrics["recall"], 4),
                     round(metrics["f1"], 4), sum(m["support"] for m in per_type.values())])
        return headline, ["entity type", "precision", "recall", "f1", "support"], rows
