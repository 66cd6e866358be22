"""How an encoder runs: fp32 torch (the reference), int8 torch, ONNX Runtime (fp32 or int8).

Both int8 backends hold every Linear weight of the encoder as int8 — symmetric, one scale per
INT8_BLOCK consecutive input weights of each output row — and compute in fp32 (weight-only int8):
a quarter of the weights' memory, and probabilities within about 0.02 of fp32's
(docs: Serving). Quantizing the activations too (dynamic int8, :func:`export_onnx` with
``int8="dynamic"``) is faster per call on this kind of CPU but moves borderline probabilities
by up to 0.07 after calibration.

Every backend yields a module that is called like a transformers encoder
(``model(input_ids=…, attention_mask=…, token_type_ids=…).last_hidden_state``), so a classifier
serves through any of them unchanged. Weights that two encoders hold identically (the embeddings,
layer norms and biases a merged LoRA head shares with its base) are kept once.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError
from ..format import atomic_dir

BACKENDS = ("torch", "int8", "onnx", "onnx-int8")


def check_backend(name: str) -> str:
    if name not in BACKENDS:
        raise ConfigError(f"expected a backend among {', '.join(BACKENDS)}, got {name!r}; set FTCLF_BACKEND to one of them")
    return name


def share_parameters(model: nn.Module, source: nn.Module) -> int:
    """Point every parameter and buffer of ``model`` that equals the one at the same place in
    ``source`` to the source's tensor (so it is stored once). Returns how many were shared."""
    shared = 0
    source_modules = dict(source.named_modules())
    for name, module in model.named_modules():
        other = source_modules.get(name)
        if other is None or type(other) is not type(module):
            continue
        for key, value in list(module.named_parameters(recurse=False)):
            theirs = other._parameters.get(key)
            if theirs is not None and theirs is not value and theirs.shape == value.shape and torch.equal(theirs, value):
                module._parameters[key] = theirs
                shared += 1
        for key, value in list(module.named_buffers(recurse=False)):
            theirs = other._buffers.get(key)
            if theirs is not None and theirs is not value and theirs.shape == value.shape and torch.equal(theirs, value):
                module._buffers[key] = theirs
                shared += 1
    return shared


#: weight-only int8: one fp32 scale per this many consecutive input weights of each output row
INT8_BLOCK = 16


def quantizable(in_features: int, out_features: int) -> bool:
    """Which linear maps the dynamic int8 recipe (``export_onnx(int8="dynamic")``) quantizes: all but the
    down-projections (``in > out``, e.g. BERT's 1536 -> 384 feed-forward output). Those read the GELU
    outputs, whose outliers per-tensor int8 activations lose."""
    return in_features <= out_features


class Int8Linear(nn.Module):
    """A Linear map whose weight is held as int8 (symmetric, one fp32 scale per ``INT8_BLOCK`` input
    weights of each output row) and dequantized for each call: activations and sums stay fp32, so the
    only error is the weights' rounding (at most half a step of their block's scale)."""

    def __init__(self, linear: nn.Linear, block: int = INT8_BLOCK) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        block = block if self.in_features % block == 0 else self.in_features
        weight = linear.weight.detach().float().reshape(self.out_features, -1, block)
        scale = weight.abs().amax(-1, keepdim=True).clamp_min(1e-12) / 127
        self.register_buffer("qweight", torch.round(weight / scale).clamp(-127, 127).to(torch.int8))
        self.register_buffer("scale", scale)
        self.bias = linear.bias  # the same tensor: a bias shared with the base encoder stays shared

    def weight(self) -> torch.Tensor:
        return (self.qweight * self.scale).reshape(self.out_features, self.in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.weight().to(x.dtype), self.bias)


def quantize_int8(model: nn.Module) -> nn.Module:
    """Weight-only int8 (:class:`Int8Linear`) for every Linear layer of ``model``, in place;
    embeddings and layer norms stay fp32."""
    model.eval()
    for name, module in list(model.named_modules()):
        if isinstance(module, nn.Linear):
            parent, _, attr = name.rpartition(".")
            setattr(model.get_submodule(parent) if parent else model, attr, Int8Linear(module))
    return model


