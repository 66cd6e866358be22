"""Saved-classifier format: JSON + safetensors only, written atomically.

    DIR/config.json        task, labels, head, pooling, pair mode, training mode, encoder id and
                           fingerprint, max length, training arguments, validation metrics
    DIR/head.safetensors   head (+ CRF, + word-shape embedding) weights
    DIR/adapter/           peft LoRA adapter (mode "lora")
    DIR/encoder/           the fine-tuned encoder and tokenizer (mode "full" only)
    DIR/README.md          model card
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path

from safetensors.torch import load_file, save_file

from . import __version__
from .config import ModelConfig, TrainingConfig
from .errors import EncoderMismatchError, FtclfError, ModelFormatError

FORMAT = "ftclf-classifier"
FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
HEAD_NAME = "head.safetensors"
ADAPTER_DIR = "adapter"
ENCODER_DIR = "encoder"


def is_saved_classifier(directory: str | Path) -> bool:
    path = Path(directory) / CONFIG_NAME
    try:
        return json.loads(path.read_text("utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def build_metadata(clf) -> dict:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "ftclf_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": clf.spec.to_dict(),
        "mode": clf.mode,
        "encoder": {
            "name": clf.encoder_name,
            "fingerprint": clf.encoder_fingerprint,
            "hidden_size": clf.hidden_size,
        },
        "training": clf.training_config.to_dict() if clf.training_config else None,
        "metrics": clf.metrics,
        "data": clf.data_info,
        "parameters": {
            "head": sum(v.numel() for v in clf.head_state_dict().values()),
            "trainable": clf.count_parameters(trainable_only=True),
            "total": clf.count_parameters(),
        },
    }


def save_classifier(clf, directory: str | Path) -> Path:
    """Write to a temporary sibling directory, then rename it into place (nothing half-saved)."""
    from .card import model_card

    target = Path(directory).expanduser().resolve()
    if target.exists() and not is_saved_classifier(target):
        if not target.is_dir() or any(target.iterdir()):
            raise FtclfError(
                f"expected a new or empty directory (or an earlier saved classifier) at {str(target)!r}, "
                "found other files there; choose another output directory"
            )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        meta = build_metadata(clf)
        state = {k: v.detach().to("cpu").contiguous() for k, v in clf.head_state_dict().items()}
        save_file(state, str(tmp / HEAD_NAME), metadata={"format": FORMAT})
        os.chmod(tmp / HEAD_NAME, 0o644)
        if clf.mode == "lora":
            for peft_config in clf.encoder.peft_config.values():
                peft_config.base_model_name_or_path = clf.encoder_name  # not a local path of the trainer
            clf.encoder.save_pretrained(str(tmp / ADAPTER_DIR))
        elif clf.mode == "full":
            clf.encoder.save_pretrained(str(tmp / ENCODER_DIR))
            clf.tokenizer.save_pretrained(str(tmp / ENCODER_DIR))
        (tmp / CONFIG_NAME).write_text(json.dumps(meta, indent=2) + "\n", "utf-8")
        (tmp / "README.md").write_text(model_card(meta), "utf-8")
        _replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
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


def read_metadata(directory: str | Path) -> dict:
    path = Path(directory).expanduser()
    config = path / CONFIG_NAME
    if not path.is_dir() or not config.is_file():
        raise ModelFormatError(
            f"expected a saved ftclf classifier directory (with {CONFIG_NAME} and {HEAD_NAME}), "
            f"found {'no directory' if not path.is_dir() else 'no ' + CONFIG_NAME} at {str(path)!r}; "
            "pass the --output directory of `python -m ftclf train`"
        )
    try:
        meta = json.loads(config.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFormatError(f"expected valid JSON in {config}, found a damaged file ({exc}); re-save the model") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFormatError(
            f"expected {config} to describe an ftclf classifier (format {FORMAT!r}), found "
            f"{meta.get('format') if isinstance(meta, dict) else type(meta).__name__!r}; "
            "this directory holds something else (a plain transformers model?)"
        )
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise ModelFormatError(
            f"expected format version <= {FORMAT_VERSION}, found {meta['format_version']}; upgrade ftclf"
        )
    return meta


def load_classifier(directory: str | Path, encoder=None):
    """Rebuild a saved classifier; refuses an encoder other than the one it was trained on."""
    from .encoders import load_encoder
    from .model import Classifier

    path = Path(directory).expanduser()
    meta = read_metadata(path)
    if not (path / HEAD_NAME).is_file():
        raise ModelFormatError(f"expected {HEAD_NAME} in {str(path)!r}, found none; re-save the model")
    config = ModelConfig.from_dict(meta["model"])
    mode = meta.get("mode", "frozen")
    trained_on = meta["encoder"]
    if mode == "full":
        encoder = load_encoder(str(path / ENCODER_DIR))
        encoder.name, encoder.fingerprint = trained_on["name"], trained_on["fingerprint"]
    else:
        encoder = encoder or load_encoder(trained_on["name"])
        if encoder.fingerprint != trained_on["fingerprint"]:
            raise EncoderMismatchError(
                f"expected the encoder this head was trained with, {trained_on['name']!r} (weights "
                f"fingerprint {trained_on['fingerprint']}), got {encoder.name!r} (fingerprint "
                f"{encoder.fingerprint}); load the head onto {trained_on['name']!r} or retrain it"
            )
        if mode == "lora":
            import copy

            encoder = copy.copy(encoder)
            encoder.model = copy.deepcopy(encoder.model)  # adapters are injected in place
    clf = Classifier(config, encoder)
    if mode == "lora":
        from peft import PeftModel

        clf.encoder = PeftModel.from_pretrained(clf.encoder, str(path / ADAPTER_DIR))
    clf.mode = mode
    state = load_file(str(path / HEAD_NAME))
    missing, unexpected = _load_head(clf, state)
    if missing or unexpected:
        raise ModelFormatError(
            f"expected head weights matching config.json in {HEAD_NAME}, found missing {missing} and "
            f"unexpected {unexpected}; the files do not belong together, re-save the model"
        )
    clf.training_config = TrainingConfig.from_dict(meta["training"]) if meta.get("training") else None
    clf.metrics = meta.get("metrics") or {}
    clf.data_info = meta.get("data") or {}
    clf.eval()
    clf.requires_grad_(False)
    return clf


def _load_head(clf, state: dict) -> tuple[list[str], list[str]]:
    expected = clf.head_state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        return missing, unexpected
    for key, value in state.items():
        if value.shape != expected[key].shape:
            return [f"{key} {tuple(expected[key].shape)}"], [f"{key} {tuple(value.shape)}"]
    clf.load_state_dict(state, strict=False)
    return [], []
