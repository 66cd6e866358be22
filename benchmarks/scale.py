"""Scale-out on this machine: one process against two (``torchrun``, gloo on the CPU).

    python benchmarks/scale.py train [--seeds 0 1 2]      # one LoRA run per seed, 1 vs 2 processes
    python benchmarks/scale.py predict --lines 10000 100000 1000000 [--processes 1 2]

``train``: LoRA fine-tuning of the embedded encoder on 2,000 SST-2 training phrases (seeded sample
of the sentence-level split, ``sst2_sentences.py``) for one epoch, validated on its 1,000 held-out
whole sentences; the same command with 1 and with 2 processes: wall time and validation accuracy.

``predict``: ``ftclf predict --data FILE --output preds.jsonl`` with the shipped sentiment head on
files of N lines made by cycling SST-2's training rows; wall time, examples per second and the peak
resident memory of the scoring processes (polled every 0.2 s; per process and summed), so that
memory can be seen to stay flat as the file grows. Prints a table and one JSON line per run
(appended to ``benchmarks/results/scale.jsonl``). Data from ../shared/data (or $FTCLF_DATA).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import sst2_sentences  # noqa: E402

DATA = Path(os.environ.get("FTCLF_DATA", HERE.parent.parent / "shared" / "data"))
RESULTS = HERE / "results" / "scale.jsonl"


def command(processes: int, *args: str) -> list[str]:
    if processes == 1:
        return [sys.executable, "-m", "ftclf", *args]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
            "-m", "ftclf", *args]


def run_measured(cmd: list[str]) -> tuple[float, dict, float, float]:
    """(wall seconds, the JSON it printed, peak RSS of its largest process, peak summed RSS) in MB."""
    import psutil

    env = {**os.environ, "TQDM_DISABLE": "1"}
    log = tempfile.TemporaryFile("w+")  # noqa: SIM115 — not a pipe: an unread pipe fills up and stalls the child
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, env=env, text=True)
    parent = psutil.Process(proc.pid)
    peak_one = peak_sum = 0.0
    while proc.poll() is None:
        try:
            tree = [parent, *parent.children(recursive=True)]
            rss = [p.memory_info().rss / 2**20 for p in tree if "ftclf" in " ".join(p.cmdline())]
        except psutil.Error:
            rss = []
        if rss:
            peak_one, peak_sum = max(peak_one, max(rss)), max(peak_sum, sum(rss))
        time.sleep(0.2)
    out, _ = proc.communicate()
    seconds = time.perf_counter() - t0
    log.seek(0)
    err = log.read()
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{err[-3000:]}")
    return seconds, json.loads(out), peak_one, peak_sum


def record(row: dict) -> None:
    RESULTS.parent.mkdir(exist_ok=True)
    with open(RESULTS, "a") as handle:
        handle.write(json.dumps(row) + "\n")
    print(json.dumps(row), flush=True)


def bench_train(args) -> None:
    import random

    train_rows, val_rows = sst2_sentences.split()
    rows = random.Random(0).sample(train_rows, args.examples)
    label = {"0": "negative", "1": "positive"}
    with tempfile.TemporaryDirectory(prefix="ftclf-scale-") as tmp:
        train, val = Path(tmp) / "train.tsv", Path(tmp) / "val.tsv"
        train.write_text("sentence\tlabel\n" + "".join(f"{t}\t{label[y]}\n" for t, y in rows))
        val.write_text("sentence\tlabel\n" + "".join(f"{t}\t{label[y]}\n" for t, y in val_rows))
        table = []
        for seed, processes in [(seed, p) for seed in args.seeds for p in args.processes]:
            out = Path(tmp) / f"head-{processes}-{seed}"
            seconds, report, one, total = run_measured(command(
                processes, "train", "--task", "sequence", "--data", str(train), "--validation", str(val),
                "--output", str(out), "--mode", "lora", "--epochs", "1", "--seed", str(seed)))
            row = {"benchmark": "train-lora", "processes": processes, "seed": seed, "examples": args.examples,
                   "seconds": round(seconds, 1), "train_seconds": report["train_seconds"],
                   "accuracy": round(report["validation"]["accuracy"], 4), "steps": report["history"][-1]["step"],
                   "peak_rss_mb": round(one), "peak_rss_sum_mb": round(total)}
            record(row)
            table.append(row)
    print(f"\n| seed | processes | wall (s) | training (s) | updates | accuracy on {len(val_rows):,} held-out sentences |")
    print("|---|---|---|---|---|---|")
    for r in table:
        print(f"| {r['seed']} | {r['processes']} | {r['seconds']} | {r['train_seconds']} | {r['steps']} "
              f"| {100 * r['accuracy']:.1f} |")


def bench_predict(args) -> None:
    source = (DATA / "sst2" / "train.tsv").read_text("utf-8").splitlines()[1:]
    table = []
    with tempfile.TemporaryDirectory(prefix="ftclf-scale-") as tmp:
        for lines in args.lines:
            data = Path(tmp) / f"in-{lines}.tsv"
            with open(data, "w") as handle:
                handle.write("sentence\tlabel\n")
                for i in range(lines):
                    handle.write(source[i % len(source)] + "\n")
            for processes in args.processes:
                out = Path(tmp) / f"out-{lines}-{processes}.jsonl"
                seconds, summary, one, total = run_measured(command(
                    processes, "predict", "--model", "sentiment-sst2", "--data", str(data), "--output", str(out),
                    "--backend", args.backend))
                row = {"benchmark": "predict-file", "backend": args.backend, "lines": lines, "processes": processes,
                       "seconds": round(seconds, 1), "scoring_seconds": summary["seconds"],
                       "examples_per_second": summary["examples_per_second"], "peak_rss_mb": round(one),
                       "peak_rss_sum_mb": round(total), "output_mb": round(out.stat().st_size / 2**20, 1)}
                record(row)
                table.append(row)
                out.unlink()
            data.unlink()
    print("\n| lines | processes | wall (s) | examples/s | peak RSS per process (MB) | peak RSS, all processes (MB) |")
    print("|---|---|---|---|---|---|")
    for r in table:
        print(f"| {r['lines']:,} | {r['processes']} | {r['seconds']} | {r['examples_per_second']} | {r['peak_rss_mb']} "
              f"| {r['peak_rss_sum_mb']} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    train = sub.add_parser("train")
    train.add_argument("--examples", type=int, default=2000)
    train.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    train.add_argument("--seeds", type=int, nargs="+", default=[0])
    predict = sub.add_parser("predict")
    predict.add_argument("--lines", type=int, nargs="+", default=[10_000, 100_000])
    predict.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    predict.add_argument("--backend", default="torch")
    args = parser.parse_args()
    bench_train(args) if args.what == "train" else bench_predict(args)


if __name__ == "__main__":
    main()