#: SmoothQuant's migration strength (Xiao et al., 2023): with 0.8 every shipped head's up-projections lose
#: 1.0-1.1% of their output's norm to int8 on the calibration text, against 4.1-4.4% unsmoothed, 1.6-1.8% at 0.5
#: and the same at 0.9 (benchmarks/int8_fidelity.py).
SMOOTH_ALPHA = 0.8


class ScaledInput(nn.Module):
    """``linear(x / s)`` with ``linear``'s weight columns multiplied by ``s``: the same map in fp32, but
    the input's outlier channels are shrunk (and the weights, quantized per output channel, absorb them)."""

    def __init__(self, linear: nn.Linear, scale: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("inverse", (1 / scale).to(linear.weight.dtype))
        self.linear = nn.Linear(linear.in_features, linear.out_features, bias=linear.bias is not None)
        with torch.no_grad():
            self.linear.weight.copy_(linear.weight * scale)
            if linear.bias is not None:
                self.linear.bias.copy_(linear.bias)

    def forward(self, x):
        return self.linear(x * self.inverse)


def smooth_for_int8(model: nn.Module, batches: list[dict], alpha: float = SMOOTH_ALPHA) -> nn.Module:
    """A copy of ``model`` whose :func:`quantizable` linear maps read smoothed inputs (SmoothQuant):
    per input channel j, ``s_j = max|X_j|^alpha / max|W_j|^(1 - alpha)`` from the calibration
    ``batches``. The function is unchanged in fp32; per-tensor int8 activations lose far less."""
    import copy

    model = copy.deepcopy(model).eval()
    targets = {name: m for name, m in model.named_modules()
               if isinstance(m, nn.Linear) and quantizable(m.in_features, m.out_features)}
    peaks: dict[str, torch.Tensor] = {}

    def record(name):
        def hook(module, inputs, output):
            x = inputs[0].detach().abs().reshape(-1, inputs[0].shape[-1]).amax(0)
            peaks[name] = torch.maximum(peaks[name], x) if name in peaks else x
        return hook

    hooks = [m.register_forward_hook(record(name)) for name, m in targets.items()]
    try:
        with torch.no_grad():
            for batch in batches:
                model(**batch)
    finally:
        for hook in hooks:
            hook.remove()
    for name, linear in targets.items():
        if name not in peaks:
            continue  # never run on these inputs: left as it is
        weight_peak = linear.weight.detach().abs().amax(0).clamp(min=1e-5)
        scale = (peaks[name].clamp(min=1e-5) ** alpha / weight_peak ** (1 - alpha)).clamp(1e-5, 1e5)
        parent, _, attr = name.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, attr, ScaledInput(linear, scale))
    return model


# ------------------------------------------------------------------------------ ONNX
#: What the ONNX backends and the exporter need beyond a plain install (the ``onnx`` extra), by import name.
ONNX_PACKAGES = {"onnxruntime": "ONNX Runtime", "onnx": "onnx", "onnxscript": "onnxscript"}
ONNX_INSTALL = "pip install 'ftclf[onnx]'"


def onnx_missing(modules=tuple(ONNX_PACKAGES)) -> list[str]:
    """Which of ``modules`` cannot be imported here (the ``onnx`` extra is optional)."""
    missing = []
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a broken or blocked package counts as missing
            found = False
        if not found:
            missing.append(name)
    return missing


def require_onnx(purpose: str, modules=("onnxruntime",)) -> None:
    """Raise a :class:`ConfigError` naming the ``onnx`` extra when ``modules`` are not installed."""
    missing = onnx_missing(modules)
    if missing:
        names = [ONNX_PACKAGES.get(m, m) for m in missing]
        names = " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
        raise ConfigError(f"expected {names} for {purpose}, found {'it' if len(missing) == 1 else 'them'} not "
                          f"installed; {ONNX_INSTALL}")


