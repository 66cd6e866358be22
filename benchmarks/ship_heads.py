"""Put trained recipe outputs into assets/heads under their shipped names, re-measured on the CPU.

    python benchmarks/ship_heads.py --from runs/heads [--to assets/heads]
    python benchmarks/ship_heads.py --recalibrate [NAME ...]     # refit the shipped heads' calibration only

For each shipped head (heads_recipe.SHIPPED) this loads SRC/RECIPE onto the exact embedded
encoder, sets the label aliases of its source data, re-measures the validation metrics on the
recipe's validation split, records the metric on a fixed slice (the first SLICE validation
examples, which CI reproduces), calibrates its probabilities on the same validation split
(``ftclf.calibration``), and saves DEST/NAME atomically with its model card.

Before a head is shipped, the app's backend (``ftclf.serving.DEFAULT_BACKEND``) is measured
on the same whole validation split: a head whose figure there moves more than INT8_BOUND from fp32
(the bound tests/test_app_backend.py holds every shipped head to) is refused, and the script exits 1,
unless ``--allow-int8-shift`` is given.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import heads_recipe

SLICE = 200
#: the app's backend must stay within 0.5 points of fp32 on the head's whole validation split
INT8_BOUND = 0.005


class Int8BoundError(Exception):
    """The app's backend moves a head's validation figure more than INT8_BOUND from fp32."""


def app_backend_value(directory: Path, val, metric: str) -> tuple[str, float]:
    """(backend, the head's ``metric`` on ``val``) as the app serves the head saved at ``directory``."""
    from ftclf.evaluation import evaluate
    from ftclf.serving import DEFAULT_BACKEND, EncoderPool

    return DEFAULT_BACKEND, evaluate(EncoderPool(DEFAULT_BACKEND).load(directory), val)[metric]


def check_int8(name: str, metric: str, fp32: float, backend: str, value: float, allow: bool) -> None:
    """Int8BoundError when ``value`` (the app's backend) is more than INT8_BOUND from ``fp32``, unless ``allow``."""
    shift = value - fp32
    if abs(shift) > INT8_BOUND and not allow:
        raise Int8BoundError(
            f"{name}: expected the app's backend ({backend}) within {100 * INT8_BOUND:.1f} points of fp32 on the "
            f"validation split, found {metric} {100 * value:.2f} vs {100 * fp32:.2f} ({100 * shift:+.2f}); not shipped. "
            "Retrain or fix the export (benchmarks/int8_fidelity.py shows why), or pass --allow-int8-shift to ship anyway")


def calibrate(clf, val, recipe):
    """The head's calibration, fitted on the recipe's validation split (never a test split)."""
    from ftclf.calibration import fit_calibration
    from ftclf.evaluation import decode_examples

    examples, decoded = decode_examples(clf, val)
    gold = clf.task.gold_ids(examples, clf.model_config.label2id)
    return fit_calibration(clf, decoded, gold, fitted_on=validation_words(recipe, len(val)))


def validation_words(recipe, n: int) -> str:
    """The recipe's validation split, in words (what the shipped head's card and config say)."""
    if recipe.data.startswith("sst2+sentences"):
        return f"{n:,} held-out whole SST-2 training sentences (their phrases removed from training)"
    if recipe.data.split("+")[0] in ("sst2", "mrpc"):
        return f"a seeded {n:,}-example carve of the {recipe.data.split('+')[0].upper()} training file"
    names = {"conll": "CoNLL-2003", "sick": "SICK trial", "mrpc": "MRPC", "sst2": "SST-2"}
    return f"the {names.get(recipe.data.split('+')[0], recipe.data)} validation file ({n:,} examples)"


def recalibrate(name: str, dest: Path) -> dict:
    """Fit a shipped head's calibration again on its recipe's validation split, in place (weights and
    recorded figures unchanged)."""
    from ftclf.calibration import calibration_figures
    from ftclf.recalibration import calibrate_saved

    recipe = heads_recipe.recipe(name)
    _, val = recipe.load()  # label aliases are applied when the head scores it
    _, cal = calibrate_saved(dest / name, val, described=validation_words(recipe, len(val)))
    return {"name": name, "calibration": cal.summary(), **calibration_figures(cal)}


def ship(name: str, src: Path, dest: Path, allow_int8_shift: bool = False) -> dict:
    from ftclf import Classifier
    from ftclf.calibration import calibration_figures, without_figures
    from ftclf.evaluation import evaluate

    recipe = heads_recipe.recipe(name)
    source = src / heads_recipe.SHIPPED[name]
    trained = json.loads((source / "config.json").read_text())
    clf = Classifier.from_pretrained(source)
    dataset = recipe.data.split("+")[0]
    clf.model_config.label_aliases = dict(heads_recipe.ALIASES.get(dataset, {}))
    _, val = recipe.load()
    clf.calibration = None  # the recorded figures are the raw head's, then it is calibrated on the same split
    t0 = time.perf_counter()
    metrics = without_figures(evaluate(clf, val))
    seconds = time.perf_counter() - t0
    metric = heads_recipe.main_metric(recipe.model.task, dataset)
    clf.calibration = calibrate(clf, val, recipe)
    # as shipped: a multi-label head's tuned thresholds decide (calibration changes no other head's decisions)
    shipped_value = evaluate(clf, val)[metric] if clf.calibration.thresholds else metrics[metric]
    sliced = evaluate(clf, val[:SLICE])
    clf.metrics = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
    clf.metrics.update(calibration_figures(clf.calibration))
    clf.metrics.update({
        "main_metric": metric,
        "slice_examples": SLICE,
        "slice_value": sliced[metric],
        "train_seconds": trained["metrics"].get("train_seconds"),
        "trained_on_device_metric": trained["metrics"].get(metric),
    })
    clf.data_info = {**clf.data_info, "recipe": heads_recipe.SHIPPED[name], "validation_examples": len(val),
                     "validation": validation_words(recipe, len(val))}
    cfg = clf.training_config
    if cfg is not None and cfg.teacher:  # paths on the training machine: name the teachers' recipes instead
        portable = []
        for path in cfg.teachers:
            name_seed = Path(path).name
            teacher = heads_recipe.recipe(name_seed) if name_seed.split("@")[0] in heads_recipe.RECIPES else None
            how = {"lora": "LoRA", "full": "every weight tuned"}.get(teacher.training.mode, teacher.training.mode) if teacher else "not a recipe"
            portable.append(f"{name_seed} (benchmarks/heads_recipe.py recipe, all-mpnet-base-v2, {how})")
            cfg.recipe = cfg.recipe.replace(path, portable[-1])
        cfg.teacher = portable if len(portable) > 1 else portable[0]
    if cfg is not None and cfg.init_from:  # a path on the training machine: name the head it continued instead
        base = Path(cfg.init_from)
        words = (f"assets/heads/{base.name} as shipped at commit {heads_recipe.BASE_COMMIT}"
                 if base.parent in (heads_recipe.BASE_DIR, heads_recipe.ROOT / "assets" / "heads") else base.name)
        if "continued_from" in clf.data_info:
            clf.data_info["continued_from"] = clf.data_info["continued_from"].replace(cfg.init_from, words)
        cfg.recipe, cfg.init_from = cfg.recipe.replace(cfg.init_from, words), words
    with tempfile.TemporaryDirectory(prefix=f"ftclf-ship-{name}-") as staging:  # measured as it will be shipped
        backend, served = app_backend_value(clf.save_pretrained(Path(staging) / name), val, metric)
    check_int8(name, metric, shipped_value, backend, served, allow_int8_shift)
    clf.save_pretrained(dest / name)
    return {"name": name, "metric": metric, "value": metrics[metric], "slice": sliced[metric],
            "device_value": trained["metrics"].get(metric), "eval_seconds": round(seconds, 1),
            "app_backend": backend, "app_backend_value": served, "calibration": clf.calibration.summary()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="src", help="the trained recipe outputs (runs/heads)")
    parser.add_argument("--recalibrate", action="store_true",
                        help="refit the named shipped heads' calibration on their validation splits, in place")
    parser.add_argument("--to", dest="dest", default=str(heads_recipe.ROOT / "assets" / "heads"))
    parser.add_argument("--allow-int8-shift", action="store_true",
                        help=f"ship a head even if the app's backend moves its figure more than {100 * INT8_BOUND:.1f} points")
    parser.add_argument("names", nargs="*")
    args = parser.parse_args()
    refused = []
    if args.recalibrate:
        for name in args.names or heads_recipe.SHIPPED:
            print(json.dumps(recalibrate(name, Path(args.dest))), flush=True)
        return 0
    if not args.src:
        parser.error("expected --from DIR (or --recalibrate)")
    for name in args.names or heads_recipe.SHIPPED:
        try:
            print(json.dumps(ship(name, Path(args.src), Path(args.dest), args.allow_int8_shift)), flush=True)
        except Int8BoundError as exc:
            print(f"REFUSED {exc}", file=sys.stderr, flush=True)
            refused.append(name)
    if refused:
        print(f"FAILED: {len(refused)} heads not shipped: {', '.join(refused)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
