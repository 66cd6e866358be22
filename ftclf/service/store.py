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
from ..format import CONFIG_NAME, Metadata, check_weights, read_metadata
from ..tasks import TASKS
from .access import AccessDenied, owner_key, policy
from .assets import shipped_heads_dir, user_heads_dir

logger = logging.getLogger(__name__)

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
#: Damaged heads logged one by one at most (then one line says there are more).
MAX_WARNINGS = 20
#: Who saved each user head (the hash of the saving browser's visitor id): ``<user dir>/.owners/<name>``.
OWNERS_DIR = ".owners"


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
            "mode": self.meta.mode, "pair mode": model.pair_mode if "pair_mode" in model.task_spec.options else "",
            "encoder": self.meta.encoder.name, "data": str(self.meta.data.get("train", "")),
            "validation": f"{key} {100 * value:.1f}" if value is not None else "",
            "calibration": _calibration_cell(self.meta.calibration),
            "size (MB)": round(self.size_bytes / 2**20, 2), "created": self.meta.created[:16].replace("T", " "),
            "source": "shipped" if self.shipped else "user",
        }


def _calibration_cell(cal) -> str:
    """The Models table's calibration column: the cross-fitted ECE and how it was reached, or "none"."""
    if cal is None:
        return "none (plain softmax)"
    after = cal.metrics.get("after", {})
    key = "entity_ece" if "entity_ece" in after else "ece"
    shown = f"{'entity ' if key == 'entity_ece' else ''}ECE {after[key]:.3f}, " if key in after else ""
    return (f"{shown}T {cal.temperature:.2f}" + (f", threshold {cal.threshold:.2f}" if cal.threshold is not None else "")
            + (f", thresholds {min(cal.thresholds):.2f}–{max(cal.thresholds):.2f} per label" if cal.thresholds else ""))


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
    """A head's info; its metadata and the headers of its weight files are checked (not the weights)."""
    meta = read_metadata(path)
    check_weights(path)
    return HeadInfo(path.name, path, shipped, meta, _dir_size(path))


