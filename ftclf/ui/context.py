"""The service objects shared by every tab (one HeadStore and one job table per process) and the
FtclfError -> gr.Error mapping at the UI edge."""

from __future__ import annotations

import functools
import html
import inspect
import logging
import os
import re
import threading
from pathlib import Path

import gradio as gr

from ..errors import FtclfError
from ..service import Drafts, HeadStore, TrainingJobs
from ..tasks import get_task

_store: HeadStore | None = None
_jobs: TrainingJobs | None = None
_lock = threading.RLock()  # jobs() asks store() while holding it
logger = logging.getLogger(__name__)


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
            # a browser's finished, unsaved run is kept on disk beside the user heads (FTCLF_DRAFTS overrides)
            _jobs = TrainingJobs(drafts=Drafts(Path(os.environ.get("FTCLF_DRAFTS") or store().user_dir.parent / "drafts")))
        return _jobs


def browser_key(visitor: str | None, request) -> str:
    """Who a training run belongs to: the browser (its visitor id), else the page's session."""
    from ..service import owner_key

    return visitor if owner_key(visitor) is not None else session_of(request)


def set_store(new: HeadStore | None) -> None:
    """Point the UI at another store (tests use temporary directories)."""
    global _store
    with _lock:
        _store = new


_PATH = re.compile(r"(?:[A-Za-z]:)?(?:/[^/\s'\"`,;:()<>]+){2,}/?")


#: Markdown syntax, and the ``:`` / ``.`` / ``@`` without which GFM's autolinks (``https://…``, ``www.…``,
#: ``a@b.c``) do not match: marked (gradio's renderer) reads ``https\://`` and ``www\.`` as text
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+!|~>:.@-])")


def md(text) -> str:
    """A user-supplied string (a label, a column, a word) made inert inside Markdown: HTML escaped
    (no ``<img src=…>`` fetched by every viewer), Markdown syntax backslashed (no links) and bare
    URLs broken for the autolinker (``https://evil.example`` stays text); it reads the same."""
    return _MARKDOWN.sub(r"\\\1", html.escape(str(text), quote=False))


def redact(message: str) -> str:
    """A message fit for a stranger's browser: server paths shortened to their last part."""
    return _PATH.sub(lambda m: "…/" + m.group(0).rstrip("/").rsplit("/", 1)[-1], message)


#: the Train tab's box for each column role the data readers name (roles without a box: the file's own names)
COLUMN_BOXES = {"text": "Text column", "text pair": "Second text column", "label": "Label column"}
#: the readers' column hints, written for the command line (data.pick_column)
_NAME_COLUMN = re.compile(r"name the ([\w ]+?) column explicitly \(columns=ColumnMap\(\w+=\.\.\.\)\)")
_PASS_COLUMN = re.compile(r"pass one of those as the ([\w ]+?) column\b")


def _column_hint(role: str, how: str) -> str:
    box = COLUMN_BOXES.get(role)
    if box is None:
        return f"rename the file's {role} column to one of the names expected and upload it again"
    return f"{how} in the {box} box below (Preview shows the columns)"


def for_browser(message: str) -> str:
    """An error message in the browser's language: server paths redacted, command-line hints
    (``ColumnMap(text=...)``) replaced by the form's boxes."""
    message = _NAME_COLUMN.sub(lambda m: _column_hint(m.group(1), f"pick the {m.group(1)} column"), redact(message))
    return _PASS_COLUMN.sub(lambda m: _column_hint(m.group(1), "pick one of those"), message)


def ui_error(exc: Exception) -> gr.Error:
    """The gr.Error a browser sees for ``exc``: the project's errors by their message, a disk's refusal by
    its reason, anything else (a bug) logged here with its traceback and named only by its kind."""
    if isinstance(exc, gr.Error):
        return exc
    if isinstance(exc, FtclfError):
        return gr.Error(html.escape(for_browser(str(exc))))
    if isinstance(exc, OSError):
        return gr.Error(f"expected the server's disk to accept this, but it said: {exc.strerror or type(exc).__name__}; "
                        "try again later or report it")
    logger.exception("unexpected failure in a dashboard handler", exc_info=exc)
    return gr.Error(f"expected this to work, but the server failed unexpectedly ({type(exc).__name__}); "
                    "the details are in the server log — try other input or report it")


def ui_errors(fn):
    """Turn errors into gr.Error at the UI edge (:func:`ui_error`): the project's errors show their
    message, server paths redacted; an unexpected failure is logged and reported without its internals.
    Generator handlers (streaming) are wrapped as generators, so gradio still streams them; coroutine handlers
    as coroutines, so gradio still awaits them on its event loop."""

    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def waiting(*args, **kwargs):
            try:
                return await fn(*args, **kwargs)
            except Exception as exc:
                raise ui_error(exc) from exc

        return waiting

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def streaming(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except Exception as exc:
                raise ui_error(exc) from exc

        return streaming

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            raise ui_error(exc) from exc

    return wrapper


def session_of(request) -> str:
    return getattr(request, "session_hash", None) or "default"


def no_head_notice(task: str) -> str:
    return (f"**No {get_task(task).title} head is available yet.** Train one in the **Train** tab "
            "(a built-in sample takes under a minute), save it, and it appears here.")


def finished_run(visitor: str | None, request) -> tuple[dict, Path] | None:
    """(summary, head directory) of this browser's finished run: the run of this page, or the browser's draft
    kept on disk (from an earlier page, or before a restart); None when there is neither."""
    job = jobs().get(browser_key(visitor, request))
    if job is not None and job.outcome is not None:
        return job.summary(), job.outcome.draft
    draft = jobs().drafts.get(visitor) if jobs().drafts is not None else None
    return (draft.run, draft.head) if draft is not None else None
