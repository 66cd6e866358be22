"""Calibrating heads that are already saved: ``calibrate_saved`` (``ftclf calibrate``) fits a head's
probabilities to labelled data, ``set_threshold`` saves a binary head's operating point. Both only
rewrite the head's ``config.json`` and model card (never its weights), atomically, so they work for
every mode and every export (onnx, onnx-int8)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from . import format
from .calibration import Calibration, calibration_figures, fit_calibration, without_figures
from .card import model_card
from .errors import DataError, FtclfError


def recorded_validation(directory: str | Path, meta: format.Metadata | None = None) -> tuple[list, str]:
    """(examples, description) of the validation split a saved head recorded: its validation file, or
    the carve of its training file (re-made: same seed, fraction and cap). DataError when it has none."""
    from .splits import sample, split_train_validation
    from .tasks import read_examples

    meta = meta or format.read_metadata(directory)
    data, cfg, task = meta.data, meta.training, meta.model.task_spec
    if data.get("validation_file"):
        return read_examples(data["validation_file"], task.name), f"validation file {data['validation_file']}"
    source = str(data.get("train", ""))
    described = str(data.get("validation", ""))
    carved = cfg is not None and described.startswith("validation split")
    if carved and (source.startswith("hf:") or Path(source).is_file()):
        examples = sample(read_examples(source, task.name), cfg.max_examples, cfg.seed)
        _, val = split_train_validation(examples, cfg.validation_fraction, cfg.seed, cfg.max_validation, task.stratum)
        if len(val) == data.get("validation_examples", len(val)):
            return val, f"validation split of {source} ({len(val):,} examples, seed {cfg.seed})"
    why = ("it was cross-validated on its training data and kept no validation split"
           if described.startswith("cross-validation") else
           f"its validation data ({described or 'not recorded'}; trained on {source or 'unrecorded data'}) is not "
           "a file that can be read here")
    raise DataError(f"expected labelled data to calibrate on, but {why}; pass --data with labelled examples the head "
                    "was not trained on")


def rewrite(source: Path, target: Path, meta: format.Metadata) -> Path:
    """``source`` copied to ``target`` (the same directory: replaced in one step) with new metadata and
    model card; nothing half-written."""
    target = format.check_target(target)
    with format.atomic_dir(target) as tmp:
        shutil.copytree(source, tmp, dirs_exist_ok=True)
        format.write_config(tmp, meta)
        (tmp / format.CARD_NAME).write_text(model_card(meta), "utf-8")
    return target


def calibrate_saved(directory: str | Path, examples: list | None = None, output: str | Path | None = None,
                    backend: str = "torch", threshold: float | None = None, described: str = "") -> tuple[Path, Calibration]:
    """Fit the saved head at ``directory`` to ``examples`` (default: its recorded validation split) and
    write it to ``output`` (default: in place). Returns (where it was written, the calibration)."""
    from .evaluation import decode_examples
    from .serving import load

    source = Path(directory)
    meta = format.read_metadata(source)
    target = Path(output).expanduser() if output else source
    format.check_target(target)  # before any work
    if examples is None:
        examples, described = recorded_validation(source, meta)
    clf = load(source, backend)
    clf.calibration = None  # fitted to the raw scores
    examples, decoded = decode_examples(clf, examples)
    gold = clf.task.gold_ids(examples, clf.model_config.label2id)
    cal = fit_calibration(clf, decoded, gold, fitted_on=described or f"{len(examples):,} labelled examples",
                          threshold=threshold)
    metrics = {**without_figures(meta.metrics), **calibration_figures(cal)}
    return rewrite(source, target, dataclasses.replace(meta, calibration=cal, metrics=metrics)), cal


def set_threshold(directory: str | Path, threshold: float | None, output: str | Path | None = None) -> Path:
    """Save a binary head's operating point: it predicts ``labels[1]`` when that label's calibrated
    probability is at least ``threshold`` (None: back to the argmax)."""
    source = Path(directory)
    meta = format.read_metadata(source)
    if not meta.model.task_spec.operating_point(meta.model.labels):
        raise FtclfError(f"expected a binary text head for an operating point, got a {meta.model.task} head with "
                         f"{len(meta.model.labels)} labels; thresholds apply to two-label heads")
    cal = (meta.calibration or Calibration(method="temperature", fitted_on="none (plain softmax)")).with_threshold(threshold)
    return rewrite(source, Path(output).expanduser() if output else source, dataclasses.replace(meta, calibration=cal))
