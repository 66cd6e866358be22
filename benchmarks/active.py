"""What to label next, simulated with the true labels: does ``ftclf.suggest``'s choice (uncertainty with
diversity) beat picking at random?

Per seed: 8 sentences per class to start, an unlabelled pool of ``--pool`` sentences, 6 rounds that each label
16 more (the true SST-2 label stands in for the user). Both strategies start from the same set and pool
(paired seeds). The rounds use the fast recipe: a logistic-regression head refitted on the frozen encoder's
cached sentence vectors (classes weighed equally, C = 10), so a round takes well under a second; the
suggestions come from the library's own ``uncertainty`` and ``diverse``. Scored on 1,000 held-out whole SST-2
sentences whose phrases are not in the pool (``sst2_sentences.split``, seed 0). The head's settings were
chosen on another held-out split (``--split-seed 1``: other sentences, other pools), never on this one.

    python benchmarks/active.py [--seeds 20] [--rounds 6] [--batch 16] [--start 8] [--pool 2000]

Prints a table (accuracy per round, mean over seeds) and the paired gain at the last round with its 90 %
interval, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from sst2_sentences import sentence_like, split, whole_training_sentences  # noqa: E402

STRATEGIES = ("random", "margin", "margin+diversity")


def vectors(texts: list[str]) -> np.ndarray:
    """The embedded encoder's mean-pooled vector of each text (the linear head's input), one pass."""
    from ftclf import ModelConfig
    from ftclf.active_learning import score_pool
    from ftclf.encoders import load_encoder
    from ftclf.model import Classifier

    clf = Classifier(ModelConfig(task="sequence", labels=["negative", "positive"]), load_encoder())
    return score_pool(clf, texts, batch_size=64)[1]


HEAD = {"C": "cv", "class_weight": None}
PREFILTER = {"value": 10}


def fit(x: np.ndarray, y: np.ndarray):
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV

    if HEAD["C"] != "cv":
        return LogisticRegression(C=float(HEAD["C"]), class_weight=HEAD["class_weight"], max_iter=2000).fit(x, y)
    folds = int(min(5, np.bincount(y).min()))
    return LogisticRegressionCV(Cs=[0.01, 0.1, 1.0, 10.0, 100.0], cv=folds, max_iter=2000,
                                class_weight=HEAD["class_weight"]).fit(x, y)


def pick(strategy: str, model, x: np.ndarray, unlabelled: list[int], k: int, rng) -> list[int]:
    from ftclf.active_learning import diverse, uncertainty

    if strategy == "random":
        return rng.choice(unlabelled, k, replace=False).tolist()
    scores = uncertainty(model.predict_proba(x[unlabelled]), "margin")
    local = diverse(x[unlabelled], scores, k, prefilter=PREFILTER["value"]) if strategy == "margin+diversity" else np.argsort(-scores)[:k].tolist()
    return [unlabelled[i] for i in local]


def run(strategy: str, x, y, start: list[int], pool: list[int], xv, yv, rounds: int, batch: int, seed: int) -> list[float]:
    rng = np.random.default_rng(seed + 1000)
    labelled, unlabelled = list(start), list(pool)
    scores = []
    for r in range(rounds + 1):
        model = fit(x[labelled], y[labelled])
        scores.append(float((model.predict(xv) == yv).mean()))
        if r == rounds:
            break
        chosen = pick(strategy, model, x, unlabelled, batch, rng)
        labelled += chosen
        taken = set(chosen)
        unlabelled = [i for i in unlabelled if i not in taken]
    return scores


def interval90(values: list[float]) -> tuple[float, float]:
    from scipy import stats

    mean, n = statistics.mean(values), len(values)
    half = stats.t.ppf(0.95, n - 1) * statistics.stdev(values) / n**0.5
    return mean - half, mean + half


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--start", type=int, default=8, help="labelled sentences per class to start from")
    parser.add_argument("--pool", type=int, default=2000, help="unlabelled sentences per seed")
    parser.add_argument("--split-seed", type=int, default=0, help="which held-out sentences (another seed to tune on)")
    parser.add_argument("--C", default="10", help="the head's inverse regularisation: a number, or cv")
    parser.add_argument("--unbalanced", action="store_true", help="do not weigh the classes of each round's labels "
                                                                  "equally (uncertainty picks one class more often)")
    parser.add_argument("--prefilter", type=int, default=10, help="candidates clustered per suggestion")
    args = parser.parse_args()
    HEAD.update(C=args.C, class_weight=None if args.unbalanced else "balanced")
    PREFILTER["value"] = args.prefilter
    t0 = time.perf_counter()
    train, validation = split(1000, seed=args.split_seed)
    sentences = sentence_like(whole_training_sentences(1000, seed=args.split_seed), 8)
    rng = np.random.default_rng(0)
    universe = [sentences[i] for i in rng.choice(len(sentences), min(len(sentences), 4000), replace=False)]
    x = vectors([t for t, _ in universe])
    y = np.array([int(label) for _, label in universe])
    xv = vectors([t for t, _ in validation])
    yv = np.array([int(label) for _, label in validation])
    encoded = time.perf_counter() - t0
    results: dict[str, list[list[float]]] = {s: [] for s in STRATEGIES}
    round_seconds = []
    for seed in range(args.seeds):
        g = np.random.default_rng(seed)
        drawn = g.permutation(len(universe))[: args.pool + 2 * args.start].tolist()
        start = [i for i in drawn if y[i] == 0][: args.start] + [i for i in drawn if y[i] == 1][: args.start]
        pool = [i for i in drawn if i not in set(start)][: args.pool]
        for strategy in STRATEGIES:
            t1 = time.perf_counter()
            results[strategy].append(run(strategy, x, y, start, pool, xv, yv, args.rounds, args.batch, seed))
            round_seconds.append((time.perf_counter() - t1) / (args.rounds + 1))
        print(json.dumps({"seed": seed, **{s: [round(v, 4) for v in results[s][-1]] for s in STRATEGIES}}),
              file=sys.stderr, flush=True)
    sizes = [2 * args.start + r * args.batch for r in range(args.rounds + 1)]
    print(f"head: logistic regression, C {args.C}{'' if args.unbalanced else ', balanced classes'}; prefilter "
          f"{args.prefilter} × k; held-out split seed {args.split_seed}")
    print(f"SST-2: {len(universe):,} sentences (≥ 8 words) for pools, {len(validation):,} held-out whole sentences; "
          f"{args.seeds} paired seeds; encoding once {encoded:.0f} s; one round (fit + pick) "
          f"{statistics.mean(round_seconds):.2f} s mean, {max(round_seconds):.2f} s max\n")
    print("| labelled | " + " | ".join(STRATEGIES) + " |\n|---|" + "---|" * len(STRATEGIES))
    for r, n in enumerate(sizes):
        print(f"| {n} | " + " | ".join(f"{100 * statistics.mean(v[r] for v in results[s]):.1f} ± "
                                        f"{100 * statistics.stdev(v[r] for v in results[s]):.1f}" for s in STRATEGIES) + " |")
    summary = {"seeds": args.seeds, "labelled_last": sizes[-1]}
    print()
    for s in STRATEGIES[1:]:
        gains = [a[-1] - b[-1] for a, b in zip(results[s], results["random"])]
        low, high = interval90(gains)
        wins = sum(g > 0 for g in gains)
        print(f"{s} − random at {sizes[-1]} labels: mean gain {100 * statistics.mean(gains):+.2f} points, 90 % interval "
              f"[{100 * low:+.2f}, {100 * high:+.2f}], better in {wins} of {len(gains)} seeds")
        summary[s] = {"mean_gain": round(statistics.mean(gains), 4), "interval90": [round(low, 4), round(high, 4)],
                      "wins": wins, "last_round_mean": round(statistics.mean(v[-1] for v in results[s]), 4)}
    summary["random_last_round_mean"] = round(statistics.mean(v[-1] for v in results["random"]), 4)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
