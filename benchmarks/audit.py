"""``ftclf.audit`` against labels flipped on purpose: 1,000 whole SST-2 training sentences (sentence-like rows
of at least 8 words), 100 of their labels flipped uniformly at random, per seed; how many flipped rows the audit
ranks in its top 100 and top 200, and how long it takes on this CPU.

    python benchmarks/audit.py [--seeds 0 1 2] [--mode frozen full] [--rows 1000] [--flips 100] [--encoder DIR]

``--encoder`` audits with another encoder than the embedded default, e.g. all-mpnet-base-v2 (assembled from
PyPI by ``benchmarks/teacher.py``; online, the hub id ``sentence-transformers/all-mpnet-base-v2``).

Reads ../shared/data/sst2/train.tsv (or $FTCLF_DATA). Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ftclf import Example, ModelConfig, TrainingConfig, audit  # noqa: E402


def sentences(data: Path, min_words: int = 8) -> list[Example]:
    with open(data / "sst2" / "train.tsv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    labels = {"0": "negative", "1": "positive"}
    return [Example(r["sentence"].strip(), label=labels[r["label"]]) for r in rows if len(r["sentence"].split()) >= min_words]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--mode", nargs="*", default=["frozen"], choices=("frozen", "lora", "full"))
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--flips", type=int, default=100)
    parser.add_argument("--encoder", help="hub id or local directory (default: the embedded all-MiniLM-L6-v2)")
    args = parser.parse_args()
    model = ModelConfig(task="sequence", **({"encoder": args.encoder} if args.encoder else {}))
    pool = sentences(Path(os.environ.get("FTCLF_DATA", ROOT.parent / "shared" / "data")))
    other = {"negative": "positive", "positive": "negative"}
    runs = []
    for mode in args.mode:
        for seed in args.seeds:
            rng = np.random.default_rng(seed)
            rows = [pool[i] for i in rng.choice(len(pool), args.rows, replace=False)]
            flipped = set(rng.choice(args.rows, args.flips, replace=False).tolist())
            noisy = [Example(e.text, label=other[e.label]) if i in flipped else e for i, e in enumerate(rows)]
            found = audit(noisy, model, TrainingConfig(mode=mode, seed=seed), seed=seed)
            runs.append({"mode": mode, "seed": seed, "top100": len(flipped & set(found.ranking[:100])),
                         "top200": len(flipped & set(found.ranking[:200])), "flagged": len(found.suspects),
                         "flagged_flipped": len(flipped & {s.index for s in found.suspects}),
                         "seconds": round(found.seconds, 1)})
            print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
    print("| mode | seed | flipped in top 100 | in top 200 | flagged (of them flipped) | seconds |\n|---|---|---|---|---|---|")
    for r in runs:
        print(f"| {r['mode']} | {r['seed']} | {r['top100']} | {r['top200']} | {r['flagged']} ({r['flagged_flipped']}) | "
              f"{r['seconds']} |")
    for mode in args.mode:
        mine = [r for r in runs if r["mode"] == mode]
        print(f"| {mode} | mean | {statistics.mean(r['top100'] for r in mine):.1f} | "
              f"{statistics.mean(r['top200'] for r in mine):.1f} | | {statistics.mean(r['seconds'] for r in mine):.0f} |")
    print(json.dumps(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
