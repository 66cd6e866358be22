"""Serving: the encoder pool shares what heads have in common, every backend answers like fp32
(exactly, or within quantization noise), the micro-batcher routes answers back to their callers,
and the engine keeps a bounded set of heads."""

import threading
import time
from pathlib import Path

import pytest
import torch

from ftclf import Classifier, ModelConfig, TrainingConfig, attribute, fit, predict
from ftclf.errors import ConfigError
from ftclf.inference import predict_heads
from ftclf.serving import EncoderPool, Engine
from ftclf.serving.backends import (
    INT8_BLOCK,
    Int8Linear,
    ScaledInput,
    SharedWeights,
    export_onnx,
    quantizable,
    quantize_int8,
    share_parameters,
    smooth_for_int8,
)
from ftclf.serving.batcher import MicroBatcher

from .conftest import sentiment_examples

TEXTS = ["good great film", "awful boring plot", "the movie was really quite good", "bad"]


@pytest.fixture(scope="module")
def saved_heads(tiny_encoder_dir, tmp_path_factory):
    """A frozen and a LoRA sentiment head on the tiny encoder, saved."""
    out = tmp_path_factory.mktemp("served")
    paths = {}
    for mode, fast in (("frozen", dict(epochs=20, learning_rate=3e-2)), ("lora", dict(epochs=4, learning_rate=5e-3))):
        clf, _ = fit(ModelConfig(task="sequence", encoder=tiny_encoder_dir, max_length=32),
                     TrainingConfig(mode=mode, batch_size=16, patience=0, seed=1, **fast), sentiment_examples(60))
        paths[mode] = clf.save_pretrained(out / mode)
    return paths


def reference(path):
    return predict(Classifier.from_pretrained(path), TEXTS)


def test_lora_heads_merge_and_share_the_unchanged_weights_with_their_base(saved_heads):
    pool = EncoderPool("torch")
    frozen, lora = pool.load(saved_heads["frozen"]), pool.load(saved_heads["lora"])
    base = pool.base(frozen.encoder_ref.name).model
    assert frozen.encoder is base  # frozen heads serve from the base itself
    assert not hasattr(lora.encoder, "peft_config")  # the adapter is folded into the weights
    mine, theirs = dict(lora.encoder.named_parameters()), dict(base.named_parameters())
    shared = [k for k in mine if mine[k] is theirs[k]]
    assert "embeddings.word_embeddings.weight" in shared and "encoder.layer.0.attention.self.query.bias" in shared
    assert mine["encoder.layer.0.attention.self.query.weight"] is not theirs["encoder.layer.0.attention.self.query.weight"]
    for path, served in ((saved_heads["frozen"], frozen), (saved_heads["lora"], lora)):
        for a, b in zip(predict(served, TEXTS), reference(path)):
            assert a.label == b.label and list(a.probabilities.values()) == pytest.approx(list(b.probabilities.values()), abs=1e-5)


def test_share_parameters_only_shares_equal_tensors():
    a, b = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    with torch.no_grad():
        b.bias.copy_(a.bias)
    assert share_parameters(b, a) == 1 and b.bias is a.bias and b.weight is not a.weight


def test_the_dynamic_recipe_keeps_down_projections_fp32():
    assert quantizable(384, 384) and quantizable(384, 1536) and not quantizable(1536, 384)


def test_int8_linear_rounds_only_the_weights_per_block_and_keeps_the_bias_shared():
    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 48)
    with torch.no_grad():
        linear.weight[3, 5] = 4.0  # an outlier weight costs only its own block's precision
    q = Int8Linear(linear)
    assert q.qweight.dtype == torch.int8 and q.scale.shape == (48, 64 // INT8_BLOCK, 1)
    step = q.scale.expand(-1, -1, INT8_BLOCK).reshape(48, 64)
    assert torch.all((q.weight() - linear.weight).abs() <= step / 2 + 1e-7)
    assert float(step[3, 0]) > 10 * float(step[3, -1])  # the outlier's block only
    x = torch.randn(5, 7, 64)
    torch.testing.assert_close(q(x), torch.nn.functional.linear(x, q.weight(), linear.bias))
    assert q.bias is linear.bias
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 8))
    reference = model(x)
    quantize_int8(model)
    assert [type(m).__name__ for m in model] == ["Int8Linear", "ReLU", "Int8Linear"]
    assert (model(x) - reference).abs().max() < 0.01 * reference.abs().max()


