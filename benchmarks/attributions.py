"""How faithful and how costly each word-attribution method is, on the shipped heads.

    python benchmarks/attributions.py                   # 200 sentences / pairs / NER sentences per head
    python benchmarks/attributions.py --examples 50 --json out.json

Faithfulness, ERASER-style (DeYoung et al., 2020), on the fp32 shipped heads and the probability of the
label each one predicts (as the head shows it, calibrated):

- **comprehensiveness**: the probability's fall when the 20 % of words the method ranks highest are
  deleted (at least one word), against the fall when as many words drawn at random are deleted (the
  mean of 3 draws); the ratio is what the targets read;
- **sufficiency**: the fall when only those top words are kept (lower is better).

Sentiment: SST-2 validation sentences (the shipped head's held-out sentence-level split) of at least 8
words. Pair: MRPC validation pairs, words of both texts ranked together. NER: CoNLL-2003 dev sentences;
for every predicted entity, the words outside it ranked by their score for that entity, the top 20 % of
them masked (the tokenizer's mask token, so the entity keeps its place) against as many random outside
words, measured on the entity's confidence.

Cost: for sentences of 18-22 words, the median time of each method on one sentence, and of one fp32
prediction of it, in the same run (the ratio is what the target reads). Prints tables and one JSON line;
data from ../shared/data (or $FTCLF_DATA).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))
import heads_recipe  # noqa: E402

METHODS = ("occlusion", "integrated_gradients")
SHARE = 0.2
DRAWS = 3


def _delete(text: str, spans) -> str:
    out, last = [], 0
    for start, end in sorted(spans):
        out.append(text[last:start])
        last = end
    return "".join(out + [text[last:]])


def _keep(text: str, spans) -> str:
    return " ".join(text[s:e] for s, e in sorted(spans))


def _k(n: int) -> int:
    return max(1, math.ceil(SHARE * n))


def text_faithfulness(clf, examples, method: str, pairs: bool, seed: int = 0) -> dict:
    """Comprehensiveness, random comprehensiveness and sufficiency of one method on text examples."""
    from ftclf import attribute, predict

    rng = random.Random(seed)
    firsts = [e.text for e in examples]
    seconds = [e.text_pair for e in examples] if pairs else None
    explained = attribute(clf, firsts, seconds, method=method)
    variants: list[tuple[str, str | None]] = []
    plan = []
    for i, a in enumerate(explained):
        words = [(w.score, 0, (w.start, w.end)) for w in a.words] + [(w.score, 1, (w.start, w.end)) for w in a.pair_words or []]
        k = _k(len(words))
        top = sorted(words, key=lambda w: -w[0])[:k]
        base = len(variants)

        def cut(chosen, keep=False, i=i):
            a_spans = [s for _, side, s in chosen if side == 0]
            b_spans = [s for _, side, s in chosen if side == 1]
            edit = _keep if keep else _delete
            return (edit(firsts[i], a_spans) or ".", (edit(seconds[i], b_spans) or ".") if pairs else None)

        variants.append(cut(top))
        variants.append(cut(top, keep=True))
        for _ in range(DRAWS):
            variants.append(cut(rng.sample(words, k)))
        plan.append((base, a.target, a.probability))
    predictions = predict(clf, [v[0] for v in variants], [v[1] for v in variants] if pairs else None)
    comp, suff, rand = [], [], []
    for base, target, shown in plan:
        comp.append(shown - predictions[base].probabilities[target])
        suff.append(shown - predictions[base + 1].probabilities[target])
        rand.append(statistics.mean(shown - predictions[base + 2 + d].probabilities[target] for d in range(DRAWS)))
    return {"comprehensiveness": statistics.mean(comp), "random": statistics.mean(rand),
            "ratio": statistics.mean(comp) / max(1e-9, statistics.mean(rand)), "sufficiency": statistics.mean(suff),
            "examples": len(examples)}


def entity_faithfulness(clf, sentences, method: str, seed: int = 0) -> dict:
    """The same for NER entities: masking an entity's top evidence words outside it."""
    from ftclf import attribute
    from ftclf.attribution import _mask_token, _run
    from ftclf.calibration import entity_confidence
    from ftclf.tasks.tagging import _Sentence

    rng = random.Random(seed)
    mask = _mask_token(clf.tokenizer)
    explained = attribute(clf, [" ".join(s) for s in sentences], method=method)
    variants, plan = [], []
    examples = clf.task.inputs([" ".join(s) for s in sentences])
    for example, a in zip(examples, explained):
        (decoded,), _ = _run(clf, [example], 32)
        ids = list(decoded.ids)
        starts = [w.start for w in a.words]
        for entity in a.entities:
            first, last = starts.index(entity.start), max(j for j, w in enumerate(a.words) if w.end <= entity.end)
            outside = [j for j in range(len(a.words)) if j < first or j > last]
            if not outside:
                continue
            k = _k(len(outside))
            top = sorted(outside, key=lambda j: -entity.words[j].score)[:k]

            def masked(chosen, example=example):
                words = list(example.words)
                for j in chosen:
                    words[j] = mask
                return _Sentence(tuple(words), None, example.text, example.offsets)

            base = len(variants)
            variants.append(masked(top))
            for _ in range(DRAWS):
                variants.append(masked(rng.sample(outside, k)))
            plan.append((base, ids, first, last, entity_confidence(decoded.probs, ids, first, last)))
    decoded, _ = _run(clf, variants, 32)
    comp, rand = [], []
    for base, ids, first, last, shown in plan:
        comp.append(shown - entity_confidence(decoded[base].probs, ids, first, last))
        rand.append(statistics.mean(shown - entity_confidence(decoded[base + 1 + d].probs, ids, first, last)
                                    for d in range(DRAWS)))
    return {"comprehensiveness": statistics.mean(comp), "random": statistics.mean(rand),
            "ratio": statistics.mean(comp) / max(1e-9, statistics.mean(rand)), "entities": len(plan)}


