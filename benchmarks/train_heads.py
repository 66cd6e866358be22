"""Retrain the shipped heads (and their comparison variants) from ../shared/data, fixed seeds.

    python benchmarks/train_heads.py sentiment-sst2 nli-sick ...   # names from heads_recipe
    python benchmarks/train_heads.py --shipped --out assets/heads   # the four shipped heads
    python benchmarks/train_heads.py --all --jobs 4 --out runs/variants
    python benchmarks/train_heads.py mrpc-lora32-cross mrpc-lora32-cross@1 mrpc-lora32-cross@2   # mean ± spread
    python benchmarks/train_heads.py --report --out runs/variants   # the table of finished runs

Each recipe runs in its own process (``--jobs`` at once); each writes DIR/NAME (the saved head)
and DIR/NAME.result.json (wall time, device, validation metrics, history). A markdown table of
all results is printed at the end. ``--encoder DIR --record-encoder NAME=FINGERPRINT`` trains on
a local copy of an encoder but records it under the given identity: used for the GPU run, where
only a float16 copy of the embedded encoder could be carried (metrics are re-measured on the CPU
with the exact encoder by benchmarks/accuracy.py --update).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import heads_recipe


def train_one(name: str, out: Path, encoder_dir: str | None, record: str | None, smoke: int | None = None) -> dict:
    import dataclasses

    import torch

    from ftclf.encoders import load_encoder
    from ftclf.training import fit

    r = heads_recipe.recipe(name)
    if smoke:  # a quick end-to-end check of the recipe on a few examples
        r.training = dataclasses.replace(r.training, max_examples=smoke, epochs=1, max_validation=smoke)
    heads_recipe.restore_base(r.training.init_from)  # a continued shipped head, as shipped at BASE_COMMIT
    train, val = r.load()
    encoder = None
    if encoder_dir:
        encoder = load_encoder(encoder_dir)
        if record:
            encoder.name, encoder.fingerprint = record.split("=", 1)
    t0 = time.perf_counter()

    def log(event):
        if event.stage == "eval":
            print(f"[{name}] epoch {event.epoch:.2f} step {event.step}/{event.total_steps} loss {event.loss} "
                  f"{event.metric_name} {event.metric} ({time.perf_counter() - t0:.0f}s)", file=sys.stderr, flush=True)

    validation = ("1,000 held-out whole sentences (sentence-level split)" if r.data.startswith("sst2+sentences") else
                  "carved split" if r.data.split("+")[0] in ("sst2", "mrpc") else f"{r.data} validation file")
    data_info = {"train": f"{r.data} train (recipe {heads_recipe.SHIPPED.get(name, name)})", "validation": validation}
    unlabeled = r.load_unlabeled()
    if smoke:
        unlabeled = unlabeled[:smoke]
    if unlabeled:
        data_info["unlabeled"] = f"{r.unlabeled} (labels dropped)"
    clf, result = fit(r.model, r.training, train, val, on_event=log, data_info=data_info, encoder=encoder,
                      unlabeled=unlabeled)
    wall = time.perf_counter() - t0
    clf.metrics["train_seconds"] = round(wall, 1)
    clf.save_pretrained(out / name)
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({os.cpu_count()} cores)"
    summary = {
        "name": name, "recipe": heads_recipe.SHIPPED.get(name, name), "task": r.model.task, "head": r.model.head,
        "mode": r.training.mode, "teacher": r.training.teacher, "encoder": r.model.encoder, "pair_mode": r.model.pair_mode if r.model.task == "pair" else None,
        "word_shape": r.model.word_shape, "wall_seconds": round(wall, 1), "device": device,
        "trainable_parameters": clf.count_parameters(trainable_only=True),
        "validation": {k: v for k, v in result.metrics.items() if isinstance(v, (int, float))},
        "history": result.history, "stopped_early": result.stopped_early,
    }
    (out / f"{name}.result.json").write_text(json.dumps(summary, indent=2))
    return summary


def _metric(r: dict) -> str:
    return heads_recipe.main_metric(r["task"], r["recipe"])


def table(results: list[dict]) -> str:
    rows = ["| head | mode | head type | metric | value | trainable params | wall time | device |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        v = r["validation"]
        metric = _metric(r)
        head = r["head"] + (f" / {r['pair_mode']}" if r.get("pair_mode") else "") + (" + shape" if r.get("word_shape") else "")
        rows.append(f"| {r['name']} | {r['mode']} | {head} | {metric} | {100 * v[metric]:.2f} | {r['trainable_parameters']:,} "
                    f"| {r['wall_seconds']:.0f} s | {r['device']} |")
    return "\n".join(rows + seeds(results))


def seeds(results: list[dict]) -> list[str]:
    """Mean, sample standard deviation and range of each recipe run with several seeds (``NAME`` is seed 42,
    ``NAME@SEED`` the others): on a 408-pair validation split one pair is 0.25 points, so a single carve
    says little."""
    import statistics

    groups: dict[str, list[float]] = {}
    for r in results:
        groups.setdefault(r["name"].split("@")[0], []).append(100 * r["validation"][_metric(r)])
    rows = []
    for name, values in groups.items():
        if len(values) > 1:
            rows.append(f"\n{name}: {len(values)} seeds, {statistics.mean(values):.2f} ± {statistics.stdev(values):.2f} "
                        f"(min {min(values):.2f}, max {max(values):.2f})")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*")
    parser.add_argument("--shipped", action="store_true", help="the four shipped heads")
    parser.add_argument("--all", action="store_true", help="every recipe variant")
    parser.add_argument("--out", default="runs/heads")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="torch threads per job (0 = default)")
    parser.add_argument("--encoder")
    parser.add_argument("--record-encoder")
    parser.add_argument("--smoke", type=int, help="train on this many examples for 1 epoch (a quick check)")
    parser.add_argument("--report", action="store_true", help="print the table of the result files in --out; train nothing")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    out = Path(args.out)
    if args.report:
        results = [json.loads(p.read_text()) for p in sorted(out.glob("*.result.json"))]
        print(table(results))
        return 0 if results else 1
    out.mkdir(parents=True, exist_ok=True)
    if args.one:
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        train_one(args.one, out, args.encoder, args.record_encoder, args.smoke)
        return 0
    names = list(args.names) + (list(heads_recipe.SHIPPED) if args.shipped else []) + (list(heads_recipe.RECIPES) if args.all else [])

    def launch(name: str) -> dict | None:
        cmd = [sys.executable, __file__, "--one", name, "--out", str(out), "--threads", str(args.threads)]
        cmd += ["--encoder", args.encoder] if args.encoder else []
        cmd += ["--record-encoder", args.record_encoder] if args.record_encoder else []
        cmd += ["--smoke", str(args.smoke)] if args.smoke else []
        with open(out / f"{name}.log", "w") as log:
            code = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "TQDM_DISABLE": "1"})
        path = out / f"{name}.result.json"
        print(f"{name}: exit {code}", flush=True)
        return json.loads(path.read_text()) if code == 0 and path.exists() else None

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = [r for r in pool.map(launch, names) if r]
    print(table(results))
    return 0 if len(results) == len(names) else 1


if __name__ == "__main__":
    sys.exit(main())
