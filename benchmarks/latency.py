"""Serving latency, throughput, memory and accuracy of every backend, beside transformers.pipeline.

    python benchmarks/latency.py            # timings + accuracy on the fixed 200-example slices
    python benchmarks/latency.py --full     # accuracy on the whole validation splits too

In one process: the sentiment head served by ftclf's predictor on each backend (fp32 torch, int8
torch, ONNX Runtime fp32 / int8) and by ``transformers.pipeline("text-classification")`` on the same
encoder weights (the LoRA adapter merged in, the head's linear layer as the pipeline's classifier);
the NER head against ``pipeline("token-classification")`` likewise, on one thread. RSS after loading
all four shipped heads is measured in a fresh process per backend (memory is per process). Accuracy:
every shipped head on every backend, on the slice CI checks (and with --full on the whole split).
The alternative way to serve LoRA heads — named peft adapters on one base — is measured beside
(memory and encoder latency). Prints tables and one JSON line; the data come from ../shared/data
(or $FTCLF_DATA).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import heads_recipe  # noqa: E402

BACKENDS = ("torch", "int8", "onnx", "onnx-int8")
HEADS = ["sentiment-sst2", "paraphrase-mrpc", "nli-sick", "ner-conll2003"]
SINGLE = "a gripping , beautifully acted film that stays with you long after the credits roll"


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def pct(values: list[float], q: float) -> float:
    return 1000 * statistics.quantiles(values, n=100)[q - 1]


def peers(clf):
    """transformers pipelines on the served head's weights (adapter merged, head as classifier)."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoModelForTokenClassification, pipeline

    from ftclf.encoders import embedded_encoder_path

    encoder = clf.encoder  # fp32 torch, adapter merged
    token_level = clf.task.token_level
    auto = AutoModelForTokenClassification if token_level else AutoModelForSequenceClassification
    config = AutoConfig.from_pretrained(embedded_encoder_path(), num_labels=len(clf.labels))
    model = auto.from_config(config).eval()
    model.bert.load_state_dict(encoder.state_dict(), strict=False)
    if not token_level:  # the same scores layer (the pipeline pools with [CLS] + the BERT pooler)
        with torch.no_grad():
            model.classifier.weight.copy_(clf.head.classifier.weight)
            model.classifier.bias.copy_(clf.head.classifier.bias)
    task = "token-classification" if token_level else "text-classification"
    return pipeline(task, model=model, tokenizer=clf.tokenizer, device=-1)


POOLS: dict = {}


def served(backend: str, name: str):
    """A shipped head on ``backend``; every head of a backend shares that backend's encoder pool."""
    from ftclf.service import shipped_heads_dir
    from ftclf.serving import EncoderPool

    if backend not in POOLS:
        POOLS[backend] = EncoderPool(backend)
    return POOLS[backend].load(shipped_heads_dir() / name)


def speed(args) -> dict:
    import torch

    from ftclf.inference import Predictor

    torch.set_num_threads(2)
    _, sst2_val = heads_recipe.recipe("sentiment-sst2").load()
    texts = [e.text for e in sst2_val[:256]]
    _, conll_val = heads_recipe.recipe("ner-conll2003").load()
    sentences = [" ".join(e.words) for e in conll_val]
    rows = {}
    pipe = peers(served("torch", "sentiment-sst2"))
    for _ in range(5):
        pipe(SINGLE)
    single = timed(lambda: pipe(SINGLE), args.repeat)
    t0 = time.perf_counter()
    pipe(texts, batch_size=32)
    rows["pipeline"] = {"single_p50_ms": pct(single, 50), "single_p95_ms": pct(single, 95),
                        "batch_texts_per_s": len(texts) / (time.perf_counter() - t0)}
    ner_pipe = peers(served("torch", "ner-conll2003"))
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    ner_pipe(sentences[: args.ner_sentences], batch_size=32)
    rows["pipeline"]["ner_sentences_per_s_1_thread"] = args.ner_sentences / (time.perf_counter() - t0)
    torch.set_num_threads(2)
    pipe = ner_pipe = None  # free the peers before measuring ftclf
    for backend in BACKENDS:
        predictor = Predictor(served(backend, "sentiment-sst2"), batch_size=32)
        for _ in range(5):
            predictor.predict([SINGLE])
        single = timed(lambda p=predictor: p.predict([SINGLE]), args.repeat)
        t0 = time.perf_counter()
        predictor.predict(texts)
        row = {"single_p50_ms": pct(single, 50), "single_p95_ms": pct(single, 95),
               "batch_texts_per_s": len(texts) / (time.perf_counter() - t0)}
        ner = Predictor(served(backend, "ner-conll2003"), batch_size=32)
        ner.predict(sentences[:8])
        torch.set_num_threads(1)
        t0 = time.perf_counter()
        ner.predict(sentences[: args.ner_sentences])
        row["ner_sentences_per_s_1_thread"] = args.ner_sentences / (time.perf_counter() - t0)
        torch.set_num_threads(2)
        rows[backend] = row
    return rows


def accuracy(backend: str, full: bool) -> dict:
    from ftclf.evaluation import evaluate

    out = {}
    for name in HEADS:
        clf = served(backend, name)
        meta = clf.metrics
        _, val = heads_recipe.recipe(name).load()
        out[name] = {"slice": evaluate(clf, val[: meta["slice_examples"]])[meta["main_metric"]],
                     "recorded_slice": meta["slice_value"], "metric": meta["main_metric"]}
        if full:
            out[name]["full"] = evaluate(clf, val)[meta["main_metric"]]
    return out


