"""A fake Hugging Face Hub (model repositories as folders, no network) and its fixture, shared by the tests
of heads on the Hub and of who may push or pull them."""

from __future__ import annotations

import fnmatch
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from ftclf import hub_heads

TOKEN = "hf_secretsecretsecret"


class FakeHub:
    """Model repositories as folders; records what the client was asked to do."""

    def __init__(self, root: Path) -> None:
        self.root, self.cache = root / "remote", root / "cache"
        self.created, self.tokens, self.downloads = [], [], []
        self.fail_with: Exception | None = None

    def api(self, token=None):
        self.tokens.append(token)
        return SimpleNamespace(create_repo=self.create_repo, upload_folder=self.upload_folder,
                               model_info=self.model_info)

    def create_repo(self, repo_id, private=None, exist_ok=False, repo_type=None):
        if self.fail_with:
            raise self.fail_with
        self.created.append((repo_id, private))
        (self.root / repo_id).mkdir(parents=True, exist_ok=True)
        return SimpleNamespace(url=f"https://huggingface.co/{repo_id}")

    def upload_folder(self, repo_id, folder_path, allow_patterns=None, **kwargs):
        for path in Path(folder_path).rglob("*"):
            if path.is_file() and any(fnmatch.fnmatch(path.name, p) for p in allow_patterns):
                target = self.root / repo_id / path.relative_to(folder_path)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, target)

    def files(self, repo_id) -> list[str]:
        base = self.root / repo_id
        return sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.is_file())

    def model_info(self, repo_id, revision=None, files_metadata=False):
        if not (self.root / repo_id).is_dir():
            raise FileNotFoundError(f"404 Repository Not Found for url https://huggingface.co/api/models/{repo_id}")
        siblings = [SimpleNamespace(rfilename=name, size=(self.root / repo_id / name).stat().st_size if files_metadata
                                    else None) for name in self.files(repo_id)]
        return SimpleNamespace(siblings=siblings)

    def snapshot_download(self, repo_id, revision=None, token=None, allow_patterns=None):
        out = self.cache / repo_id
        for name in self.files(repo_id):
            if any(fnmatch.fnmatch(name.rsplit("/", 1)[-1], p) for p in allow_patterns):
                self.downloads.append(name)
                (out / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(self.root / repo_id / name, out / name)
        return str(out)


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    fake = FakeHub(tmp_path)
    monkeypatch.setattr(hub_heads, "HfApi", fake.api)
    monkeypatch.setattr(hub_heads, "snapshot_download", fake.snapshot_download)
    monkeypatch.setattr(hub_heads.hub, "require", lambda what: None)
    monkeypatch.setattr(hub_heads.hub, "reachable", lambda timeout=3.0: True)
    monkeypatch.setattr(hub_heads.hub, "cached_snapshot", lambda repo_id: None)
    return fake
