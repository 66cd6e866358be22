"""The package's shape: imports form no cycle, every import goes down the layers below, and the
core never imports gradio. Read off the source with ``ast`` (function-level imports included)."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "ftclf"
BENCHMARKS = PACKAGE.parent / "benchmarks"

#: Lower layers never import higher ones. Same-layer imports are allowed within one package only.
LAYERS = [
    ["ftclf", "ftclf.errors", "ftclf.registry", "ftclf.iob", "ftclf.hub", "ftclf.predictions", "ftclf.distributed",
     "ftclf.threads"],
    ["ftclf.data", "ftclf.readers", "ftclf.samples", "ftclf.splits", "ftclf.metrics", "ftclf.encoders",
     "ftclf.tokenization", "ftclf.crf", "ftclf.losses"],
    ["ftclf.stream"],
    ["ftclf.calibration"],
    ["ftclf.label_calibration"],
    ["ftclf.tasks", "ftclf.tasks.base", "ftclf.tasks.text", "ftclf.tasks.tagging", "ftclf.tasks.multilabel"],
    ["ftclf.heads"],
    ["ftclf.config"],
    ["ftclf.format"],
    ["ftclf.card"],
    ["ftclf.hub_heads"],
    ["ftclf.model"],
    ["ftclf.inference"],
    ["ftclf.evaluation", "ftclf.explain", "ftclf.attribution", "ftclf.hf_metrics", "ftclf.batch"],
    ["ftclf.serving", "ftclf.serving.backends", "ftclf.serving.batcher", "ftclf.serving.export", "ftclf.serving.pool",
     "ftclf.serving.engine", "ftclf.serving.int8_text"],
    ["ftclf.recalibration"],
    ["ftclf.training", "ftclf.training.events", "ftclf.training.features", "ftclf.training.fullbatch",
     "ftclf.training.frozen", "ftclf.training.contrastive", "ftclf.training.recipes", "ftclf.training.distill", "ftclf.training.trainer",
     "ftclf.training.fit"],
    ["ftclf.label_issues", "ftclf.active_learning", "ftclf.behaviour", "ftclf.behaviour.perturb",
     "ftclf.behaviour.lexicons", "ftclf.behaviour.suite", "ftclf.behaviour.runner"],
    ["ftclf.service", "ftclf.service.access", "ftclf.service.assets", "ftclf.service.drafts", "ftclf.service.store", "ftclf.service.jobs",
     "ftclf.service.workspaces", "ftclf.service.inference_api"],
    ["ftclf.cli", "ftclf.__main__"],
    ["ftclf.ui", "ftclf.ui.context", "ftclf.ui.charts", "ftclf.ui.calibration_panel", "ftclf.ui.predict_tabs", "ftclf.ui.models_tab",
     "ftclf.ui.why", "ftclf.ui.explain_tab", "ftclf.ui.test_tab", "ftclf.ui.label_loop", "ftclf.ui.train_tab"],
]
RANK = {module: rank for rank, modules in enumerate(LAYERS) for module in modules}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """ftclf modules imported anywhere in the file (relative imports resolved)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("ftclf")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if not base.startswith("ftclf"):
                continue
            for alias in node.names:  # `from . import format` imports a module, `from .x import y` a name
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in RANK else base)
    return found - {name}


def graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in PACKAGE.rglob("*.py")}


def test_every_module_has_a_layer():
    assert sorted(set(graph()) - set(RANK)) == []


def test_imports_only_go_down():
    upward = []
    for module, imported in graph().items():
        for target in imported:
            parent = module.rpartition(".")[0]
            # one package's modules may import each other (acyclically), and a package its own modules
            same_package = target.rpartition(".")[0] in (parent, module) or target == parent
            if RANK[target] > RANK[module] or (RANK[target] == RANK[module] and not same_package):
                upward.append(f"{module} -> {target}")
    assert upward == []


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    state, cycles = {}, []

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    return cycles


def test_no_import_cycles():
    assert _cycles(graph()) == []


