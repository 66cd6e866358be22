"""Serving: backends (fp32 / int8 torch, ONNX Runtime), the encoder pool shared by every head, ONNX
exports, the micro-batcher and the engine that serves saved heads by directory."""

from .backends import BACKENDS
from .engine import DEFAULT_BACKEND, Engine, default_backend
from .export import export_head, load_exported
from .pool import EncoderPool, load

__all__ = ["BACKENDS", "DEFAULT_BACKEND", "Engine", "EncoderPool", "default_backend", "export_head", "load",
           "load_exported"]
