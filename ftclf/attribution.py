"""Why a head says what it says: a score per word of the input, for a target label.

Two methods, both explaining the probabilities the head shows (calibrated where the head is):

- ``occlusion`` — leave one word out and see how far the target's probability falls (a text head:
  the word is deleted; a token head: it is replaced by the tokenizer's mask token, so the other
  words keep their places). Forward passes only, batched, so it runs on any backend (ONNX int8
  too).
- ``integrated_gradients`` — Captum's ``IntegratedGradients`` along the straight line from a
  baseline (every word's embedding replaced by ``[PAD]``'s; ``[CLS]`` and ``[SEP]`` kept) to the
  input's word embeddings, fed to the encoder as ``inputs_embeds``. Needs gradients: a torch
  classifier (any mode; the int8 torch backend too), not an ONNX one. The attributions add up to
  f(input) − f(baseline) up to Captum's reported convergence ``delta``. It explains softmax(scores / T)
  (the temperature; a top-probability map is monotone and is left out of the gradient).

Scores are per word (a word's sub-word pieces summed), with character offsets into the given text, so
``text[start:end] == word``; positive supports the target. Token heads explain each predicted entity:
its confidence (the mean probability of its words' predicted tags) and every word's part in it,
context words included.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

import torch

from . import iob
from .calibration import entity_confidence
from .data import Example
from .errors import ConfigError, InputError
from .tokenization import Batch, collate, split_words, token_offsets

METHODS = ("occlusion", "integrated_gradients")
#: what :func:`attribute` uses when no method is named (see docs: Attributions, for why)
DEFAULT_METHOD = "occlusion"
#: integrated gradients: points on the path from the baseline to the input
IG_STEPS = 32
#: a token head's sentence is explained up to this many words (occlusion re-tags it once per word)
MAX_TOKEN_WORDS = 256


@dataclass
class WordAttribution:
    word: str
    start: int
    end: int
    #: how much the word supports the target (its probability's share that the word accounts for)
    score: float


@dataclass
class EntityAttribution:
    """One predicted entity and the words that explain its label (context words included)."""

    label: str
    start: int
    end: int
    text: str
    #: the entity's confidence as shown (the mean probability of its words' predicted tags)
    confidence: float
    words: list[WordAttribution]


@dataclass
class Attribution:
    """Why one input got its label. Token heads leave ``label``/``target`` None (each entity has its
    own) and put their evidence in ``entities``; their ``words`` sum every entity's scores."""

    label: str | None
    target: str | None
    method: str
    #: the target's probability as the head shows it (token heads: None)
    probability: float | None
    words: list[WordAttribution]
    pair_words: list[WordAttribution] | None = None
    entities: list[EntityAttribution] | None = None
    #: integrated gradients: sum of the attributions minus (f(input) - f(baseline)); None for occlusion
    delta: float | None = None
    truncated: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Flip:
    """The fewest words (taken in attribution order) whose removal changes a text head's label."""

    #: the words removed, from the text and (a pair) from the second text
    removed: list[WordAttribution]
    removed_pair: list[WordAttribution]
    #: the label then predicted, and its probability; None when removing every supporting word keeps the label
    label: str | None
    probability: float | None
    text: str
    text_pair: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def attribute(classifier, texts, text_pairs=None, *, target: str | None = None, method: str | None = None,
              steps: int = IG_STEPS, batch_size: int = 32) -> list[Attribution]:
    """Word attributions of ``classifier``'s predictions for ``texts`` (and ``text_pairs`` for a pair
    head): one :class:`Attribution` per input, explaining ``target`` (a label name; default: each
    input's predicted label; token heads: only entities of that type) with ``method``
    (:data:`METHODS`; default :data:`DEFAULT_METHOD`)."""
    return attribute_examples(classifier, classifier.task.inputs(texts, text_pairs), target=target, method=method,
                              steps=steps, batch_size=batch_size)


