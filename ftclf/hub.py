"""Access to the Hugging Face Hub: whether it may and can be reached, and what is cached.

Offline machines must fail in seconds, not sit through the hub client's retries, and cached
models must load with no network access at all.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse


def offline() -> bool:
    """Whether the user switched the hub off (``HF_HUB_OFFLINE`` or ``HF_DATASETS_OFFLINE``)."""
    flags = (os.environ.get("HF_HUB_OFFLINE", ""), os.environ.get("HF_DATASETS_OFFLINE", ""))
    return any(flag.lower() in {"1", "true", "yes", "on"} for flag in flags)


def reachable(timeout: float = 3.0) -> bool:
    """Whether the hub answers a TCP connect within ``timeout`` seconds."""
    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout):
            return True
    except OSError:
        return False


def require(what: str) -> None:
    """Raise ``ConnectionError`` at once when ``what`` (e.g. "download the head owner/name") needs the hub
    and cannot get it; the message completes "expected to <what>, but …"."""
    if offline():
        raise ConnectionError("the Hugging Face Hub is switched off on this machine (HF_HUB_OFFLINE=1)")
    if not reachable():
        raise ConnectionError("the Hugging Face Hub cannot be reached from this machine")


def cached_snapshot(repo_id: str) -> str | None:
    """The local snapshot directory of a hub model already in the cache, or None."""
    from huggingface_hub import try_to_load_from_cache

    try:
        path = try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # an id the hub client rejects is simply "not cached"
        return None
    return str(Path(path).parent) if isinstance(path, str) else None