def cost(clf, texts) -> dict:
    """Median seconds of one prediction and of each method on one sentence."""
    from ftclf import attribute, predict

    predict(clf, texts[:2])
    attribute(clf, texts[:1], method="integrated_gradients")
    out = {}
    timings = {"prediction": lambda t: predict(clf, [t])}
    timings.update({m: (lambda t, m=m: attribute(clf, [t], method=m)) for m in METHODS})
    for name, run in timings.items():
        seconds = []
        for text in texts:
            t0 = time.perf_counter()
            run(text)
            seconds.append(time.perf_counter() - t0)
        out[name] = statistics.median(seconds)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=200, help="examples per head (seeded sample)")
    parser.add_argument("--json", default=str(BENCH / "results" / "attributions.json"), help="write every figure here")
    args = parser.parse_args()

    import torch

    from ftclf import Classifier
    from ftclf.service import shipped_heads_dir

    torch.manual_seed(0)
    rng = random.Random(0)
    results: dict = {"faithfulness": {}, "cost": {}}
    sentiment = Classifier.from_pretrained(shipped_heads_dir() / "sentiment-sst2")
    _, val = heads_recipe.recipe("sentiment-sst2").load()
    long = [e for e in val if len(e.text.split()) >= 8]
    chosen = rng.sample(long, min(args.examples, len(long)))
    for method in METHODS:
        results["faithfulness"][f"sentiment-sst2/{method}"] = text_faithfulness(sentiment, chosen, method, False)
        print(f"sentiment-sst2 {method}: {results['faithfulness'][f'sentiment-sst2/{method}']}", file=sys.stderr, flush=True)
    twenty = [e.text for e in val if 18 <= len(e.text.split()) <= 22][:20]
    results["cost"] = {"sentences": len(twenty), **cost(sentiment, twenty)}

    pair = Classifier.from_pretrained(shipped_heads_dir() / "paraphrase-mrpc")
    _, pairs = heads_recipe.recipe("paraphrase-mrpc").load()
    chosen = rng.sample(pairs, min(args.examples, len(pairs)))
    for method in METHODS:
        results["faithfulness"][f"paraphrase-mrpc/{method}"] = text_faithfulness(pair, chosen, method, True)
        print(f"paraphrase-mrpc {method}: {results['faithfulness'][f'paraphrase-mrpc/{method}']}", file=sys.stderr, flush=True)

    ner = Classifier.from_pretrained(shipped_heads_dir() / "ner-conll2003")
    _, dev = heads_recipe.recipe("ner-conll2003").load()
    with_entities = [e for e in dev if any(t != "O" for t in e.tags) and 6 <= len(e.words) <= 40]
    chosen = [list(e.words) for e in rng.sample(with_entities, min(args.examples, len(with_entities)))]
    for method in METHODS:
        results["faithfulness"][f"ner-conll2003/{method}"] = entity_faithfulness(ner, chosen, method)
        print(f"ner-conll2003 {method}: {results['faithfulness'][f'ner-conll2003/{method}']}", file=sys.stderr, flush=True)

    print("\n| head | method | comprehensiveness (top 20 %) | random 20 % | ratio | sufficiency | examples |")
    print("|---|---|---|---|---|---|---|")
    for key, r in results["faithfulness"].items():
        head, method = key.split("/")
        print(f"| {head} | {method} | {r['comprehensiveness']:.3f} | {r['random']:.3f} | {r['ratio']:.1f}× | "
              f"{format(r['sufficiency'], '.3f') if 'sufficiency' in r else '—'} | {r.get('examples', r.get('entities'))} |")
    c = results["cost"]
    print(f"\nCost on {c['sentences']} sentences of 18-22 words (median, fp32 torch, this CPU):\n")
    print("| what | seconds | × one prediction |")
    print("|---|---|---|")
    for name in ("prediction", *METHODS):
        print(f"| {name} | {c[name]:.3f} | {c[name] / c['prediction']:.1f}× |")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=2))
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