def memory(backend: str) -> dict:
    """RSS of a fresh process: after imports, after loading all four shipped heads, after serving."""
    import ctypes

    from ftclf.inference import predict

    import_rss = rss_mb()
    heads = {name: served(backend, name) for name in HEADS}
    for clf in heads.values():
        predict(clf, ["Angela Merkel visited Paris."], ["A woman travelled."] if clf.task.text_pairs else None)
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    return {"rss_after_imports_mb": import_rss, "rss_all_heads_mb": rss_mb()}


def named_adapters() -> dict:
    """The alternative to merging: every LoRA head as a named peft adapter on one fp32 base
    (``load_adapter`` / ``set_adapter``). RSS of this process, encoder-only single-text latency with
    one adapter active and with the adapter switching at every request, and a plain encoder's."""
    import ctypes
    import gc

    import torch
    from peft import PeftModel

    from ftclf.encoders import load_encoder
    from ftclf.service import shipped_heads_dir

    torch.set_num_threads(2)
    before = rss_mb()
    base = load_encoder(None)
    model = PeftModel.from_pretrained(base.model, str(shipped_heads_dir() / HEADS[0] / "adapter"), adapter_name=HEADS[0])
    for name in HEADS[1:]:
        model.load_adapter(str(shipped_heads_dir() / name / "adapter"), adapter_name=name)
    model.eval()
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    out = {"rss_added_mb": rss_mb() - before}
    one = base.tokenizer([SINGLE], return_tensors="pt")
    plain = load_encoder(None).model.eval()
    with torch.inference_mode():
        for _ in range(10):
            model(**one)
            plain(**one)
        model.set_adapter(HEADS[0])
        out["one_adapter_p50_ms"] = pct(timed(lambda: model(**one), 100), 50)
        turn = iter(range(10**9))
        out["switching_p50_ms"] = pct(timed(lambda: (model.set_adapter(HEADS[next(turn) % 4]), model(**one)), 100), 50)
        out["plain_encoder_p50_ms"] = pct(timed(lambda: plain(**one), 100), 50)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="also score the whole validation splits")
    parser.add_argument("--repeat", type=int, default=200, help="single-text predictions timed per system")
    parser.add_argument("--ner-sentences", type=int, default=1000, help="CoNLL dev sentences for NER throughput")
    parser.add_argument("--memory", choices=BACKENDS, help=argparse.SUPPRESS)  # child process mode
    parser.add_argument("--adapters", action="store_true", help=argparse.SUPPRESS)  # child process mode
    args = parser.parse_args()
    if args.adapters:
        import torch  # noqa: F401
        import transformers  # noqa: F401

        print(json.dumps(named_adapters()))
        return 0
    if args.memory:
        import torch  # noqa: F401  (imported before the first reading, as in the app)
        import transformers  # noqa: F401

        print(json.dumps(memory(args.memory)))
        return 0
    rows = speed(args)
    for backend in BACKENDS:
        child = subprocess.run([sys.executable, __file__, "--memory", backend], capture_output=True, text=True, check=True)
        rows[backend].update(json.loads(child.stdout.strip().splitlines()[-1]))
        rows[backend]["accuracy"] = accuracy(backend, args.full)
    child = subprocess.run([sys.executable, __file__, "--adapters"], capture_output=True, text=True, check=True)
    adapters = json.loads(child.stdout.strip().splitlines()[-1])
    base = rows["pipeline"]
    print("| system | single p50 ms | single p95 ms | batch texts/s | NER sentences/s (1 thread) | RSS, 4 heads (MB) |")
    print("|---|---|---|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['single_p50_ms']:.2f} | {row['single_p95_ms']:.2f} | {row['batch_texts_per_s']:.0f} | "
              f"{row['ner_sentences_per_s_1_thread']:.0f} | {row.get('rss_all_heads_mb', float('nan')):.0f} |")
    print()
    print("| head | metric | " + " | ".join(BACKENDS) + " |")
    print("|---|---|" + "---|" * len(BACKENDS))
    for name in HEADS:
        key = "full" if args.full else "slice"
        cells = [f"{100 * rows[b]['accuracy'][name][key]:.2f}" for b in BACKENDS]
        print(f"| {name} ({key}) | {rows['torch']['accuracy'][name]['metric']} | " + " | ".join(cells) + " |")
    ratios = {b: {"single_p50_vs_pipeline": rows[b]["single_p50_ms"] / base["single_p50_ms"],
                  "batch_vs_pipeline": rows[b]["batch_texts_per_s"] / base["batch_texts_per_s"],
                  "ner_vs_pipeline": rows[b]["ner_sentences_per_s_1_thread"] / base["ner_sentences_per_s_1_thread"]}
              for b in BACKENDS}
    print()
    print(f"LoRA heads as named adapters on one fp32 base: +{adapters['rss_added_mb']:.0f} MB for all four; encoder pass "
          f"{adapters['one_adapter_p50_ms']:.2f} ms with one adapter, {adapters['switching_p50_ms']:.2f} ms switching "
          f"adapters per request, {adapters['plain_encoder_p50_ms']:.2f} ms for the plain (= merged) encoder")
    print()
    print(json.dumps({"rows": rows, "ratios": ratios, "named_adapters": adapters}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
