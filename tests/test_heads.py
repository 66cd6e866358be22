import math

import pytest
import torch

from ftclf.errors import ConfigError
from ftclf.heads import WORD_SHAPES, LinearHead, MLPHead, build_head, word_shape


def test_chapter_worked_example_softmax():
    # Chapter eq. 11.11 example: scores [2.1, -0.5, 0.8] -> "about [0.75, 0.06, 0.19]".
    scores = [2.1, -0.5, 0.8]
    by_hand = [math.exp(s) / sum(math.exp(x) for x in scores) for s in scores]  # 0.7425, 0.0551, 0.2024
    probs = torch.tensor(scores).softmax(-1)
    assert probs.tolist() == pytest.approx(by_hand, abs=1e-6)
    assert probs.tolist() == pytest.approx([0.75, 0.06, 0.19], abs=0.015)  # the chapter rounds loosely
    assert int(probs.argmax()) == 0  # eq. 11.13: "positive"


def test_linear_head_is_affine_map_of_features():
    head = LinearHead(4, 3, dropout=0.0).eval()
    with torch.no_grad():
        head.classifier.weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 1.0]]))
        head.classifier.bias.copy_(torch.tensor([0.5, -0.5, 0.0]))
    h = torch.tensor([[2.0, 1.0, 0.25, 0.25]])
    # By hand: h·W^T + b = [2.5, 0.5, 0.5]
    assert head(h).tolist() == [[2.5, 0.5, 0.5]]


def test_mlp_head_matches_hand_computation():
    head = MLPHead(2, 2, hidden=2, dropout=0.0).eval()
    with torch.no_grad():
        head.dense.weight.copy_(torch.tensor([[1.0, -1.0], [-1.0, 1.0]]))
        head.dense.bias.zero_()
        head.classifier.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
        head.classifier.bias.copy_(torch.tensor([0.0, 1.0]))
    # h = [3, 1]: dense -> [2, -2], ReLU -> [2, 0], out -> [2, 1]
    assert head(torch.tensor([[3.0, 1.0]])).tolist() == [[2.0, 1.0]]


def test_heads_keep_leading_dimensions():
    x = torch.randn(2, 5, 8)  # (batch, n_words, hidden)
    assert build_head("mlp", 8, 3, 4).eval()(x).shape == (2, 5, 3)
    assert build_head("crf", 8, 3).eval()(x).shape == (2, 5, 3)


def test_unknown_head_message():
    with pytest.raises(ConfigError, match="expected head 'linear', 'mlp' or 'crf', got 'tree'"):
        build_head("tree", 4, 2)


@pytest.mark.parametrize(
    "word,shape",
    [("apple", "lower"), ("Apple", "Capitalised"), ("IBM", "UPPER"), ("I", "Capitalised"), ("iPhone", "mIxed"),
     ("1996", "digits"), ("F16", "alnum-digit"), (",", "punct"), ("U.S.", "UPPER")],
)
def test_word_shape(word, shape):
    assert WORD_SHAPES[word_shape(word)] == shape
