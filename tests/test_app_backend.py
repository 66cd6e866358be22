"""The backend the app serves with (``ftclf.serving.DEFAULT_BACKEND``): every shipped head keeps its
recorded fp32 validation figure within 0.5 points on its whole validation split (a 200-example slice
moves 0.5 points per example, too coarse for this bound), and ``python app.py`` answers every task
tab through it. Slow: the first use of a backend exports each head's encoder."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from ftclf.service import shipped_heads_dir
from ftclf.serving import DEFAULT_BACKEND, EncoderPool

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
HEADS = ["sentiment-sst2", "paraphrase-mrpc", "nli-sick", "ner-conll2003"]
#: every shipped head (the multi-label head's recorded figure is the cross-fitted one, so the test of the
#: recorded figure above leaves it out; its probabilities and label sets are held to fp32's below)
ALL_HEADS = [*HEADS, "mentions-conll2003"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("app-backend-cache")


@pytest.mark.parametrize("name", HEADS)
def test_app_backend_keeps_every_shipped_head_within_half_a_point(name, cache, monkeypatch, shared_data):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import heads_recipe

    from ftclf.evaluation import evaluate

    monkeypatch.setenv("FTCLF_CACHE", str(cache))
    clf = EncoderPool(DEFAULT_BACKEND).load(shipped_heads_dir() / name)
    meta = json.loads((shipped_heads_dir() / name / "config.json").read_text())["metrics"]
    val = heads_recipe.recipe(name).validation(shared_data)
    key = meta["main_metric"]
    value = evaluate(clf, val)[key]
    assert abs(value - meta[key]) <= 0.005, (DEFAULT_BACKEND, value, meta[key])


def test_the_app_serves_every_task_on_its_backend(cache, tmp_path):
    from gradio_client import Client

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port), "HF_HUB_OFFLINE": "1",
           "FTCLF_CACHE": str(cache), "FTCLF_USER_HEADS": str(tmp_path / "user")}
    env.pop("FTCLF_BACKEND", None)
    log = open(tmp_path / "app.log", "w")  # noqa: SIM115 (the app's log)
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.time() + 180
        while True:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                assert proc.poll() is None and time.time() < deadline, (tmp_path / "app.log").read_text()[-2000:]
                time.sleep(0.5)
        client = Client(url, verbose=False)
        label, _, summary = client.predict("sentiment-sst2", "a wonderful , moving film", api_name="/sentiment")
        assert label["label"] == "positive" and "latency" in summary
        label, _, _ = client.predict("nli-sick", "A man is playing a guitar.", "Nobody is playing a guitar.", api_name="/pair")
        assert label["label"] == "contradiction"
        spans, *_ = client.predict("ner-conll2003", "Angela Merkel visited Paris.", 0.5, api_name="/ner")
        assert [s["class_or_confidence"].split()[0] for s in spans["value"] if s["class_or_confidence"]] == ["PER", "LOC"]
        from huggingface_hub import InferenceClient  # the HTTP API, mounted beside the dashboard on the same port

        (top,) = InferenceClient(model=f"{url}v1/models/sentiment-sst2").text_classification("a wonderful film", top_k=1)
        assert top.label == "positive"
        label, _, summary = client.predict("mentions-conll2003", "Angela Merkel visited Paris.", api_name="/sentiment")
        assert "ftclf-chip" in summary and ">LOC" in summary and ">PER" in summary  # a label set, as chips
    finally:
        proc.terminate()
        proc.wait(timeout=30)


#: how far each backend's calibrated probabilities may be from fp32's on the CI slice, at most: onnx runs the
#: same arithmetic; the int8 backends round only the weights (weight-only int8), which moves no probability of
#: the slices by more than 0.026 (docs/results.md, "Every backend, calibrated")
AGREEMENT = {"onnx": 1e-3, "int8": 0.03, "onnx-int8": 0.03}


@pytest.mark.parametrize("name", ALL_HEADS)
def test_every_backend_agrees_with_fp32_on_calibrated_probabilities(name, cache, monkeypatch, shared_data):
    """Calibration is applied to the scores any backend returns: on the fixed slice each shipped head's CI
    check reads, every backend's calibrated probabilities stay within AGREEMENT of fp32's."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import heads_recipe
    import torch

    from ftclf.evaluation import decode_examples

    monkeypatch.setenv("FTCLF_CACHE", str(cache))
    directory = shipped_heads_dir() / name
    meta = json.loads((directory / "config.json").read_text())
    assert meta["calibration"]["temperature"] > 0  # shipped calibrated
    val = heads_recipe.recipe(name).validation(shared_data)
    examples = val[: meta["metrics"]["slice_examples"]]

    def probabilities(backend):
        clf = EncoderPool(backend).load(directory)
        assert clf.calibration is not None
        return torch.cat([d.probs.reshape(-1) for d in decode_examples(clf, examples)[1]])

    exact = probabilities("torch")
    for backend, bound in AGREEMENT.items():
        if backend == "onnx" and name != HEADS[0]:
            continue  # the same arithmetic as fp32: one real head shows it (and tests/test_serving.py, tiny heads)
        gap = float((probabilities(backend) - exact).abs().max())
        assert gap <= bound, (backend, gap)
