"""Behaviour test suites as data (CheckList, Ribeiro et al. 2020): a YAML or JSON document of tests, each
expanded from templates and lexicons into cases a head must get right.

A suite::

    name: sentiment basics
    task: sequence                 # sequence | pair | token | multilabel
    lexicons:
      thing: [food, service, room]
      pos_adj: [good, great, lovely]
    tests:
      - name: positive adjectives
        capability: Vocabulary
        type: mft                  # minimum functionality: every case gets the expected label
        template: "The {thing} was {pos_adj}."
        expect: positive
      - name: typos change nothing
        capability: Robustness
        type: inv                  # invariance: the perturbed case keeps the case's prediction
        template: "The {thing} was {pos_adj}."
        perturb: typos
      - name: "very" raises positive
        capability: Intensifiers
        type: dir                  # directional: the label's probability moves the stated way
        template: "The {thing} was {pos_adj}."
        perturb: {template: "The {thing} was very {pos_adj}."}
        expect: {label: positive, direction: up, tolerance: 0.05}

Templates fill ``{slot}`` from the lexicon of that name (the suite's, or a built-in one:
``ftclf.behaviour.lexicons``); ``{slot#2}`` is another value of the same lexicon, never the first's. Pair
tasks give a template as two strings (text and second text). Token tests expect entities by type, their
text a template too: ``expect: {PER: "{first_name} {last_name}", LOC: "{city}"}`` (each must be found as one
entity of that type). ``examples`` lists literal
cases instead of a template. Perturbations: ``typos``, ``punctuation``, ``lowercase``, ``neutral_clause``,
``numbers``, ``{append: TEXT}``, ``{prepend: TEXT}``, ``{template: …}``, ``{swap: SLOT}``.

Suites typed in a browser are untrusted: a safe YAML loader, bounded sizes, templates filled by plain
substitution (never ``str.format``), and at most :data:`MAX_CASES` cases.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..tasks import TASKS as TASK_SPECS
from . import perturb as perturbations
from .lexicons import BUILT_IN

KINDS = ("mft", "inv", "dir")
DIRECTIONS = ("up", "down")
#: bounds of an untrusted suite
MAX_SUITE_CHARS = 200_000
MAX_TESTS = 100
MAX_LEXICONS = 100
MAX_LEXICON_VALUES = 2_000
MAX_VALUE_CHARS = 200
MAX_TEMPLATE_CHARS = 1_000
MAX_CASES = 5_000
#: cases a template test expands to unless it says ``max_cases`` (drawn at random, seeded, when there are more)
DEFAULT_MAX_CASES = 200
_SLOT = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?:#([2-9]))?\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Case:
    """One input of a test: the text (and second text), the slot values that made it, and the perturbed
    input an ``inv`` or ``dir`` test compares it with."""

    text: str
    text_pair: str | None = None
    variant: tuple[str, str | None] | None = None
    #: token tests: the (entity type, text) entities the case must contain, its slots filled in
    entities: tuple[tuple[str, str], ...] = ()


@dataclass
class BehaviourTest:
    name: str
    kind: str
    capability: str
    cases: list[Case]
    #: mft: the label (multilabel: the label set, joined by ", "; token: {entity type: slot value or text});
    #: dir: {"label", "direction", "tolerance"}; inv: None
    expect: Any = None
    description: str = ""


@dataclass
class Suite:
    name: str
    task: str
    tests: list[BehaviourTest] = field(default_factory=list)
    description: str = ""

    @property
    def cases(self) -> int:
        return sum(len(t.cases) for t in self.tests)


def suites_dir() -> Path:
    """The built-in suites: package data (``ftclf/assets/suites``, the repository's ``assets/suites``)."""
    return Path(str(resources.files("ftclf") / "assets" / "suites"))


def built_in_suites() -> dict[str, Path]:
    """The suites shipped in ``assets/suites``, by name (the file's stem)."""
    folder = suites_dir()
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))} if folder.is_dir() else {}


def load_suite(source: str | Path | dict, *, seed: int = 0) -> Suite:
    """A suite from a built-in name (``built_in_suites``), a ``.yaml`` / ``.json`` file, YAML or JSON text,
    or a parsed dict; expanded to its cases (a problem: a DataError saying where and what to do)."""
    if isinstance(source, dict):
        return parse_suite(source, seed=seed)
    text = str(source)
    built = built_in_suites()
    if text in built:
        return load_suite(built[text], seed=seed)
    if isinstance(source, Path) or (len(text) < 4096 and "\n" not in text and text.endswith((".yaml", ".yml", ".json"))):
        path = Path(text)
        if not path.is_file():
            raise DataError(f"expected a suite file or a built-in suite ({', '.join(built) or 'none'}), found no file "
                            f"{path.name}; check the path")
        if path.stat().st_size > MAX_SUITE_CHARS:
            raise DataError(f"expected a suite of at most {MAX_SUITE_CHARS:,} bytes, found {path.stat().st_size:,}; split it")
        text = path.read_text(encoding="utf-8", errors="replace")
    return parse_suite(read_document(text), seed=seed)