def _top_level_imports(path: Path) -> set[str]:
    """The top-level names a file imports anywhere in it (``import a.b`` -> a, ``from a.b import c`` -> a)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level:
            found.add((node.module or "").split(".")[0])
    return found


def benchmark_graph() -> dict[str, set[str]]:
    """Benchmark scripts by module name -> the benchmark scripts they import (they put benchmarks/ on
    sys.path and import each other as top-level modules: ``import heads_recipe``)."""
    scripts = {p.stem: p for p in BENCHMARKS.glob("*.py")}
    return {name: (_top_level_imports(path) & set(scripts)) - {name} for name, path in scripts.items()}


def test_benchmarks_import_no_cycles_and_ftclf_never_imports_them():
    edges = benchmark_graph()
    assert {"heads_recipe", "augment", "ship_heads"} <= set(edges) and "heads_recipe" in edges["ship_heads"]
    assert _cycles(edges) == []
    upward = {p.stem: _top_level_imports(p) & {"app", "tests"} for p in BENCHMARKS.glob("*.py")}
    assert {k: v for k, v in upward.items() if v} == {}  # of the project, benchmarks use ftclf (and each other) only
    names = set(edges) | {"benchmarks"}
    reverse = [f"{p.relative_to(PACKAGE.parent)} imports {sorted(_top_level_imports(p) & names)}"
               for p in PACKAGE.rglob("*.py") if _top_level_imports(p) & names]
    assert reverse == []


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_the_format_is_a_leaf_and_the_core_is_gradio_free():
    # the saved format knows files and the records it stores (configs, the calibration), never models
    assert graph()["ftclf.format"] <= {"ftclf.config", "ftclf.errors", "ftclf.calibration"}
    assert graph()["ftclf.calibration"] <= {"ftclf.errors", "ftclf.iob", "ftclf.metrics", "ftclf.predictions",
                                            "ftclf.threads"}
    core = [p for p in PACKAGE.rglob("*.py") if "ui" not in p.relative_to(PACKAGE).parts]
    assert [p.name for p in core if any(
        (isinstance(n, ast.Import) and any(a.name.split(".")[0] == "gradio" for a in n.names))
        or (isinstance(n, ast.ImportFrom) and (n.module or "").split(".")[0] == "gradio")
        for n in ast.walk(ast.parse(p.read_text())))] == []
    code = ("import sys, ftclf, ftclf.training, ftclf.inference, ftclf.cli, ftclf.service, ftclf.service.inference_api; "
            "print('gradio' in sys.modules)")  # the HTTP API (ftclf serve) runs without gradio too
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


TASK_NAMES = ("sequence", "pair", "token", "multilabel")


def _task_name_uses(tree) -> list[int]:
    """Lines that key behaviour by a task's name: compared with one, a dict keyed by one, or one passed as a
    keyword argument (``task="token"``)."""
    def named(node) -> bool:
        return isinstance(node, ast.Constant) and node.value in TASK_NAMES

    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(named(c) for c in [node.left, *node.comparators]) or isinstance(node, ast.Dict) and any(named(k) for k in node.keys if k is not None):
            lines.append(node.lineno)
        elif isinstance(node, ast.keyword) and named(node.value):
            lines.append(node.value.lineno)
    return lines


def test_no_task_name_branches_outside_the_registry():
    """Code asks the task's spec; only the tasks package (and the dashboard's per-task tabs) name tasks."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name == "tasks" or path.name == "predict_tabs.py" or path.relative_to(PACKAGE).parts == ("ui", "__init__.py"):
            continue
        offenders += [f"{path.relative_to(PACKAGE)}:{line}" for line in _task_name_uses(ast.parse(path.read_text()))]
    assert offenders == []


def test_the_task_name_finder_sees_comparisons_dict_keys_and_keywords():
    code = 'a = x == "token"\nb = {"pair": 1}\nc = f(task="multilabel")\nd = f("sequence")\ne = {"other": "token"}'
    assert _task_name_uses(ast.parse(code)) == [1, 2, 3]


def test_no_task_flag_branches_outside_the_tasks():
    """Outside ``ftclf/tasks`` nothing reads a task's ``token_level`` / ``text_pairs`` flags: what differs between
    tasks (calibration, attributions, columns, unlabeled data, heads) is a spec method or attribute."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name == "tasks":
            continue
        reads = sum(isinstance(n, ast.Attribute) and n.attr in ("token_level", "text_pairs")
                    for n in ast.walk(ast.parse(path.read_text())))
        if reads:
            found[path.relative_to(PACKAGE).as_posix()] = reads
    assert not found, f"task-flag branches outside ftclf/tasks (module: reads): {found}; ask the task's spec instead"
