"""Unsaved training runs on disk, one per browser: a finished run outlives a reload, a closed tab and a
server restart until its browser saves it, trains again, or a day passes.

``<drafts dir>/<owner key>/`` holds the trained head (``head/``, a saved classifier) and ``run.json``
(what the Train tab shows of the run: task, recipe, metrics, the most-confused examples, the progress
events the curves are drawn from). The owner key is the hash of the browser's visitor id
(:func:`ftclf.service.access.owner_key`), so a draft is found only by the browser that trained it.
Bounded: at most ``MAX_DRAFTS`` drafts of ``MAX_DRAFT_BYTES`` in all (the oldest go first), each kept
``DRAFT_SECONDS``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..format import atomic_dir
from .access import owner_key
from .assets import user_heads_dir

logger = logging.getLogger(__name__)

MAX_DRAFTS = 20
MAX_DRAFT_BYTES = 2 * 2**30
DRAFT_SECONDS = 24 * 3600
RUN_NAME = "run.json"
HEAD_DIR = "head"


def drafts_dir() -> Path:
    """``$FTCLF_DRAFTS``, else ``drafts`` beside the user heads (persistent storage on a Space)."""
    return Path(os.environ.get("FTCLF_DRAFTS") or user_heads_dir().parent / "drafts")


@dataclass
class Draft:
    """A browser's last finished, unsaved run: the head's directory and what the Train tab shows of it."""

    head: Path
    run: dict
    finished: float

    @property
    def task(self) -> str:
        return self.run["task"]


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


class Drafts:
    """One draft per browser (by visitor id), bounded in number, bytes and age."""

    def __init__(self, root: Path | None = None, max_drafts: int = MAX_DRAFTS, max_bytes: int = MAX_DRAFT_BYTES,
                 max_seconds: float = DRAFT_SECONDS) -> None:
        self.root = Path(root) if root is not None else drafts_dir()
        self.max_drafts, self.max_bytes, self.max_seconds = max_drafts, max_bytes, max_seconds
        self._lock = threading.Lock()

    def _folder(self, visitor: str | None) -> Path | None:
        key = owner_key(visitor)
        return None if key is None else self.root / key

    def put(self, visitor: str | None, head: Path, run: dict) -> Path | None:
        """Keep the trained head at ``head`` (moved, not copied) and ``run`` as ``visitor``'s draft,
        replacing their previous one; returns the draft's head directory (None: no visitor, or the disk
        refused, which only costs the draft)."""
        folder = self._folder(visitor)
        if folder is None:
            return None
        try:
            with self._lock:
                with atomic_dir(folder) as tmp:
                    shutil.move(str(head), tmp / HEAD_DIR)
                    if head.parent.name.startswith("ftclf-draft-"):  # the run's own temporary folder, now empty
                        shutil.rmtree(head.parent, ignore_errors=True)
                    (tmp / RUN_NAME).write_text(json.dumps({**run, "finished": time.time()}, default=_plain), "utf-8")
                self._prune(keep=folder)
            return folder / HEAD_DIR
        except Exception as exc:  # noqa: BLE001 (a draft is a convenience: the run itself is shown anyway)
            logger.warning("could not keep the draft of a run: %s", exc)
            return None

    def get(self, visitor: str | None) -> Draft | None:
        """``visitor``'s draft, if there is one and it has not expired."""
        folder = self._folder(visitor)
        if folder is None:
            return None
        try:
            run = json.loads((folder / RUN_NAME).read_text("utf-8"))
        except (OSError, ValueError):
            return None
        finished = float(run.get("finished", 0))
        if time.time() - finished > self.max_seconds or not (folder / HEAD_DIR).is_dir():
            return None
        return Draft(folder / HEAD_DIR, run, finished)

    def _prune(self, keep: Path | None = None) -> list[str]:
        """Remove expired drafts, then the oldest beyond the count and byte bounds (never ``keep``)."""
        if not self.root.is_dir():
            return []
        found = []
        for folder in self.root.iterdir():
            if folder.name.startswith(".") and ".tmp-" in folder.name and time.time() - folder.stat().st_mtime > 600:
                shutil.rmtree(folder, ignore_errors=True)  # an interrupted put
                continue
            if folder.is_dir() and not folder.name.startswith("."):
                found.append((folder.stat().st_mtime, folder))
        found.sort(reverse=True)  # newest first
        removed, total = [], 0
        for rank, (mtime, folder) in enumerate(found):
            total += _size(folder)
            over = rank >= self.max_drafts or total > self.max_bytes or time.time() - mtime > self.max_seconds
            if over and folder != keep:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder.name)
        return removed


def _plain(value):
    """JSON for what a run reports: dataclasses (events) as dicts, numpy and torch numbers as numbers,
    anything else as text."""
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
