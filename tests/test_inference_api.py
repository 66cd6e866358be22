"""The HTTP API in the Inference API's shapes: Hugging Face's own InferenceClient against a running server
(text and token classification, health, errors), and pairs, batches, parameters, limits and tokens over raw
HTTP (the client's methods take one string)."""

import socket
import threading
import time

import pytest
from fastapi.testclient import TestClient

from ftclf.service import HeadStore, shipped_heads_dir
from ftclf.service.inference_api import MAX_INPUTS, ApiConfig, RateLimiter, create_api


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    import os

    os.environ.setdefault("FTCLF_BACKEND", "torch")
    from ftclf.serving import Engine

    return HeadStore(shipped_heads_dir(), tmp_path_factory.mktemp("user"), engine=Engine("torch"))


@pytest.fixture(scope="module")
def api(store):
    return TestClient(create_api(store, ApiConfig(rate=0)))


def test_text_classification_answers_every_label_highest_first(api):
    r = api.post("/v1/models/sentiment-sst2", json={"inputs": "a wonderful , moving film"})
    assert r.status_code == 200
    (ranked,) = r.json()  # one list per input, as the Inference API answers
    assert [x["label"] for x in ranked] == ["positive", "negative"] and sum(x["score"] for x in ranked) == pytest.approx(1)
    top = api.post("/v1/models/sentiment-sst2", json={"inputs": "a dull mess", "parameters": {"top_k": 1}}).json()
    assert [x["label"] for x in top[0]] == ["negative"]
    raw = api.post("/v1/models/sentiment-sst2", json={"inputs": "a dull mess",
                                                      "parameters": {"function_to_apply": "none"}}).json()[0]
    assert abs(sum(x["score"] for x in raw) - 1) > 1e-3  # raw scores, not probabilities


def test_a_head_still_loading_is_answered_too(store):
    """A request for a head the engine has not loaded waits for it off the event loop, then the same head is
    answered on the loop: both give the same scores."""
    fresh = TestClient(create_api(store, ApiConfig(rate=0)))
    path = store.info("paraphrase-mrpc").path
    store.engine.forget(path)
    assert not store.engine.ready(path)
    pair = {"inputs": {"text": "A man plays.", "text_pair": "A man is playing."}}
    cold = fresh.post("/v1/models/paraphrase-mrpc", json=pair).json()
    assert store.engine.ready(path)
    assert fresh.post("/v1/models/paraphrase-mrpc", json=pair).json() == cold


def test_pairs_batches_and_multi_label_sets(api):
    pair = {"text": "A man is playing a guitar.", "text_pair": "Nobody is playing a guitar."}
    r = api.post("/v1/models/nli-sick", json={"inputs": [pair, pair]})
    assert r.status_code == 200 and [a[0]["label"] for a in r.json()] == ["contradiction", "contradiction"]
    batch = api.post("/v1/models/sentiment-sst2", json={"inputs": ["great", "awful"]}).json()
    assert len(batch) == 2 and batch[0][0]["label"] == "positive" and batch[1][0]["label"] == "negative"
    found = api.post("/v1/models/mentions-conll2003", json={"inputs": "Angela Merkel visited Paris."}).json()[0]
    assert {x["label"] for x in found} == {"LOC", "PER"}  # the labels above their thresholds only
    every = api.post("/v1/models/mentions-conll2003", json={"inputs": "Angela Merkel visited Paris.",
                                                            "parameters": {"top_k": 4}}).json()[0]
    assert len(every) == 4  # top_k: the top labels, thresholds aside


def test_token_classification_answers_entity_groups(api):
    r = api.post("/v1/models/ner-conll2003", json={"inputs": "Angela Merkel visited Paris."})
    assert [(e["entity_group"], e["word"], e["start"], e["end"]) for e in r.json()] == [
        ("PER", "Angela Merkel", 0, 13), ("LOC", "Paris", 22, 27)]


def test_listing_health_and_errors(api, store):
    heads = {h["id"]: h for h in api.get("/v1/models").json()}
    assert heads["ner-conll2003"]["task"] == "token-classification" and heads["nli-sick"]["labels"]
    assert api.get("/v1/models/sentiment-sst2/health").status_code == 200  # loaded by the tests above
    assert api.get("/v1/models/nope/health").status_code == 404
    cases = [({"inputs": ""}, 400), ({"input": "x"}, 400), ({"inputs": [1]}, 400),
             ({"inputs": "x", "parameters": {"top_k": 0}}, 400),
             ({"inputs": "x", "parameters": {"function_to_apply": "relu"}}, 400),
             ({"inputs": ["x"] * (MAX_INPUTS + 1)}, 413), ({"inputs": "x" * 2_000_000}, 413)]
    for body, status in cases:
        r = api.post("/v1/models/sentiment-sst2", json=body)
        assert r.status_code == status and "expected" in r.json()["error"], (body, r.status_code, r.text[:200])
    assert api.post("/v1/models/nope", json={"inputs": "x"}).status_code == 404
    assert api.post("/v1/models/nli-sick", json={"inputs": "one text"}).status_code == 400  # a pair head needs pairs
    assert api.post("/v1/models/sentiment-sst2", content=b"{not json").status_code == 400


