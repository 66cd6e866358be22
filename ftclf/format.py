"""The saved-classifier format: a directory of JSON and safetensors (never pickle), its metadata
schema, validation on read, and the atomic write.

    DIR/config.json        Metadata: format tag and version, the ModelConfig, training mode,
                           encoder (name, weights fingerprint, hidden size), TrainingConfig,
                           validation metrics, data, parameter counts, creation time, and the
                           calibration (temperature, confidence map, operating point, figures)
    DIR/head.safetensors   head weights (+ CRF transitions, + word-shape embedding)
    DIR/adapter/           peft LoRA adapter (mode "lora")
    DIR/encoder/           the fine-tuned encoder and tokenizer (mode "full")
    DIR/README.md          model card

This module knows files, not models: ``Classifier.save_pretrained`` / ``from_pretrained`` call it.
Every problem found on read is a :class:`ModelFormatError` that names the file and what to do.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .calibration import Calibration
from .config import WEIGHT_MODES, ModelConfig, TrainingConfig
from .errors import FtclfError, ModelFormatError

FORMAT = "ftclf-classifier"
#: 2: CRF weights live in the head (``head.crf.*``; version 1 had them at ``crf.*``)
FORMAT_VERSION = 2
CONFIG_NAME = "config.json"
HEAD_NAME = "head.safetensors"
ADAPTER_DIR = "adapter"
ENCODER_DIR = "encoder"
CARD_NAME = "README.md"
ONNX_NAME = "model.onnx"  # in ENCODER_DIR, for exported heads
RUNTIMES = (None, "onnx", "onnx-int8")


@dataclass
class EncoderRef:
    """The encoder a head was trained on: its id and a fingerprint of its weights."""

    name: str
    fingerprint: str
    hidden_size: int


@dataclass
class Metadata:
    """Everything ``config.json`` records about a saved classifier."""

    model: ModelConfig
    encoder: EncoderRef
    mode: str = "frozen"
    training: TrainingConfig | None = None
    #: validation metrics (numbers), plus notes such as ``main_metric`` (strings)
    metrics: dict[str, float | int | str] = field(default_factory=dict)
    #: where the data came from and how much of it: files, example counts
    data: dict[str, Any] = field(default_factory=dict)
    #: parameter counts: head, trainable, total
    parameters: dict[str, int] = field(default_factory=dict)
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    ftclf_version: str = ""
    format_version: int = FORMAT_VERSION
    #: None: torch weights; "onnx" / "onnx-int8": an export whose encoder is ``encoder/model.onnx``
    runtime: str | None = None
    #: how scores become calibrated probabilities (temperature, confidence map, operating point) and
    #: what that was measured to do; None for heads saved without one (plain softmax)
    calibration: Calibration | None = None

    def to_json(self) -> dict:
        out = {"format": FORMAT, **asdict(self)}
        out["model"], out["training"] = self.model.to_dict(), self.training.to_dict() if self.training else None
        return out

    @property
    def main_metric(self) -> tuple[str, float | None]:
        """(name, value) of the metric the head was selected on."""
        key = str(self.metrics.get("main_metric") or self.model.task_spec.metric)
        value = self.metrics.get(key)
        return key, value if isinstance(value, (int, float)) else None


#: Weight files that unpickle (and can run code) when loaded: never read, never downloaded.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


def check_files(directory: str | Path) -> None:
    """Refuse weights stored as pickle (``*.bin``, ``*.pt``, ``*.pkl``) by name, before anything loads them."""
    for path in Path(directory).rglob("*"):
        if path.suffix in PICKLE_SUFFIXES:
            raise ModelFormatError(
                f"expected safetensors and JSON only, found {path.relative_to(directory)} (pickle-based weights, which "
                "can run code when loaded); remove it and re-save the head with ftclf"
            )


def is_saved_classifier(directory: str | Path) -> bool:
    """Whether ``directory`` claims to hold a saved classifier (its config.json says so)."""
    try:
        return json.loads((Path(directory) / CONFIG_NAME).read_text("utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


# ----------------------------------------------------------------------------- read
def read_metadata(directory: str | Path) -> Metadata:
    """The validated metadata of a saved classifier; ModelFormatError on anything damaged."""
    path = Path(directory).expanduser()
    config = path / CONFIG_NAME
    if not path.is_dir() or not config.is_file():
        raise ModelFormatError(
            f"expected a saved ftclf classifier directory (with {CONFIG_NAME} and {HEAD_NAME}), "
            f"found {'no directory' if not path.is_dir() else 'no ' + CONFIG_NAME} at {str(path)!r}; "
            "pass the --output directory of `ftclf train` or the name of a saved head"
        )
    try:
        raw = json.loads(config.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFormatError(f"expected valid JSON in {config}, found a damaged file ({exc}); re-save the model") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        found = raw.get("format") if isinstance(raw, dict) else type(raw).__name__
        raise ModelFormatError(
            f"expected {config} to describe an ftclf classifier (format {FORMAT!r}), found {found!r}; "
            "this directory holds something else (a plain transformers model?)"
        )
    meta = _parse(raw, config)
    check_files(path)
    return meta


def _parse(raw: dict, where: Path) -> Metadata:
    version = raw.get("format_version", 1)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFormatError(f"expected format version <= {FORMAT_VERSION} in {where}, found {version!r}; upgrade ftclf")
    model = _section(raw, "model", dict, where)
    encoder = _section(raw, "encoder", dict, where)
    training = raw.get("training")
    try:
        meta = Metadata(
            model=ModelConfig.from_dict(model),
            encoder=EncoderRef(str(encoder["name"]), str(encoder["fingerprint"]), int(encoder["hidden_size"])),
            mode=raw.get("mode", "frozen"),
            training=TrainingConfig.from_dict(training) if isinstance(training, dict) else None,
            metrics=_section(raw, "metrics", dict, where, {}),
            data=_section(raw, "data", dict, where, {}),
            parameters=_section(raw, "parameters", dict, where, {}),
            created=str(raw.get("created", "")),
            ftclf_version=str(raw.get("ftclf_version", "")),
            format_version=version,
            runtime=raw.get("runtime"),
            calibration=None if raw.get("calibration") is None else Calibration.from_dict(raw["calibration"]),
        )
    except (KeyError, TypeError, ValueError) as exc:  # ConfigError is a ValueError
        what = f"the field {exc}" if isinstance(exc, KeyError) else str(exc)
        raise ModelFormatError(f"expected a complete, valid {CONFIG_NAME} in {where.parent}, but {what} is missing or "
                               "wrong; re-save the model") from None
    if meta.runtime not in RUNTIMES:
        raise ModelFormatError(f"expected runtime one of {RUNTIMES} in {where}, found {meta.runtime!r}; re-export the model")
    if meta.mode not in WEIGHT_MODES:
        raise ModelFormatError(f"expected mode one of {', '.join(WEIGHT_MODES)} in {where}, found {meta.mode!r}; re-save the model")
    if not meta.model.labels:
        raise ModelFormatError(f"expected the label names in {where}, found none; re-save the model")
    return meta


def _section(raw: dict, key: str, kind: type, where: Path, default: Any = None):
    value = raw.get(key, default)
    if not isinstance(value, kind):
        raise ModelFormatError(
            f"expected {key!r} in {where} to be a JSON {'object' if kind is dict else kind.__name__}, "
            f"found {type(value).__name__}; re-save the model"
        )
    return value


#: A safetensors header larger than this is not one ftclf wrote (real ones are a few KB).
MAX_HEADER_BYTES = 16 * 2**20


def check_safetensors(path: Path) -> None:
    """Check a safetensors file's header against its size without loading it: a damaged, truncated or
    padded file (a 2 GB file of zeros, say) is refused when a head is listed, not when it is loaded."""
    def damaged(what: str) -> ModelFormatError:
        return ModelFormatError(f"expected readable safetensors in {path.name}, found {what}; re-save the model")

    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            prefix = handle.read(8)
            n = int.from_bytes(prefix, "little") if len(prefix) == 8 else -1
            if n < 2 or n > min(MAX_HEADER_BYTES, size - 8):
                raise damaged(f"no valid header ({size:,} bytes, header length {n:,})")
            header = json.loads(handle.read(n))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise damaged("a header that is not JSON") from None
    if not isinstance(header, dict):
        raise damaged("a header that is not a JSON object")
    try:
        ends = [int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"]
    except (KeyError, TypeError, ValueError, IndexError):
        raise damaged("a header without tensor offsets") from None
    if max(ends, default=0) != size - 8 - n:
        raise damaged(f"{size - 8 - n:,} bytes of tensor data where its header lists {max(ends, default=0):,}")


def check_weights(directory: str | Path) -> None:
    """The head's weights file and every other safetensors file of a saved classifier pass
    :func:`check_safetensors` (OSError where the disk fails)."""
    path = Path(directory)
    head = path / HEAD_NAME
    if not head.is_file():
        raise ModelFormatError(f"expected {HEAD_NAME} in {path.name!r}, found none; re-save the model")
    for file in [head, *sorted(p for p in path.rglob("*.safetensors") if p != head)]:
        check_safetensors(file)


def read_head_state(directory: str | Path, meta: Metadata) -> dict:
    """The head's tensors, keyed as in the current format (older versions are renamed)."""
    path = Path(directory) / HEAD_NAME
    if not path.is_file():
        raise ModelFormatError(f"expected {HEAD_NAME} in {str(Path(directory))!r}, found none; re-save the model")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise ModelFormatError(f"expected readable safetensors in {path}, found a damaged file ({exc}); re-save the model") from None
    if meta.format_version < 2:
        state = {("head." + k if k.startswith("crf.") else k): v for k, v in state.items()}
    return state