def read_document(text: str) -> dict:
    """A suite's YAML (or JSON, which is YAML) through the safe loader: plain data only."""
    import yaml

    if len(text) > MAX_SUITE_CHARS:
        raise DataError(f"expected a suite of at most {MAX_SUITE_CHARS:,} characters, found {len(text):,}; split it")
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where is not None else ""
        raise DataError(f"expected a YAML or JSON suite, found a syntax error{at}: "
                        f"{getattr(exc, 'problem', None) or 'unreadable'}; fix the document") from None
    if not isinstance(document, dict):
        raise DataError(f"expected a suite (a mapping with name, task and tests), found {type(document).__name__}; "
                        "start from a built-in suite")
    return document


def parse_suite(document: dict, *, seed: int = 0) -> Suite:
    """A checked suite from its parsed document, every test expanded (at most MAX_CASES cases)."""
    task = document.get("task", "sequence")
    if not isinstance(task, str) or task not in TASK_SPECS:
        raise DataError(f"expected the suite's task among {', '.join(TASK_SPECS)}, found {str(task)[:40]!r}; set task:")
    tests = document.get("tests")
    if not isinstance(tests, list) or not tests:
        raise DataError("expected a list of tests under tests:, found none; add at least one test")
    if len(tests) > MAX_TESTS:
        raise DataError(f"expected at most {MAX_TESTS} tests, found {len(tests)}; split the suite")
    lexicons = _lexicons(document.get("lexicons") or {})
    suite = Suite(name=_text(document.get("name") or "suite", "the suite's name", 200), task=task,
                  description=_text(document.get("description") or "", "the suite's description", 2000))
    for n, raw in enumerate(tests, 1):
        where = f"test {n}"
        if not isinstance(raw, dict):
            raise DataError(f"{where}: expected a mapping (name, type, template or examples, …), found "
                            f"{type(raw).__name__}; write it as in the built-in suites")
        if raw.get("name"):
            where = f"test {n} (“{str(raw['name'])[:60]}”)"
        try:
            suite.tests.append(_test(raw, TASK_SPECS[task], lexicons, random.Random(f"{seed}:{n}")))
        except DataError as exc:
            raise DataError(f"{where}: {exc}") from None
        if suite.cases > MAX_CASES:
            raise DataError(f"expected at most {MAX_CASES:,} cases in a suite, found {suite.cases:,} by {where}; "
                            "lower max_cases or split the suite")
    return suite


def _text(value, what: str, limit: int) -> str:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise DataError(f"expected text for {what}, found {type(value).__name__}; quote it")
    value = str(value)
    if len(value) > limit:
        raise DataError(f"expected {what} of at most {limit:,} characters, found {len(value):,}; shorten it")
    return value


def _lexicons(raw) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, dict):
        raise DataError(f"expected lexicons as a mapping of names to lists of words, found {type(raw).__name__}")
    if len(raw) > MAX_LEXICONS:
        raise DataError(f"expected at most {MAX_LEXICONS} lexicons, found {len(raw)}; merge some")
    out = dict(BUILT_IN)
    for name, values in raw.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise DataError(f"expected lexicon names of letters, digits and _, found {str(name)[:40]!r}; rename it")
        if not isinstance(values, list) or not values:
            raise DataError(f"lexicon {name}: expected a non-empty list of words, found {type(values).__name__}")
        if len(values) > MAX_LEXICON_VALUES:
            raise DataError(f"lexicon {name}: expected at most {MAX_LEXICON_VALUES:,} values, found {len(values):,}")
        words = tuple(dict.fromkeys(_text(v, f"a value of lexicon {name}", MAX_VALUE_CHARS) for v in values))
        out[name] = words
    return out


def _templates(raw, pairs: bool, what: str = "template") -> tuple[str, str | None]:
    if pairs:
        if not (isinstance(raw, list) and len(raw) == 2):
            raise DataError(f"expected the {what} of a pair test as two strings [text, second text], found "
                            f"{type(raw).__name__}; write [\"…\", \"…\"]")
        return _text(raw[0], f"the {what}", MAX_TEMPLATE_CHARS), _text(raw[1], f"the {what}", MAX_TEMPLATE_CHARS)
    if isinstance(raw, list):
        raise DataError(f"expected the {what} as one string, found a list; two strings are for pair tasks")
    return _text(raw, f"the {what}", MAX_TEMPLATE_CHARS), None


