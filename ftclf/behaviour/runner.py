"""Run a behaviour suite against a head: every case (and its perturbed copy) predicted in one batched pass,
each judged by its test's kind, and a report of pass rates per test and per capability with the failing
cases (what was expected, what the head said)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import DataError
from ..inference import Predictor
from .suite import BehaviourTest, Case, Suite, load_suite

#: failing cases a report keeps per test (the count is always exact)
MAX_FAILURES = 50


@dataclass
class Failure:
    text: str
    text_pair: str | None
    expected: str
    predicted: str
    #: the perturbed input an inv or dir test compared with
    variant: str | None = None
    variant_pair: str | None = None


@dataclass
class TestResult:
    name: str
    capability: str
    kind: str
    cases: int
    passed: int
    failures: list[Failure] = field(default_factory=list)
    description: str = ""

    @property
    def pass_rate(self) -> float:
        return self.passed / self.cases if self.cases else 1.0


@dataclass
class SuiteReport:
    suite: str
    task: str
    head: str
    tests: list[TestResult]
    seconds: float

    @property
    def cases(self) -> int:
        return sum(t.cases for t in self.tests)

    @property
    def pass_rate(self) -> float:
        return sum(t.passed for t in self.tests) / self.cases if self.cases else 1.0

    def capabilities(self) -> list[dict]:
        """Per capability, in the suite's order: its tests, cases, passes and pass rate."""
        out: dict[str, dict] = {}
        for t in self.tests:
            row = out.setdefault(t.capability, {"capability": t.capability, "tests": 0, "cases": 0, "passed": 0})
            row["tests"] += 1
            row["cases"] += t.cases
            row["passed"] += t.passed
        for row in out.values():
            row["pass_rate"] = row["passed"] / row["cases"] if row["cases"] else 1.0
        return list(out.values())

    def below(self, min_pass: float) -> list[TestResult]:
        """The tests whose pass rate is under ``min_pass`` (a fraction)."""
        return [t for t in self.tests if t.pass_rate < min_pass]

    def to_dict(self) -> dict:
        return {"suite": self.suite, "task": self.task, "head": self.head, "cases": self.cases,
                "pass_rate": self.pass_rate, "seconds": self.seconds, "capabilities": self.capabilities(),
                "tests": [{**asdict(t), "pass_rate": t.pass_rate} for t in self.tests]}


def run_suite(classifier, suite: Suite | str | Path | dict, *, head: str = "", batch_size: int = 64) -> SuiteReport:
    """Run ``suite`` (a :class:`Suite`, a built-in suite's name, a file, YAML text or a dict) against
    ``classifier``; see ``ftclf.behaviour.suite`` for the format."""
    started = time.perf_counter()
    suite = suite if isinstance(suite, Suite) else load_suite(suite)
    task = classifier.task
    if suite.task != task.name:
        raise DataError(f"expected a {task.name} suite for this {task.title} head, found the {suite.task} suite "
                        f"“{suite.name}”; pick a suite of the head's task")
    _check_labels(suite, classifier)
    inputs: dict[tuple[str, str | None], int] = {}
    for test in suite.tests:
        for case in test.cases:
            inputs.setdefault((case.text, case.text_pair), len(inputs))
            if case.variant is not None:
                inputs.setdefault(case.variant, len(inputs))
    keys = list(inputs)
    pairs = [p for _, p in keys] if "text_pair" in task.column_roles else None
    predictions = Predictor(classifier, batch_size).predict([t for t, _ in keys], pairs)
    outcomes = [task.behaviour_outcome(p) for p in predictions]
    results = [_judge(test, [(case, outcomes[inputs[(case.text, case.text_pair)]],
                              outcomes[inputs[case.variant]] if case.variant is not None else None)
                             for case in test.cases]) for test in suite.tests]
    return SuiteReport(suite=suite.name, task=suite.task, head=head, tests=results,
                       seconds=time.perf_counter() - started)


def _check_labels(suite: Suite, clf) -> None:
    for test in suite.tests:
        if test.kind == "inv":
            continue
        if test.kind == "dir":
            wanted, known = [test.expect["label"]], clf.labels
        else:
            wanted, known = clf.task.behaviour_names(test.expect, clf.labels)
        missing = [w for w in wanted if w not in known]
        if missing:
            raise DataError(f"test “{test.name}” expects {', '.join(missing)}, which the head does not predict (its "
                            f"labels: {', '.join(sorted(known))}); use the head's label names")


def _judge(test: BehaviourTest, cases: list[tuple[Case, tuple, tuple | None]]) -> TestResult:
    result = TestResult(name=test.name, capability=test.capability, kind=test.kind, cases=len(cases), passed=0,
                        description=test.description)
    for case, (label, probs, entities), variant in cases:
        if test.kind == "mft":
            ok, expected, predicted = _mft(test.expect, case, label, entities)
        elif test.kind == "inv":
            ok, expected, predicted = label == variant[0], f"the same as for the original: {_shown(label, probs)}", \
                _shown(variant[0], variant[1])
        else:
            target, tolerance = test.expect["label"], test.expect["tolerance"]
            before, after = probs[target], variant[1][target]
            ok = after >= before - tolerance if test.expect["direction"] == "up" else after <= before + tolerance
            expected = f"P({target}) {'up from' if test.expect['direction'] == 'up' else 'down from'} {before:.3f}"
            predicted = f"P({target}) = {after:.3f}"
        if ok:
            result.passed += 1
        elif len(result.failures) < MAX_FAILURES:
            v_text, v_pair = case.variant if case.variant is not None else (None, None)
            result.failures.append(Failure(text=case.text, text_pair=case.text_pair, expected=expected,
                                           predicted=predicted, variant=v_text, variant_pair=v_pair))
    return result


def _mft(expect, case: Case, label: str, entities: tuple) -> tuple[bool, str, str]:
    if isinstance(expect, dict):  # token: each expected (type, text) entity among those found
        ok = all(w in entities for w in case.entities)
        return (ok, "; ".join(f"{k}: {t}" for k, t in case.entities),
                "; ".join(f"{k}: {t}" for k, t in entities) or "no entity")
    return label == expect, expect, label


def _shown(label: str, probs: dict) -> str:
    return f"{label} ({probs[label]:.0%})" if label in probs else label
