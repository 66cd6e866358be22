"""What to label next: uncertainty against hand-computed values, diversity against clusters built to be
found, and the head's own predictions as the oracle of one encoder pass."""

from __future__ import annotations

import json

import numpy as np
import pytest

from .conftest import pair_examples, sentiment_examples


def test_uncertainty_is_one_for_a_coin_and_zero_for_a_certainty():
    from ftclf.active_learning import uncertainty

    probs = np.array([[0.5, 0.5], [1.0, 0.0], [0.8, 0.2]])
    assert np.allclose(uncertainty(probs, "margin"), [1.0, 0.0, 0.4])
    assert np.allclose(uncertainty(probs, "entropy"), [1.0, 0.0, -(0.8 * np.log(0.8) + 0.2 * np.log(0.2)) / np.log(2)])
    three = np.array([[1 / 3, 1 / 3, 1 / 3], [0.9, 0.05, 0.05]])
    assert np.isclose(uncertainty(three, "entropy")[0], 1.0) and np.isclose(uncertainty(three, "margin")[1], 0.15)


def test_diversity_takes_one_text_from_each_cluster_where_uncertainty_alone_takes_one_cluster():
    from ftclf.active_learning import diverse

    rng = np.random.default_rng(0)
    centres = np.eye(8)[:3] * 10
    vectors = np.concatenate([c + 0.01 * rng.standard_normal((10, 8)) for c in centres])
    scores = np.concatenate([np.full(10, 0.99), np.full(10, 0.9), np.full(10, 0.8)]) + 0.001 * rng.random(30)
    assert set(np.argsort(-scores)[:3] // 10) == {0}  # the three most uncertain: one cluster
    picked = diverse(vectors, scores, 3)
    assert sorted(i // 10 for i in picked) == [0, 1, 2]
    assert [scores[i] for i in picked] == sorted((scores[i] for i in picked), reverse=True)
    assert diverse(vectors[:2], scores[:2], 5) == [int(i) for i in np.argsort(-scores[:2])]  # fewer than k: all


@pytest.mark.parametrize("task", ["sequence", "pair"])
def test_suggest_ranks_the_pool_by_the_heads_own_probabilities(tiny_encoder_dir, task, tmp_path, capsys):
    """Without diversity the suggestions are the k most uncertain by the head's predictions (computed apart,
    by ftclf.predict); with it, k distinct rows, most uncertain first; the command line writes them."""
    from ftclf import ModelConfig, TrainingConfig, fit, predict, suggest
    from ftclf.cli import main as cli

    data = sentiment_examples(40, seed=1) if task == "sequence" else pair_examples(40, seed=1)
    clf, _ = fit(ModelConfig(task=task, encoder=tiny_encoder_dir, max_length=32), TrainingConfig(mode="frozen"), data)
    pool = sentiment_examples(30, seed=7) if task == "sequence" else pair_examples(30, seed=7)
    texts, pairs = [e.text for e in pool], [e.text_pair for e in pool] if task == "pair" else None
    expected = predict(clf, texts, pairs)
    margin = [1 - abs(p.probabilities[clf.labels[0]] - p.probabilities[clf.labels[1]]) for p in expected]
    plain = suggest(clf, texts, pairs, k=5, diversity=False)
    assert [s.index for s in plain] == sorted(range(30), key=lambda i: -margin[i])[:5]
    for s in plain:
        assert s.label == expected[s.index].label and s.uncertainty == pytest.approx(margin[s.index], abs=1e-5)
        assert s.score == pytest.approx(expected[s.index].probabilities[s.label], abs=1e-5)
    mixed = suggest(clf, texts, pairs, k=5)
    assert len({s.index for s in mixed}) == 5 and [s.uncertainty for s in mixed] == sorted(
        (s.uncertainty for s in mixed), reverse=True)
    head, out = tmp_path / "head", tmp_path / "next.jsonl"
    clf.save_pretrained(head)
    if task == "sequence":
        (tmp_path / "pool.txt").write_text("".join(t + "\n" for t in texts))
        source = tmp_path / "pool.txt"
    else:
        source = tmp_path / "pool.jsonl"
        source.write_text("".join(json.dumps({"text": a, "text_pair": b}) + "\n" for a, b in zip(texts, pairs)))
    assert cli(["suggest", "--model", str(head), "--data", str(source), "--k", "4", "--output", str(out)]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 4 and {"index", "text", "label", "score", "uncertainty"} <= set(lines[0])
    assert [line["index"] for line in lines] == [s.index for s in suggest(clf, texts, pairs, k=4)]
    assert json.loads(capsys.readouterr().out)["pool"] == 30


def test_suggest_refuses_token_heads_and_empty_pools(tiny_encoder_dir):
    from ftclf import ModelConfig, TrainingConfig, fit, suggest
    from ftclf.errors import DataError

    from .conftest import token_examples

    clf, _ = fit(ModelConfig(task="token", encoder=tiny_encoder_dir, max_length=32), TrainingConfig(mode="frozen"),
                 token_examples(20))
    with pytest.raises(DataError, match="expected a text or pair head"):
        suggest(clf, ["Anna went home"], k=1)
    seq, _ = fit(ModelConfig(task="sequence", encoder=tiny_encoder_dir, max_length=32), TrainingConfig(mode="frozen"),
                 sentiment_examples(20))
    with pytest.raises(DataError, match="expected unlabelled texts"):
        suggest(seq, [], k=1)
    with pytest.raises(DataError, match="expected k of at least 1"):
        suggest(seq, ["good"], k=0)
