"""A browser's labelling work on disk: the examples it typed, its unlabelled pool, the suggestions it is
labelling and the rounds it trained, kept across reloads and restarts like its unsaved runs.

``<workspaces dir>/<owner key>.json``, the owner key being the hash of the browser's visitor id
(:func:`ftclf.service.access.owner_key`): only that browser finds its work. The rows are what the user
typed, so everything is bounded (``MAX_ROWS`` examples, ``MAX_POOL_CHARS`` of pool, ``MAX_CELL_CHARS`` per
cell) and checked when read back; a damaged file is an empty workspace, never an error. At most
``MAX_WORKSPACES`` are kept, each ``WORKSPACE_SECONDS`` after its last change.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import DataError
from .access import owner_key

logger = logging.getLogger(__name__)

MAX_ROWS = 2000
MAX_POOL_CHARS = 500_000
MAX_CELL_CHARS = 2000
MAX_SUGGESTIONS = 100
MAX_ROUNDS = 50
MAX_WORKSPACES = 500
WORKSPACE_SECONDS = 7 * 24 * 3600


def workspaces_dir() -> Path:
    """``$FTCLF_WORKSPACES``, else ``workspaces`` beside the drafts."""
    from .drafts import drafts_dir

    return Path(os.environ.get("FTCLF_WORKSPACES") or drafts_dir().parent / "workspaces")


@dataclass
class Workspace:
    """What a browser is labelling: ``rows`` are [text, label] (pairs: [text, second text, label])."""

    task: str = "sequence"
    rows: list[list[str]] = field(default_factory=list)
    pool: str = ""  # unlabelled texts, one per line (pairs: the two texts separated by a tab)
    suggestions: list[list] = field(default_factory=list)  # the suggestions table as shown (with typed labels)
    rounds: list[dict] = field(default_factory=list)  # {"round", "examples", "metric", "name", "finished"}

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_dict(cls, raw) -> Workspace:
        """A workspace from stored JSON, every field checked and cut to its bounds (bad parts dropped)."""
        if not isinstance(raw, dict):
            return cls()
        cell = lambda v: str(v)[:MAX_CELL_CHARS] if isinstance(v, (str, int, float)) else ""  # noqa: E731
        rows = [[cell(v) for v in r] for r in raw.get("rows") or [] if isinstance(r, list) and len(r) in (2, 3)]
        suggestions = [[cell(v) for v in r] for r in raw.get("suggestions") or [] if isinstance(r, list)]
        rounds = [r for r in raw.get("rounds") or [] if isinstance(r, dict) and isinstance(r.get("metric"), (int, float))]
        task = raw.get("task") if isinstance(raw.get("task"), str) else "sequence"
        pool = raw.get("pool") if isinstance(raw.get("pool"), str) else ""
        return cls(task, rows[:MAX_ROWS], pool[:MAX_POOL_CHARS], suggestions[:MAX_SUGGESTIONS], rounds[-MAX_ROUNDS:])


class Workspaces:
    """One workspace per browser (by visitor id), bounded in number and age."""

    def __init__(self, root: Path | None = None, max_workspaces: int = MAX_WORKSPACES,
                 max_seconds: float = WORKSPACE_SECONDS) -> None:
        self.root = Path(root) if root is not None else workspaces_dir()
        self.max_workspaces, self.max_seconds = max_workspaces, max_seconds
        self._lock = threading.Lock()

    def _path(self, visitor: str | None) -> Path | None:
        key = owner_key(visitor)
        return None if key is None else self.root / f"{key}.json"

    def get(self, visitor: str | None) -> Workspace:
        """``visitor``'s workspace (an empty one when there is none, it expired, or it is unreadable)."""
        path = self._path(visitor)
        if path is None or not path.is_file() or time.time() - path.stat().st_mtime > self.max_seconds:
            return Workspace()
        try:
            return Workspace.from_dict(json.loads(path.read_text("utf-8")))
        except (OSError, ValueError):
            return Workspace()

    def put(self, visitor: str | None, workspace: Workspace) -> bool:
        """Keep ``workspace`` for ``visitor`` (written whole and atomically); False when there is no visitor or
        the disk refused (which costs only the persistence)."""
        path = self._path(visitor)
        if path is None:
            return False
        if len(workspace.rows) > MAX_ROWS:
            raise DataError(f"expected at most {MAX_ROWS:,} typed examples, got {len(workspace.rows):,}; train on "
                            "a file for more")
        workspace = Workspace.from_dict(json.loads(workspace.to_json()))  # the same bounds as reading back
        try:
            with self._lock:
                _write_whole(path, workspace.to_json())
                self._prune(keep=path)
            return True
        except OSError as exc:
            logger.warning("could not keep a labelling workspace: %s", exc)
            return False

    def update(self, visitor: str | None, **changes) -> Workspace:
        """``visitor``'s workspace with ``changes`` made and kept."""
        current = asdict(self.get(visitor))
        current.update(changes)
        workspace = Workspace.from_dict(current)
        self.put(visitor, workspace)
        return workspace

    def examples_file(self, visitor: str | None, rows: list[list[str]], pairs: bool) -> Path:
        """The typed rows written as the JSON-lines file a training run reads (beside the workspace)."""
        path = self._path(visitor)
        if path is None:
            raise DataError("expected a browser identity to keep typed examples under, got none; reload the page")
        keys = ("text", "text_pair", "label") if pairs else ("text", "label")
        target = path.with_suffix(EXAMPLES_SUFFIX)
        _write_whole(target, "".join(json.dumps(dict(zip(keys, r)), ensure_ascii=False) + "\n" for r in rows))
        return target

    def _prune(self, keep: Path) -> None:
        found = sorted(((p.stat().st_mtime, p) for p in self.root.glob("*.json")), reverse=True)
        for rank, (mtime, path) in enumerate(found):
            if path != keep and (rank >= self.max_workspaces or time.time() - mtime > self.max_seconds):
                path.unlink(missing_ok=True)
                path.with_suffix(EXAMPLES_SUFFIX).unlink(missing_ok=True)


