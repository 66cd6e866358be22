"""Behaviour suites on the shipped heads: pass rate per capability, and how long a suite takes.

For each shipped head and its built-in suite (``assets/suites``): the pass rate of every test and capability,
on the backend the app serves with (``ftclf.serving.DEFAULT_BACKEND``) and on torch fp32. Then the time of
a 500-case suite (the sentiment suite's first 500 cases, their perturbed copies included) on each backend,
best of ``--repeats`` after a warm-up, against the same 500 inputs through ``ftclf.predict`` alone (the
runner's overhead is the difference).

    python benchmarks/behaviour.py [--repeats 3] [--suites-dir assets/suites] [--json out.json]

Prints one table per head, the timing table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HEADS = {"sentiment-sst2": "sentiment", "paraphrase-mrpc": "paraphrase", "nli-sick": "nli", "ner-conll2003": "ner"}


def first_cases(suite, n: int):
    """The suite cut to its first ``n`` cases (tests in order)."""
    from dataclasses import replace

    tests, left = [], n
    for test in suite.tests:
        if left <= 0:
            break
        tests.append(replace(test, cases=test.cases[:left]))
        left -= len(tests[-1].cases)
    return replace(suite, tests=tests)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--suites-dir", default=str(ROOT / "assets" / "suites"),
                        help="where the suites are (a folder of held-out suites has the same file names)")
    parser.add_argument("--backends", nargs="+", default=None)
    parser.add_argument("--json")
    args = parser.parse_args()

    from ftclf import predict
    from ftclf.behaviour import load_suite, run_suite
    from ftclf.service import shipped_heads_dir
    from ftclf.serving import DEFAULT_BACKEND, load

    backends = args.backends or [DEFAULT_BACKEND, "torch"]
    out = {"suites_dir": args.suites_dir, "heads": {}, "timing": {}}
    for head, name in HEADS.items():
        suite = load_suite(Path(args.suites_dir) / f"{name}.yaml")
        reports = {b: run_suite(load(shipped_heads_dir() / head, b), suite, head=head) for b in backends}
        took = ", ".join(f"{b} {r.seconds:.1f} s" for b, r in reports.items())
        print(f"\n{head} on {Path(args.suites_dir).name}/{name}.yaml ({suite.cases} cases; the whole suite: {took})")
        print("| test | capability | type | cases | " + " | ".join(backends) + " |")
        print("|---|---|---|---|" + "---|" * len(backends))
        for i, test in enumerate(suite.tests):
            rates = " | ".join(f"{reports[b].tests[i].pass_rate:.1%}" for b in backends)
            print(f"| {test.name} | {test.capability} | {test.kind} | {len(test.cases)} | {rates} |")
        out["heads"][head] = {b: {"pass_rate": r.pass_rate, "seconds": r.seconds, "capabilities": r.capabilities(),
                                  "tests": {t.name: t.pass_rate for t in r.tests}} for b, r in reports.items()}

    suite = first_cases(load_suite(Path(args.suites_dir) / "sentiment.yaml"), 500)
    inputs = list(dict.fromkeys([c.text for t in suite.tests for c in t.cases]
                                + [c.variant[0] for t in suite.tests for c in t.cases if c.variant]))
    print(f"\n500 cases of the sentiment suite ({len(inputs)} inputs with the perturbed copies), best of {args.repeats}")
    print("| backend | run_suite (s) | predict alone (s) | runner overhead |")
    print("|---|---|---|---|")
    for backend in backends:
        clf = load(shipped_heads_dir() / "sentiment-sst2", backend)
        run_suite(clf, suite)  # warm-up (an ONNX export is made once and cached)
        suite_s, predict_s = [], []
        for _ in range(args.repeats):
            t = time.perf_counter()
            run_suite(clf, suite)
            suite_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            predict(clf, inputs, batch_size=64)
            predict_s.append(time.perf_counter() - t)
        best, alone = min(suite_s), min(predict_s)
        print(f"| {backend} | {best:.2f} | {alone:.2f} | {best / alone:.2f}× |")
        out["timing"][backend] = {"cases": suite.cases, "inputs": len(inputs), "run_suite_s": best, "predict_s": alone}
    line = json.dumps(out)
    print(line if len(line) < 4000 else json.dumps(out["timing"]))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