def _slots(*templates: str | None) -> dict[str, int]:
    """Slot name -> how many distinct values a case needs of it (``{x}`` one, ``{x#2}`` two, …)."""
    need: dict[str, int] = {}
    for template in templates:
        for match in _SLOT.finditer(template or ""):
            need[match.group(1)] = max(need.get(match.group(1), 0), int(match.group(2) or 1))
    return need


def _fill(template: str | None, values: dict[str, list[str]]) -> str | None:
    if template is None:
        return None
    return _SLOT.sub(lambda m: values[m.group(1)][int(m.group(2) or 1) - 1], template)


def _assignments(need: dict[str, int], lexicons: dict, limit: int, rng: random.Random) -> list[dict[str, list[str]]]:
    """Slot values of every case: all combinations when there are at most ``limit``, else ``limit`` of them
    drawn without repeats (a combination is a number in mixed radix, so none is ever listed in full)."""
    for name, k in need.items():
        if name not in lexicons:
            raise DataError(f"expected a lexicon for the slot {{{name}}}, found none; add it under lexicons: (built in: "
                            f"{', '.join(BUILT_IN)})")
        if len(lexicons[name]) < k:
            raise DataError(f"the slot {{{name}#{k}}} needs {k} different values, lexicon {name} has "
                            f"{len(lexicons[name])}; add values")
    names = sorted(need)
    sizes = [math.perm(len(lexicons[n]), need[n]) for n in names]
    total = math.prod(sizes)
    if total <= limit:
        picks = range(total)
    else:
        chosen: set[int] = set()
        while len(chosen) < limit:
            chosen.add(rng.randrange(total))
        picks = sorted(chosen)
    out = []
    for index in picks:
        values = {}
        for name, size in zip(names, sizes):
            index, rank = divmod(index, size)
            pool, picked = list(lexicons[name]), []
            for _ in range(need[name]):  # the rank-th ordered choice of need[name] distinct values
                size //= len(pool)
                position, rank = divmod(rank, size)
                picked.append(pool.pop(position))
            values[name] = picked
        out.append(values)
    return out


def _expect(raw, kind: str, spec) -> Any:
    if kind == "inv":
        if raw is not None:
            raise DataError("expected no expect: in an inv test (it compares each case with its perturbed copy); "
                            "remove it, or make the test mft or dir")
        return None
    if raw is None:
        raise DataError(f"expected expect: in a {kind} test, found none; "
                        + ("name the label every case should get" if kind == "mft" else
                           "write {label: …, direction: up or down}"))
    if kind == "dir":
        if not spec.behaviour_directional:
            raise DataError(f"expected mft or inv tests for a {spec.name} task, found dir (its answers have no single "
                            "probability to move); use inv")
        if not isinstance(raw, dict) or "label" not in raw or raw.get("direction") not in DIRECTIONS:
            raise DataError(f"expected expect: {{label: …, direction: up or down, tolerance: …}}, found {raw!r}"[:300])
        tolerance = raw.get("tolerance", 0.0)
        if not isinstance(tolerance, int | float) or isinstance(tolerance, bool) or not 0 <= tolerance <= 1:
            raise DataError(f"expected a tolerance between 0 and 1, found {tolerance!r}")
        return {"label": _text(raw["label"], "the label", MAX_VALUE_CHARS), "direction": raw["direction"],
                "tolerance": float(tolerance)}
    expect = spec.behaviour_expect(raw)
    for value in expect.values() if isinstance(expect, dict) else [expect]:
        _text(value, "an expected answer", MAX_TEMPLATE_CHARS)
    return expect


