"""Heads on the Hub, against a fake hub (no network): what a push uploads, what a pull downloads and
refuses, the CLI and Models-tab paths, and fast, token-free failures."""

from __future__ import annotations

import json
import shutil
import time
from types import SimpleNamespace

import pytest
import torch

from ftclf import Classifier, ModelConfig, TrainingConfig, hub_heads, predict
from ftclf import format as fmt
from ftclf.cli import main
from ftclf.errors import FtclfError, ModelFormatError

from .fake_hub import TOKEN


@pytest.fixture(scope="module")
def lora_head(tiny_encoder_dir, tmp_path_factory):
    """A LoRA head on the tiny encoder (head weights, adapter, card), saved."""
    torch.manual_seed(0)
    from ftclf.encoders import load_encoder

    clf = Classifier(ModelConfig(task="sequence", labels=["neg", "pos"], encoder=tiny_encoder_dir), load_encoder(tiny_encoder_dir))
    clf.set_mode("lora", TrainingConfig(mode="lora"))
    clf.training_config = TrainingConfig(mode="lora")
    clf.metrics = {"accuracy": 0.75}
    return clf, clf.save_pretrained(tmp_path_factory.mktemp("heads") / "lora-head")


def test_push_uploads_the_head_with_a_card_for_the_hub(fake_hub, lora_head):
    _, path = lora_head
    url = hub_heads.push(path, "me/sentiment", token=TOKEN, private=True)
    assert url == "https://huggingface.co/me/sentiment" and fake_hub.created == [("me/sentiment", True)]
    assert fake_hub.tokens == [TOKEN]
    assert fake_hub.files("me/sentiment") == ["README.md", "adapter/README.md", "adapter/adapter_config.json",
                                             "adapter/adapter_model.safetensors", "config.json", "head.safetensors"]
    card = (fake_hub.root / "me/sentiment/README.md").read_text()
    assert "library_name: ftclf" in card and "pipeline_tag: text-classification" in card
    assert 'Classifier.from_pretrained("me/sentiment")' in card and "| accuracy | 0.7500 |" in card
    assert (path / "README.md").read_text() != card  # the saved head itself is unchanged


def test_pull_round_trip_predicts_the_same(fake_hub, lora_head, tiny_encoder_dir):
    _, path = lora_head
    hub_heads.push(path, "me/sentiment")
    again = Classifier.from_pretrained("me/sentiment")  # by id: downloaded, then loaded
    texts = ["a good film", "a bad plot"]
    a = [p.probabilities["pos"] for p in predict(again, texts)]
    b = [p.probabilities["pos"] for p in predict(Classifier.from_pretrained(path), texts)]
    assert a == pytest.approx(b, abs=1e-6)


def test_pull_downloads_json_and_safetensors_only(fake_hub, lora_head):
    _, path = lora_head
    hub_heads.push(path, "me/sentiment")
    repo = fake_hub.root / "me/sentiment"
    (repo / "evil.pkl").write_bytes(b"\x80\x04pickle")
    (repo / "handler.py").write_text("import os")
    (repo / "adapter" / "adapter_model.bin").write_bytes(b"\x80\x04pickle")
    local = hub_heads.pull("me/sentiment")
    assert not any(name.endswith((".pkl", ".py", ".bin")) for name in fake_hub.downloads)
    assert sorted(p.name for p in local.rglob("*") if p.is_file()) == [
        "README.md", "README.md", "adapter_config.json", "adapter_model.safetensors", "config.json", "head.safetensors"]