class SharedWeights:
    """Embedding tables by content, handed to every ONNX session that looks up the same table (a
    merged LoRA head's embeddings are its base's), so each is in memory once."""

    MIN_BYTES = 2**20

    def __init__(self) -> None:
        self._values: dict[str, object] = {}  # content digest -> OrtValue (its numpy array kept alive)

    def provide(self, path: Path, options) -> list:
        """Hand the embedding tables of the model at ``path`` to ``options``; returns what the
        session must keep alive (ONNX Runtime does not copy them)."""
        require_onnx("the onnx backend", ("onnxruntime", "onnx"))
        import onnx
        from onnx import numpy_helper
        from onnxruntime import OrtValue

        model = onnx.load(str(path), load_external_data=False)
        given = []
        looked_up = {node.input[0] for node in model.graph.node if node.op_type == "Gather"}  # embedding tables
        for init in model.graph.initializer:
            if init.name not in looked_up or int(np.prod(init.dims)) * 4 < self.MIN_BYTES:
                continue
            if init.data_location == onnx.TensorProto.EXTERNAL:
                onnx.external_data_helper.load_external_data_for_tensor(init, str(path.parent))
            array = numpy_helper.to_array(init).copy()  # its own memory: the proto (and its bytes) go away
            digest = hashlib.sha256(array.tobytes()).hexdigest() + str(array.dtype) + str(array.shape)
            if digest not in self._values:
                self._values[digest] = (array, OrtValue.ortvalue_from_numpy(array))
            options.add_initializer(init.name, self._values[digest][1])
            given.append(self._values[digest])
        return given


class OnnxEncoder(nn.Module):
    """An ONNX Runtime session in place of a transformers encoder (inference only)."""

    def __init__(self, path: str | Path, config=None, threads: int | None = None, shared: SharedWeights | None = None) -> None:
        super().__init__()
        require_onnx("the onnx backend")
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.enable_cpu_mem_arena = False  # activations are freed after each call, not kept per session
        # ONNX Runtime's pool threads spin for a while after each run, waiting for the next one: on a server, the
        # cores they burn are the ones the web server's threads need (measured: benchmarks/load.py --profile)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._kept = shared.provide(Path(path), options) if shared is not None else []
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = {i.name for i in self.session.get_inputs()}
        self.config = config
        self.path = Path(path)

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        feed = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        feed = {k: v.cpu().numpy() for k, v in feed.items() if k in self.input_names and v is not None}
        if "token_type_ids" in self.input_names and "token_type_ids" not in feed:
            feed["token_type_ids"] = torch.zeros_like(input_ids).numpy()
        return SimpleNamespace(last_hidden_state=torch.from_numpy(self.session.run(None, feed)[0]))


INT8_RECIPES = ("weights", "dynamic")


