"""The one gradio-free facade the UI calls: heads on disk, prediction, explanation, training jobs.

Shipped heads live in ``assets/heads`` (read-only); heads saved from the Train tab go to a user
directory (``$FTCLF_USER_HEADS``, default ``~/.cache/ftclf/heads``). Loaded classifiers are cached
and share one copy of the default encoder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import DataError, FtclfError, InputError
from .persistence import is_saved_classifier, read_metadata

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_DIR = Path(os.environ.get("FTCLF_SHIPPED_HEADS", ROOT / "assets" / "heads"))
SAMPLES_DIR = ROOT / "assets" / "samples"
MAX_UPLOAD_BYTES = 20 * 2**20  # documented in the README and shown in the Train tab
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")

TASK_TITLES = {"sequence": "Sentiment / text classification", "pair": "Paraphrase / NLI", "token": "NER"}


def user_heads_dir() -> Path:
    return Path(os.environ.get("FTCLF_USER_HEADS", Path.home() / ".cache" / "ftclf" / "heads"))


@dataclass
class HeadInfo:
    """What the UI shows about a saved head, read from its config.json alone."""

    name: str
    path: Path
    shipped: bool
    task: str
    labels: list[str]
    head: str
    mode: str
    pooling: str
    pair_mode: str
    encoder: str
    data: str
    metrics: dict
    size_bytes: int
    created: str

    @property
    def main_metric(self) -> tuple[str, float | None]:
        key = self.metrics.get("main_metric") or ("f1" if self.task == "token" else "accuracy")
        return key, self.metrics.get(key)

    def row(self) -> dict:
        key, value = self.main_metric
        return {
            "name": self.name, "task": self.task, "labels": ", ".join(self.labels), "head": self.head,
            "mode": self.mode, "pair mode": self.pair_mode if self.task == "pair" else "",
            "encoder": self.encoder, "data": self.data,
            "validation": f"{key} {100 * value:.1f}" if isinstance(value, (int, float)) else "",
            "size (MB)": round(self.size_bytes / 2**20, 2), "created": self.created[:16].replace("T", " "),
            "source": "shipped" if self.shipped else "user",
        }


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def head_info(path: Path, shipped: bool) -> HeadInfo:
    meta = read_metadata(path)
    model, data = meta["model"], meta.get("data") or {}
    return HeadInfo(
        name=path.name, path=path, shipped=shipped, task=model["task"], labels=model["labels"], head=model["head"],
        mode=meta.get("mode", "frozen"), pooling=model.get("pooling", "mean"), pair_mode=model.get("pair_mode", "cross"),
        encoder=meta["encoder"]["name"], data=str(data.get("train", "")), metrics=meta.get("metrics") or {},
        size_bytes=_dir_size(path), created=meta.get("created", ""),
    )


class HeadStore:
    """Shipped and user heads by name; loads (and caches) classifiers on demand."""

    def __init__(self, shipped_dir: Path | None = None, user_dir: Path | None = None) -> None:
        self.shipped_dir = Path(shipped_dir or SHIPPED_DIR)
        self.user_dir = Path(user_dir or user_heads_dir())
        self._cache: dict[str, tuple[float, object]] = {}
        self._encoder = None
        self._lock = threading.RLock()

    def _dirs(self) -> list[tuple[Path, bool]]:
        found = []
        for base, shipped in ((self.shipped_dir, True), (self.user_dir, False)):
            if base.is_dir():
                found += [(p, shipped) for p in sorted(base.iterdir()) if p.is_dir() and is_saved_classifier(p)]
        return found

    def list(self, task: str | None = None) -> list[HeadInfo]:
        infos = []
        for path, shipped in self._dirs():
            try:
                info = head_info(path, shipped)
            except FtclfError:
                continue  # a damaged user head is skipped, never fatal
            if task is None or info.task == task:
                infos.append(info)
        return infos

    def names(self, task: str | None = None) -> list[str]:
        return [h.name for h in self.list(task)]

    def info(self, name: str) -> HeadInfo:
        """One head's info, read from its own directory (no scan of the others)."""
        if isinstance(name, str) and NAME_RE.match(name):
            for base, shipped in ((self.shipped_dir, True), (self.user_dir, False)):
                if is_saved_classifier(base / name):
                    return head_info(base / name, shipped)
        raise InputError(f"expected the name of an available head, got {name!r}; pick one from the list")

    def shared_encoder(self):
        from .encoders import load_encoder

        with self._lock:
            if self._encoder is None:
                self._encoder = load_encoder(None)
            return self._encoder

    def get(self, name: str):
        """The loaded classifier for a head name (reloaded if its files changed)."""
        from .encoders import is_default_encoder
        from .model import Classifier

        info = self.info(name)
        stamp = (info.path / "config.json").stat().st_mtime
        with self._lock:
            cached = self._cache.get(name)
            if cached and cached[0] == stamp:
                return cached[1]
            encoder = self.shared_encoder() if is_default_encoder(info.encoder) and info.mode != "full" else None
            clf = Classifier.from_pretrained(info.path, encoder=encoder)
            self._cache[name] = (stamp, clf)
            return clf

    def check_new_name(self, name: str) -> str:
        name = (name or "").strip()
        if not NAME_RE.match(name):
            raise InputError(
                f"expected a head name of lowercase letters, digits, '.', '_' or '-' (up to 63, starting with "
                f"a letter or digit), got {name!r}; e.g. my-sentiment-head"
            )
        if (self.shipped_dir / name).exists():
            raise InputError(f"expected a name that is not a shipped head, got {name!r}; shipped heads cannot be overwritten")
        return name

    def add(self, clf, name: str, overwrite: bool = False) -> HeadInfo:
        name = self.check_new_name(name)
        target = self.user_dir / name
        if target.exists() and not overwrite:
            raise InputError(f"expected a new head name, but {name!r} already exists; pick another name or delete it first")
        clf.save_pretrained(target)
        with self._lock:
            self._cache.pop(name, None)
        return head_info(target, shipped=False)

    def delete(self, name: str) -> None:
        info = self.info(name)
        if info.shipped:
            raise InputError(f"expected a user head, got the shipped head {name!r}; shipped heads cannot be deleted")
        with self._lock:
            self._cache.pop(name, None)
            trash = info.path.parent / f".{name}.deleted-{int(time.time() * 1000)}"
            os.replace(info.path, trash)  # atomic: the head disappears at once, then is removed
            shutil.rmtree(trash, ignore_errors=True)

    def export_zip(self, name: str) -> Path:
        info = self.info(name)
        out = Path(tempfile.mkdtemp(prefix="ftclf-export-")) / name
        return Path(shutil.make_archive(str(out), "zip", root_dir=info.path.parent, base_dir=info.path.name))


