"""The shipped multi-label head ``mentions-conll2003`` against its targets, and against the NER head.

    python benchmarks/mentions.py [--head DIR] [--repeat N]

On CoNLL-2003 dev (../shared/data or $FTCLF_DATA; the head's validation split, never a test split), each
sentence labelled with the entity types it mentions (PER / ORG / LOC / MISC; none: the empty set):

1. **quality**: micro-F1, exact match, macro-F1, Hamming loss and LRAP of the head at its thresholds, as
   cross-fitted when it was calibrated (each fold's thresholds and calibration tuned on the other folds:
   what the head reports), and at its stored thresholds on all of dev (in-sample for the thresholds); beside
   them the anchor, the shipped NER head's entities reduced to their types on the same sentences;
2. **size**: the head's files (its LoRA adapter, head weights and config; the encoder is shared);
3. **cost**: one multi-label prediction against one single-label prediction (the shipped sentiment head,
   also LoRA on the same encoder) of the same texts, one text per call, alternating, in this process: the
   median milliseconds of each and their ratio, in fp32 torch and on the app's default backend;
4. **backends**: the label sets every backend decides on dev against fp32's (share equal) and the largest
   |difference| of a calibrated probability.

Prints tables and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import heads_recipe  # noqa: E402

ROOT = heads_recipe.ROOT
TARGETS = {"micro_f1": 0.95, "exact_match": 0.90, "size_mb": 6.0, "cost_ratio": 1.1, "int8_agreement": 0.99}


def size_mb(directory: Path) -> float:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file()) / 1e6


def anchor(ner, dev_tokens, labels) -> dict:
    """The NER head's entities reduced to their types, scored as label sets."""
    from ftclf import predict
    from ftclf.tasks import get_task

    task = get_task("multilabel")
    index = {label: i for i, label in enumerate(labels)}
    gold = [sorted({index[t[2:]] for t in e.tags if t != "O"}) for e in dev_tokens]
    preds = predict(ner, words=[list(e.words) for e in dev_tokens], batch_size=64)
    predicted = [sorted({index[x.label] for x in p.entities if x.label in index}) for p in preds]
    return task.metrics(gold, predicted, labels)


