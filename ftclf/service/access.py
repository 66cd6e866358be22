"""Who may change what on a shared server: the operator's policy (read from the environment), the
visitor's identity, and the quotas.

A public Space is used by strangers, so every change the dashboard can make (train, save, delete,
push to or pull from the Hub) is checked here, in the gradio-free service, where the REST API cannot
go around it:

* ``FTCLF_READONLY=1``: a kiosk demo. Training, saving, deleting and the Hub are off; prediction works.
* A **visitor** is a random id kept in the browser (the dashboard's ``gr.BrowserState``); a user head
  records the hash of the id of the browser that saved it, and only that browser may delete it —
  or whoever holds the operator token ``FTCLF_ADMIN_TOKEN``.
* The server's own ``HF_TOKEN`` never pushes for a visitor unless ``FTCLF_HUB_PUSH_WITH_SERVER_TOKEN=1``
  (for a private Space whose visitors are its owner's team), and is never sent on a visitor's pull.
* Quotas: user heads at most ``FTCLF_MAX_USER_HEADS`` (count) and ``FTCLF_MAX_USER_HEADS_MB`` (bytes,
  together); a head pulled from the Hub at most ``FTCLF_MAX_PULL_MB``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, InputError

DEFAULT_MAX_USER_HEADS = 200
DEFAULT_MAX_USER_HEADS_MB = 5 * 1024
DEFAULT_MAX_PULL_MB = 500


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _count(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ConfigError(f"expected {name} to be a whole number >= 0, got {raw!r}; fix the server's environment")
    return value


class AccessDenied(InputError):
    """A change the server's policy, the head's owner or a quota does not allow."""


@dataclass(frozen=True)
class Policy:
    """What this server lets its visitors change (read from the environment by :func:`policy`)."""

    readonly: bool = False
    admin_token: str | None = None
    push_with_server_token: bool = False
    max_user_heads: int = DEFAULT_MAX_USER_HEADS
    max_user_bytes: int = DEFAULT_MAX_USER_HEADS_MB * 2**20
    max_pull_bytes: int = DEFAULT_MAX_PULL_MB * 2**20

    def check_writable(self, what: str) -> None:
        """Refuse ``what`` (e.g. "training") on a read-only server."""
        if self.readonly:
            raise AccessDenied(f"expected a dashboard that accepts changes, but this one is read-only "
                               f"(FTCLF_READONLY=1): {what} is turned off here; predictions still work, and "
                               "your own copy of ftclf (pip install, python app.py) does all of it")

    def push_token(self, token: str | None) -> str | None:
        """The token a visitor's push uses: their own; with none, the server's ``HF_TOKEN`` (returned as
        None: the hub client's own) only where the operator opted in, else AccessDenied."""
        self.check_writable("pushing to the Hub")
        token = (token or "").strip()
        if token:
            return token
        if self.push_with_server_token and os.environ.get("HF_TOKEN"):
            return None
        raise AccessDenied("expected your own Hugging Face token with write access, got an empty box; paste one in "
                           "the token box (this server does not push with its own token)")

    def pull_token(self, token: str | None) -> str | bool:
        """The token a visitor's pull sends: their own, or none at all (False), never the server's (which
        could read its owner's private repositories)."""
        self.check_writable("loading heads from the Hub")
        return (token or "").strip() or False

    def is_admin(self, token: str | None) -> bool:
        """Whether ``token`` is the operator token (compared in constant time; no token set: nobody is)."""
        return bool(self.admin_token) and bool(token) and hmac.compare_digest(str(token), self.admin_token)


def policy() -> Policy:
    """The policy in force now (the environment is read on each call, so tests and operators can change it)."""
    return Policy(
        readonly=_flag("FTCLF_READONLY"),
        admin_token=os.environ.get("FTCLF_ADMIN_TOKEN") or None,
        push_with_server_token=_flag("FTCLF_HUB_PUSH_WITH_SERVER_TOKEN"),
        max_user_heads=_count("FTCLF_MAX_USER_HEADS", DEFAULT_MAX_USER_HEADS),
        max_user_bytes=_count("FTCLF_MAX_USER_HEADS_MB", DEFAULT_MAX_USER_HEADS_MB) * 2**20,
        max_pull_bytes=_count("FTCLF_MAX_PULL_MB", DEFAULT_MAX_PULL_MB) * 2**20,
    )


def new_visitor_id() -> str:
    """A fresh random visitor id (128 bits): the browser keeps it, the server only its hash."""
    return secrets.token_hex(16)


def owner_key(visitor: str | None) -> str | None:
    """What a head records of the visitor who saved it: a hash, so the stored key opens nothing."""
    if not isinstance(visitor, str) or len(visitor) < 16:
        return None
    return hashlib.sha256(f"ftclf-visitor:{visitor}".encode()).hexdigest()


def visitor_secret(folder: Path) -> str:
    """The key the dashboard encrypts the visitor id with in the browser: ``$FTCLF_SECRET``, else one made
    once and kept in ``folder`` (so a restart does not make every visitor a stranger to their own heads),
    else (an unwritable folder) one for this process."""
    if os.environ.get("FTCLF_SECRET"):
        return os.environ["FTCLF_SECRET"]
    path = folder / ".visitor-secret"
    try:
        return path.read_text("utf-8").strip() or _new_secret(path)
    except FileNotFoundError:
        return _new_secret(path)
    except OSError:
        return secrets.token_hex(16)


def _new_secret(path: Path) -> str:
    value = secrets.token_hex(16)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(value)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_text("utf-8").strip() or value
    except OSError:
        pass
    return value