def test_pull_refuses_pickled_weights_and_foreign_repositories(fake_hub, lora_head):
    _, path = lora_head
    hub_heads.push(path, "me/pickled")
    repo = fake_hub.root / "me/pickled"
    (repo / "head.safetensors").unlink()
    (repo / "pytorch_model.bin").write_bytes(b"\x80\x04pickle")
    with pytest.raises(ModelFormatError, match="pickle-based weights"):
        hub_heads.pull("me/pickled")
    (fake_hub.root / "me/bert").mkdir(parents=True)
    (fake_hub.root / "me/bert/config.json").write_text(json.dumps({"model_type": "bert"}))
    (fake_hub.root / "me/bert/head.safetensors").write_bytes(b"")
    with pytest.raises(ModelFormatError, match="expected an ftclf head at me/bert"):
        hub_heads.pull("me/bert")
    (fake_hub.root / "me/empty").mkdir(parents=True)
    with pytest.raises(ModelFormatError, match="without config.json"):
        hub_heads.pull("me/empty")
    with pytest.raises(FtclfError, match="no such repository|check the id"):
        hub_heads.pull("me/missing")


@pytest.mark.parametrize("repo", ["../etc", "me/../x", "/abs/path", "me", "https://huggingface.co/me/x", "me/x/y", ""])
def test_repository_ids_are_checked(repo, fake_hub, lora_head):
    with pytest.raises(FtclfError, match="expected a hub repository id"):
        hub_heads.push(lora_head[1], repo)
    with pytest.raises(FtclfError, match="expected a hub repository id"):
        hub_heads.pull(repo)


def test_a_pickle_in_the_head_is_never_pushed(fake_hub, lora_head, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(lora_head[1], copy)
    (copy / "notes.py").write_text("print()")
    with pytest.raises(FtclfError, match="notes.py"):
        hub_heads.push(copy, "me/x")
    assert fake_hub.created == []


def test_hub_errors_never_show_the_token(fake_hub, lora_head):
    error = RuntimeError(f"401 Client Error: Unauthorized (token {TOKEN})")
    error.response = SimpleNamespace(status_code=401)
    fake_hub.fail_with = error
    with pytest.raises(FtclfError) as caught:
        hub_heads.push(lora_head[1], "me/x", token=TOKEN)
    assert TOKEN not in str(caught.value) and "HF_TOKEN" in str(caught.value)


def test_offline_fails_fast_with_a_message(lora_head, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    with pytest.raises(FtclfError, match="switched off"):
        hub_heads.push(lora_head[1], "me/x")
    with pytest.raises(FtclfError, match="switched off"):
        Classifier.from_pretrained("me/not-cached")
    assert time.perf_counter() - t0 < 5


def test_cli_push_and_predict_by_repository_id(fake_hub, lora_head, capsys):
    assert main(["push", "--model", str(lora_head[1]), "--repo", "me/cli-head", "--private"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {"repo": "me/cli-head", "url": "https://huggingface.co/me/cli-head", "private": True}
    assert main(["predict", "--model", "me/cli-head", "--text", "a good film"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["label"] in ("neg", "pos")
    assert main(["predict", "--model", "me/absent", "--text", "x"]) == 2
    assert "me/absent" in capsys.readouterr().err


def test_models_tab_push_and_load(fake_hub, lora_head, tmp_path, monkeypatch):
    gr = pytest.importorskip("gradio")
    from ftclf.service import HeadStore
    from ftclf.ui import context, models_tab

    context.set_store(HeadStore(user_dir=tmp_path / "user"))
    try:
        context.store().add(lora_head[1], "mine")
        monkeypatch.delenv("HF_TOKEN", raising=False)
        with pytest.raises(gr.Error, match="token"):
            models_tab.push_head("mine", "me/tab-head", True, "")
        assert "Pushed" in models_tab.push_head("mine", "me/tab-head", True, TOKEN)
        assert fake_hub.tokens[-1] == TOKEN
        message = models_tab.load_from_hub("me/tab-head", "", "")
        assert message.startswith("Loaded") and "tab-head" in context.store().names()
        with pytest.raises(gr.Error, match="already exists"):
            models_tab.load_from_hub("me/tab-head", "", "")
    finally:
        context.set_store(None)
    assert fmt.is_saved_classifier(tmp_path / "user" / "tab-head")
