"""The encoder pool: one base encoder per encoder name, shared by every head trained on it, and the
backend each served encoder runs on.

Torch backends: frozen heads all serve from one backend copy of their base encoder; a LoRA head's
adapter is merged into a copy of the base weights (``merge_and_unload``: no adapter arithmetic per
request) and every tensor the merge left unchanged — embeddings, layer norms, biases — is shared
with the base, so a merged head costs only its Linear weights (about 42 MB fp32 for MiniLM-L6).
ONNX backends: each distinct encoder (the base, each merged LoRA head, each fully fine-tuned one)
is exported once per machine into a cache keyed by its files; a cached head then serves with no
torch encoder in memory at all, and embedding tables common to several sessions are held once.
"""

from __future__ import annotations

import copy
import hashlib
import os
import threading
from pathlib import Path

from .. import format
from ..encoders import Encoder, load_encoder
from .backends import ONNX_PACKAGES, SharedWeights, check_backend, quantize_int8, require_onnx, share_parameters
from .export import export_in_child, load_exported

#: Part of every ONNX cache key: bump it when the export or the quantization recipe changes.
ONNX_RECIPE = "r3"


def onnx_cache_dir() -> Path:
    return Path(os.environ.get("FTCLF_CACHE", Path.home() / ".cache" / "ftclf")) / "onnx"


class EncoderPool:
    """Base encoders by name (fp32, shared with training) and served encoders by backend."""

    def __init__(self, backend: str = "torch") -> None:
        self.backend = check_backend(backend)
        if self.backend.startswith("onnx"):  # the onnx extra: refused here, not in an export's child process
            require_onnx(f"the {self.backend} backend", tuple(ONNX_PACKAGES))
        self._bases: dict[str, Encoder] = {}
        self._served: dict[tuple[str, str], object] = {}  # (base fingerprint, backend) -> served base
        self._sessions: dict[str, tuple] = {}  # exported folder -> (ONNX session, tokenizer)
        self._exports: dict[str, threading.Lock] = {}  # exported folder -> the lock of its export
        self._export_slot = threading.Semaphore(1)
        self._shared = SharedWeights()  # ONNX sessions' common embedding tables, held once
        self._lock = threading.RLock()

    def base(self, name: str | None) -> Encoder:
        """The fp32 encoder ``name`` (loaded once)."""
        from ..encoders import DEFAULT_ENCODER, is_default_encoder

        key = DEFAULT_ENCODER if is_default_encoder(name) else str(name)
        with self._lock:
            if key not in self._bases:
                self._bases[key] = load_encoder(key)
            return self._bases[key]

    def load(self, directory: str | Path):
        """A saved (or exported) classifier ready to serve on this pool's backend."""
        directory = Path(directory)
        meta = format.read_metadata(directory)
        if self.backend.startswith("onnx") or meta.runtime is not None:
            return self._load_onnx(directory, meta)
        return self.serve(*self._load_torch(directory, meta))

    def _load_torch(self, directory: Path, meta: format.Metadata):
        from ..model import Classifier

        base = self.base(meta.encoder.name) if meta.mode != "full" else None
        return Classifier.from_pretrained(directory, encoder=base, merged=True), base

    def serve(self, clf, base: Encoder | None = None):
        """Put ``clf``'s encoder on a torch backend: the shared served base for frozen heads, a merged
        copy sharing every unchanged tensor with the base for LoRA heads, an own copy otherwise."""
        with self._lock:
            if base is not None and clf.encoder is base.model:
                clf.encoder = self._served_base(base)
            else:
                if base is not None:
                    share_parameters(clf.encoder, base.model)
                clf.encoder = quantize_int8(clf.encoder) if self.backend == "int8" else clf.encoder
        clf.eval()
        return clf

    def _served_base(self, base: Encoder):
        key = (base.fingerprint, self.backend)
        if key not in self._served:
            if self.backend == "torch":
                self._served[key] = base.model
            else:
                model = copy.deepcopy(base.model)
                share_parameters(model, base.model)  # the copy holds nothing of its own until quantized
                self._served[key] = quantize_int8(model)
        return self._served[key]

    # ------------------------------------------------------------------------- ONNX
    def needs_export(self, directory: str | Path) -> bool:
        """Whether serving this head on this backend first needs an ONNX export (not cached yet)."""
        meta = format.read_metadata(directory)
        return (self.backend.startswith("onnx") and meta.runtime is None
                and not (self._export_folder(Path(directory), meta) / format.CONFIG_NAME).is_file())

    def _export_folder(self, directory: Path, meta: format.Metadata, backend: str | None = None) -> Path:
        return onnx_cache_dir() / f"{onnx_key(directory, meta)}-{ONNX_RECIPE}-{backend or self.backend}"

    def _export(self, directory: Path, meta: format.Metadata, folder: Path) -> None:
        """Make the export ``folder`` of a head, in a child process. int8 is made from the fp32 export (made
        first when it is not cached): the same bytes as an int8 export from torch, and the onnx backend
        then finds its export made."""
        if self.backend != "onnx-int8":
            export_in_child(directory, folder, quantize=False)
            return
        fp32 = self._export_folder(directory, meta, "onnx")
        if not (fp32 / format.CONFIG_NAME).is_file():
            export_in_child(directory, fp32, quantize=False)
        export_in_child(fp32, folder, quantize=True)

    def _load_onnx(self, directory: Path, meta: format.Metadata):
        """Serve through ONNX Runtime: an exported head as it is; any other head from the export of
        its encoder in the cache (made once, in a child process)."""
        from ..model import Classifier

        if meta.runtime is not None:
            folder = directory
        else:
            folder = self._export_folder(directory, meta)
            with self._lock:
                exporting = self._exports.setdefault(str(folder), threading.Lock())
            with exporting, self._export_slot:  # one export per folder, and one at a time (each takes a core and ~1 GB)
                if not (folder / format.CONFIG_NAME).is_file():
                    self._export(directory, meta, folder)
        encoder = self._session(folder, meta)
        return Classifier.assemble(meta, encoder, format.read_head_state(directory, meta))

    def _session(self, folder: Path, meta: format.Metadata) -> Encoder:
        """The ONNX encoder of an exported folder, one per folder (heads on the same encoder share it)."""
        key = str(folder.resolve())
        with self._lock:
            if key not in self._sessions:
                self._sessions[key] = load_exported(folder, self._shared).encoder_parts()
        session, tokenizer = self._sessions[key]
        return Encoder(meta.encoder.name, session, tokenizer, meta.encoder.fingerprint)


def onnx_key(directory: Path, meta: format.Metadata) -> str:
    """What identifies a saved head's encoder weights, from its files: the base's fingerprint, plus
    the adapter (LoRA) or the fine-tuned weights (full)."""
    digest = hashlib.sha256(meta.encoder.fingerprint.encode())
    own = {"lora": directory / format.ADAPTER_DIR, "full": directory / format.ENCODER_DIR}.get(meta.mode)
    if own is not None:
        for path in sorted(own.rglob("*")):
            if path.is_file() and path.suffix in (".safetensors", ".json", ".bin"):
                digest.update(path.name.encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def load(directory: str | Path, backend: str = "torch"):
    """Any saved head, ready to serve: torch weights on ``backend``, an export with ONNX Runtime."""
    return EncoderPool(backend).load(directory)
