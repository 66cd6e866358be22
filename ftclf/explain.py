"""The real numbers along the chapter's path for one input: the encoder vector -> scores h·W + b
-> softmax -> argmax (eqs. 11.11-11.13); for a structured head (CRF), its decoded path beside the
per-word argmax."""

from __future__ import annotations

import torch

from .errors import InputError
from .heads import get_head
from .tokenization import collate


def _vector_summary(v: torch.Tensor) -> dict:
    return {"dim": int(v.numel()), "norm": float(v.norm()), "mean": float(v.mean()), "std": float(v.std()),
            "first": [round(float(x), 4) for x in v[:8]]}


@torch.no_grad()
def explain(clf, text: str, text_pair: str | None = None) -> dict:
    """What ``clf`` computes for one input, step by step, as plain numbers."""
    if not isinstance(text, str) or not text.strip():
        raise InputError("expected non-empty text to explain, got an empty string; type some text")
    task = clf.task
    if task.text_pairs and not (text_pair or "").strip():
        raise InputError(f"expected a second text for a {task.name} head, got none; fill in both texts")
    example = task.inputs([text], [text_pair] if task.text_pairs else None)[0]
    clf.eval()
    items = task.encode(clf.tokenizer, [example], clf.model_config, clf.max_length)
    inputs, traces = [], []
    for item in items:  # one item; the word windows of a long sentence, in order
        batch = collate([item], clf.tokenizer.pad_token_id or 0).to(clf.device)
        x = clf.head_input(clf.features(batch), batch.word_shape)[0]  # (in_features,) or (n_words, in_features)
        inputs.append(x)
        traces.append(clf.head.trace(x))
    x = torch.cat(inputs) if task.token_level else inputs[0]
    scores = torch.cat([t.scores for t in traces]) if task.token_level else traces[0].scores
    probs = scores.softmax(-1)
    labels = clf.labels
    argmax = probs.argmax(-1).tolist()
    cal = clf.calibration
    out = {
        "task": task.name, "head": clf.model_config.head, "labels": labels, "mode": clf.mode,
        "token_level": task.token_level, "text_pairs": task.text_pairs, "pooling": clf.model_config.pooling, "pair_mode": clf.model_config.pair_mode,
        "vector": _vector_summary(x[0] if task.token_level else x),
        "weight_shape": None if traces[0].weight is None else list(traces[0].weight.shape),  # None: score() only
        "scores": scores.tolist(), "probs": probs.tolist(),
        "argmax": [labels[i] for i in argmax] if task.token_level else labels[argmax],
        "truncated": any(item.truncated for item in items),
        # calibration: softmax(scores / T) (+ the confidence map), and the label a saved threshold picks
        "temperature": cal.temperature if cal is not None else None,
        "confidence_map": bool(cal is not None and cal.map_x),
        "threshold": cal.threshold if cal is not None else None,
    }
    if cal is not None and not task.token_level:
        calibrated = task.probabilities(scores, cal)
        out["calibrated"] = calibrated.tolist()
        out["decision"] = labels[int(cal.choose(scores, calibrated))]
    elif cal is not None:
        out["calibrated"] = task.log_probabilities(scores / cal.temperature).exp().tolist()
    if task.token_level:
        out["words"] = list(example.words)
    if traces[0].hidden is not None:
        out["hidden"] = _vector_summary(traces[0].hidden if not task.token_level else traces[0].hidden[0])
        out["hidden_active"] = int((traces[0].hidden > 0).sum())
    if get_head(clf.model_config.head).structured:
        ids, marginals = clf.head.decode(scores.unsqueeze(0), None, cal)
        out["decoded"] = [labels[i] for i in ids[0]]
        out["marginals"] = marginals[0].tolist()
    return out