# --------------------------------------------------------------------------- samples
@dataclass(frozen=True)
class Sample:
    name: str
    task: str
    path: Path
    description: str


def samples() -> list[Sample]:
    index = json.loads((SAMPLES_DIR / "index.json").read_text("utf-8"))
    return [Sample(s["name"], s["task"], SAMPLES_DIR / s["file"], s["description"]) for s in index]


def sample(name: str) -> Sample:
    for s in samples():
        if s.name == name:
            return s
    raise InputError(f"expected a built-in sample name, got {name!r}")


# ----------------------------------------------------------------------- training jobs
@dataclass
class TrainJob:
    """Everything the Train tab collects, as plain data."""

    task: str
    source: str  # "sample" | "upload" | "hub"
    path: str  # sample name, uploaded file path, or hub spec ID[:CONFIG[:SPLIT]]
    head: str = "linear"
    mode: str = "frozen"
    pooling: str = "mean"
    pair_mode: str = "cross"
    epochs: int | None = None
    learning_rate: float | None = None
    batch_size: int | None = None
    text_column: str | None = None
    text_pair_column: str | None = None
    label_column: str | None = None
    max_examples: int | None = None


def resolve_data_path(job: TrainJob) -> str:
    if job.source == "sample":
        s = sample(job.path)
        if s.task != job.task:
            raise DataError(f"expected a {job.task} sample, got the {s.task} sample {s.name!r}; pick a matching sample")
        return str(s.path)
    if job.source == "hub":
        spec = (job.path or "").strip()
        if not spec:
            raise DataError("expected a hub dataset id such as glue:sst2:train, got nothing; type one")
        return "hf:" + spec.removeprefix("hf:")
    if job.source == "upload":
        if not job.path:
            raise DataError("expected an uploaded file, got none; upload a CSV, TSV, JSONL or CoNLL file")
        size = Path(job.path).stat().st_size
        if size > MAX_UPLOAD_BYTES:
            raise DataError(
                f"expected an upload of at most {MAX_UPLOAD_BYTES // 2**20} MB, got {size / 2**20:.1f} MB; "
                "use a sample of the data or the command line (python -m ftclf train)"
            )
        return job.path
    raise DataError(f"expected data source sample, upload or hub, got {job.source!r}")


