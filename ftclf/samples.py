"""The built-in sample data sets (hand-written, offline) listed in ``assets/samples/index.json``:
the dashboard's demo data, and the text that calibrates int8 exports."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .errors import InputError


def samples_dir() -> Path:
    """Where the sample files are: package data (``ftclf/assets/samples``, the repository's ``assets/samples``)."""
    return Path(str(resources.files("ftclf") / "assets" / "samples"))


@dataclass(frozen=True)
class Sample:
    name: str
    task: str
    path: Path
    description: str


def samples(task: str | None = None) -> list[Sample]:
    base = samples_dir()
    index = json.loads((base / "index.json").read_text("utf-8"))
    found = [Sample(s["name"], s["task"], base / s["file"], s["description"]) for s in index]
    return [s for s in found if task is None or s.task == task]


def sample(name: str) -> Sample:
    for s in samples():
        if s.name == name:
            return s
    raise InputError(f"expected a built-in sample name ({', '.join(s.name for s in samples())}), got {name!r}")