def attribute_examples(classifier, examples: Sequence, *, target: str | None = None, method: str | None = None,
                       steps: int = IG_STEPS, batch_size: int = 32) -> list[Attribution]:
    """:func:`attribute` for prediction inputs already made by the task (``task.inputs`` or
    ``task.word_inputs``), e.g. the rows of a file."""
    method = check_method(method)
    clf = classifier
    explain = EXPLAINED[clf.task.explained]
    known = _entity_types(clf) if explain is _token else clf.labels
    if target is not None and target not in clf.labels and target not in known:
        raise InputError(f"expected a target among the head's labels ({', '.join(known)}), got {target!r}")
    if method == "integrated_gradients" and not _has_gradients(clf):
        raise ConfigError("expected a torch classifier for integrated gradients (it needs gradients), got one served by "
                          "ONNX Runtime; load it with ftclf.Classifier.from_pretrained, or use method='occlusion'")
    clf.eval()
    return [explain(clf, e, target, method, steps, batch_size) for e in examples]


def check_method(method: str | None) -> str:
    """The attribution method to use (default: :data:`DEFAULT_METHOD`), refused when unknown."""
    method = method or DEFAULT_METHOD
    if method not in METHODS:
        raise ConfigError(f"expected an attribution method among {', '.join(METHODS)}, got {method!r}")
    return method


def _entity_types(clf) -> list[str]:
    return sorted({label[2:] for label in clf.labels if label[:2] in ("B-", "I-")})


def _has_gradients(clf) -> bool:
    return isinstance(clf.encoder, torch.nn.Module) and hasattr(clf.encoder, "get_input_embeddings")


# ----------------------------------------------------------------------------- text heads
def _run(clf, examples: Sequence, batch_size: int) -> tuple[list, list[bool]]:
    """(decoded, truncated) per example: its calibrated prediction, a long sentence's windows joined."""
    from .inference import join_windows, run_heads

    items = clf.task.encode(clf.tokenizer, examples, clf.model_config, clf.max_length)
    joined = join_windows(items, run_heads([clf], items, batch_size)[0], len(examples))
    return [d for d, _ in joined], [cut for _, cut in joined]


def _text(clf, example, target, method, steps, batch_size) -> Attribution:
    example = Example(example.text, getattr(example, "text_pair", None))  # any one- or two-text task's input
    (decoded,), (truncated,) = _run(clf, [example], batch_size)
    if isinstance(decoded.ids, list):  # a label set (multi-label): explain one label, by default the likeliest
        label = "|".join(clf.labels[i] for i in decoded.ids)
        goal = clf.labels.index(target) if target is not None else int(decoded.probs.argmax())
    else:
        label = clf.labels[decoded.ids]
        goal = clf.labels.index(target) if target is not None else decoded.ids
    shown = float(decoded.probs[goal])
    first = split_words(example.text)
    second = split_words(example.text_pair) if example.text_pair is not None else None
    delta = None
    if method == "occlusion":
        scores_a, scores_b = _occlude_text(clf, example, first, second, goal, shown, batch_size)
    else:
        scores_a, scores_b, delta = _ig_text(clf, example, first, second, goal, steps)
    words = [WordAttribution(w, s, e, float(v)) for (w, s, e), v in zip(first, scores_a)]
    pair_words = None if second is None else [WordAttribution(w, s, e, float(v)) for (w, s, e), v in zip(second, scores_b)]
    return Attribution(label, clf.labels[goal], method, shown, words, pair_words, delta=delta, truncated=truncated)