def timed(predict_one, texts, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        for text in texts:
            t0 = time.perf_counter()
            predict_one(text)
            out.append(1000 * (time.perf_counter() - t0))
    return out


def cost(multi, single, texts, repeat: int) -> dict:
    """Median ms per single-text call of each head, alternating head by head so both see the same machine."""
    from ftclf import predict

    a, b = [], []
    for _ in range(repeat):
        a += timed(lambda t: predict(multi, [t]), texts, 1)
        b += timed(lambda t: predict(single, [t]), texts, 1)
    return {"multilabel_ms": statistics.median(a), "single_label_ms": statistics.median(b),
            "ratio": statistics.median(a) / statistics.median(b)}


def engine_cost(multi_dir: Path, single_dir: Path, texts, repeat: int) -> dict:
    from ftclf.serving import DEFAULT_BACKEND, Engine

    engine = Engine(DEFAULT_BACKEND)
    try:
        engine.predict(multi_dir, texts[:2])
        engine.predict(single_dir, texts[:2])  # both loaded and warm
        a, b = [], []
        for _ in range(repeat):
            a += timed(lambda t: engine.predict(multi_dir, [t]), texts, 1)
            b += timed(lambda t: engine.predict(single_dir, [t]), texts, 1)
    finally:
        engine.close()
    return {"backend": DEFAULT_BACKEND, "multilabel_ms": statistics.median(a), "single_label_ms": statistics.median(b),
            "ratio": statistics.median(a) / statistics.median(b)}


def backends(directory: Path, val) -> dict:
    """Every serving backend's label sets on ``val`` against fp32's (share equal), and the largest
    |difference| of a calibrated probability."""
    import torch

    from ftclf import Classifier
    from ftclf.evaluation import decode_examples
    from ftclf.serving import EncoderPool

    _, reference = decode_examples(Classifier.from_pretrained(directory), val)
    exact = torch.stack([d.probs for d in reference])
    out = {}
    for backend in ("onnx", "int8", "onnx-int8"):
        _, got = decode_examples(EncoderPool(backend).load(directory), val)
        same = sum(sorted(a.ids) == sorted(b.ids) for a, b in zip(reference, got)) / len(val)
        out[backend] = {"label_sets_equal": same,
                        "max_gap": float((torch.stack([d.probs for d in got]) - exact).abs().max())}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--head", default=str(ROOT / "assets" / "heads" / "mentions-conll2003"))
    parser.add_argument("--single", default=str(ROOT / "assets" / "heads" / "sentiment-sst2"))
    parser.add_argument("--ner", default=str(ROOT / "assets" / "heads" / "ner-conll2003"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--texts", type=int, default=100, help="dev sentences timed one per call")
    parser.add_argument("--skip-backends", action="store_true")
    args = parser.parse_args()

    from ftclf import Classifier, evaluate

    head_dir, single_dir = Path(args.head), Path(args.single)
    clf = Classifier.from_pretrained(head_dir)
    train_tokens, dev_tokens = heads_recipe.conll(heads_recipe.DATA)
    dev = heads_recipe.mentions(dev_tokens)
    decisions = clf.calibration.metrics["decisions"]
    stored = evaluate(clf, dev)
    reference = anchor(Classifier.from_pretrained(args.ner), dev_tokens, clf.labels)
    print(f"\n## mentions-conll2003 on CoNLL-2003 dev ({len(dev):,} sentences, {sum(not e.labels for e in dev):,} "
          "without an entity)\n")
    print("| measured as | micro-F1 | exact match | macro-F1 | Hamming loss | LRAP |")
    print("|---|---|---|---|---|---|")
    rows = [("head, thresholds cross-fitted (reported)", decisions), ("head, stored thresholds (in-sample)", stored),
            ("anchor: the NER head's entity types", reference)]
    for what, m in rows:
        print(f"| {what} | {m['micro_f1']:.4f} | {m['exact_match']:.4f} | {m['macro_f1']:.4f} | "
              f"{m['hamming_loss']:.4f} | {m.get('lrap', float('nan')):.4f} |")
    print("\n| label | precision | recall | F1 | support | threshold |\n|---|---|---|---|---|---|")
    for label, m in decisions["per_label"].items():
        t = clf.calibration.thresholds[clf.labels.index(label)]
        print(f"| {label} | {m['precision']:.4f} | {m['recall']:.4f} | {m['f1']:.4f} | {m['support']} | {t:.3f} |")
    print(f"\ncalibration: {clf.calibration.summary()}")
    size = size_mb(head_dir)
    texts = [e.text for e in dev[: args.texts]]
    torch_cost = cost(clf, Classifier.from_pretrained(single_dir), texts, args.repeat)
    served_cost = engine_cost(head_dir, single_dir, texts, args.repeat)
    print(f"\nhead files: {size:.2f} MB (target ≤ {TARGETS['size_mb']} MB)\n")
    print("| path | multi-label ms | single-label ms | ratio (target ≤ 1.1) |\n|---|---|---|---|")
    print(f"| fp32 torch | {torch_cost['multilabel_ms']:.2f} | {torch_cost['single_label_ms']:.2f} | {torch_cost['ratio']:.3f} |")
    print(f"| engine ({served_cost['backend']}) | {served_cost['multilabel_ms']:.2f} | {served_cost['single_label_ms']:.2f} "
          f"| {served_cost['ratio']:.3f} |")
    agreement = {}
    if not args.skip_backends:
        with tempfile.TemporaryDirectory():
            agreement = backends(head_dir, dev)
        print("\n| backend | label sets equal to fp32's (target ≥ 99 % for onnx-int8) | max |Δp| |\n|---|---|---|")
        for backend, row in agreement.items():
            print(f"| {backend} | {100 * row['label_sets_equal']:.2f} % | {row['max_gap']:.4f} |")
    print(json.dumps({"decisions": {k: decisions[k] for k in ("micro_f1", "exact_match", "macro_f1", "hamming_loss")},
                      "stored": {k: stored[k] for k in ("micro_f1", "exact_match")},
                      "anchor": {k: reference[k] for k in ("micro_f1", "exact_match")}, "size_mb": size,
                      "cost": {"torch": torch_cost, "engine": served_cost}, "backends": agreement}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