def _perturbation(raw, pairs: bool, lexicons: dict, templates: tuple[str, str | None] | None):
    """-> (the perturbation, a function of (text, second text, slot values, rng) giving the perturbed pair of
    texts; the templates it fills beyond the test's own). ``templates``: the test's, None for literal examples."""
    if isinstance(raw, str):
        if raw not in perturbations.NAMED:
            raise DataError(f"expected a perturbation among {', '.join(perturbations.NAMED)}, append, prepend, "
                            f"template or swap, found {raw[:40]!r}")
        fn = perturbations.NAMED[raw]
        return (lambda text, pair, values, rng: (fn(text, rng), None if pair is None else fn(pair, rng))), ()
    if not isinstance(raw, dict) or len(raw) != 1:
        raise DataError(f"expected perturb: as a name ({', '.join(perturbations.NAMED)}) or one of {{append: …}}, "
                        "{prepend: …}, {template: …}, {swap: SLOT}")
    (key, value), = raw.items()
    if key in ("append", "prepend"):
        extra = _text(value, f"the text to {key}", MAX_TEMPLATE_CHARS).strip()
        if key == "append":
            return (lambda text, pair, values, rng: (text.rstrip() + " " + extra, pair)), ()
        return (lambda text, pair, values, rng: (extra + " " + text.lstrip(), pair)), ()
    if key not in ("template", "swap"):
        raise DataError(f"expected perturb: to be append, prepend, template or swap, found {str(key)[:40]!r}")
    if templates is None:
        raise DataError(f"expected a template: for a perturbation by {key} (it refills slots); use a named "
                        "perturbation, append or prepend with examples")
    if key == "template":
        first, second = _templates(value, pairs, "perturbed template")
        return (lambda text, pair, values, rng: (_fill(first, values), _fill(second, values))), (first, second)
    slot = _text(value, "the slot to swap", 60)
    if slot not in _slots(*templates):
        raise DataError(f"expected the slot {{{slot}}} in the template to swap it, found none; swap one of its slots")
    if len(lexicons.get(slot, ())) < 2:
        raise DataError(f"expected a slot with a lexicon of two values or more to swap, found {slot!r}")

    def swapped(text, pair, values, rng):  # the same templates, the slot's first value another of its lexicon
        others = [v for v in lexicons[slot] if v not in values[slot]]
        new = {**values, slot: [rng.choice(others)] + values[slot][1:]}
        return _fill(templates[0], new), _fill(templates[1], new)

    return swapped, ()


def _test(raw: dict, spec, lexicons: dict, rng: random.Random) -> BehaviourTest:
    kind = raw.get("type", "mft")
    if kind not in KINDS:
        raise DataError(f"expected type mft, inv or dir, found {str(kind)[:40]!r}")
    name = _text(raw.get("name") or kind, "the test's name", 200)
    capability = _text(raw.get("capability") or "General", "the capability", 100)
    expect = _expect(raw.get("expect"), kind, spec)
    entity_test = kind == "mft" and isinstance(expect, dict)  # entities by type, their texts templates
    pairs = "text_pair" in spec.column_roles
    if kind != "mft" and "perturb" not in raw:
        raise DataError(f"expected perturb: in an {kind} test (what changes in each case), found none")
    limit = raw.get("max_cases", DEFAULT_MAX_CASES)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_CASES:
        raise DataError(f"expected max_cases between 1 and {MAX_CASES:,}, found {limit!r}")
    if ("template" in raw) == ("examples" in raw):
        raise DataError("expected either template: or examples:, found "
                        + ("both" if "template" in raw else "neither"))
    templates = _templates(raw["template"], pairs) if "template" in raw else None
    perturb, extra = _perturbation(raw["perturb"], pairs, lexicons, templates) if kind != "mft" else (None, ())
    if templates is not None:
        first, second = templates
        entity_templates = list(expect.values()) if entity_test else []
        unknown = set(_slots(*entity_templates)) - set(_slots(first, second))
        if unknown:
            raise DataError(f"expected the expected entities to name slots of the template, found {{{', '.join(sorted(unknown))}}} "
                            "only there; use the template's slots")
        assignments = _assignments(_slots(first, second, *extra), lexicons, limit, rng)
        raw_cases = [(_fill(first, v), _fill(second, v), v) for v in assignments]
    else:
        examples = raw["examples"]
        if not isinstance(examples, list) or not examples:
            raise DataError("expected examples: as a non-empty list")
        if len(examples) > limit:
            raise DataError(f"expected at most {limit:,} examples (max_cases), found {len(examples):,}")
        raw_cases = [(*_templates(e, pairs, "example"), {}) for e in examples]
        if entity_test and _slots(*expect.values()):
            raise DataError("expected literal entity texts with examples:, found {slots}; write the texts, or use a "
                            "template:")
    cases = []
    for text, pair, values in raw_cases:
        variant = perturb(text, pair, values, rng) if perturb is not None else None
        entities = tuple((k, _fill(v, values)) for k, v in expect.items()) if entity_test else ()
        cases.append(Case(text=text, text_pair=pair, variant=variant, entities=entities))
    return BehaviourTest(name=name, kind=kind, capability=capability, cases=cases, expect=expect,
                         description=_text(raw.get("description") or "", "the description", 2000))