def export_onnx(model: nn.Module, path: str | Path, quantize: bool = False, tokenizer=None, *, int8: str = "weights",
                weights: str = "u8", smooth_alpha: float | None = SMOOTH_ALPHA) -> Path:
    """Export an encoder's forward (ids, mask, token types -> last hidden state; batch and length
    dynamic) to ONNX at ``path`` (``model.onnx`` + external weights), optionally int8. Written to a
    temporary sibling and renamed into place (:func:`ftclf.format.atomic_dir`).

    ``int8="weights"`` (what the onnx-int8 backend serves): every MatMul with a constant weight becomes
    ONNX Runtime's ``MatMulNBits`` with 8-bit weights, symmetric, one scale per ``INT8_BLOCK`` input
    weights, computing in fp32 — the numbers of :class:`Int8Linear`.

    ``int8="dynamic"``: ONNX Runtime's dynamic quantizer (activations quantized per call) after
    smoothing (:func:`smooth_for_int8`, calibrated on the built-in samples, which ``tokenizer``
    encodes), down-projections kept fp32. Its int8 weights are unsigned (u8 x u8 products): CPUs without
    VNNI (AVX2 only, e.g. AMD Zen 3) add pairs of the u8 x s8 products ONNX Runtime uses by default in
    16-bit registers that saturate. ``weights="s8"`` and ``smooth_alpha=None`` give the s8-weight,
    unsmoothed export (for comparison)."""
    path = Path(path)
    require_onnx("the ONNX export", tuple(ONNX_PACKAGES) if quantize else ("onnx", "onnxscript"))
    if int8 not in INT8_RECIPES:
        raise ConfigError(f"expected an int8 recipe among {', '.join(INT8_RECIPES)}, got {int8!r}")
    dynamic = quantize and int8 == "dynamic"
    if weights not in ("u8", "s8"):
        raise ConfigError(f"expected int8 weights 'u8' or 's8', got {weights!r}")
    if dynamic and smooth_alpha is not None and tokenizer is None:
        raise ConfigError("expected the encoder's tokenizer to calibrate the int8 export, got none; pass tokenizer=")
    with atomic_dir(path) as tmp:
        fp32 = tmp / "model.onnx"
        names = ["input_ids", "attention_mask", "token_type_ids"]
        if "token_type_ids" not in inspect.signature(model.forward).parameters:
            names = names[:2]  # e.g. MPNet, RoBERTa-style encoders without segment ids
        if dynamic and smooth_alpha is not None:
            from .int8_text import calibration_batches

            model = smooth_for_int8(model, calibration_batches(tokenizer, names), smooth_alpha)
        example = tuple(torch.ones(2, 8, dtype=torch.long) for _ in names)
        batch, length = torch.export.Dim("batch"), torch.export.Dim("length", max=4096)
        torch.onnx.export(
            _Forward(model.eval(), names).eval(), example, str(fp32), input_names=names,
            output_names=["last_hidden_state"], dynamic_shapes=({0: batch, 1: length},) * len(names), dynamo=True,
            verbose=False,
        )
        if dynamic:
            _quantize_dynamic(fp32, tmp / "model.int8.onnx", weights)
            for leftover in tmp.iterdir():
                if not leftover.name.startswith("model.int8"):
                    leftover.unlink()
            os.replace(tmp / "model.int8.onnx", fp32)
        elif quantize:
            quantize_onnx_weights(fp32)
    return path / "model.onnx"


def quantize_onnx_weights(path: Path) -> None:
    """Weight-only int8 (``MatMulNBits``, 8 bits, block ``INT8_BLOCK``, fp32 compute) of every MatMul
    with a constant weight of the model at ``path``, in place (in a folder of its own)."""
    import logging

    import onnx
    from onnxruntime.quantization import matmul_nbits_quantizer as nbits

    logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer").setLevel(logging.WARNING)
    config = nbits.DefaultWeightOnlyQuantConfig(block_size=INT8_BLOCK, is_symmetric=True, accuracy_level=0, bits=8)
    quantizer = nbits.MatMulNBitsQuantizer(onnx.load(str(path)), algo_config=config)  # weights read into memory
    quantizer.process()
    for part in path.parent.iterdir():
        part.unlink()
    quantizer.model.save_model_to_file(str(path), use_external_data_format=True)


def _quantize_dynamic(source: Path, target: Path, weights: str) -> None:
    """ONNX Runtime's dynamic int8 (per-channel weights, activations per call) of the :func:`quantizable` MatMuls."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    weight_type = QuantType.QUInt8 if weights == "u8" else QuantType.QInt8
    quantize_dynamic(str(source), str(target), weight_type=weight_type, per_channel=True,
                     op_types_to_quantize=["MatMul"], nodes_to_quantize=_quantizable_matmuls(source))


def _quantizable_matmuls(path: Path) -> list[str]:
    """Names of the graph's MatMul nodes with a constant weight that :func:`quantizable` admits."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    shapes = {init.name: tuple(init.dims) for init in graph.initializer}
    return [node.name for node in graph.node if node.op_type == "MatMul" and len(node.input) == 2
            and len(shapes.get(node.input[1], ())) == 2 and quantizable(*shapes[node.input[1]])]


class _Forward(nn.Module):
    """The encoder with positional inputs and a tensor output, as the exporter wants it."""

    def __init__(self, model: nn.Module, names: list[str]) -> None:
        super().__init__()
        self.model, self.names = model, names

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        return self.model(**{k: inputs[k] for k in self.names}).last_hidden_state
