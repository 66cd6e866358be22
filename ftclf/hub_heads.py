"""Saved heads on the Hugging Face Hub: push a head directory to a model repository, pull one back.

A pushed repository is the saved-classifier directory itself (``config.json``, ``head.safetensors``,
``adapter/`` or ``encoder/``) with a model card that says how to load it (``library_name: ftclf``,
task tags, metrics, usage). Pulling downloads only JSON, safetensors and text files (never pickle,
never code), into the hub cache, and refuses a repository that is not an ftclf head. Both fail within
seconds when the hub cannot be reached; the token (``HF_TOKEN``, the hub login, or one passed in) is
never written into a message.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import tempfile
from pathlib import Path

from huggingface_hub import HfApi, snapshot_download

from . import format, hub
from .card import model_card
from .errors import FtclfError, ModelFormatError

#: What a head repository may hold, and all that is ever downloaded from one: metadata and tokenizer
#: files (JSON, text), safetensors weights, an ONNX graph of an exported head, the model card.
ALLOWED = ("*.json", "*.safetensors", "*.txt", "*.md", "*.onnx", "*.model", ".gitattributes")
REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")


def is_repo_id(name: str) -> bool:
    """Whether ``name`` has the shape of a hub model id ``owner/name`` (no path syntax)."""
    return bool(REPO_ID.match(str(name))) and ".." not in str(name) and not str(name).endswith((".", "-"))


def check_repo_id(repo_id: str) -> str:
    repo_id = (repo_id or "").strip()
    if not is_repo_id(repo_id):
        raise FtclfError(f"expected a hub repository id owner/name (letters, digits, '.', '_', '-'), got {repo_id[:80]!r}; "
                         "e.g. my-user/my-text-classifier")
    return repo_id


def allowed(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(name, pattern) for pattern in ALLOWED)


def _hub_failure(what: str, exc: Exception, token: str | None) -> FtclfError:
    """A hub client error as one line, with the token (if any) never in it."""
    detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    if token:
        detail = detail.replace(token, "***")
    status = getattr(getattr(exc, "response", None), "status_code", None)
    hint = {401: "the token is missing or invalid: set HF_TOKEN or log in with `hf auth login`",
            403: "the token may not write there: use a token with write access to that owner",
            404: "no such repository (or it is private): check the id and the token"}.get(status, "check the id, the "
                                                                                                   "token and the network")
    return FtclfError(f"expected to {what}, but the hub said: {type(exc).__name__}: {detail}; {hint}")


def _reachable(what: str, cached: bool = False) -> None:
    """``cached``: whether what is asked for could have come from the local cache (it did not)."""
    try:
        hub.require(what)
    except ConnectionError as exc:
        where = " and it is not in the local cache" if cached else ""
        raise FtclfError(f"expected to {what}, but {exc}{where}; try again when online") from None


def push(directory: str | Path, repo_id: str, token: str | None = None, private: bool = False,
         commit_message: str | None = None) -> str:
    """Upload a saved head to the model repository ``repo_id`` (created if needed); returns its URL."""
    repo_id = check_repo_id(repo_id)
    source = Path(directory)
    meta = format.read_metadata(source)  # a saved, undamaged ftclf head (no pickle) or a clear error
    others = sorted(str(p.relative_to(source)) for p in source.rglob("*") if p.is_file() and not allowed(p.name))
    if others:
        raise FtclfError(f"expected only JSON, safetensors and text files in a head to push, found {', '.join(others[:5])}; "
                         "remove them or push a head saved by ftclf")
    _reachable(f"push to {repo_id}")
    token = token or None  # "" from an empty password box: the environment's token
    with tempfile.TemporaryDirectory(prefix="ftclf-push-") as tmp:
        staged = Path(tmp) / "head"
        shutil.copytree(source, staged)
        (staged / format.CARD_NAME).write_text(model_card(meta, repo_id=repo_id), "utf-8")
        api = HfApi(token=token)
        try:
            url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
            api.upload_folder(repo_id=repo_id, folder_path=str(staged), repo_type="model", allow_patterns=list(ALLOWED),
                              commit_message=commit_message or f"Upload ftclf {meta.model.task} head ({meta.model.head})")
        except Exception as exc:  # HTTP, auth, network: one message without the token
            raise _hub_failure(f"push to {repo_id}", exc, token) from None
    return str(getattr(url, "url", None) or f"https://huggingface.co/{repo_id}")


def _repo_files(repo_id: str, revision: str | None, token: str | bool | None) -> dict[str, int]:
    """{path: bytes} of every file of a model repository (one API call, before anything is downloaded)."""
    info = HfApi(token=token).model_info(repo_id, revision=revision, files_metadata=True)
    return {s.rfilename: int(s.size or 0) for s in info.siblings or []}


def pull(repo_id: str, revision: str | None = None, token: str | bool | None = None,
         max_bytes: int | None = None) -> Path:
    """The local directory of the head at ``repo_id`` (downloaded into the hub cache, or found there
    when offline): safetensors and JSON only; a repository that is no ftclf head, or (with
    ``max_bytes``) a larger one, is refused before anything is downloaded. ``token``: a string, None
    (the machine's own login) or False (none: a stranger's pull never uses the server's token)."""
    repo_id = check_repo_id(repo_id)
    token = token if token is False else (token or None)
    cached = hub.cached_snapshot(repo_id) if revision is None else None
    if cached is not None and (hub.offline() or not hub.reachable()):
        return _checked(Path(cached), repo_id)
    _reachable(f"download the head {repo_id}", cached=True)
    try:
        files = _repo_files(repo_id, revision, token)
        if format.CONFIG_NAME not in files:
            raise ModelFormatError(f"expected an ftclf head at {repo_id} (a {format.CONFIG_NAME} and {format.HEAD_NAME}), "
                                   f"found {len(files)} files without {format.CONFIG_NAME}; pick a repository pushed by ftclf")
        if format.HEAD_NAME not in files:
            pickled = [f for f in files if f.endswith(format.PICKLE_SUFFIXES)]
            found = f"pickle-based weights ({', '.join(pickled[:3])})" if pickled else f"no {format.HEAD_NAME}"
            raise ModelFormatError(f"expected head weights as {format.HEAD_NAME} at {repo_id}, found {found}; ftclf loads "
                                   "safetensors only (pickle can run code when loaded)")
        size = sum(n for f, n in files.items() if allowed(f))
        if max_bytes is not None and size > max_bytes:
            raise FtclfError(f"expected a head of at most {max_bytes / 2**20:.0f} MB to download, found {size / 2**20:.0f} "
                             f"MB at {repo_id}; load it with your own copy of ftclf, or ask the operator to raise "
                             "FTCLF_MAX_PULL_MB")
        path = snapshot_download(repo_id, revision=revision, token=token, allow_patterns=list(ALLOWED))
    except FtclfError:
        raise
    except Exception as exc:
        raise _hub_failure(f"download the head {repo_id}", exc, token) from None
    return _checked(Path(path), repo_id)


def _checked(path: Path, repo_id: str) -> Path:
    try:
        format.read_metadata(path)
    except ModelFormatError as exc:
        raise ModelFormatError(f"expected an ftclf head at {repo_id}; {exc}") from None
    return path
