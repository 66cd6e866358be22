"""The README's front matter is a Hugging Face Space's configuration: it must build the app with the
gradio and Python the project is tested with."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomllib
from huggingface_hub import metadata_load
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from ftclf.service import assets

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def space() -> dict:
    return metadata_load(ROOT / "README.md")


def _requirement(name: str) -> Requirement:
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and Requirement(line).name == name:
            return Requirement(line)
    raise AssertionError(f"{name} is not in requirements.txt")


def test_sdk_version_is_a_gradio_the_requirements_allow(space):
    assert space["sdk"] == "gradio"
    assert space["sdk_version"] in _requirement("gradio").specifier, (space["sdk_version"], str(_requirement("gradio")))


def test_python_version_is_one_the_package_supports(space):
    requires = SpecifierSet(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"])
    assert isinstance(space["python_version"], str)  # quoted: YAML would read 3.10 as 3.1
    assert f"{space['python_version']}.0" in requires


def test_app_file_license_and_metadata(space):
    assert (ROOT / space["app_file"]).is_file()
    assert space["license"] == "apache-2.0" and "Apache License" in (ROOT / "LICENSE").read_text()
    assert len(space["short_description"]) <= 60  # the Hub's limit
    assert "sentence-transformers/all-MiniLM-L6-v2" in space["models"]
    assert all("/" in d for d in space["datasets"])


def test_user_heads_go_to_persistent_storage_when_the_space_has_it(tmp_path, monkeypatch):
    monkeypatch.delenv("FTCLF_USER_HEADS", raising=False)
    monkeypatch.setattr(assets, "PERSISTENT_STORAGE", str(tmp_path / "missing"))
    assert assets.user_heads_dir() == Path.home() / ".cache" / "ftclf" / "heads"
    monkeypatch.setattr(assets, "PERSISTENT_STORAGE", str(tmp_path))
    assert assets.user_heads_dir() == tmp_path / "ftclf" / "heads"
    monkeypatch.setenv("FTCLF_USER_HEADS", str(tmp_path / "mine"))
    assert assets.user_heads_dir() == tmp_path / "mine"
