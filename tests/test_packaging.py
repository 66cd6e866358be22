"""``pip install .`` gives a working package outside the repository: the ``ftclf`` command, the
shipped heads and samples as package data, and the dashboard package. Slow (builds and installs
a wheel into a fresh virtual environment that borrows the already installed dependencies)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("install") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(path)], check=True)
    subprocess.run([str(path / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", str(ROOT)], check=True)
    return path


def run(venv: Path, *argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    return subprocess.run([str(venv / "bin" / argv[0]), *argv[1:]], cwd=venv.parent, env=env, capture_output=True,
                          text=True, timeout=300)


def test_the_installed_package_is_not_the_checkout(venv):
    out = run(venv, "python", "-c", "import ftclf, ftclf.ui; print(ftclf.__file__)")
    assert out.returncode == 0, out.stderr
    assert str(venv) in out.stdout and str(ROOT) not in out.stdout


def test_ftclf_predict_with_a_shipped_head_by_name(venv):
    out = run(venv, "ftclf", "predict", "--model", "sentiment-sst2", "--text", "a wonderful , moving film")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)[0]["label"] == "positive"
    out = run(venv, "python", "-m", "ftclf", "predict", "--model", "ner-conll2003", "--text", "Angela Merkel visited Paris.")
    assert out.returncode == 0, out.stderr
    assert [e["label"] for e in json.loads(out.stdout)[0]["entities"]] == ["PER", "LOC"]


def test_samples_are_installed(venv):
    code = "from ftclf.service import samples; print(len([s for s in samples() if s.path.is_file()]))"
    out = run(venv, "python", "-c", code)
    assert out.returncode == 0 and out.stdout.strip() == "4", out.stderr
