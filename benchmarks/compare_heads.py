"""A retrained head against the shipped one: held-out accuracy (paired, McNemar's exact test) and behaviour.

Both heads are scored on the same validation split (the shipped head's recipe's: a carve of the training file,
or the data set's validation file, never a test split), example by example, so the comparison is paired:
McNemar's exact test counts the examples exactly one of them gets right (b: only the shipped head, c: only the
candidate) and asks whether the candidate is worse (one-sided, binomial on b + c). Then both heads run the
built-in suite (``assets/suites``) and the held-out one (``benchmarks/suites``), capability by capability.

    python benchmarks/compare_heads.py paraphrase-mrpc runs/cf/mrpc+cf-lora32-cross [--backend torch]

Prints the tables and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from behaviour import HEADS as SUITES  # noqa: E402  (shipped head -> its suite's file name)


def mcnemar_worse(only_shipped: int, only_candidate: int) -> float:
    """One-sided exact McNemar p-value that the candidate is worse: P(X >= b) for X ~ Binomial(b + c, 1/2)."""
    from scipy.stats import binomtest

    n = only_shipped + only_candidate
    return 1.0 if n == 0 else binomtest(only_shipped, n, 0.5, alternative="greater").pvalue


def scored(clf, val) -> tuple[dict, list[bool]]:
    """(the head's metrics on the validation examples, whether it gets each one right: a tagged sentence
    only with every tag right), from one decoding pass."""
    from ftclf.evaluation import decode_examples, score

    examples, decoded = decode_examples(clf, val)
    gold = clf.task.gold_ids(examples, clf.model_config.label2id)
    right = [(list(d.ids) == list(g)) if isinstance(g, list) else int(d.ids) == int(g) for d, g in zip(decoded, gold)]
    return score(clf, examples, decoded), right


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("head", choices=sorted(SUITES))
    parser.add_argument("candidate", help="the retrained head's directory")
    parser.add_argument("--backend", default="torch")
    args = parser.parse_args()

    import heads_recipe

    from ftclf.behaviour import load_suite, run_suite
    from ftclf.service import shipped_heads_dir
    from ftclf.serving import load

    recipe = heads_recipe.recipe(args.head)
    dataset = recipe.data.split("+")[0]
    metric = heads_recipe.main_metric(recipe.model.task, dataset)
    val = recipe.validation()
    heads = {"shipped": load(shipped_heads_dir() / args.head, args.backend), "candidate": load(args.candidate, args.backend)}
    out: dict = {"head": args.head, "candidate": args.candidate, "backend": args.backend, "examples": len(val)}
    right = {}
    print(f"{args.head}: shipped vs {args.candidate} on {len(val):,} validation examples ({args.backend})")
    print(f"| head | {metric} | accuracy (per example) |\n|---|---|---|")
    for who, clf in heads.items():
        clf.model_config.label_aliases = dict(heads_recipe.ALIASES.get(dataset, {}))
        metrics, right[who] = scored(clf, val)
        out[who] = {metric: metrics[metric], "per_example_accuracy": sum(right[who]) / len(val)}
        print(f"| {who} | {100 * metrics[metric]:.2f} | {100 * sum(right[who]) / len(val):.2f} |")
    b = sum(s and not c for s, c in zip(right["shipped"], right["candidate"]))
    c = sum(c and not s for s, c in zip(right["shipped"], right["candidate"]))
    out["mcnemar"] = {"only_shipped_right": b, "only_candidate_right": c, "p_candidate_worse": mcnemar_worse(b, c)}
    print(f"McNemar: only the shipped head right on {b}, only the candidate on {c}; "
          f"one-sided p (candidate worse) = {out['mcnemar']['p_candidate_worse']:.3f}")
    for where, folder in (("built-in", ROOT / "assets" / "suites"), ("held-out", ROOT / "benchmarks" / "suites")):
        suite = load_suite(folder / f"{SUITES[args.head]}.yaml")
        reports = {who: run_suite(clf, suite) for who, clf in heads.items()}
        print(f"\n{where} suite ({suite.cases} cases)\n| capability | shipped | candidate |\n|---|---|---|")
        rows = {who: {c["capability"]: c["pass_rate"] for c in r.capabilities()} for who, r in reports.items()}
        for capability in rows["shipped"]:
            print(f"| {capability} | {rows['shipped'][capability]:.1%} | {rows['candidate'][capability]:.1%} |")
        print("| test | shipped | candidate |\n|---|---|---|")
        for i, test in enumerate(suite.tests):
            print(f"| {test.name} | {reports['shipped'].tests[i].pass_rate:.1%} | {reports['candidate'].tests[i].pass_rate:.1%} |")
        out[where] = {who: {"capabilities": rows[who], "tests": {t.name: t.pass_rate for t in r.tests}}
                      for who, r in reports.items()}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