# ---------------------------------------------------------------------------- write
def check_target(directory: str | Path) -> Path:
    """The resolved ``directory`` if a classifier may be saved there: new, empty, or an earlier
    saved classifier (which a save replaces). Checked before any work is done."""
    target = Path(directory).expanduser().resolve()
    if target.exists() and not is_saved_classifier(target) and (not target.is_dir() or any(target.iterdir())):
        raise FtclfError(
            f"expected a new or empty directory (or an earlier saved classifier) at {str(target)!r}, "
            f"found {'a file' if not target.is_dir() else 'other files'} there; choose another output directory"
        )
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise FtclfError(f"expected a directory to save into, found the file {str(parent)!r} on the way to "
                                 f"{str(target)!r}; choose another output directory")
            break
    return target


@contextlib.contextmanager
def atomic_dir(target: str | Path, exclusive: bool = False) -> Iterator[Path]:
    """The one way ftclf writes a directory: fill the yielded temporary sibling (``.NAME.tmp-XXXXXXXX``);
    when the block ends, it is renamed to ``target`` in one step (an earlier ``target`` is swapped out,
    then removed; with ``exclusive``, the rename fails when anything got there first: of two racers, one
    wins and the other hears so). On any error the temporary is removed and ``target`` is unchanged."""
    target = Path(target)
    tmp = _temporary(target)
    try:
        yield tmp
        _claim(tmp, target) if exclusive else _replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write(
    directory: str | Path, meta: Metadata, head_state: dict, card: str,
    write_extra: Callable[[Path], None] | None = None, exclusive: bool = False,
) -> Path:
    """Write a classifier atomically (:func:`atomic_dir`: nothing half-saved). An earlier saved
    classifier at ``directory`` is replaced, unless ``exclusive`` (two saves under one name: one wins,
    the other hears so). Any other non-empty directory is refused. ``write_extra(tmp)`` adds the
    adapter or encoder files."""
    target = check_target(directory)
    try:
        with atomic_dir(target, exclusive) as tmp:
            save_file({k: v.detach().to("cpu").contiguous() for k, v in head_state.items()}, str(tmp / HEAD_NAME),
                      metadata={"format": FORMAT})
            os.chmod(tmp / HEAD_NAME, 0o644)
            if write_extra is not None:
                write_extra(tmp)
            write_config(tmp, meta)
            (tmp / CARD_NAME).write_text(card, "utf-8")
    except OSError as exc:  # a full or read-only disk: nothing half-saved, and a message that says so
        raise FtclfError(f"expected to save {target.name!r}, but the disk said: {(exc.strerror or str(exc)).lower()}; "
                         "free some space or choose another directory (nothing was saved)") from None
    return target


