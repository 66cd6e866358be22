"""How well calibrated the shipped heads' probabilities are, before and after ``ftclf.calibration``.

    python benchmarks/calibration.py                          # the four shipped heads + two small-data heads
    python benchmarks/calibration.py --agreement              # every backend against fp32 on the CI slices
    python benchmarks/calibration.py --heads nli-sick --no-small
    python benchmarks/calibration.py --json out.json --images DIR --repeat 5   # time each fit 5 times, keep the fastest

For each shipped head (``heads_recipe.SHIPPED``): the head is loaded from ``assets/heads`` with its
stored calibration dropped, its recipe's validation split (../shared/data or $FTCLF_DATA; the
split its calibration was fitted on) is decoded once, and ``fit_calibration`` is timed on it (the
time calibration adds to a training run). Printed: ECE (entity ECE for the NER head: over predicted
entities) before and after, with its 90 % interval and the noise floor (the ECE a perfectly
calibrated head shows on that many examples), NLL and Brier score before and after, the main metric
(unchanged: the argmax of the calibrated probabilities is checked against the uncalibrated one),
the chosen method and temperature, and the cross-fitted ECE of every method compared. Every "after"
figure is cross-fitted (fitted on 4 folds, measured on the 5th, averaged over 5 random splits).

The small-data heads (``--no-small`` skips them): ``ftclf.training.fit`` with
``TrainingConfig(mode=MODE, seed=42)`` for each ``--small-mode`` (default: ``auto``, which picks
contrastive encoder tuning for 128 examples, and ``frozen``) on 64 examples per class drawn (seeded)
from the sentence-like phrases (>= 6 words, as in benchmarks/fewshot.py) of SST-2's sentence-level
training split. Small data keeps no validation split, so ``fit`` calibrates on the out-of-fold
predictions of the cross-validated head fit (a contrastive run is not calibrated by training: its
encoder saw every example; the script fits that calibration itself, to show why); each head is then scored on the 1,000 held-out
validation sentences without and with that calibration, to show whether it generalises.

Writes every figure to ``--json`` and one reliability diagram per head (matplotlib) to ``--images``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))
import heads_recipe  # noqa: E402

HEADS = list(heads_recipe.SHIPPED)
SMALL_PER_CLASS = 64
SMALL_SEED = 42
METHODS = ("temperature", "temperature+beta", "temperature+platt", "temperature+isotonic")


# --------------------------------------------------------------------------- shipped heads
def shipped(name: str, repeat: int = 3) -> dict:
    """The calibration of a shipped head refitted on its recipe's validation split, timed (the fastest of
    ``repeat`` fits: this machine is shared) and checked."""
    import ship_heads
    import torch

    from ftclf import Classifier
    from ftclf.calibration import calibrate_decoded, fit_calibration
    from ftclf.evaluation import decode_examples, score
    from ftclf.service import shipped_heads_dir

    recipe = heads_recipe.recipe(name)
    _, val = recipe.load()
    clf = Classifier.from_pretrained(shipped_heads_dir() / name)
    stored = clf.calibration
    clf.calibration = None  # fitted to the raw scores
    t0 = time.perf_counter()
    examples, decoded = decode_examples(clf, val)
    decode_seconds = time.perf_counter() - t0
    gold = clf.task.gold_ids(examples, clf.model_config.label2id)
    times = []
    for _ in range(max(1, repeat)):  # deterministic (seeded): the same calibration each time; the least disturbed time
        t0 = time.perf_counter()
        cal = fit_calibration(clf, decoded, gold, fitted_on=ship_heads.validation_words(recipe, len(val)))
        times.append(time.perf_counter() - t0)

    metric = heads_recipe.main_metric(recipe.model.task, recipe.data)
    before_metric = score(clf, examples, decoded)[metric]
    clf.calibration = cal
    calibrated = calibrate_decoded(clf, decoded)
    after_metric = score(clf, examples, calibrated)[metric]
    same_ids = all(c.ids == d.ids for c, d in zip(calibrated, decoded))
    if clf.task.token_level:  # decisions are the Viterbi path; the marginals' argmax is reported beside it
        moved = sum(int((c.probs.argmax(-1) != d.probs.argmax(-1)).sum()) for c, d in zip(calibrated, decoded))
        unchanged = same_ids
    else:
        moved = sum(int(c.probs.argmax(-1)) != int(d.probs.argmax(-1)) for c, d in zip(calibrated, decoded))
        unchanged = same_ids and moved == 0 and all(
            int(torch.as_tensor(c.probs).argmax()) == d.ids for c, d in zip(calibrated, decoded))
    return {
        "head": name, "recipe": heads_recipe.SHIPPED[name], "task": recipe.model.task,
        "validation": cal.fitted_on, "validation_examples": len(val), "examples": cal.examples,
        "key": clf.task.calibration_error,
        "method": cal.method, "temperature": round(cal.temperature, 5),
        "before": cal.metrics["before"], "after": cal.metrics["after"], "compared": cal.metrics["compared"],
        "reliability": cal.reliability,
        "metric": metric, "metric_before": before_metric, "metric_after": after_metric,
        "argmax_unchanged": bool(unchanged), "argmax_moved": moved,
        "fit_seconds": round(min(times), 2), "fit_seconds_all": [round(t, 2) for t in times],
        "load_average": list(os.getloadavg()), "decode_seconds": round(decode_seconds, 1),
        "stored": {"method": stored.method, "temperature": round(stored.temperature, 5),
                   "after": stored.metrics.get("after", {})} if stored else None,
    }


# --------------------------------------------------------------------------- small data
def small_sample(train, per_class: int, seed: int, min_words: int = 6) -> list:
    """``per_class`` examples of each label, drawn with ``seed`` from the training examples of at
    least ``min_words`` words (benchmarks/fewshot.py's sentence-like phrases)."""
    rng, out = random.Random(seed), []
    for label in sorted({e.label for e in train}):
        rows = [e for e in train if e.label == label and len(e.text.split()) >= min_words]
        out += rng.sample(rows, per_class)
    random.Random(seed).shuffle(out)
    return out


def small(mode: str) -> dict:
    """A small-data head trained with ``mode`` (calibrated inside ``fit`` on its out-of-fold predictions),
    then scored on the held-out validation sentences without and with that calibration."""
    import ftclf.calibration as calibration
    from ftclf import ModelConfig, TrainingConfig
    from ftclf.calibration import calibrate_decoded
    from ftclf.evaluation import decode_examples, evaluate
    from ftclf.metrics import reliability
    from ftclf.training import fit

    train, val = heads_recipe.recipe("sentiment-sst2").load()
    sample = small_sample(train, SMALL_PER_CLASS, SMALL_SEED)
    timed: list[float] = []
    original = calibration.fit_calibration

    def timed_fit(*args, **kwargs):  # what calibration adds to the run (fit imports it at call time)
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            timed.append(time.perf_counter() - t0)

    calibration.fit_calibration = timed_fit
    try:
        t0 = time.perf_counter()
        clf, result = fit(ModelConfig(task="sequence"), TrainingConfig(mode=mode, seed=SMALL_SEED), sample)
        train_seconds = time.perf_counter() - t0
    finally:
        calibration.fit_calibration = original
    cal = clf.calibration
    fitted_by_training = cal is not None
    if cal is None:  # a contrastive run: training does not calibrate (its encoder saw every example); what
        # a calibration fitted on its out-of-fold predictions would do is measured here, to show why
        gold = clf.task.gold_ids(result.validation_examples, clf.model_config.label2id)
        t0 = time.perf_counter()
        cal = original(clf, result.validation_predictions, gold, fitted_on=result.validation)
        timed.append(time.perf_counter() - t0)
    keep = ("ece", "nll", "brier", "accuracy")
    clf.calibration = None
    held_before = {k: v for k, v in evaluate(clf, val).items() if k in keep}
    clf.calibration = cal
    held_after = {k: v for k, v in evaluate(clf, val).items() if k in keep}
    # the held-out reliability diagram: the same decoded scores without and with the calibration
    clf.calibration = None
    examples, decoded = decode_examples(clf, val)
    gold = clf.task.gold_ids(examples, clf.model_config.label2id)
    clf.calibration = cal
    held_points = {side: reliability(*clf.task.shown_confidences([d.probs for d in rows], gold, [d.ids for d in rows],
                                                                   clf.labels))
                   for side, rows in (("before", decoded), ("after", calibrate_decoded(clf, decoded)))}
    return {
        "head": f"sst2-small-{SMALL_PER_CLASS}x2-{mode}", "mode": mode, "recipe": clf.training_config.recipe,
        "calibrated_by_training": fitted_by_training, "training_says": result.calibration,
        "train_examples": len(sample), "validation": cal.fitted_on, "examples": cal.examples, "key": "ece",
        "method": cal.method, "temperature": round(cal.temperature, 5),
        "before": cal.metrics["before"], "after": cal.metrics["after"], "compared": cal.metrics["compared"],
        "reliability": cal.reliability,
        "out_of_fold_accuracy": result.metrics.get("accuracy"),
        "held_out": {"examples": len(val), "before": held_before, "after": held_after, "reliability": held_points},
        "fit_seconds": round(timed[-1], 2) if timed else None, "train_seconds": round(train_seconds, 1),
    }


# --------------------------------------------------------------------------- output
def _ece(side: dict, key: str) -> str:
    if key not in side:
        return "—"
    return f"{side[key]:.3f} [{side.get(key + '_low', float('nan')):.3f}–{side.get(key + '_high', float('nan')):.3f}]"


def _arrow(before: dict, after: dict, key: str, digits: int = 3) -> str:
    return f"{before[key]:.{digits}f} → {after[key]:.{digits}f}"


def heads_table(rows: list[dict]) -> str:
    lines = ["| head | calibrated on | method | T | ECE before [90 %] | ECE after [90 %] | noise floor (after) "
             "| NLL | Brier | main metric (before = after) | argmax unchanged | fit time |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        key, b, a = r["key"], r["before"], r["after"]
        what = f"{r['examples']:,} {'entities' if key == 'entity_ece' else 'examples'}"
        metric = (f"{r['metric']} {100 * r['metric_before']:.2f}"
                  + ("" if r["metric_before"] == r["metric_after"] else f" → {100 * r['metric_after']:.2f}"))
        lines.append(
            f"| {r['head']}{' (entity ECE)' if key == 'entity_ece' else ''} | {what} | {r['method']} "
            f"| {r['temperature']:.3f} | {_ece(b, key)} | {_ece(a, key)} | {a.get(key + '_floor', float('nan')):.3f} "
            f"| {_arrow(b, a, 'nll')} | {_arrow(b, a, 'brier')} | {metric} | {'yes' if r['argmax_unchanged'] else 'no'} "
            f"| {r['fit_seconds']:.2f} s |")
    return "\n".join(lines)


def compared_table(rows: list[dict]) -> str:
    lines = ["| head | " + " | ".join(METHODS) + " | chosen |", "|---" * (len(METHODS) + 2) + "|"]
    for r in rows:
        cells = [f"{r['compared'][m]:.4f}" if m in r["compared"] else "—" for m in METHODS]
        lines.append(f"| {r['head']} | " + " | ".join(cells) + f" | {r['method']} |")
    return "\n".join(lines)


def small_table(rows: list[dict]) -> str:
    lines = ["| head | recipe | calibrated on (out-of-fold accuracy) | method | T | out-of-fold ECE before → after [90 %] "
             "| noise floor | held-out ECE before → after | held-out NLL | held-out Brier | held-out accuracy "
             "| fit time (of the run) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        b, a = r["before"], r["after"]
        hb, ha = r["held_out"]["before"], r["held_out"]["after"]
        lines.append(
            f"| {r['head']} | {r['mode']} ({r['recipe'].split(':')[0]}) | {r['examples']} out-of-fold predictions ({100 * r['out_of_fold_accuracy']:.2f}) "
            f"| {r['method']} | {r['temperature']:.3f} | {b['ece']:.3f} → {_ece(a, 'ece')} | {a.get('ece_floor', float('nan')):.3f} "
            f"| {_arrow(hb, ha, 'ece')} ({r['held_out']['examples']:,} sentences) | {_arrow(hb, ha, 'nll')} "
            f"| {_arrow(hb, ha, 'brier')} | {100 * hb['accuracy']:.2f} → {100 * ha['accuracy']:.2f} "
            f"| {r['fit_seconds']:.2f} s ({r['train_seconds']:.0f} s) |")
    return "\n".join(lines)


def _panel(ax, points: dict, figures: dict, key: str, title: str, cross_fitted: bool = True) -> None:
    """One reliability diagram: the before and after points (marker area: the bin's share) and the diagonal."""
    ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label="perfect calibration")
    for side, colour in (("before", "#d62728"), ("after", "#1f77b4")):
        if not points.get(side):
            continue
        conf, acc, count = zip(*points[side])
        total = sum(count)
        ece = figures.get(side, {}).get(key)
        label = side if ece is None else f"{side}: {'entity ECE' if key == 'entity_ece' else 'ECE'} {ece:.3f}"
        if side == "after" and cross_fitted:
            label += " (cross-fitted)"
        ax.plot(conf, acc, color=colour, lw=1.2, alpha=0.8, marker="o", ms=4, label=label)
        ax.scatter(conf, acc, s=[12 + 400 * c / total for c in count], color=colour, alpha=0.6,
                   edgecolors="white", linewidths=0.5, clip_on=False)
    coords = [v for side in ("before", "after") for p in points.get(side, []) for v in p[:2]]
    low = max(0.0, int(10 * min(coords + [1.0])) / 10)
    ax.set_xlim(low - 0.01, 1.01)
    ax.set_ylim(low - 0.01, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel("entity confidence" if key == "entity_ece" else "confidence (top probability)")
    ax.set_ylabel("fraction correct")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper left", fontsize=7, frameon=False)
    ax.grid(alpha=0.25)


def diagrams(rows: list[dict], folder: Path) -> list[str]:
    """One reliability diagram (PNG) per head (a small-data head: its out-of-fold predictions, the
    calibration's data, beside the held-out sentences); [] with a note when matplotlib is not installed."""
    try:
        import matplotlib
    except ImportError:
        print("note: matplotlib is not installed; no reliability diagrams written (pip install matplotlib)")
        return []
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for r in rows:
        key, held = r["key"], r.get("held_out")
        what = "entities" if key == "entity_ece" else "examples"
        fig, axes = plt.subplots(1, 2 if held else 1, figsize=(8.8 if held else 4.6, 4.6), dpi=110, squeeze=False)
        _panel(axes[0][0], r["reliability"], r, key,
               f"{r['head']}\n{r['method']}, T = {r['temperature']:.2f}; {r['examples']:,} {what}"
               + (" (out of fold)" if held else ""))
        if held:
            _panel(axes[0][1], held["reliability"], held, key,
                   f"the same head on {held['examples']:,} held-out sentences\n(calibration fitted on the "
                   f"{r['examples']} out-of-fold predictions)", cross_fitted=False)
        fig.tight_layout()
        path = folder / f"{r['head']}.png"
        fig.savefig(path)
        plt.close(fig)
        written.append(str(path))
    return written


def agreement(names: list[str], slice_only: bool = True) -> str:
    """How far each backend's probabilities are from fp32's on each head's CI slice (the first
    ``slice_examples`` validation examples), calibrated and raw: max, 99th percentile and mean |difference|."""
    import tempfile

    import torch

    from ftclf.evaluation import decode_examples
    from ftclf.service import shipped_heads_dir
    from ftclf.serving import EncoderPool

    os.environ.setdefault("FTCLF_CACHE", tempfile.mkdtemp(prefix="ftclf-agreement-"))
    lines = ["| head | probabilities | backend | max | 99th percentile | mean |", "|---|---|---|---|---|---|"]
    for name in names:
        directory = shipped_heads_dir() / name
        _, val = heads_recipe.recipe(name).load()
        meta = json.loads((directory / "config.json").read_text())
        examples = val[: meta["metrics"]["slice_examples"]] if slice_only else val

        def probs(backend, calibrated, directory=directory, examples=examples):
            clf = EncoderPool(backend).load(directory)
            clf.calibration = clf.calibration if calibrated else None
            return torch.cat([d.probs.reshape(-1) for d in decode_examples(clf, examples)[1]])

        for calibrated in (True, False):
            exact = probs("torch", calibrated)
            for backend in ("onnx", "int8", "onnx-int8"):
                gap = (probs(backend, calibrated) - exact).abs()
                lines.append(f"| {name} | {'calibrated' if calibrated else 'raw softmax'} | {backend} | "
                             f"{float(gap.max()):.4f} | {float(gap.quantile(0.99)):.4f} | {float(gap.mean()):.5f} |")
                print(lines[-1], file=sys.stderr, flush=True)
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--heads", nargs="*", default=HEADS, choices=HEADS, metavar="NAME",
                        help=f"shipped heads to measure (default: all four: {', '.join(HEADS)})")
    parser.add_argument("--no-small", action="store_true", help="skip the small-data head")
    parser.add_argument("--small-mode", nargs="+", default=["auto", "frozen"], choices=["auto", "frozen", "contrastive"],
                        help="training mode(s) of the small-data heads (default: auto, ftclf's default, which picks "
                             "contrastive tuning here, and frozen)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="time each shipped head's calibration fit this many times and report the fastest")
    parser.add_argument("--json", default=str(BENCH / "results" / "calibration.json"), help="write every figure here")
    parser.add_argument("--images", default=str(ROOT / "docs" / "assets" / "calibration"),
                        help="folder for the reliability diagrams (one PNG per head)")
    parser.add_argument("--agreement", action="store_true",
                        help="only compare every backend's probabilities with fp32's on each head's CI slice")
    args = parser.parse_args()
    if args.agreement:
        print(agreement(args.heads))
        return 0

    import torch

    rows, small_rows = [], []
    for name in args.heads:
        rows.append(shipped(name, args.repeat))
        r = rows[-1]
        print(f"{name}: {r['method']}, T = {r['temperature']:.3f}, {r['key']} {r['before'][r['key']]:.4f} -> "
              f"{r['after'][r['key']]:.4f}, fit {r['fit_seconds']:.2f} s", file=sys.stderr, flush=True)
    if not args.no_small:
        for mode in args.small_mode:
            small_rows.append(small(mode))
            r = small_rows[-1]
            print(f"{r['head']}: held-out ece {r['held_out']['before']['ece']:.4f} -> {r['held_out']['after']['ece']:.4f}",
                  file=sys.stderr, flush=True)

    if rows:
        print(heads_table(rows))
        print()
        print("Cross-fitted ECE of each method (entity ECE for the NER head):")
        print()
        print(compared_table(rows))
        print()
        print("argmax unchanged: " + ("yes" if all(r["argmax_unchanged"] for r in rows) else
                                      "no (" + ", ".join(r["head"] for r in rows if not r["argmax_unchanged"]) + ")"))
    if small_rows:
        print()
        print(small_table(small_rows))
    images = diagrams(rows + small_rows, Path(args.images))
    for path in images:
        print(f"wrote {path}", file=sys.stderr)
    out = {"machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                       "torch_threads": torch.get_num_threads(), "load_average": list(os.getloadavg())},
           "heads": rows, "small": small_rows, "images": images}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
