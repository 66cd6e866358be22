"""The service objects shared by every tab (one HeadStore and one job table per process) and the
FtclfError -> gr.Error mapping at the UI edge."""

from __future__ import annotations

import functools
import html
import re
import threading

import gradio as gr

from ..errors import FtclfError
from ..service import HeadStore, TrainingJobs
from ..tasks import get_task

_store: HeadStore | None = None
_jobs: TrainingJobs | None = None
_lock = threading.Lock()


def store() -> HeadStore:
    global _store
    with _lock:
        if _store is None:
            _store = HeadStore()
        return _store


def jobs() -> TrainingJobs:
    """The process's training runs (each in its own worker process)."""
    global _jobs
    with _lock:
        if _jobs is None:
            _jobs = TrainingJobs()
        return _jobs


def set_store(new: HeadStore | None) -> None:
    """Point the UI at another store (tests use temporary directories)."""
    global _store
    with _lock:
        _store = new


_PATH = re.compile(r"(?:[A-Za-z]:)?(?:/[^/\s'\"`,;:()<>]+){2,}/?")


_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+!|~>-])")


def md(text) -> str:
    """A user-supplied string (a label, a column, a word) made inert inside Markdown: HTML escaped
    (no ``<img src=…>`` fetched by every viewer) and Markdown syntax backslashed (no links)."""
    return _MARKDOWN.sub(r"\\\1", html.escape(str(text), quote=False))


def redact(message: str) -> str:
    """A message fit for a stranger's browser: server paths shortened to their last part."""
    return _PATH.sub(lambda m: "…/" + m.group(0).rstrip("/").rsplit("/", 1)[-1], message)


def ui_errors(fn):
    """Turn the project's errors into gr.Error at the UI edge (the message is shown, server paths
    redacted); an unexpected failure is logged and reported without its internals."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except FtclfError as exc:
            raise gr.Error(html.escape(redact(str(exc)))) from exc
        except OSError as exc:
            raise gr.Error(f"expected the server's disk to accept this, but it said: {exc.strerror or type(exc).__name__}; "
                           "try again later or report it") from exc

    return wrapper


def session_of(request) -> str:
    return getattr(request, "session_hash", None) or "default"


def no_head_notice(task: str) -> str:
    return (f"**No {get_task(task).title} head is available yet.** Train one in the **Train** tab "
            "(a built-in sample takes under a minute), save it, and it appears here.")
