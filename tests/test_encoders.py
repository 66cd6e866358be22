import pytest
import torch

from ftclf.encoders import DEFAULT_ENCODER, load_encoder, pool
from ftclf.errors import EncoderNotFoundError


def test_pooling_by_hand():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])  # third position is padding
    mask = torch.tensor([[1, 1, 0]])
    assert pool(hidden, mask, "cls").tolist() == [[1.0, 2.0]]
    assert pool(hidden, mask, "mean").tolist() == [[2.0, 3.0]]
    assert pool(torch.tensor([[[1.0, 5.0], [3.0, -4.0], [100.0, 100.0]]]), mask, "max").tolist() == [[3.0, 5.0]]


def test_uncached_hub_id_offline_names_the_default(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EncoderNotFoundError, match=f"use the embedded default {DEFAULT_ENCODER!r}"):
        load_encoder("someone/not-a-cached-model")


def test_file_instead_of_directory(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_text("x")
    with pytest.raises(EncoderNotFoundError, match="got the file"):
        load_encoder(str(path))


def test_fingerprint_is_stable_and_weight_sensitive(tiny_encoder_dir):
    a, b = load_encoder(tiny_encoder_dir), load_encoder(tiny_encoder_dir)
    assert a.fingerprint == b.fingerprint
    with torch.no_grad():
        next(b.model.parameters()).add_(1e-3)
    from ftclf.encoders import fingerprint

    assert fingerprint(b.model) != a.fingerprint


def test_real_embedded_encoder_loads_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    enc = load_encoder(None)
    assert enc.name == DEFAULT_ENCODER and enc.hidden_size == 384 and enc.tokenizer.is_fast
    batch = enc.tokenizer(["a great film", "an awful film"], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = enc.model(**batch).last_hidden_state
    vectors = pool(hidden, batch["attention_mask"], "mean")
    assert vectors.shape == (2, 384)
    assert torch.nn.functional.cosine_similarity(vectors[0], vectors[1], dim=0) < 0.99


def test_unreachable_hub_fails_at_once_without_retries(monkeypatch):
    import time

    import ftclf.hub as hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setattr(hub, "reachable", lambda timeout=3.0: False)
    t0 = time.perf_counter()
    with pytest.raises(EncoderNotFoundError, match="cannot be reached"):
        load_encoder("someone/not-a-cached-model")
    assert time.perf_counter() - t0 < 10


def test_cached_hub_model_loads_from_its_snapshot(monkeypatch, tiny_encoder_dir):
    import ftclf.hub as hub

    monkeypatch.setattr(hub, "cached_snapshot", lambda repo_id: tiny_encoder_dir)
    monkeypatch.setattr(hub, "reachable", lambda timeout=3.0: pytest.fail("no network check for cached models"))
    encoder = load_encoder("someone/cached-tiny-bert")
    assert encoder.name == "someone/cached-tiny-bert" and encoder.hidden_size == 64
