"""Strangers on a public Space: read-only mode, who may delete a head, whose token pushes and pulls,
quotas; and the head store facing damaged or junk folders (each case failed before its fix)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.request

import pytest

from ftclf import Classifier, ModelConfig
from ftclf.errors import FtclfError
from ftclf.service import AccessDenied, DataSource, HeadStore, TrainingJobs, TrainRequest, owner_key, policy
from ftclf.service.access import visitor_secret

from .fake_hub import TOKEN

ME, STRANGER = "0123456789abcdef" * 2, "fedcba9876543210" * 2


@pytest.fixture(scope="module")
def clf(tiny_encoder):
    return Classifier(ModelConfig(task="sequence", labels=["neg", "pos"], encoder="tiny"), tiny_encoder)


@pytest.fixture
def store(tmp_path):
    return HeadStore(tmp_path / "shipped", tmp_path / "user")


# ------------------------------------------------------------------------------ ownership
def test_only_the_saving_browser_or_the_operator_deletes_a_head(store, clf, monkeypatch):
    store.add(clf, "mine", owner=ME)
    store.add(clf, "theirs", owner=STRANGER)
    store.add(clf, "cli-saved")  # saved without a browser: nobody's
    assert store.owned_names(ME) == ["mine"] and store.owned_names(STRANGER) == ["theirs"]
    assert store.owned_names(None) == [] and store.owned_names("short") == []
    for name, visitor in (("theirs", ME), ("mine", STRANGER), ("cli-saved", ME), ("mine", None), ("mine", "")):
        with pytest.raises(AccessDenied, match="saved elsewhere; only the browser that saved it"):
            store.delete(name, visitor=visitor)
    monkeypatch.delenv("FTCLF_ADMIN_TOKEN", raising=False)
    with pytest.raises(AccessDenied):  # no operator token set: no token is the operator's
        store.delete("theirs", visitor=ME, admin_token="")
    monkeypatch.setenv("FTCLF_ADMIN_TOKEN", "op-secret")
    with pytest.raises(AccessDenied):
        store.delete("theirs", visitor=ME, admin_token="op-secre")
    store.delete("theirs", visitor=ME, admin_token="op-secret")
    store.delete("cli-saved", admin_token="op-secret")
    store.delete("mine", visitor=ME)
    assert store.names() == [] and not list((store.user_dir / ".owners").iterdir())  # no owner records left over


def test_the_store_keeps_a_hash_of_the_visitor_not_the_id(store, clf):
    store.add(clf, "mine", owner=ME)
    stored = (store.user_dir / ".owners" / "mine").read_text()
    assert stored == owner_key(ME) and ME not in stored


def test_the_visitor_secret_survives_a_restart(tmp_path, monkeypatch):
    monkeypatch.delenv("FTCLF_SECRET", raising=False)
    first = visitor_secret(tmp_path)
    assert visitor_secret(tmp_path) == first and len(first) == 32
    assert oct((tmp_path / ".visitor-secret").stat().st_mode & 0o777) == "0o600"
    monkeypatch.setenv("FTCLF_SECRET", "from-the-operator")
    assert visitor_secret(tmp_path) == "from-the-operator"


# ------------------------------------------------------------------------------ read-only mode
def test_read_only_mode_refuses_every_change_and_keeps_predictions(store, clf, monkeypatch, tiny_encoder_dir):
    store.add(clf, "mine", owner=ME)
    monkeypatch.setenv("FTCLF_READONLY", "1")
    with pytest.raises(AccessDenied, match=r"read-only \(FTCLF_READONLY=1\): saving heads is turned off"):
        store.add(clf, "another", owner=ME)
    with pytest.raises(AccessDenied, match="deleting heads is turned off"):
        store.delete("mine", visitor=ME)
    request = TrainRequest(DataSource("sequence", "sample", "sentiment (120 reviews)"),
                           ModelConfig(task="sequence", encoder=tiny_encoder_dir), None)
    with pytest.raises(AccessDenied, match="training is turned off"):
        TrainingJobs().start("s", request)
    assert store.names() == ["mine"]


def test_the_read_only_dashboard_has_no_train_tab_and_its_handlers_refuse(monkeypatch):
    gr = pytest.importorskip("gradio")
    from ftclf.ui import build_demo, models_tab

    monkeypatch.setenv("FTCLF_READONLY", "1")
    demo = build_demo()
    tabs = {getattr(b, "id", None) for b in demo.blocks.values() if isinstance(b, gr.Tab)}
    assert "train" not in tabs and {"sentiment", "models", "explain"} <= tabs
    assert "save_trained" not in {fn.name for fn in demo.fns.values()}
    for call in (lambda: models_tab.push_head("sentiment-sst2", "me/x", True, TOKEN),
                 lambda: models_tab.load_from_hub("me/x", "", TOKEN, ME),
                 lambda: models_tab.delete_head("x", ME, "")):
        with pytest.raises(gr.Error, match="read-only"):
            call()


# ------------------------------------------------------------------------------ tokens and the Hub
@pytest.fixture
def ui_store(store):
    from ftclf.ui import context

    context.set_store(store)
    yield store
    context.set_store(None)


def test_a_visitor_never_pushes_or_pulls_with_the_servers_token(ui_store, clf, fake_hub, monkeypatch):
    gr = pytest.importorskip("gradio")
    from ftclf.ui import models_tab

    ui_store.add(clf, "mine", owner=ME)
    monkeypatch.setenv("HF_TOKEN", "hf_the_owners_token")
    monkeypatch.delenv("FTCLF_HUB_PUSH_WITH_SERVER_TOKEN", raising=False)
    with pytest.raises(gr.Error, match="expected your own Hugging Face token"):
        models_tab.push_head("mine", "me/head", True, "")
    assert fake_hub.tokens == []  # refused before any hub call
    assert "Pushed" in models_tab.push_head("mine", "me/head", True, TOKEN)
    assert fake_hub.tokens == [TOKEN]
    assert models_tab.load_from_hub("me/head", "pulled", "", ME).startswith("Loaded")
    assert fake_hub.tokens[-1] is False  # an empty box pulls with no token at all (not the server's)
    assert ui_store.owned_names(ME) == ["mine", "pulled"]
    monkeypatch.setenv("FTCLF_HUB_PUSH_WITH_SERVER_TOKEN", "1")  # the operator's opt-in (a private Space)
    assert "Pushed" in models_tab.push_head("mine", "me/head2", True, "")
    assert fake_hub.tokens[-1] is None  # None: the client takes the server's HF_TOKEN


def test_a_pull_larger_than_the_quota_is_refused_before_downloading(ui_store, clf, fake_hub, monkeypatch, tmp_path):
    gr = pytest.importorskip("gradio")
    from ftclf import hub_heads
    from ftclf.ui import models_tab

    path = clf.save_pretrained(tmp_path / "big")
    hub_heads.push(path, "me/big", token=TOKEN)
    (fake_hub.root / "me/big" / "padding.safetensors").write_bytes(b"\0" * (2 * 2**20))
    monkeypatch.setenv("FTCLF_MAX_PULL_MB", "1")
    with pytest.raises(gr.Error, match=r"expected a head of at most 1 MB to download, found 2 MB at me/big"):
        models_tab.load_from_hub("me/big", "", TOKEN, ME)
    assert fake_hub.downloads == [] and ui_store.names() == []


def test_offline_hub_messages_read_as_sentences(lora_head_dir, monkeypatch):
    from ftclf import hub_heads

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub_heads.hub, "cached_snapshot", lambda repo_id: None)
    with pytest.raises(FtclfError) as pulled:
        hub_heads.pull("me/absent")
    assert str(pulled.value) == ("expected to download the head me/absent, but the Hugging Face Hub is switched off on "
                                 "this machine (HF_HUB_OFFLINE=1) and it is not in the local cache; try again when online")
    with pytest.raises(FtclfError) as pushed:
        hub_heads.push(lora_head_dir, "me/repo", token=TOKEN)
    assert str(pushed.value) == ("expected to push to me/repo, but the Hugging Face Hub is switched off on this machine "
                                 "(HF_HUB_OFFLINE=1); try again when online")


@pytest.fixture(scope="module")
def lora_head_dir(clf, tmp_path_factory):
    return clf.save_pretrained(tmp_path_factory.mktemp("heads") / "plain-head")


# ------------------------------------------------------------------------------ quotas
def test_quotas_on_count_and_bytes(store, clf, monkeypatch):
    monkeypatch.setenv("FTCLF_MAX_USER_HEADS", "1")
    store.add(clf, "one", owner=ME)
    with pytest.raises(AccessDenied, match="keeps at most 1 and has 1; delete one you saved"):
        store.add(clf, "two", owner=ME)
    monkeypatch.setenv("FTCLF_MAX_USER_HEADS", "10")
    monkeypatch.setenv("FTCLF_MAX_USER_HEADS_MB", "0")
    with pytest.raises(AccessDenied, match="the user heads take 0 of this server's 0 MB"):
        store.add(store.info("one").path, "copy", owner=ME)
    assert store.names() == ["one"]  # nothing half-saved
    monkeypatch.setenv("FTCLF_MAX_USER_HEADS", "lots")
    with pytest.raises(FtclfError, match="expected FTCLF_MAX_USER_HEADS to be a whole number"):
        policy()


# ------------------------------------------------------------------------------ junk in the heads folder
def test_a_padded_weights_file_is_listed_as_damaged_not_usable(store, clf):
    path = store.add(clf, "sparse", owner=ME).path
    with open(path / "head.safetensors", "r+b") as handle:
        handle.truncate(2 * 2**30)  # a 2 GB sparse file: the header says less
    store._infos.clear()
    assert store.names() == []
    [damaged] = store.damaged()
    assert "expected readable safetensors in head.safetensors" in damaged.reason and "bytes of tensor data" in damaged.reason
    (path / "head.safetensors").write_bytes(b"\0" * 64)  # zeros: no header at all
    assert "no valid header" in store.damaged()[0].reason


def test_a_folder_without_config_json_names_the_missing_file(store, clf):
    path = store.add(clf, "lost", owner=ME).path
    (path / "config.json").unlink()
    [damaged] = store.damaged()
    assert "no config.json" in damaged.reason and "FileNotFoundError" not in damaged.reason


def test_ten_thousand_empty_folders_cost_little_and_list_once(store, clf, caplog):
    from ftclf.ui import context, models_tab

    store.add(clf, "real", owner=ME)
    for i in range(10_000):
        (store.user_dir / f"junk-{i:05d}").mkdir()
    with caplog.at_level(logging.WARNING):
        t0 = time.perf_counter()
        assert store.names() == ["real"]
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(3):
            store.names()
        again = (time.perf_counter() - t0) / 3
    assert len(caplog.records) <= 21  # the first 20 by name, then one line for the rest
    assert again < first and again < 2.0, (first, again)
    context.set_store(store)
    try:
        rows = models_tab.heads_table()
    finally:
        context.set_store(None)
    assert len(rows) == 1 + models_tab.MAX_DAMAGED_ROWS + 1 and rows[-1][0] == "… 9,980 more"


# ------------------------------------------------------------------------------ pickers
def test_a_head_saved_after_start_up_is_served_over_the_rest_api(ui_store, clf):
    pytest.importorskip("gradio")
    from ftclf.ui import QUEUE_ENV, build_demo

    demo = build_demo()
    # the queue's monitoring summary is rebuilt every few hundred events, not after each (18 % of the busy time)
    assert int(QUEUE_ENV["GRADIO_ANALYTICS_CACHE_FREQUENCY"]) == demo._queue.ANAYLTICS_CACHE_FREQUENCY
    assert int(QUEUE_ENV["GRADIO_ANALYTICS_MAX_EVENTS"]) == demo._queue.ANALYTICS_MAX_EVENTS
    ui_store.add(clf, "late-head", owner=ME)  # saved after the page (and its choice lists) was built
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=None, quiet=True)
    try:
        body = json.dumps({"data": ["late-head", "a good film"]}).encode()
        call = urllib.request.Request(f"{url}gradio_api/call/sentiment", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(call, timeout=30) as response:
            event = json.loads(response.read())["event_id"]
        with urllib.request.urlopen(f"{url}gradio_api/call/sentiment/{event}", timeout=60) as response:
            stream = response.read().decode()
    finally:
        demo.close()
    assert "event: complete" in stream and "not in the list of choices" not in stream, stream[:500]
    assert '"neg"' in stream or '"pos"' in stream


def test_an_unknown_head_name_over_the_api_is_a_clear_error():
    gr = pytest.importorskip("gradio")
    from ftclf.ui import predict_tabs

    with pytest.raises(gr.Error, match="expected the name of an available head, got .*nope"):
        asyncio.run(predict_tabs.predict_sequence("nope", "text"))