def _cut(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """``text`` without the character spans (start, end) given."""
    out, last = [], 0
    for start, end in sorted(spans):
        out.append(text[last:start])
        last = end
    return "".join(out + [text[last:]])


def _occlude_text(clf, example, first, second, goal, shown, batch_size):
    """Leave each word out in turn; a word past the encoder's maximum length (cut off anyway) scores 0."""
    read_a, read_b = _read_words(clf, example, first, second)
    variants = [Example(_cut(example.text, [(s, e)]), example.text_pair) for k, (_, s, e) in enumerate(first) if k in read_a]
    if second is not None:
        variants += [Example(example.text, _cut(example.text_pair, [(s, e)]))
                     for k, (_, s, e) in enumerate(second) if k in read_b]
    drops = iter([shown - float(d.probs[goal]) for d in _run(clf, variants, batch_size)[0]] if variants else [])
    scores_a = [next(drops) if k in read_a else 0.0 for k in range(len(first))]
    scores_b = [next(drops) if k in read_b else 0.0 for k in range(len(second))] if second is not None else []
    return scores_a, scores_b


def _read_words(clf, example, first, second) -> tuple[set[int], set[int]]:
    """The words of each text that reach the encoder (at least one of their tokens survives truncation)."""
    item = clf.task.encode(clf.tokenizer, [example], clf.model_config, clf.max_length)[0]
    if second is not None and item.second is None:  # [CLS] a [SEP] b [SEP]
        owner_a, owner_b = _pair_owner(clf, item.input_ids, example.text, example.text_pair, first, second)
        return set(owner_a) - {-1}, set(owner_b) - {-1}
    read_a = set(_token_words(clf, item.input_ids, example.text, first)) - {-1}
    if second is None:
        return read_a, set()
    return read_a, set(_token_words(clf, item.second.input_ids, example.text_pair, second)) - {-1}


# ------------------------------------------------------------------------------ token heads
def _token(clf, example, target, method, steps, batch_size) -> Attribution:
    if len(example.words) > MAX_TOKEN_WORDS:
        raise InputError(f"expected a sentence of at most {MAX_TOKEN_WORDS} words to explain, got {len(example.words)} "
                         "words; explain a shorter passage")
    (decoded,), _ = _run(clf, [example], batch_size)
    ids = list(decoded.ids)
    tags = [clf.labels[i] for i in ids]
    spans = [(etype, a, b) for etype, a, b in iob.spans(tags) if target is None or etype == target]
    words = [(w, s, e) for w, (s, e) in zip(example.words, example.offsets)]
    entities, delta = [], None
    if spans:
        if method == "occlusion":
            per_entity = _occlude_token(clf, example, ids, decoded.probs, spans, batch_size)
        else:
            per_entity, delta = _ig_token(clf, example, ids, spans, steps)
        for (etype, a, b), scores in zip(spans, per_entity):
            start, end = words[a][1], words[b][2]
            confidence = entity_confidence(decoded.probs, ids, a, b)
            if clf.calibration is not None:
                confidence = float(clf.calibration.map_confidence(confidence))
            entities.append(EntityAttribution(etype, start, end, example.text[start:end], confidence,
                                              [WordAttribution(w, s, e, float(v)) for (w, s, e), v in zip(words, scores)]))
    total = [sum(ent.words[j].score for ent in entities) for j in range(len(words))]
    return Attribution(None, target, method, None, [WordAttribution(w, s, e, float(v)) for (w, s, e), v in zip(words, total)],
                       entities=entities, delta=delta, truncated=getattr(example, "cut", False))


def _masked(example, j: int, mask: str):
    from .tasks.tagging import _Sentence

    words = list(example.words)
    words[j] = mask
    return _Sentence(tuple(words), None, example.text, example.offsets)


def _mask_token(tokenizer) -> str:
    return tokenizer.mask_token or tokenizer.unk_token


def _occlude_token(clf, example, ids, probs, spans, batch_size) -> list[list[float]]:
    mask = _mask_token(clf.tokenizer)
    variants = [_masked(example, j, mask) for j in range(len(example.words))]
    decoded, _ = _run(clf, variants, batch_size)
    out = []
    for _, a, b in spans:
        base = entity_confidence(probs, ids, a, b)
        out.append([base - entity_confidence(d.probs, ids, a, b) for d in decoded])
    return out


# ------------------------------------------------------------------------ integrated gradients
def _embedding_path(clf, batch: Batch):
    """(input embeddings, baseline embeddings) of a batch's tokens: the baseline is ``[PAD]`` at every
    position but the special tokens."""
    table = clf.encoder.get_input_embeddings()
    ids = batch.input_ids
    special = torch.zeros_like(ids, dtype=torch.bool)
    for token in (clf.tokenizer.cls_token_id, clf.tokenizer.sep_token_id):
        if token is not None:
            special |= ids == token
    pad = clf.tokenizer.pad_token_id or 0
    return table(ids).detach(), table(torch.where(special, ids, torch.full_like(ids, pad))).detach()


def _expand(batch: Batch, n: int) -> Batch:
    """The batch of one input repeated ``n`` times (views, no copies)."""
    values = {f.name: getattr(batch, f.name) for f in fields(batch)}
    values = {k: v.expand(n, *v.shape[1:]) if isinstance(v, torch.Tensor) else v for k, v in values.items()}
    values["second"] = None if batch.second is None else _expand(batch.second, n)
    return Batch(**values)


def _forward_embeds(clf, batch: Batch, embeds: dict) -> torch.Tensor:
    """The head's scores for ``batch`` (one input) with the encoder reading ``embeds["first"]`` (and
    ``embeds["second"]``, a pair encoded apart) as its word embeddings, one row per embedding row."""
    expanded = _expand(batch, embeds["first"].size(0))

    def encode(b: Batch) -> torch.Tensor:
        kwargs = {"inputs_embeds": embeds["second" if b is expanded.second else "first"], "attention_mask": b.attention_mask}
        if b.token_type_ids is not None:
            kwargs["token_type_ids"] = b.token_type_ids
        return clf.encoder(**kwargs).last_hidden_state

    features = clf.task.features(encode, expanded, (clf.model_config.pooling,))
    return clf.head(clf.head_input(features, expanded.word_shape), mask=expanded.word_mask).logits


def _temperature(clf) -> float:
    return clf.calibration.temperature if clf.calibration is not None else 1.0


def _owners(offsets, words, keep=None) -> list[int]:
    """For every token (its character offsets), the index of the word it falls in; -1 for special tokens and
    for tokens ``keep`` (a per-token predicate) rejects."""
    owner = [-1] * len(offsets)
    for position, (s, e) in enumerate(offsets):
        if e <= s or (keep is not None and not keep(position)):
            continue
        owner[position] = next((k for k, (_, ws, we) in enumerate(words) if s < we and e > ws), -1)
    return owner


def _token_words(clf, item_ids: list[int], text: str, words) -> list[int]:
    """The word of every token position of an encoded text (-1: special, case marker)."""
    offsets, _ = token_offsets(clf.tokenizer, text, None, len(item_ids), clf.model_config.case_markers)
    return _owners(offsets, words)


def _per_word(token_scores: torch.Tensor, owner: list[int], n_words: int) -> list[float]:
    out = [0.0] * n_words
    for position, k in enumerate(owner):
        if k >= 0:
            out[k] += float(token_scores[position])
    return out


def _ig_text(clf, example, first, second, goal, steps):
    from captum.attr import IntegratedGradients

    items = clf.task.encode(clf.tokenizer, [example], clf.model_config, clf.max_length)
    batch = collate(items, clf.tokenizer.pad_token_id or 0).to(clf.device)
    together = example.text_pair is not None and batch.second is None
    names = ["first"] + (["second"] if batch.second is not None else [])
    paths = [_embedding_path(clf, batch)] + ([_embedding_path(clf, batch.second)] if batch.second is not None else [])
    temperature = _temperature(clf)

    def forward(*embeds):
        logits = _forward_embeds(clf, batch, dict(zip(names, embeds)))
        return clf.task.log_probabilities(logits / temperature).exp()[:, goal]

    ig = IntegratedGradients(forward)
    with torch.enable_grad():
        attributions, delta = ig.attribute(tuple(p[0] for p in paths), baselines=tuple(p[1] for p in paths),
                                           n_steps=steps, internal_batch_size=steps, return_convergence_delta=True)
    token_scores = [a.sum(-1)[0].detach() for a in attributions]
    ids = items[0].input_ids
    if together:  # [CLS] a [SEP] b [SEP]: one row, the two texts told apart by their segment
        owner_a = _pair_owner(clf, ids, example.text, example.text_pair, first, second)
        return (_per_word(token_scores[0], owner_a[0], len(first)), _per_word(token_scores[0], owner_a[1], len(second)),
                float(delta.sum()))
    scores_a = _per_word(token_scores[0], _token_words(clf, ids, example.text, first), len(first))
    scores_b = None
    if second is not None:
        second_ids = items[0].second.input_ids
        scores_b = _per_word(token_scores[1], _token_words(clf, second_ids, example.text_pair, second), len(second))
    return scores_a, scores_b, float(delta.sum())


def _pair_owner(clf, ids, text, pair, first, second):
    """Token positions of a jointly encoded pair -> (word of the first text, word of the second)."""
    offsets, sequence = token_offsets(clf.tokenizer, text, pair, len(ids), clf.model_config.case_markers)
    return (_owners(offsets, first, lambda i: sequence[i] == 0), _owners(offsets, second, lambda i: sequence[i] == 1))


def _ig_token(clf, example, ids, spans, steps):
    from captum.attr import IntegratedGradients

    items = clf.task.encode(clf.tokenizer, [example], clf.model_config, clf.max_length)
    if len(items) > 1:
        raise InputError("expected a sentence short enough for one encoder window for integrated gradients, got a "
                         "longer one; use method='occlusion'")
    item = items[0]
    batch = collate(items, clf.tokenizer.pad_token_id or 0).to(clf.device)
    embeds, baseline = _embedding_path(clf, batch)
    temperature = _temperature(clf)
    owner = [-1] * len(item.input_ids)  # every sub-token of word k (first piece at word_index[k])
    starts = list(item.word_index) + [len(item.input_ids) - 1]
    for k in range(len(item.word_index)):
        for position in range(starts[k], starts[k + 1]):
            owner[position] = k
    out, deltas = [], []
    for _, a, b in spans:
        def forward(e, a=a, b=b):
            logits = _forward_embeds(clf, batch, {"first": e})
            n = e.size(0)
            logp = clf.head.log_probs(logits, batch.word_mask.expand(n, -1), temperature)
            chosen = torch.tensor(ids[a : b + 1], device=logp.device)
            return logp[:, a : b + 1].exp().gather(-1, chosen.expand(n, -1)[..., None]).squeeze(-1).mean(-1)

        ig = IntegratedGradients(forward)
        with torch.enable_grad():
            attributions, delta = ig.attribute(embeds, baselines=baseline, n_steps=steps, internal_batch_size=steps,
                                               return_convergence_delta=True)
        out.append(_per_word(attributions.sum(-1)[0].detach(), owner, len(example.words)))
        deltas.append(float(delta.abs().max()))
    return out, max(deltas)


#: how an input is explained, by what its task's attributions explain (``TaskSpec.explained``): the label a
#: text (pair) gets, or each entity a sentence holds
EXPLAINED = {"label": _text, "entity": _token}


# ------------------------------------------------------------------------------ minimal flip
def minimal_flip(classifier, attribution: Attribution, text: str, text_pair: str | None = None,
                 batch_size: int = 32) -> Flip:
    """Input reduction (AllenNLP's, LIT's ablation flip): remove the words that support the predicted
    label, strongest first, one more at a time, and stop at the first removal that changes the label
    (forward passes only, one batch). ``attribution`` is the text's (:func:`attribute`, for its predicted
    label); text heads only."""
    clf = classifier
    if clf.task.explained != "label":
        raise InputError("expected a text or pair head for a minimal flip, got a token head; explain its entities instead")
    words = [(w, 0) for w in attribution.words] + [(w, 1) for w in attribution.pair_words or []]
    ranked = [(w, side) for w, side in sorted(words, key=lambda x: -x[0].score) if w.score > 0]
    variants = []
    for k in range(1, len(ranked) + 1):
        chosen = ranked[:k]
        a = _cut(text, [(w.start, w.end) for w, side in chosen if side == 0])
        b = _cut(text_pair, [(w.start, w.end) for w, side in chosen if side == 1]) if text_pair is not None else None
        variants.append(Example(a, b))
    decoded, _ = _run(clf, variants, batch_size) if variants else ([], [])
    for k, d in enumerate(decoded):
        if clf.labels[d.ids] != attribution.label:
            chosen = ranked[: k + 1]
            return Flip([w for w, side in chosen if side == 0], [w for w, side in chosen if side == 1],
                        clf.labels[d.ids], float(d.probs[d.ids]), variants[k].text, variants[k].text_pair)
    return Flip([w for w, side in ranked if side == 0], [w for w, side in ranked if side == 1], None, None,
                variants[-1].text if variants else text, variants[-1].text_pair if variants else text_pair)

