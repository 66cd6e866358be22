"""Exported heads: a saved head as a self-contained ONNX head (the encoder with any adapter merged
in, as ONNX, optionally int8; its tokenizer and config; the head's own weights), and the loader
that serves one with ONNX Runtime — no torch encoder, no base-encoder package needed.

    DIR/config.json                the head's metadata, ``runtime: "onnx"`` or ``"onnx-int8"``
    DIR/head.safetensors           the head's weights, as saved
    DIR/encoder/model.onnx(.data)  the encoder: ids, mask, token types -> last hidden state
    DIR/encoder/…                  its tokenizer and transformers config
    DIR/README.md                  the model card
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .. import format
from ..encoders import Encoder
from ..errors import FtclfError
from .backends import ONNX_PACKAGES, OnnxEncoder, SharedWeights, export_onnx, quantize_onnx_weights, require_onnx


def export_head(directory: str | Path, output: str | Path, quantize: bool = False) -> Path:
    """Write the self-contained ONNX export of the saved head at ``directory`` to ``output``."""
    from ..model import Classifier

    require_onnx("the ONNX export", tuple(ONNX_PACKAGES) if quantize else ("onnx", "onnxscript"))  # before any work
    source, target = Path(directory), Path(output).expanduser().resolve()
    meta = format.read_metadata(source)
    if meta.runtime == "onnx" and quantize:
        return _quantized_copy(source, target, meta)
    if meta.runtime is not None:
        raise FtclfError(f"expected a head with torch weights to export, got an {meta.runtime} export at {str(source)!r}"
                         + ("; export int8 (--quantize int8) from an fp32 export only" if quantize else ""))
    clf = Classifier.from_pretrained(source, merged=True)  # fp32, any adapter merged
    with format.atomic_dir(target) as tmp:
        export_onnx(clf.encoder, tmp / format.ENCODER_DIR, quantize, clf.tokenizer)
        clf.encoder.config.save_pretrained(str(tmp / format.ENCODER_DIR))
        clf.tokenizer.save_pretrained(str(tmp / format.ENCODER_DIR))
        shutil.copy2(source / format.HEAD_NAME, tmp / format.HEAD_NAME)
        shutil.copy2(source / format.CARD_NAME, tmp / format.CARD_NAME) if (source / format.CARD_NAME).is_file() else None
        exported = dataclasses.replace(meta, runtime="onnx-int8" if quantize else "onnx")
        format.write_config(tmp, exported)
    return target


def _quantized_copy(source: Path, target: Path, meta: format.Metadata) -> Path:
    """The int8 export of a head from its fp32 export: the same ONNX graph rounded by the same quantizer as
    :func:`export_head` with ``quantize`` (so the same bytes), without exporting the encoder from torch again."""
    with format.atomic_dir(target) as tmp:
        shutil.copytree(source, tmp, dirs_exist_ok=True)
        encoder, scratch = tmp / format.ENCODER_DIR, tmp / ".int8"
        scratch.mkdir()
        for part in [p for p in encoder.iterdir() if p.name.startswith(format.ONNX_NAME)]:
            part.rename(scratch / part.name)  # the quantizer rewrites its model's folder: the graph alone in it
        quantize_onnx_weights(scratch / format.ONNX_NAME)
        for part in scratch.iterdir():
            part.rename(encoder / part.name)
        scratch.rmdir()
        format.write_config(tmp, dataclasses.replace(meta, runtime="onnx-int8"))
    return target


def export_in_child(directory: str | Path, output: str | Path, quantize: bool) -> Path:
    """:func:`export_head` in a separate process, so the server never holds the exporter's memory."""
    argv = [sys.executable, "-m", "ftclf", "export", "--model", str(directory), "--output", str(output)]
    argv += ["--quantize", "int8"] if quantize else []
    done = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "TQDM_DISABLE": "1"})
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise FtclfError(f"expected the ONNX export of {str(directory)!r} to succeed, but it failed ({tail}); "
                         "serve with FTCLF_BACKEND=torch or check the head")
    return Path(output)


@dataclasses.dataclass
class Exported:
    """An exported head, opened: its metadata and its encoder as an ONNX Runtime session."""

    path: Path
    meta: format.Metadata
    session: OnnxEncoder
    tokenizer: object

    def encoder_parts(self) -> tuple[OnnxEncoder, object]:
        return self.session, self.tokenizer

    def classifier(self):
        from ..model import Classifier

        encoder = Encoder(self.meta.encoder.name, self.session, self.tokenizer, self.meta.encoder.fingerprint)
        return Classifier.assemble(self.meta, encoder, format.read_head_state(self.path, self.meta))


def load_exported(directory: str | Path, shared: SharedWeights | None = None, threads: int | None = None) -> Exported:
    """Open an exported head directory (``.classifier()`` serves it with ONNX Runtime)."""
    from transformers import AutoConfig, AutoTokenizer

    path = Path(directory)
    meta = format.read_metadata(path)
    if meta.runtime is None:
        raise FtclfError(f"expected an exported (ONNX) head at {str(path)!r}, found torch weights; export it first")
    folder = path / format.ENCODER_DIR
    session = OnnxEncoder(folder / format.ONNX_NAME, AutoConfig.from_pretrained(str(folder)), threads, shared)
    return Exported(path, meta, session, AutoTokenizer.from_pretrained(str(folder)))
