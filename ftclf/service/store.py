"""The head store: shipped heads (read-only) and user heads by name, and their predictions.

Shipped heads live in the package's ``assets/heads``; heads saved from the dashboard go to a user
directory (``$FTCLF_USER_HEADS``, default ``~/.cache/ftclf/heads``). Serving (loading, backends,
batching) is the engine's job; the store maps names to directories.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .. import format, hub_heads
from ..errors import FtclfError, InputError, ModelFormatError
from ..format import CONFIG_NAME, Metadata, read_metadata
from ..tasks import TASKS
from .assets import shipped_heads_dir, user_heads_dir

logger = logging.getLogger(__name__)

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


@dataclass
class HeadInfo:
    """What the dashboard shows about a saved head, read from its config.json alone."""

    name: str
    path: Path
    shipped: bool
    meta: Metadata
    size_bytes: int

    @property
    def task(self) -> str:
        return self.meta.model.task

    def row(self) -> dict:
        key, value = self.meta.main_metric
        model = self.meta.model
        return {
            "name": self.name, "task": model.task, "labels": ", ".join(model.labels), "head": model.head,
            "mode": self.meta.mode, "pair mode": model.pair_mode if model.task_spec.text_pairs else "",
            "encoder": self.meta.encoder.name, "data": str(self.meta.data.get("train", "")),
            "validation": f"{key} {100 * value:.1f}" if value is not None else "",
            "size (MB)": round(self.size_bytes / 2**20, 2), "created": self.meta.created[:16].replace("T", " "),
            "source": "shipped" if self.shipped else "user",
        }


@dataclass
class Damaged:
    """A head directory that cannot be used, and why."""

    name: str
    path: Path
    shipped: bool
    reason: str


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def head_info(path: Path, shipped: bool) -> HeadInfo:
    return HeadInfo(path.name, path, shipped, read_metadata(path), _dir_size(path))


class HeadStore:
    """Shipped and user heads by name. Listing reads each head's config.json (cached until the file
    changes); prediction goes through the serving engine (``ftclf.serving.Engine``)."""

    def __init__(self, shipped_dir: Path | None = None, user_dir: Path | None = None, engine=None) -> None:
        self.shipped_dir = Path(shipped_dir or shipped_heads_dir())
        self.user_dir = Path(user_dir or user_heads_dir())
        self._engine = engine
        self._infos: dict[Path, tuple[float, HeadInfo]] = {}
        self._warned: set[Path] = set()
        self._lock = threading.RLock()
        self.clean_debris()

    @property
    def engine(self):
        from ..serving import Engine

        with self._lock:
            if self._engine is None:
                self._engine = Engine()
            return self._engine

    def _dirs(self) -> list[tuple[Path, bool]]:
        """Head directories: only names a head can have (no hidden, temporary or uppercase ones)."""
        found = []
        for base, shipped in ((self.shipped_dir, True), (self.user_dir, False)):
            if base.is_dir():
                found += [(p, shipped) for p in sorted(base.iterdir()) if p.is_dir() and NAME_RE.match(p.name)]
        return found

    def clean_debris(self, older_than: float = 600.0) -> list[str]:
        """Remove what interrupted saves and deletes left in the user directory (``.NAME.tmp-*``,
        ``.NAME.old-*``, ``.NAME.deleted-*``) once it is older than ``older_than`` seconds."""
        removed = []
        if self.user_dir.is_dir():
            for path in self.user_dir.glob(".*"):
                if any(mark in path.name for mark in (".tmp-", ".old-", ".deleted-")) and \
                        time.time() - path.stat().st_mtime > older_than:
                    shutil.rmtree(path, ignore_errors=True)
                    removed.append(path.name)
        return removed

    def _info(self, path: Path, shipped: bool) -> HeadInfo:
        """A head's info, read again only when its config.json changed."""
        stamp = (path / CONFIG_NAME).stat().st_mtime
        with self._lock:
            cached = self._infos.get(path)
            if cached is None or cached[0] != stamp:
                cached = (stamp, head_info(path, shipped))
                self._infos[path] = cached
            return cached[1]

    def scan(self) -> tuple[list[HeadInfo], list[Damaged]]:
        """(usable heads, damaged ones with the reason): a damaged head is never fatal, never usable."""
        infos, damaged = [], []
        for path, shipped in self._dirs():
            try:
                infos.append(self._info(path, shipped))
            except (FtclfError, OSError) as exc:
                reason = str(exc) if isinstance(exc, FtclfError) else f"{type(exc).__name__}: {exc.strerror}"
                if path not in self._warned:
                    logger.warning("skipping the damaged head %s: %s", path, reason)
                    self._warned.add(path)
                damaged.append(Damaged(path.name, path, shipped, reason))
        return infos, damaged

    def list(self, task: str | None = None) -> list[HeadInfo]:
        return [info for info in self.scan()[0] if task is None or info.task == task]

    def damaged(self) -> list[Damaged]:
        return self.scan()[1]

    def names(self, task: str | None = None) -> list[str]:
        return [h.name for h in self.list(task)]

    def info(self, name: str) -> HeadInfo:
        """One head's info, read from its own directory (no scan of the others; a stat per call
        once read)."""
        if isinstance(name, str) and NAME_RE.match(name):
            for base, shipped in ((self.shipped_dir, True), (self.user_dir, False)):
                try:
                    return self._info(base / name, shipped)
                except (OSError, FtclfError):  # not there, or not a saved classifier
                    continue
        raise InputError(f"expected the name of an available head, got {name!r}; pick one from the list")

    def resolve(self, name_or_path: str | Path) -> Path:
        """A saved classifier's directory from a path, the name of a shipped or user head, or the id
        ``owner/name`` of a head on the hub (downloaded into the hub cache)."""
        path = Path(name_or_path).expanduser()
        if path.is_dir():
            return path
        try:
            return self.info(str(name_or_path)).path
        except InputError:
            if hub_heads.is_repo_id(str(name_or_path)) and not path.exists():
                return hub_heads.pull(str(name_or_path))
            raise ModelFormatError(
                f"expected a saved classifier directory, a head name ({', '.join(self.names()) or 'none saved'}) or a "
                f"hub id owner/name, "
                f"got {str(name_or_path)!r}; pass the --output directory of `ftclf train` or one of those names"
            ) from None

    def get(self, name: str):
        """The served classifier of a head name."""
        return self.engine.classifier(self.info(name).path)

    def predict(self, name: str, texts, text_pairs=None) -> list:
        """Predictions of a head (batched with other callers' by the engine)."""
        return self.engine.predict(self.info(name).path, texts, text_pairs)

    def warm(self, names=None):
        """Load heads in the background (default: every shipped head), so first requests find them ready."""
        if names is None:  # the first tab's heads first
            order = {task: k for k, task in enumerate(TASKS)}
            names = [h.name for h in sorted(self.list(), key=lambda h: order.get(h.task, len(order))) if h.shipped]
        return self.engine.warm([self.info(n).path for n in names])

    def compare(self, names, texts, text_pairs=None) -> list[list]:
        return self.engine.compare([self.info(n).path for n in names], texts, text_pairs)

    def check_new_name(self, name: str) -> str:
        name = (name or "").strip()
        if not NAME_RE.match(name):
            raise InputError(
                f"expected a head name of lowercase letters, digits, '.', '_' or '-' (up to 63, starting with "
                f"a letter or digit), got {name!r}; e.g. my-sentiment-head"
            )
        if (self.shipped_dir / name).exists():
            raise InputError(f"expected a name that is not a shipped head, got {name!r}; shipped heads cannot be overwritten")
        return name

    def add(self, source, name: str, overwrite: bool = False) -> HeadInfo:
        """Save a classifier, or copy a saved classifier's directory, as the user head ``name``."""
        name = self.check_new_name(name)
        target = self.user_dir / name
        if target.exists() and not overwrite:
            raise InputError(f"expected a new head name, but {name!r} already exists; pick another name or delete it first")
        exclusive = not overwrite  # two saves under one new name: the second is refused, nothing is lost
        if isinstance(source, (str, Path)):
            format.copy(source, target, exclusive)
        else:
            source.save_pretrained(target, exclusive)
        if self._engine is not None:
            self._engine.forget(target)
        return self._info(target, shipped=False)

    def delete(self, name: str) -> None:
        info = self.info(name)
        if info.shipped:
            raise InputError(f"expected a user head, got the shipped head {name!r}; shipped heads cannot be deleted")
        with self._lock:
            if self._engine is not None:
                self._engine.forget(info.path)
            self._infos.pop(info.path, None)
            trash = info.path.parent / f".{name}.deleted-{int(time.time() * 1000)}"
            try:
                os.replace(info.path, trash)  # atomic: the head disappears at once, then is removed
            except OSError as exc:
                raise FtclfError(f"expected to delete {name!r}, but the disk said: {(exc.strerror or str(exc)).lower()}; "
                                 "the head is unchanged") from None
            shutil.rmtree(trash, ignore_errors=True)

    def export_zip(self, name: str, keep_seconds: float = 600.0) -> Path:
        """A zip of the head, in one temporary folder where zips older than ``keep_seconds`` are removed
        (the browser has fetched them by then)."""
        info = self.info(name)
        folder = Path(tempfile.gettempdir()) / "ftclf-exports"
        folder.mkdir(exist_ok=True)
        for old in folder.iterdir():
            if time.time() - old.stat().st_mtime > keep_seconds:
                shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)
        out = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=folder)) / name
        return Path(shutil.make_archive(str(out), "zip", root_dir=info.path.parent, base_dir=info.path.name))
