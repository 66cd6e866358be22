"""Where the shipped heads and samples are: package data of ``ftclf`` (``ftclf/assets``, the
repository's ``assets/`` directory, installed with the package)."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path


def assets_dir() -> Path:
    return Path(str(resources.files("ftclf") / "assets"))


def shipped_heads_dir() -> Path:
    """The heads shipped with ftclf (``$FTCLF_SHIPPED_HEADS`` points elsewhere)."""
    return Path(os.environ.get("FTCLF_SHIPPED_HEADS") or assets_dir() / "heads")


def samples_dir() -> Path:
    return assets_dir() / "samples"


def user_heads_dir() -> Path:
    """Heads saved from the dashboard (``$FTCLF_USER_HEADS``, default ``~/.cache/ftclf/heads``)."""
    return Path(os.environ.get("FTCLF_USER_HEADS") or Path.home() / ".cache" / "ftclf" / "heads")
