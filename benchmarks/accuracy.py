"""Accuracy benchmark of the shipped heads.

    python benchmarks/accuracy.py                      # each head on its validation split (../shared/data)
    python benchmarks/accuracy.py sentiment-sst2=dev.tsv ner-conll2003=test.txt ...   # labelled files
    python benchmarks/accuracy.py --variants runs/variants runs/heads   # + table of recipe variants

Writes OUT/accuracy.json and OUT/accuracy.md (default OUT = benchmarks/results) and prints the
table. Files with the source datasets' raw labels (SST-2 / MRPC 0/1) are mapped through the heads'
label aliases. Published anchors are shown beside the measured figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import heads_recipe

HEADS = heads_recipe.ROOT / "assets" / "heads"  # the shipped heads of this checkout
ANCHORS = {
    "sentiment-sst2": "BERT-base 92.7, MiniLM-L6-H384 91.5, DistilBERT 91.3 (SST-2 dev accuracy)",
    "paraphrase-mrpc": "BERT-base F1 88.9, MiniLM-L6-H384 88.9 (MRPC)",
    "nli-sick": "(no common anchor for SICK 3-way accuracy)",
    "ner-conll2003": "BERT-base 92.4 (CoNLL-2003 test F1, cased)",
}


def measure(name: str, path: str | None) -> dict:
    from ftclf import Classifier
    from ftclf.evaluation import evaluate

    clf = Classifier.from_pretrained(HEADS / name)
    recipe = heads_recipe.recipe(name)
    if path:
        examples, source = clf.task.read(path), path
    else:
        _, examples = recipe.load()
        source = f"validation split of recipe {heads_recipe.SHIPPED[name]}"
    t0 = time.perf_counter()
    metrics = evaluate(clf, examples)
    seconds = time.perf_counter() - t0
    key = clf.metrics.get("main_metric", clf.task.metric)
    return {"head": name, "data": source, "examples": len(examples), "metric": key, "value": metrics[key],
            "accuracy": metrics.get("accuracy", metrics.get("token_accuracy")), "seconds": round(seconds, 1),
            "examples_per_second": round(len(examples) / seconds, 1), "metrics": metrics, "anchor": ANCHORS[name]}


def variants_table(dirs: list[str]) -> tuple[list[dict], str]:
    results = []
    for d in dirs:
        results += [json.loads(p.read_text()) for p in sorted(Path(d).glob("*.result.json"))]
    order = {"sst2": 0, "mrpc": 1, "sick": 2, "conll": 3}
    results.sort(key=lambda r: (order.get(r["recipe"].split("-")[0].split("+")[0], 9), r["mode"], r["recipe"]))
    rows = ["| recipe | mode | head | validation metric | value | trainable params | train time | device |",
            "|---|---|---|---|---|---|---|---|"]
    for r in results:
        v, key = r["validation"], heads_recipe.main_metric(r["task"], r["recipe"])
        head = r["head"] + (f" / {r['pair_mode']}" if r.get("pair_mode") else "") + (" + word shape" if r.get("word_shape") else "")
        rows.append(f"| {r['recipe']} | {r['mode']} | {head} | {key} | {100 * v[key]:.2f} | {r['trainable_parameters']:,} "
                    f"| {r['wall_seconds']:.0f} s | {r['device']} |")
    return results, "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", help="HEAD=PATH pairs; none = every head on its validation split")
    parser.add_argument("--out", default=str(heads_recipe.ROOT / "benchmarks" / "results"))
    parser.add_argument("--variants", nargs="*", default=[], help="directories of *.result.json from train_heads.py")
    args = parser.parse_args()
    pairs = [f.split("=", 1) for f in args.files] or [(name, None) for name in heads_recipe.SHIPPED]
    rows = [measure(name, path) for name, path in pairs]
    lines = ["| head | data | examples | metric | value | eval speed | published anchors |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['head']} | {r['data']} | {r['examples']} | {r['metric']} | {100 * r['value']:.2f} "
                     f"| {r['examples_per_second']:.0f} ex/s | {r['anchor']} |")
    md = "\n".join(lines)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "accuracy.json").write_text(json.dumps(rows, indent=2))
    if args.variants:
        variants, vmd = variants_table(args.variants)
        (out / "variants.json").write_text(json.dumps(variants, indent=2))
        md += "\n\n" + vmd
    (out / "accuracy.md").write_text(md + "\n")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
