"""Small data: accuracy against examples per class, for each training recipe (and SetFit).

SST-2 (``../shared/data/sst2/train.tsv``): validation = 1,000 whole sentences held out with every
phrase they contain dropped from training (``sst2_sentences.py``); training samples = N examples
per class drawn (seeded, the same for every recipe) from the remaining sentence-like phrases
(>= 6 words). CoNLL-2003 (``--ner``): 50 and 200 training sentences, scored on the dev set.

    python benchmarks/fewshot.py                         # N = 8 16 64 256, 5 seeds, ftclf recipes
    python benchmarks/fewshot.py --n 8 64 --seeds 3 --recipes auto setfit
    python benchmarks/fewshot.py --ner                   # the CoNLL-2003 curve
    python benchmarks/fewshot.py --plot assets/fewshot.svg --from results.jsonl

Every run appends one JSON line per (recipe, N, seed) to ``--out`` (default
``benchmarks/results/fewshot.jsonl``), so long runs can be split and resumed (done rows are
skipped) and the table re-printed from the file. SetFit (``setfit`` from
``benchmarks/requirements-fewshot.txt``) is a peer for the benchmark only: the app and the tests
never import it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import sst2_sentences  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CONLL = ROOT.parent / "shared" / "data" / "conll2003"
LABELS = {"0": "negative", "1": "positive"}

#: recipe name -> (what it is, TrainingConfig keyword arguments)
RECIPES = {
    "auto": ("ftclf defaults (mode auto)", {}),
    "frozen-lbfgs": ("frozen encoder, head by L-BFGS + cross-validation", {"mode": "frozen", "head_fit": "lbfgs"}),
    "frozen-adamw": ("frozen encoder, head by AdamW epochs on a carved split (the previous default)",
                     {"mode": "frozen", "head_fit": "adamw"}),
    "contrastive": ("contrastive LoRA tuning + L-BFGS head", {"mode": "contrastive"}),
    "contrastive-300": ("contrastive with a bigger budget: 300 steps", {"mode": "contrastive", "contrastive_steps": 300}),
    "contrastive-full": ("contrastive tuning of every encoder weight (lr 5e-5) + L-BFGS head",
                         {"mode": "contrastive", "contrastive_body": "full"}),
    "lora": ("LoRA + head, AdamW epochs on a carved split", {"mode": "lora"}),
    "setfit": ("SetFit 1.2 (contrastive body tuning + logistic regression, its defaults)", None),
}
NER_RECIPES = {
    "auto": ("ftclf defaults (mode auto)", {}),
    "frozen-crf": ("frozen encoder, CRF head by L-BFGS + cross-validation", {"mode": "frozen", "head_fit": "lbfgs"}),
    "frozen-crf-adamw": ("frozen encoder, CRF head by AdamW epochs", {"mode": "frozen", "head_fit": "adamw"}),
    "lora-crf": ("LoRA + CRF head", {"mode": "lora"}),
}


def sst2_sample(pool, n: int, seed: int):
    from ftclf.data import Example

    rng, out = random.Random(seed), []
    for label in ("0", "1"):
        rows = [r for r in pool if r[1] == label]
        out += [Example(text=t, label=LABELS[lab]) for t, lab in rng.sample(rows, n)]
    random.Random(seed).shuffle(out)
    return out


def run_ftclf(task: str, train, val, kwargs: dict, seed: int, head: str | None = None) -> tuple[float, float, str]:
    from ftclf import ModelConfig, TrainingConfig
    from ftclf.evaluation import evaluate
    from ftclf.training import fit

    t0 = time.perf_counter()
    clf, result = fit(ModelConfig(task=task, head=head), TrainingConfig(seed=seed, **kwargs), train)
    seconds = time.perf_counter() - t0
    metric = clf.task.metric
    return evaluate(clf, val)[metric], seconds, clf.training_config.recipe


def run_setfit(train, val, seed: int) -> tuple[float, float, str]:
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    from ftclf.encoders import embedded_encoder_path

    t0 = time.perf_counter()
    model = SetFitModel.from_pretrained(str(embedded_encoder_path()))
    data = Dataset.from_dict({"text": [e.text for e in train], "label": [e.label for e in train]})
    with tempfile.TemporaryDirectory(prefix="setfit-") as tmp:  # its checkpoints, never in the project
        args = TrainingArguments(output_dir=tmp, seed=seed, show_progress_bar=False)
        Trainer(model=model, args=args, train_dataset=data).train()
    seconds = time.perf_counter() - t0
    predicted = model.predict([e.text for e in val])
    correct = sum(str(p) == e.label for p, e in zip(predicted, val))
    return correct / len(val), seconds, "setfit defaults"


def conll(n: int, seed: int):
    from ftclf import get_task

    sentences = get_task("token").read(str(CONLL / "train.txt"))
    return random.Random(seed).sample(sentences, n)


def done_rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def table(rows: list[dict], benchmark: str) -> str:
    rows = [r for r in rows if r["benchmark"] == benchmark]
    ns = sorted({r["n"] for r in rows})
    recipes = [k for k in (RECIPES if benchmark == "sst2" else NER_RECIPES) if any(r["recipe"] == k for r in rows)]
    unit = "per class" if benchmark == "sst2" else "sentences"
    head = "| recipe | " + " | ".join(f"N = {n} {unit}" for n in ns) + " |"
    lines = [head, "|---" * (len(ns) + 1) + "|"]
    for recipe in recipes:
        cells = []
        for n in ns:
            got = [r for r in rows if r["recipe"] == recipe and r["n"] == n]
            if not got:
                cells.append("")
                continue
            acc = [100 * r["metric"] for r in got]
            secs = min(r["seconds"] for r in got)  # the least disturbed run (this machine is shared)
            spread = f" ± {statistics.stdev(acc):.1f}" if len(acc) > 1 else ""
            cells.append(f"{statistics.mean(acc):.1f}{spread} ({secs:.0f} s, {len(acc)} seeds)")
        lines.append(f"| {recipe} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(rows: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r["benchmark"] == "sst2"]
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    for recipe in RECIPES:
        got = sorted({r["n"] for r in rows if r["recipe"] == recipe})
        if not got:
            continue
        means = [100 * statistics.mean(r["metric"] for r in rows if r["recipe"] == recipe and r["n"] == n) for n in got]
        ax.plot(got, means, marker="o", label=recipe)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("training examples per class")
    ax.set_ylabel("accuracy on 1,000 held-out SST-2 sentences (%)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=None)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--recipes", nargs="+", default=None)
    parser.add_argument("--ner", action="store_true", help="the CoNLL-2003 curve instead of SST-2")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "fewshot.jsonl"))
    parser.add_argument("--table", action="store_true", help="print the table of --out and stop")
    parser.add_argument("--plot", default=None, help="write the SST-2 curve to this image (needs matplotlib)")
    args = parser.parse_args()
    out = Path(args.out)
    benchmark = "conll" if args.ner else "sst2"
    if args.table or args.plot:
        print(table(done_rows(out), benchmark))
        if args.plot:
            plot(done_rows(out), args.plot)
        return 0
    recipes = args.recipes or [k for k in (NER_RECIPES if args.ner else RECIPES) if k != "setfit"]
    ns = args.n or ([50, 200] if args.ner else [8, 16, 64, 256])
    if args.ner:
        from ftclf import get_task

        val = get_task("token").read(str(CONLL / "dev.txt"))
    else:
        train_rows, val_rows = sst2_sentences.split()
        pool = sst2_sentences.sentence_like(train_rows)
        from ftclf.data import Example

        val = [Example(text=t, label=LABELS[lab]) for t, lab in val_rows]
    have = {(r["benchmark"], r["recipe"], r["n"], r["seed"]) for r in done_rows(out)}
    out.parent.mkdir(parents=True, exist_ok=True)
    for n in ns:
        for seed in range(args.seeds):
            train = conll(n, seed) if args.ner else sst2_sample(pool, n, seed)
            for recipe in recipes:
                if (benchmark, recipe, n, seed) in have:
                    continue
                if recipe == "setfit":
                    metric, seconds, how = run_setfit(train, val, seed)
                else:
                    kwargs = (NER_RECIPES if args.ner else RECIPES)[recipe][1]
                    metric, seconds, how = run_ftclf("token" if args.ner else "sequence", train, val, kwargs, seed)
                row = {"benchmark": benchmark, "recipe": recipe, "n": n, "seed": seed, "metric": metric,
                       "seconds": round(seconds, 1), "recipe_text": how}
                print(json.dumps(row), flush=True)
                with out.open("a") as f:
                    f.write(json.dumps(row) + "\n")
    print(table(done_rows(out), benchmark))
    return 0


if __name__ == "__main__":
    sys.exit(main())