_NUMBERS = re.compile(r"\[\s*(-?[\d.eE+-]+(?:,\s*-?[\d.eE+-]+)*)\s*\]")


def write_config(directory: Path, meta: Metadata) -> None:
    """``config.json``: indented JSON, with each list of numbers on one line (the calibration's points)."""
    text = json.dumps(meta.to_json(), indent=2, ensure_ascii=False)
    text = _NUMBERS.sub(lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]", text)
    (directory / CONFIG_NAME).write_text(text + "\n", "utf-8")


def _temporary(target: Path) -> Path:
    """A new hidden sibling of ``target`` (``.NAME.tmp-XXXXXXXX``) to write into."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
    except OSError as exc:
        raise FtclfError(f"expected to be able to write in {str(target.parent)!r}, but {exc.strerror.lower()}; "
                         "free some space or choose another directory") from None
    return tmp


def _claim(new: Path, target: Path) -> None:
    """Rename ``new`` to ``target`` only if nothing is there (atomic: of two racers, one wins)."""
    try:
        if target.exists():
            raise FileExistsError(target)
        os.rename(new, target)  # fails when target appeared meanwhile and holds files
    except OSError:
        raise FtclfError(f"expected to save a new head {target.name!r}, but one was saved under that name first; "
                         "pick another name") from None


def copy(source: str | Path, directory: str | Path, exclusive: bool = False) -> Path:
    """Copy a saved classifier to ``directory``, atomically (with ``exclusive``, only if nothing is there)."""
    read_metadata(source)  # only a valid saved classifier is copied
    target = check_target(directory)
    with atomic_dir(target, exclusive) as tmp:
        shutil.copytree(source, tmp, dirs_exist_ok=True)
    return target


def _replace_dir(new: Path, target: Path) -> None:
    """Move ``new`` to ``target``; an existing target is swapped out, then removed."""
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(target, old)
    try:
        os.replace(new, target)
    except BaseException:
        if old is not None:
            os.replace(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
