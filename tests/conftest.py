"""Shared fixtures: a tiny randomly initialised BERT (with the real uncased vocabulary) saved as
a local transformers directory, small separable data sets made here, and an isolated cache."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from .fake_hub import fake_hub  # noqa: F401 (a fixture for every test module)

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

POSITIVE = ["good", "great", "excellent", "wonderful", "lovely", "superb", "brilliant", "happy"]
NEGATIVE = ["bad", "awful", "terrible", "horrible", "boring", "poor", "sad", "dreadful"]
FILLER = ["the", "movie", "was", "really", "a", "film", "plot", "story", "quite", "very"]
NAMES = ["john", "mary", "peter", "anna", "paul", "maria", "george", "linda"]
SURNAMES = ["smith", "jones", "brown", "taylor", "wilson", "davies"]


def shared_data_or_skip(path: Path = SHARED_DATA) -> Path:
    """The benchmark data (../shared/data), or a skip where it is missing; with FTCLF_REQUIRE_DATA=1
    (set by CI) a missing folder fails the test instead, so regression checks never pass by skipping."""
    if path.is_dir():
        return path
    if os.environ.get("FTCLF_REQUIRE_DATA") == "1":
        pytest.fail(f"expected the benchmark data at {path} (FTCLF_REQUIRE_DATA=1); "
                    "put the shared data there or unset FTCLF_REQUIRE_DATA", pytrace=False)
    pytest.skip(f"needs the benchmark data at {path} (FTCLF_REQUIRE_DATA=1 makes this a failure)")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The benchmark data folder, see shared_data_or_skip."""
    return shared_data_or_skip()


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("FTCLF_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    # Fast, exact serving for the suite; tests/test_serving.py checks every backend, and the slow
    # tests check the app's own backend on the shipped heads.
    monkeypatch.setenv("FTCLF_BACKEND", os.environ.get("FTCLF_TEST_BACKEND", "torch"))


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory) -> str:
    """A 2-layer, 64-wide BERT with the embedded encoder's tokenizer, saved to disk."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from ftclf.encoders import embedded_encoder_path

    path = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=128, max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(path)
    AutoTokenizer.from_pretrained(str(embedded_encoder_path())).save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def tiny_encoder(tiny_encoder_dir):
    from ftclf.encoders import load_encoder

    return load_encoder(tiny_encoder_dir)


def sentiment_examples(n: int = 80, seed: int = 0):
    from ftclf.data import Example

    rng = random.Random(seed)
    out = []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        words = rng.sample(FILLER, 2) + rng.sample(POSITIVE if label == "pos" else NEGATIVE, 2)
        rng.shuffle(words)
        out.append(Example(" ".join(words), None, label))
    return out


def pair_examples(n: int = 80, seed: int = 0, rule: str = "same"):
    """rule "same": 'same' when both texts share their sentiment class, else 'different' (needs
    the two texts jointly); rule "second": the label is the second text's sentiment."""
    from ftclf.data import Example

    rng = random.Random(seed)
    out = []
    for i in range(n):
        a_pos, same = rng.random() < 0.5, i % 2 == 0
        b_pos = a_pos if same else not a_pos
        a = " ".join(rng.sample(POSITIVE if a_pos else NEGATIVE, 2))
        b = " ".join(rng.sample(POSITIVE if b_pos else NEGATIVE, 2))
        if rule == "same":
            out.append(Example(a, b, "same" if same else "different"))
        else:
            out.append(Example(a, b, "pos" if b_pos else "neg"))
    return out


def token_examples(n: int = 60, seed: int = 0):
    """First names are tagged B-PER, a following surname I-PER; everything else is O."""
    from ftclf.data import TokenExample

    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words, tags = [], []
        for _ in range(rng.randint(3, 7)):
            if rng.random() < 0.3:
                words.append(rng.choice(NAMES))
                tags.append("B-PER")
                if rng.random() < 0.5:
                    words.append(rng.choice(SURNAMES))
                    tags.append("I-PER")
            else:
                words.append(rng.choice(FILLER))
                tags.append("O")
        out.append(TokenExample(tuple(words), tuple(tags)))
    return out
