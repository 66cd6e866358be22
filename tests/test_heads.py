"""Heads against hand computations; the registry and the head protocol."""

import math

import pytest
import torch

from ftclf.config import ModelConfig
from ftclf.errors import ConfigError
from ftclf.heads import HEADS, CRFHead, LinearHead, MLPHead, get_head, heads_for
from ftclf.tasks import get_task

SEQUENCE, TOKEN = get_task("sequence"), get_task("token")


def test_decode_is_the_chapters_worked_example():
    # Chapter eq. 11.11 example: scores [2.1, -0.5, 0.8] -> "about [0.75, 0.06, 0.19]", argmax "positive".
    scores = [2.1, -0.5, 0.8]
    by_hand = [math.exp(s) / sum(math.exp(x) for x in scores) for s in scores]  # 0.7425, 0.0551, 0.2024
    ids, probs = LinearHead(SEQUENCE, 1, 3).decode(torch.tensor([scores]))
    assert probs[0].tolist() == pytest.approx(by_hand, abs=1e-6)
    assert ids == [0]  # eq. 11.13


def test_linear_head_is_affine_map_of_features():
    head = LinearHead(SEQUENCE, 4, 3, dropout=0.0).eval()
    with torch.no_grad():
        head.classifier.weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 1.0]]))
        head.classifier.bias.copy_(torch.tensor([0.5, -0.5, 0.0]))
    h = torch.tensor([[2.0, 1.0, 0.25, 0.25]])
    # By hand: h·W^T + b = [2.5, 0.5, 0.5]
    assert head(h).logits.tolist() == [[2.5, 0.5, 0.5]]
    assert head.trace(h[0]).scores.tolist() == [2.5, 0.5, 0.5] and head.trace(h[0]).weight.shape == (4, 3)


def test_mlp_head_matches_hand_computation():
    head = MLPHead(SEQUENCE, 2, 2, hidden=2, dropout=0.0).eval()
    with torch.no_grad():
        head.dense.weight.copy_(torch.tensor([[1.0, -1.0], [-1.0, 1.0]]))
        head.dense.bias.zero_()
        head.classifier.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
        head.classifier.bias.copy_(torch.tensor([0.0, 1.0]))
    # h = [3, 1]: dense -> [2, -2], ReLU -> [2, 0], out -> [2, 1]
    assert head(torch.tensor([[3.0, 1.0]])).logits.tolist() == [[2.0, 1.0]]
    trace = head.trace(torch.tensor([3.0, 1.0]))
    assert trace.hidden.tolist() == [2.0, 0.0] and trace.scores.tolist() == [2.0, 1.0]


def test_loss_only_when_labels_are_given_and_equals_cross_entropy():
    head = LinearHead(SEQUENCE, 3, 2, dropout=0.0)
    x, labels = torch.randn(4, 3), torch.tensor([0, 1, 1, 0])
    assert head(x).loss is None
    out = head(x, labels)
    by_hand = -torch.log_softmax(out.logits, -1)[torch.arange(4), labels].mean()
    assert out.loss.item() == pytest.approx(by_hand.item(), abs=1e-6)


def test_token_loss_skips_padding_words():
    head = LinearHead(TOKEN, 3, 2, dropout=0.0)
    x = torch.randn(2, 3, 3)
    labels = torch.tensor([[0, 1, 1], [1, -100, -100]])
    logp = torch.log_softmax(head(x).logits, -1)
    by_hand = -(logp[0, 0, 0] + logp[0, 1, 1] + logp[0, 2, 1] + logp[1, 0, 1]) / 4
    assert head(x, labels).loss.item() == pytest.approx(by_hand.item(), abs=1e-6)
    ids, probs = head.decode(head(x).logits, labels != -100)
    assert [len(row) for row in ids] == [3, 1] and probs.shape == (2, 3, 2)


def test_crf_head_is_a_head_like_the_others():
    labels = ["O", "B-PER", "I-PER"]
    head = CRFHead(TOKEN, 4, labels)
    x, mask = torch.randn(2, 3, 4), torch.tensor([[True, True, True], [True, True, False]])
    tags = torch.tensor([[1, 2, 0], [0, 1, -100]])
    out = head(x, tags, mask)
    assert out.logits.shape == (2, 3, 3) and out.loss.item() > 0
    paths, marginals = head.decode(out.logits, mask)
    assert [len(p) for p in paths] == [3, 2] and marginals.shape == (2, 3, 3)
    assert all(not (labels[a] == "O" and labels[b] == "I-PER") for p in paths for a, b in zip(p, p[1:]))


def test_registry_drives_choices_and_validation():
    assert list(HEADS) == ["linear", "mlp", "crf"]
    assert heads_for(SEQUENCE) == ["linear", "mlp"] and heads_for(TOKEN) == ["linear", "mlp", "crf"]
    with pytest.raises(ConfigError, match="expected head to be one of linear, mlp, crf, got 'tree'"):
        get_head("tree")
    config = ModelConfig(task="token", labels=["O", "B-PER", "I-PER"], head="mlp")
    head = get_head("mlp").build(8, config, TOKEN).eval()
    assert isinstance(head, MLPHead) and head(torch.randn(2, 5, 8)).logits.shape == (2, 5, 3)