class HeadStore:
    """Shipped and user heads by name. Listing reads each head's config.json (cached until the file
    changes); prediction goes through the serving engine (``ftclf.serving.Engine``)."""

    def __init__(self, shipped_dir: Path | None = None, user_dir: Path | None = None, engine=None) -> None:
        self.shipped_dir = Path(shipped_dir or shipped_heads_dir())
        self.user_dir = Path(user_dir or user_heads_dir())
        self._engine = engine
        self._infos: dict[Path, tuple[float, HeadInfo]] = {}
        self._warned: set[Path] = set()
        self._broken: dict[str, tuple[int, tuple | None, Damaged]] = {}
        self._lock = threading.RLock()
        self.clean_debris()

    @property
    def engine(self):
        from ..serving import Engine

        with self._lock:
            if self._engine is None:
                self._engine = Engine()
            return self._engine

    def _entries(self) -> list[tuple[os.DirEntry, bool]]:
        """Head folders, sorted by name: only names a head can have (no hidden, temporary or uppercase ones)."""
        found = []
        for base, shipped in ((self.shipped_dir, True), (self.user_dir, False)):
            try:
                with os.scandir(base) as entries:
                    found += sorted(((e, shipped) for e in entries if NAME_RE.match(e.name) and e.is_dir()),
                                    key=lambda item: item[0].name)
            except OSError:  # no such directory (yet)
                continue
        return found

    def _dirs(self) -> list[tuple[Path, bool]]:
        return [(Path(entry.path), shipped) for entry, shipped in self._entries()]

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

    @staticmethod
    def _stamp(path: Path | str) -> tuple:
        """What changes when a head is re-saved or damaged: its config's and weights' times and sizes."""
        out = []
        for file in (CONFIG_NAME, format.HEAD_NAME):
            try:
                st = os.stat(os.path.join(path, file))
                out += [st.st_mtime_ns, st.st_size]
            except OSError:
                out += [None, None]
        return tuple(out)

    def _info(self, path: Path, shipped: bool) -> HeadInfo:
        """A head's info, read again only when its config.json or weights changed; a folder that is no
        saved head raises ModelFormatError (naming the missing file), a vanished one OSError."""
        if not path.is_dir():
            raise FileNotFoundError(path)
        stamp = self._stamp(path)
        with self._lock:
            cached = self._infos.get(path)
            if cached is None or cached[0] != stamp:
                cached = (stamp, head_info(path, shipped))
                self._infos[path] = cached
            return cached[1]

    def _damage(self, path: Path, shipped: bool, exc: Exception) -> Damaged:
        """Why a head folder is unusable (remembered until the folder changes; logged once)."""
        reason = str(exc) if isinstance(exc, FtclfError) else f"{type(exc).__name__}: {exc.strerror or exc}"
        with self._lock:
            if path not in self._warned:
                self._warned.add(path)
                if len(self._warned) <= MAX_WARNINGS:
                    logger.warning("skipping the damaged head %s: %s", path, reason)
                elif len(self._warned) == MAX_WARNINGS + 1:
                    logger.warning("more damaged heads in %s: only the first %d are logged; the Models tab counts "
                                   "them", path.parent, MAX_WARNINGS)
        return Damaged(path.name, path, shipped, reason)

    def scan(self) -> tuple[list[HeadInfo], list[Damaged]]:
        """(usable heads, damaged ones with the reason): a damaged head is never fatal, never usable.
        A damaged folder is read again only when it changes: 10,000 empty folders cost a stat each."""
        infos, damaged = [], []
        for entry, shipped in self._entries():
            try:
                folder = entry.stat().st_mtime_ns  # changes when a file inside is added or removed
            except OSError:
                continue  # removed meanwhile
            known = self._broken.get(entry.path)
            if known is not None and known[0] == folder and (known[1] is None or known[1] == self._stamp(entry.path)):
                damaged.append(known[2])
                continue
            path = Path(entry.path)
            try:
                infos.append(self._info(path, shipped))
                self._broken.pop(entry.path, None)
            except (FtclfError, OSError) as exc:
                found = self._damage(path, shipped, exc)
                stamp = self._stamp(path)
                with self._lock:  # files that are there may change in place: their stamp is checked too
                    self._broken[entry.path] = (folder, None if stamp[0] is None and stamp[2] is None else stamp, found)
                damaged.append(found)
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
                f"a letter or digit), got {name!r}; e.g. my-text-classifier"
            )
        if (self.shipped_dir / name).exists():
            raise InputError(f"expected a name that is not a shipped head, got {name!r}; shipped heads cannot be overwritten")
        return name

    def user_usage(self) -> tuple[int, int]:
        """(user heads, their bytes): what the quotas count (damaged folders included: they take room too)."""
        dirs = [p for p, shipped in self._dirs() if not shipped]
        return len(dirs), sum(_dir_size(p) for p in dirs)

    def check_quota(self, adding_bytes: int = 0) -> None:
        """Refuse one more user head of ``adding_bytes`` when it would pass this server's quotas."""
        rules = policy()
        count, used = self.user_usage()
        if count >= rules.max_user_heads:
            raise AccessDenied(f"expected room for another user head, but this server keeps at most "
                               f"{rules.max_user_heads} and has {count}; delete one you saved (Models tab) or ask the "
                               "operator to raise FTCLF_MAX_USER_HEADS")
        if used + adding_bytes > rules.max_user_bytes:
            raise AccessDenied(f"expected room for a head of {adding_bytes / 2**20:.1f} MB, but the user heads take "
                               f"{used / 2**20:.0f} of this server's {rules.max_user_bytes / 2**20:.0f} MB; delete a "
                               "head you saved (Models tab) or ask the operator to raise FTCLF_MAX_USER_HEADS_MB")

    def add(self, source, name: str, overwrite: bool = False, owner: str | None = None) -> HeadInfo:
        """Save a classifier, or copy a saved classifier's directory, as the user head ``name``. ``owner``:
        the visitor id of the browser saving it (only that browser may delete it). Checked first: the
        server is not read-only, the name, the quotas."""
        policy().check_writable("saving heads")
        name = self.check_new_name(name)
        target = self.user_dir / name
        if target.exists() and not overwrite:
            raise InputError(f"expected a new head name, but {name!r} already exists; pick another name or delete it first")
        self.check_quota(_dir_size(Path(source)) if isinstance(source, (str, Path)) else 0)
        exclusive = not overwrite  # two saves under one new name: the second is refused, nothing is lost
        if isinstance(source, (str, Path)):
            format.copy(source, target, exclusive)
        else:
            source.save_pretrained(target, exclusive)
        self._set_owner(name, owner_key(owner))
        if self._engine is not None:
            self._engine.forget(target)
        return self._info(target, shipped=False)

    def _owner_file(self, name: str) -> Path:
        return self.user_dir / OWNERS_DIR / name

    def _set_owner(self, name: str, key: str | None) -> None:
        path = self._owner_file(name)
        if key is None:
            path.unlink(missing_ok=True)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{name}.tmp-{os.getpid()}-{threading.get_ident()}")
        tmp.write_text(key, "utf-8")
        os.replace(tmp, path)

    def owned_by(self, name: str, visitor: str | None) -> bool:
        """Whether the user head ``name`` was saved from the browser whose visitor id is ``visitor``."""
        key = owner_key(visitor)
        try:
            return key is not None and self._owner_file(name).read_text("utf-8").strip() == key
        except OSError:
            return False

    def owned_names(self, visitor: str | None) -> list[str]:
        """The user heads saved from this visitor's browser."""
        return [h.name for h in self.list() if not h.shipped and self.owned_by(h.name, visitor)]

    def delete(self, name: str, visitor: str | None = None, admin_token: str | None = None) -> None:
        """Delete a user head: only from the browser that saved it (``visitor``), or with the operator
        token; never on a read-only server, never a shipped head."""
        rules = policy()
        rules.check_writable("deleting heads")
        info = self.info(name)
        if info.shipped:
            raise InputError(f"expected a user head, got the shipped head {name!r}; shipped heads cannot be deleted")
        if not (self.owned_by(name, visitor) or rules.is_admin(admin_token)):
            raise AccessDenied(f"expected a head saved from this browser, but {name!r} was saved elsewhere; only the "
                               "browser that saved it, or the server's operator (with FTCLF_ADMIN_TOKEN), may delete it")
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
            self._owner_file(name).unlink(missing_ok=True)
            shutil.rmtree(trash, ignore_errors=True)

    def set_threshold(self, name: str, threshold: float | None, visitor: str | None = None,
                      admin_token: str | None = None) -> HeadInfo:
        """Save a binary user head's operating point (None: back to the argmax); who may is who may delete it."""
        from ..recalibration import set_threshold

        rules = policy()
        rules.check_writable("changing heads")
        info = self.info(name)
        if info.shipped:
            raise InputError(f"expected a user head, got the shipped head {name!r}; shipped heads cannot be changed: "
                             "save a copy under your own name first (ftclf calibrate --model NAME --output DIR)")
        if not (self.owned_by(name, visitor) or rules.is_admin(admin_token)):
            raise AccessDenied(f"expected a head saved from this browser, but {name!r} was saved elsewhere; only the "
                               "browser that saved it, or the server's operator, may change it")
        with self._lock:
            set_threshold(info.path, threshold)
            if self._engine is not None:
                self._engine.forget(info.path)
            self._infos.pop(info.path, None)
        return self._info(info.path, shipped=False)

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