def test_a_token_protects_every_route_and_the_rate_limit_answers_429(store):
    guarded = TestClient(create_api(store, ApiConfig(token="s3cret", rate=0)))
    assert guarded.get("/v1/models").status_code == 401
    assert guarded.get("/v1/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert guarded.get("/v1/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert guarded.get("/v1/models", headers={"X-API-Key": "s3cret"}).status_code == 200
    assert "X-API-Key" in str(guarded.get("/openapi.json").json()["components"]["securitySchemes"])
    limited = TestClient(create_api(store, ApiConfig(rate=60)))  # a burst of 6, then one per second
    codes = [limited.get("/v1/models").status_code for _ in range(8)]
    assert codes[:6] == [200] * 6 and codes[-1] == 429


def test_rate_limiter_refills_per_key():
    limiter = RateLimiter(600)  # 10 per second, bursts of 60
    assert all(limiter.allow("a") for _ in range(60)) and not limiter.allow("a") and limiter.allow("b")
    time.sleep(0.25)
    assert limiter.allow("a")


def test_the_hub_client_works_unchanged(store):
    import uvicorn
    from huggingface_hub import InferenceClient

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_api(store, ApiConfig(rate=0)), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}/v1/models"
        out = InferenceClient(model=f"{url}/sentiment-sst2").text_classification("a wonderful , moving film")
        assert out[0].label == "positive" and 0.5 < out[0].score <= 1
        assert InferenceClient(model=f"{url}/sentiment-sst2", provider="hf-inference").health_check()
        spans = InferenceClient(model=f"{url}/ner-conll2003").token_classification("Angela Merkel visited Paris.")
        assert [(e.entity_group, e.word) for e in spans] == [("PER", "Angela Merkel"), ("LOC", "Paris")]
        with pytest.raises(Exception, match="404"):
            InferenceClient(model=f"{url}/nope").text_classification("x")
    finally:
        server.should_exit = True
        thread.join(timeout=10)


POOL = ["a wonderful , moving film", "an awful mess", "it was fine , i guess", "neither good nor bad",
        "great", "terrible acting", "the plot is there", "some scenes work , others do not", "a masterpiece",
        "boring"]


def test_suggest_route_answers_what_ftclf_suggest_answers(api, store):
    from ftclf import suggest
    from ftclf.serving import load

    r = api.post("/v1/models/sentiment-sst2/suggest", json={"inputs": POOL, "parameters": {"k": 3}})
    assert r.status_code == 200, r.text
    expected = suggest(load(store.info("sentiment-sst2").path, "torch"), POOL, k=3)
    assert r.json() == [s.to_dict() for s in expected]
    assert set(r.json()[0]) == {"index", "text", "label", "score", "uncertainty"}
    assert api.post("/v1/models/sentiment-sst2/suggest", json={"inputs": POOL, "parameters": {"k": 0}}).status_code == 400
    bad = api.post("/v1/models/sentiment-sst2/suggest", json={"inputs": POOL, "parameters": {"strategy": "luck"}})
    assert bad.status_code == 400 and "margin" in bad.json()["error"]
    token = api.post("/v1/models/ner-conll2003/suggest", json={"inputs": POOL})
    assert token.status_code == 400 and "expected a text or pair head" in token.json()["error"]
    assert api.post("/v1/models/nope/suggest", json={"inputs": POOL}).status_code == 404


def test_audit_route_finds_flipped_labels_without_a_model(api):
    good = ["wonderful", "delightful", "superb", "moving", "brilliant", "charming"]
    bad = ["awful", "dreadful", "boring", "clumsy", "tedious", "lifeless"]
    rows = [{"text": f"the {thing} was {word} .", "label": label}
            for thing in ("film", "plot", "cast") for words, label in ((good, "positive"), (bad, "negative")) for word in words]
    flipped = {0, 7, 20}
    for i in flipped:
        rows[i]["label"] = "negative" if rows[i]["label"] == "positive" else "positive"
    r = api.post("/v1/audit", json={"task": "sequence", "inputs": rows})
    assert r.status_code == 200, r.text
    found = r.json()
    assert {line["index"] for line in found[:5]} >= flipped
    assert all(line["given"] != line["suggested"] for line in found)
    missing = api.post("/v1/audit", json={"task": "sequence", "inputs": [{"text": "a"}]})
    assert missing.status_code == 400 and "label" in missing.json()["error"]
    assert api.post("/v1/audit", json={"task": "multilabel", "inputs": rows}).status_code == 400
    assert api.post("/v1/audit", json={"task": "sequence", "inputs": rows, "parameters": {"folds": 1}}).status_code == 400


def test_the_operator_picks_the_encoder_audits_use(api, monkeypatch, tmp_path):
    """``FTCLF_AUDIT_ENCODER`` (the operator's setting, not a request's) is the encoder of the server's audits:
    the dashboard's and ``POST /v1/audit``; unset, the embedded default."""
    from ftclf.encoders import is_default_encoder
    from ftclf.label_issues import AUDIT_ENCODER_ENV, served_audit_model

    monkeypatch.delenv(AUDIT_ENCODER_ENV, raising=False)
    assert is_default_encoder(served_audit_model("pair").encoder) and served_audit_model("pair").task == "pair"
    missing = tmp_path / "no-such-encoder"
    monkeypatch.setenv(AUDIT_ENCODER_ENV, str(missing))
    assert served_audit_model("sequence").encoder == str(missing)
    rows = [{"text": f"the film was {word} .", "label": label} for word, label in
            (("good", "positive"), ("great", "positive"), ("bad", "negative"), ("awful", "negative"))] * 3
    r = api.post("/v1/audit", json={"task": "sequence", "inputs": rows, "parameters": {"folds": 2}})
    assert r.status_code >= 400 and "no-such-encoder" in r.text, r.text  # the operator's encoder was the one loaded