EXAMPLES_SUFFIX = ".examples.jsonl"


def _write_whole(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: a reader sees the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp-{os.getpid()}-{threading.get_ident()}")
    tmp.write_text(text, "utf-8")
    os.replace(tmp, path)


@dataclass
class TypedRows:
    """The typed table read: the complete rows, what is wrong with the others, and whether it can train."""

    rows: list[list[str]]
    counts: dict[str, int]
    problems: list[str]
    notes: list[str]

    @property
    def ready(self) -> bool:
        return not self.problems


def check_rows(table, pairs: bool) -> TypedRows:
    """Read an examples table (rows of [text, label], or [text, second text, label] with ``pairs``): blank
    rows are skipped; a row missing a cell, an over-long cell, a repeated input with two labels, fewer than two
    labels or a label with one row are problems (training waits); a repeated row is a note."""
    width = 3 if pairs else 2
    rows, problems, notes, seen = [], [], [], {}
    blank = 0
    for n, raw in enumerate(table or [], 1):
        cells = [("" if v is None else str(v)).strip() for v in list(raw)[:width]]
        cells += [""] * (width - len(cells))
        if not any(cells):
            blank += 1
            continue
        if not all(cells):
            names = ["text", "second text", "label"] if pairs else ["text", "label"]
            missing = [name for name, v in zip(names, cells) if not v]
            problems.append(f"row {n} has no {' or '.join(missing)}")
            continue
        if any(len(v) > MAX_CELL_CHARS for v in cells):
            problems.append(f"row {n} has a cell of more than {MAX_CELL_CHARS:,} characters")
            continue
        key = tuple(v.lower() for v in cells[:-1])
        if key in seen:
            first, label = seen[key]
            if label != cells[-1]:
                problems.append(f"rows {first} and {n} have the same text with the labels “{label}” and “{cells[-1]}”")
            else:
                notes.append(f"row {n} repeats row {first}")
            continue
        seen[key] = (n, cells[-1])
        rows.append(cells)
    if len(rows) > MAX_ROWS:
        problems.append(f"{len(rows):,} rows, more than the {MAX_ROWS:,} a table holds (train on a file instead)")
    counts: dict[str, int] = {}
    for r in rows:
        counts[r[-1]] = counts.get(r[-1], 0) + 1
    if len(counts) < 2:
        problems.append(f"{len(counts)} label{'' if len(counts) == 1 else 's'}: write examples of at least two")
    problems += [f"the label “{label}” has one example: give it another" for label, c in counts.items() if c == 1]
    if blank:
        notes.append(f"{blank} blank row{'s' if blank > 1 else ''} skipped")
    return TypedRows(rows, counts, problems, notes)
