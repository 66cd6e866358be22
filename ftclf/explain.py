"""The real numbers along the chapter's path for one input: pooled vector -> scores h·W + b ->
softmax -> argmax (eqs. 11.11-11.13); for a CRF head, the Viterbi path against per-word argmax."""

from __future__ import annotations

import torch

from .data import split_words
from .errors import InputError
from .tasks import Example
from .tokenization import encode_examples, encode_words


def _vector_summary(v: torch.Tensor) -> dict:
    return {"dim": int(v.numel()), "norm": float(v.norm()), "mean": float(v.mean()), "std": float(v.std()),
            "first": [round(float(x), 4) for x in v[:8]]}


@torch.no_grad()
def explain(clf, text: str, text_pair: str | None = None) -> dict:
    if not isinstance(text, str) or not text.strip():
        raise InputError("expected non-empty text to explain, got an empty string; type some text")
    if clf.task == "pair" and not (text_pair or "").strip():
        raise InputError("expected a second text for a pair head, got none; fill in both texts")
    clf.eval()
    labels = clf.spec.labels
    out = {"task": clf.task, "head": clf.spec.head, "labels": labels, "mode": clf.mode}
    if clf.is_token:
        words = split_words(text)
        if not words:
            raise InputError("expected words to tag, found only spaces/symbols; type a sentence")
        items, _ = encode_words(clf.tokenizer, [[w for w, _, _ in words]], clf.max_length)
        scores, vectors = [], []
        for item in items:  # windows of a long sentence, in order
            batch = clf.batch_inputs([item])
            feats = clf.encode_features(**batch)
            x = clf.head_features(feats, batch["word_shape"])
            scores.append(clf.head(x)[0])
            vectors.append(feats["words"][0])
        logits = torch.cat(scores)  # shape: (n_words, num_labels)
        probs = logits.softmax(-1)
        out.update({
            "words": [w for w, _, _ in words],
            "vector": _vector_summary(torch.cat(vectors)[0]),
            "scores": logits.tolist(), "probs": probs.tolist(),
            "argmax": [labels[i] for i in probs.argmax(-1).tolist()],
        })
        if clf.crf is not None:
            emissions = logits.unsqueeze(0)
            out["viterbi"] = [labels[i] for i in clf.crf.decode(emissions)[0]]
            out["marginals"] = clf.crf.marginals(emissions)[0].tolist()
        return out
    example = Example(text, text_pair if clf.task == "pair" else None)
    items, infos = encode_examples(clf.tokenizer, [example], clf.task, clf.spec.pair_mode, clf.max_length)
    batch = clf.batch_inputs(items)
    x = clf.head_features(clf.encode_features(**batch))[0]
    head = clf.head
    steps = {}
    if hasattr(head, "dense"):  # MLP: Linear -> ReLU -> Linear
        hidden = torch.relu(head.dense(x))
        steps["hidden"] = _vector_summary(hidden)
        steps["hidden_active"] = int((hidden > 0).sum())
        x_last = hidden
    else:
        x_last = x
    weight, bias = head.classifier.weight, head.classifier.bias
    logits = x_last @ weight.T + bias  # eq. 11.11 before the softmax
    probs = logits.softmax(-1)
    out.update({
        "vector": _vector_summary(x), "pooling": clf.spec.pooling, "pair_mode": clf.spec.pair_mode,
        "weight_shape": list(weight.T.shape), "scores": logits.tolist(), "probs": probs.tolist(),
        "argmax": labels[int(probs.argmax())], "truncated": infos[0].truncated, **steps,
    })
    return out