def fake_int8(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """What ONNX Runtime's dynamic int8 MatMul computes, exactly: u8 activations per tensor, u8
    weights per output channel (both asymmetric), products summed without rounding."""
    def u8(t, dim=None):
        lo = t.amin(dim, keepdim=True).clamp(max=0) if dim is not None else t.min().clamp(max=0)
        hi = t.amax(dim, keepdim=True).clamp(min=0) if dim is not None else t.max().clamp(min=0)
        scale = (hi - lo) / 255
        zero = torch.round(-lo / scale)
        return (torch.clamp(torch.round(t / scale) + zero, 0, 255) - zero) * scale
    return u8(x) @ u8(weight, 1).T


class _OneLinear(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.up = torch.nn.Linear(64, 256, bias=False)

    def forward(self, x):
        return self.up(x)


def test_smoothing_moves_activation_outliers_into_the_weights():
    torch.manual_seed(0)
    model = _OneLinear()
    x = torch.randn(4, 16, 64)
    x[..., 3] *= 60  # one outlier channel, like those after BERT's layer norms
    smoothed = smooth_for_int8(model, [{"x": x}])
    assert isinstance(smoothed.up, ScaledInput) and isinstance(model.up, torch.nn.Linear)  # a copy is smoothed
    exact = model(x).reshape(-1, 256)
    torch.testing.assert_close(smoothed(x).reshape(-1, 256), exact, atol=1e-4, rtol=1e-4)  # the same map in fp32
    flat = x.reshape(-1, 64)
    plain = (fake_int8(flat, model.up.weight) - exact).norm() / exact.norm()
    after = (fake_int8(flat * smoothed.up.inverse, smoothed.up.linear.weight) - exact).norm() / exact.norm()
    assert after < plain / 3, (plain, after)


def test_smoothing_wraps_every_int8_linear_of_an_encoder_and_keeps_it_exact(tiny_encoder):
    from ftclf.serving.int8_text import calibration_batches, calibration_texts

    texts = calibration_texts()
    assert len(texts) > 300 and any(isinstance(t, tuple) for t in texts)  # sentences and pairs from every sample
    batches = calibration_batches(tiny_encoder.tokenizer, ["input_ids", "attention_mask", "token_type_ids"])
    smoothed = smooth_for_int8(tiny_encoder.model, batches)
    wrapped = {n for n, m in smoothed.named_modules() if isinstance(m, ScaledInput)}
    assert {n for n, m in tiny_encoder.model.named_modules() if isinstance(m, torch.nn.Linear)
            and quantizable(m.in_features, m.out_features)} == wrapped
    with torch.no_grad():
        for batch in batches[:2] + batches[-1:]:
            torch.testing.assert_close(smoothed(**batch).last_hidden_state, tiny_encoder.model(**batch).last_hidden_state,
                                       atol=1e-4, rtol=1e-4)


def test_a_dynamic_int8_export_needs_the_tokenizer_that_calibrates_it(tiny_encoder, tmp_path):
    with pytest.raises(ConfigError, match="tokenizer"):
        export_onnx(tiny_encoder.model, tmp_path / "x", quantize=True, int8="dynamic")
    with pytest.raises(ConfigError, match="int8 recipe"):
        export_onnx(tiny_encoder.model, tmp_path / "x", quantize=True, int8="int4")
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("backend,tolerance", [
    ("int8", 0.02),
    pytest.param("onnx", 1e-4, marks=pytest.mark.slow),  # exports run in child processes: seconds each
    pytest.param("onnx-int8", 0.02, marks=pytest.mark.slow),
])
def test_every_backend_answers_like_fp32(saved_heads, backend, tolerance, tmp_path, monkeypatch):
    monkeypatch.setenv("FTCLF_CACHE", str(tmp_path))
    pool = EncoderPool(backend)
    for path in saved_heads.values():
        served = pool.load(path)
        for a, b in zip(predict(served, TEXTS), reference(path)):
            assert list(a.probabilities.values()) == pytest.approx(list(b.probabilities.values()), abs=tolerance)
        # occlusion needs forward passes only: it explains the served backend's probabilities as fp32's
        (why,), (exact,) = attribute(served, TEXTS[2:3]), attribute(Classifier.from_pretrained(path), TEXTS[2:3])
        assert [w.score for w in why.words] == pytest.approx([w.score for w in exact.words], abs=2 * tolerance)
    if backend.startswith("onnx"):
        exports = sorted(f.name.rsplit("-", 1 + (backend == "onnx-int8"))[-1] for f in (tmp_path / "onnx").iterdir())
        # base (frozen head) and the merged LoRA head, cached; int8 is made from the fp32 export, kept for onnx
        assert exports == (["onnx", "onnx"] if backend == "onnx" else ["int8", "int8", "onnx", "onnx"]), exports
        assert len(pool._shared._values) == 1  # the word embeddings, held once for both sessions
    if backend == "onnx-int8":  # weight-only int8: 8-bit MatMulNBits in fp32, no activation quantization
        import onnx

        from ftclf import format
        from ftclf.serving import export_head

        # made from the fp32 export, int8 is what an int8 export straight from torch is, byte for byte
        lora = Path(saved_heads["lora"])
        made = pool._export_folder(lora, format.read_metadata(lora)) / "encoder"
        direct = export_head(lora, tmp_path / "direct", quantize=True) / "encoder"
        onnx_files = lambda folder: {p.name: p.read_bytes() for p in folder.glob("model.onnx*")}  # noqa: E731
        assert onnx_files(made) and onnx_files(made) == onnx_files(direct)
        for folder in (f for f in (tmp_path / "onnx").iterdir() if f.name.endswith("-onnx-int8")):
            graph = onnx.load(str(folder / "encoder" / "model.onnx"), load_external_data=False).graph
            nbits = [n for n in graph.node if n.op_type == "MatMulNBits"]
            assert len(nbits) == 2 * 6, [n.op_type for n in graph.node]  # q, k, v, attention output, up, down; per layer
            attributes = {a.name: a.i for a in nbits[0].attribute}
            assert attributes["bits"] == 8 and attributes["block_size"] == INT8_BLOCK
            assert attributes.get("accuracy_level", 0) == 0  # fp32 arithmetic
            assert not any(n.op_type in ("MatMulInteger", "DynamicQuantizeLinear") for n in graph.node)


def test_frozen_heads_on_one_base_share_one_encoder_pass(saved_heads, tiny_encoder_dir, tmp_path):
    pool = EncoderPool("torch")
    clf, _ = fit(ModelConfig(task="sequence", head="mlp", encoder=tiny_encoder_dir, max_length=32),
                 TrainingConfig(mode="frozen", head_fit="adamw", epochs=5, batch_size=16, patience=0), sentiment_examples(40))
    second = pool.load(clf.save_pretrained(tmp_path / "mlp"))
    first = pool.load(saved_heads["frozen"])
    calls = []
    handle = first.encoder.register_forward_hook(lambda *a: calls.append(1))
    try:
        a, b = predict_heads([first, second], TEXTS)
    finally:
        handle.remove()
    assert len(calls) == 1  # one batch, one encoder pass, two heads
    assert [p.label for p in a] == [p.label for p in predict(first, TEXTS)]
    assert [p.label for p in b] == [p.label for p in predict(second, TEXTS)]


def test_micro_batcher_gathers_concurrent_requests_and_routes_answers():
    seen = []

    def handle(key, payloads):
        seen.append((key, list(payloads)))
        if key == "boom":
            raise ValueError("bad request")
        return [p * 10 for p in payloads]

    batcher = MicroBatcher(handle, max_wait=0.05)
    try:
        futures = [batcher.submit("x", i) for i in range(5)] + [batcher.submit("boom", 0)]
        assert [f.result(5) for f in futures[:5]] == [0, 10, 20, 30, 40]
        with pytest.raises(ValueError, match="bad request"):
            futures[5].result(5)
        assert ("x", [0, 1, 2, 3, 4]) in seen  # gathered into one call
        assert batcher("x", 7) == 70  # the worker survived the failing group
    finally:
        batcher.close()


def test_engine_batches_callers_and_bounds_its_heads(saved_heads, monkeypatch):
    engine = Engine("torch", max_heads=1, max_wait=0.05)
    try:
        calls = []
        real = engine._handle
        monkeypatch.setattr(engine._batcher, "handle", lambda key, payloads: calls.append(len(payloads)) or real(key, payloads))
        engine.classifier(saved_heads["frozen"])
        results = [None] * 8

        def ask(i):
            results[i] = engine.predict(saved_heads["frozen"], [TEXTS[i % 4]])[0].label

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == [p.label for p in reference(saved_heads["frozen"])] * 2
        assert max(calls) > 1  # concurrent callers shared a call
        engine.classifier(saved_heads["lora"])
        assert list(engine._heads) == [saved_heads["lora"].resolve()]  # the least recently used head went
        with pytest.raises(ValueError, match="expected text with some content"):
            engine.predict(saved_heads["lora"], ["  "])  # refused in the caller's thread
    finally:
        engine.close()


def test_callers_on_an_event_loop_await_batched_futures(saved_heads):
    """Engine.submit: coroutines awaiting the engine's futures on one event loop hold no thread, share the
    worker's batches and get what predict gives; bad input is refused before a future exists."""
    import asyncio

    engine = Engine("torch", max_wait=0.05)
    try:
        path = saved_heads["frozen"]
        engine.classifier(path)
        assert engine.ready(path)

        async def ask_all():
            return await asyncio.gather(*(asyncio.wrap_future(engine.submit(path, [t])) for t in TEXTS * 2))

        answers = asyncio.run(ask_all())
        assert [a[0].label for a in answers] == [p.label for p in reference(path)] * 2
        with pytest.raises(ValueError, match="expected text with some content"):
            engine.submit(path, ["  "])
    finally:
        engine.close()


def test_shared_embedding_tables_are_held_once_and_kept_alive(tmp_path):
    import gc

    import onnx
    import onnxruntime as ort
    from onnx import helper, numpy_helper

    table = numpy_helper.from_array((torch.arange(600 * 600, dtype=torch.float32).reshape(600, 600)).numpy(), "table")
    graph = helper.make_graph([helper.make_node("Gather", ["table", "ids"], ["y"])], "g",
                              [helper.make_tensor_value_info("ids", onnx.TensorProto.INT64, [1, 2])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 2, 600])], [table])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph), str(path))
    shared, sessions = SharedWeights(), []
    for _ in range(2):
        options = ort.SessionOptions()
        kept = shared.provide(path, options)
        sessions.append((ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]), kept))
    assert len(shared._values) == 1 and sessions[0][1][0][0] is sessions[1][1][0][0]  # one table for both
    del shared
    gc.collect()  # the registry is gone: the sessions' own references keep the table alive
    for session, _ in sessions:
        assert session.run(None, {"ids": torch.tensor([[1, 599]]).numpy()})[0][0, 1, 0] == 599 * 600


@pytest.mark.slow
def test_engine_serves_fp32_until_the_onnx_export_is_ready(saved_heads, tmp_path, monkeypatch):
    from ftclf.serving.backends import OnnxEncoder

    monkeypatch.setenv("FTCLF_CACHE", str(tmp_path))
    engine = Engine("onnx")
    try:
        first = engine.classifier(saved_heads["lora"])
        assert not isinstance(first.encoder, OnnxEncoder)  # answered at once, on torch fp32
        expected = [p.label for p in reference(saved_heads["lora"])]
        assert [p.label for p in engine.predict(saved_heads["lora"], TEXTS)] == expected
        deadline = time.time() + 120
        while not isinstance(engine.classifier(saved_heads["lora"]).encoder, OnnxEncoder):
            assert time.time() < deadline, "the ONNX export never arrived"
            time.sleep(0.2)
        assert [p.label for p in engine.predict(saved_heads["lora"], TEXTS)] == expected
        assert engine._torch is None  # every head moved: the fp32 copies were let go
    finally:
        engine.close()