def read_job_data(job: TrainJob):
    from .data import ColumnMap, read_examples

    columns = ColumnMap(job.text_column or None, job.text_pair_column or None, job.label_column or None)
    return read_examples(resolve_data_path(job), job.task, columns=columns)


def preview(job: TrainJob, limit: int = 20) -> dict:
    """Parsed rows (as the trainer will see them), the detected columns and label counts."""
    from collections import Counter

    from .data import peek_columns
    from .tasks import TokenExample

    path = resolve_data_path(job)
    examples = read_job_data(job)  # validates the whole file first (line-numbered errors)
    columns = [] if path.startswith("hf:") else peek_columns(path)
    if isinstance(examples[0], TokenExample):
        counts = Counter(t[2:] for e in examples for t in e.tags if t.startswith("B-"))
        table = [{"words": " ".join(e.words), "tags": " ".join(e.tags)} for e in examples[:limit]]
    else:
        counts = Counter(e.label for e in examples)
        table = [{"text": e.text, **({"text_pair": e.text_pair} if e.text_pair else {}), "label": e.label} for e in examples[:limit]]
    return {"rows": table, "columns": columns, "examples": len(examples), "counts": dict(counts)}


@dataclass
class TrainOutcome:
    classifier: object
    result: object
    confused: list[dict]


def run_training(job: TrainJob, on_event=None, cancel: threading.Event | None = None) -> TrainOutcome:
    from .config import ModelConfig, TrainingConfig
    from .training import fit

    examples = read_job_data(job)
    batch_size = job.batch_size
    if batch_size is None and job.mode == "frozen":
        batch_size = min(64, max(8, len(examples) // 10))  # small data sets still get enough steps
    model = ModelConfig(
        task=job.task, head=job.head, pooling=job.pooling, pair_mode=job.pair_mode,
        pair_features=job.task == "pair" and job.pair_mode == "concat", word_shape=job.task == "token",
    )
    training = TrainingConfig(mode=job.mode, epochs=job.epochs, learning_rate=job.learning_rate,
                              batch_size=batch_size, max_examples=job.max_examples, patience=5)
    data_info = {"train": f"{job.source}: {Path(job.path).name if job.source == 'upload' else job.path}",
                 "validation": "seeded stratified split"}
    clf, result = fit(model, training, examples, None, on_event=on_event, cancel=cancel, data_info=data_info)
    return TrainOutcome(clf, result, most_confused(clf, result.validation_examples, result.validation_predictions))


def most_confused(clf, examples, predictions, limit: int = 10) -> list[dict]:
    """Validation examples the head got most confidently wrong (from the final evaluation's
    predictions: no second pass over the data)."""
    from .evaluation import apply_label_aliases

    aliases = clf.spec.label_aliases
    examples = [apply_label_aliases(e, aliases) for e in examples] if aliases else list(examples)
    if clf.is_token:
        rows = []
        for e, tags in zip(examples, predictions):
            wrong = sum(a != b for a, b in zip(e.tags, tags))
            if wrong:
                rows.append({"errors": wrong, "sentence": " ".join(e.words), "gold": " ".join(e.tags), "predicted": " ".join(tags)})
        return sorted(rows, key=lambda r: -r["errors"])[:limit]
    rows = [
        {"text": e.text + (f"  ||  {e.text_pair}" if e.text_pair else ""), "gold": e.label, "predicted": p.label,
         "confidence": round(p.score, 3)}
        for e, p in zip(examples, predictions) if p.label != e.label
    ]
    return sorted(rows, key=lambda r: -r["confidence"])[:limit]
