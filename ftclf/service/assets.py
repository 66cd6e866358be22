"""Where the shipped heads are (package data of ``ftclf``: ``ftclf/assets``, the repository's
``assets/`` directory, installed with the package) and where user heads go."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

#: A Space's persistent storage is mounted here (when the Space has some).
PERSISTENT_STORAGE = "/data"


def assets_dir() -> Path:
    return Path(str(resources.files("ftclf") / "assets"))


def shipped_heads_dir() -> Path:
    """The heads shipped with ftclf (``$FTCLF_SHIPPED_HEADS`` points elsewhere)."""
    return Path(os.environ.get("FTCLF_SHIPPED_HEADS") or assets_dir() / "heads")


def user_heads_dir() -> Path:
    """Heads saved from the dashboard: ``$FTCLF_USER_HEADS``; else ``/data/ftclf/heads`` where ``/data`` is
    writable (a Hugging Face Space's persistent storage, which outlives restarts); else
    ``~/.cache/ftclf/heads``."""
    if os.environ.get("FTCLF_USER_HEADS"):
        return Path(os.environ["FTCLF_USER_HEADS"])
    persistent = Path(PERSISTENT_STORAGE)
    if persistent.is_dir() and os.access(persistent, os.W_OK | os.X_OK):
        return persistent / "ftclf" / "heads"
    return Path.home() / ".cache" / "ftclf" / "heads"
