"""The frozen encoder's feature cache: what its key covers, hits, damaged files, and the rows it
lays out (one per text, one per word)."""

import dataclasses

import pytest
import torch

from ftclf import Classifier, ModelConfig
from ftclf.data import Example, TokenExample
from ftclf.training import features as feats

from .conftest import pair_examples, sentiment_examples, token_examples


def classifier(tiny_encoder, task, **kw):
    labels = {"sequence": ["neg", "pos"], "pair": ["different", "same"], "token": ["O", "B-PER", "I-PER"]}[task]
    return Classifier(ModelConfig(task=task, labels=labels, encoder="tiny", **{"max_length": 32, **kw}), tiny_encoder)


def cached(clf, examples):
    items = clf.task.encode(clf.tokenizer, examples, clf.model_config, clf.max_length)
    return feats.cached_features(clf, examples, items), items


def test_key_covers_encoder_task_inputs_and_texts_but_not_labels(tiny_encoder):
    seq, examples = classifier(tiny_encoder, "sequence"), sentiment_examples(10)
    key = feats.cache_key(seq, examples)
    relabelled = [dataclasses.replace(e, label="pos") for e in examples]
    assert feats.cache_key(seq, relabelled) == key
    assert feats.cache_key(seq, examples[:-1]) != key
    assert feats.cache_key(classifier(tiny_encoder, "sequence", max_length=16), examples) != key
    assert feats.cache_key(classifier(tiny_encoder, "sequence", case_markers=True), examples) != key
    cross, concat = classifier(tiny_encoder, "pair"), classifier(tiny_encoder, "pair", pair_mode="concat")
    pairs = pair_examples(10)
    assert feats.cache_key(cross, pairs) != feats.cache_key(concat, pairs)
    other = classifier(tiny_encoder, "sequence")
    other.encoder_ref = dataclasses.replace(other.encoder_ref, fingerprint="0" * 16)
    assert feats.cache_key(other, examples) != key


def test_second_call_is_a_hit_and_a_damaged_file_is_recomputed(tiny_encoder, monkeypatch):
    clf, examples = classifier(tiny_encoder, "sequence"), sentiment_examples(12)
    first, _ = cached(clf, examples)
    path = feats.cache_dir() / f"{feats.cache_key(clf, examples)}.safetensors"
    assert path.is_file()
    real = feats.compute_features
    monkeypatch.setattr(feats, "compute_features", lambda *a, **k: pytest.fail("expected a cache hit"))
    hit, _ = cached(clf, examples)
    assert all(torch.equal(first[k], hit[k]) for k in first)
    path.write_bytes(b"not safetensors")
    monkeypatch.setattr(feats, "compute_features", real)
    again, _ = cached(clf, examples)
    assert all(torch.equal(first[k], again[k]) for k in first) and path.stat().st_size > 100


def test_rows_per_text_and_per_word(tiny_encoder):
    seq = classifier(tiny_encoder, "sequence")
    features, items = cached(seq, sentiment_examples(5))
    assert {k: tuple(v.shape) for k, v in features.items()} == {"cls": (5, 64), "mean": (5, 64), "max": (5, 64)}
    concat = classifier(tiny_encoder, "pair", pair_mode="concat")
    features, _ = cached(concat, pair_examples(4))
    assert set(features) == {"cls", "mean", "max", "second.cls", "second.mean", "second.max"}
    tok = classifier(tiny_encoder, "token")
    sentences = token_examples(6)
    features, items = cached(tok, sentences)
    assert features["words"].shape == (sum(len(s.words) for s in sentences), 64)
    table = feats.FeatureTable(tok, items, features)
    rows = table.rows([0, 3], "cpu")["words"]
    n0, n3 = len(sentences[0].words), len(sentences[3].words)
    assert rows.shape == (2, max(n0, n3), 64)
    start = sum(len(s.words) for s in sentences[:3])
    assert torch.equal(rows[1, :n3], features["words"][start : start + n3])


def test_cached_features_equal_the_encoder_half_of_the_forward_pass(tiny_encoder):
    """Oracle: the head trained on cached vectors sees what prediction computes (up to float16)."""
    tok = classifier(tiny_encoder, "token")
    sentence = [TokenExample(("john", "smith", "was", "here"))]
    features, items = cached(tok, sentence)
    from ftclf.tokenization import collate

    live = tok.features(collate(items))["words"][0]
    assert torch.allclose(features["words"], live, atol=2e-3)
    seq = classifier(tiny_encoder, "sequence")
    features, items = cached(seq, [Example("a lovely film")])
    assert torch.allclose(features["mean"], seq.features(collate(items))["mean"], atol=2e-3)
