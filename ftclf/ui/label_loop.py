"""Label, train, improve (in the Train tab): write examples in a table, train on them with the small-data
default, then let the head say which unlabelled texts to label next and which of your labels the data
contradicts; fix, add, retrain, and watch the score per round.

Everything the browser types (the table, the pool, the suggestions with their labels, the rounds) is kept
in its workspace (``ftclf.service.workspaces``, by the same visitor id as its unsaved runs), so a reload
finds it again. Token tasks stay file-only: tagging words needs an editor a table is not.
"""

from __future__ import annotations

import time
from typing import Any

import gradio as gr

from ..errors import DataError, FtclfError
from ..service.jobs import run_apart
from ..service.workspaces import MAX_ROWS, Workspaces, check_rows
from ..tasks import get_task
from . import charts
from .context import finished_run, for_browser, md, ui_errors

#: blank rows a new table offers to type into, and those under rows already typed (a cell's menu adds more)
NEW_ROWS = 16
BLANK_ROWS = 4
#: how many texts "Suggest" proposes by default, and the most a pool may hold
DEFAULT_K = 8
MAX_POOL_LINES = 5000
#: actions of the suspects table
ACTIONS = ("fix", "drop", "keep")
#: the most characters the paste box takes (a full table of long rows is far less)
MAX_PASTE_CHARS = 400_000

_workspaces: Workspaces | None = None


def workspaces() -> Workspaces:
    global _workspaces
    if _workspaces is None:
        _workspaces = Workspaces()
    return _workspaces


def set_workspaces(new: Workspaces | None) -> None:
    """Point the loop at another directory (tests)."""
    global _workspaces
    _workspaces = new


def pairs_of(task: str) -> bool:
    return "text_pair" in get_task(task).column_roles


def writable(task: str) -> bool:
    """Whether examples of ``task`` can be typed in a table (texts and pairs; not word tags)."""
    return get_task(task).suggestible


def headers(task: str) -> list[str]:
    return ["text", "second text", "label"] if pairs_of(task) else ["text", "label"]


def examples_value(task: str, rows: list[list[str]]) -> list[list[str]]:
    width = len(headers(task))
    kept = [list(r)[:width] for r in rows if len(r) == width]
    return kept + [[""] * width for _ in range(BLANK_ROWS if kept else NEW_ROWS)]


def examples_table(task: str, rows: list[list[str]]):
    return gr.Dataframe(value=examples_value(task, rows), headers=headers(task), column_count=len(headers(task)),
                        visible=True)


def check_view(task: str, table) -> str:
    """The live check line under the table: counts, then what keeps Train waiting (or that it is ready)."""
    if not writable(task):
        return (f"⚠️ **{get_task(task).title} examples are tagged word by word**: upload a CoNLL or JSONL file "
                "instead (a table cannot tag words).")
    found = check_rows(_cells(table), pairs_of(task))
    counts = ", ".join(f"{md(k)}: {v}" for k, v in sorted(found.counts.items()))
    head = f"**{len(found.rows)} example{'' if len(found.rows) == 1 else 's'}**" + (f" · {counts}" if counts else "")
    notes = [n for n in found.notes if "blank row" not in n]  # blank rows are the table's own spare rows
    notes = f" · {md('; '.join(notes))}" if notes else ""
    if found.ready:
        return f"{head}{notes} · ✅ ready to train"
    return f"{head}{notes} · ⚠️ Train waits: {md('; '.join(found.problems[:4]))}"


def _cells(table) -> list[list]:
    """A Dataframe's value (``type="array"``: a list of rows) as rows of cells."""
    return [list(r) for r in table or []]


def typed_file(visitor: str | None, task: str, table) -> str:
    """The table's rows, checked and kept in the workspace, as the file a run trains on (a problem: DataError)."""
    if not writable(task):
        raise DataError(f"expected a text or pair task for typed examples, got {get_task(task).title}, tagged word by "
                        "word; upload a CoNLL or JSONL file instead")
    found = check_rows(_cells(table), pairs_of(task))
    if not found.ready:
        raise DataError(f"expected typed examples ready to train, found: {'; '.join(found.problems)}; fix the table")
    workspaces().update(visitor, task=task, rows=found.rows)
    return str(workspaces().examples_file(visitor, found.rows, pairs_of(task)))


def on_table_change(visitor: str | None, task: str, table) -> str:
    """Each edit: the check line, and the rows kept for this browser (an empty table of another task, shown
    on switching tasks, leaves the kept rows alone)."""
    text = check_view(task, table)
    if writable(task):
        found = check_rows(_cells(table), pairs_of(task))
        if len(found.rows) <= MAX_ROWS and (found.rows or workspaces().get(visitor).task == task):
            workspaces().update(visitor, task=task, rows=found.rows)
    return text


def parse_pasted(task: str, pasted: str) -> list[list[str]]:
    """Rows pasted from a spreadsheet (or typed): one per line, cells separated by tabs in the table's column
    order (text, label; pairs: text, second text, label). Blank lines are skipped; a line with another number
    of cells is a DataError naming it."""
    width = len(headers(task))
    if len(pasted or "") > MAX_PASTE_CHARS:
        raise DataError(f"expected at most {MAX_PASTE_CHARS:,} pasted characters, found {len(pasted):,}; train on a "
                        "file instead")
    rows, bad = [], []
    for n, line in enumerate((pasted or "").splitlines(), 1):
        if not line.strip():
            continue
        cells = [c.strip() for c in line.split("\t")]
        if len(cells) != width:
            bad.append(f"line {n} has {len(cells)}")
        rows.append(cells)
    if bad:
        raise DataError(f"expected {width} cells per line separated by tabs (columns: {', '.join(headers(task))}), "
                        "as a spreadsheet copies them; "
                        f"{', '.join(bad[:3])}{' …' if len(bad) > 3 else ''}; fix those lines and add again")
    if not rows:
        raise DataError(f"expected rows to add, found an empty box; paste lines of {', '.join(headers(task))} "
                        "separated by tabs")
    return rows


def add_pasted(task: str, table, pasted: str):
    """-> (examples table, check line, paste box): pasted rows join the typed ones (a problem leaves the table
    and the box as they were, and the check line says what to fix)."""
    try:
        if not writable(task):
            raise DataError(f"expected a text or pair task for typed examples, got {get_task(task).title}; upload a "
                            "CoNLL or JSONL file instead")
        added = parse_pasted(task, pasted)
        width = len(headers(task))  # the rows typed so far, finished or not, stay as they are
        rows = [[("" if v is None else str(v)) for v in (r + [""] * width)[:width]] for r in _cells(table)
                if any(str(v or "").strip() for v in r)]
        if len(rows) + len(added) > MAX_ROWS:
            raise DataError(f"expected at most {MAX_ROWS:,} examples in the table, found {len(rows):,} typed and "
                            f"{len(added):,} pasted; train on a file instead")
    except DataError as exc:
        return gr.skip(), failure(exc), gr.skip()
    rows += added
    return examples_table(task, rows), check_view(task, rows), ""


def on_task_change(visitor: str | None, task: str):
    """-> (examples table, check, suggestions, suspects) for another task: its kept rows, or an empty table."""
    space = workspaces().get(visitor)
    rows = space.rows if space.task == task else []
    return (examples_table(task, rows), check_view(task, rows),
            gr.Dataframe(value=space.suggestions if space.task == task else [], headers=suggestion_headers(task)),
            gr.Dataframe(value=[], headers=suspect_headers(task)))


def on_pool_change(visitor: str | None, pool: str) -> None:
    workspaces().update(visitor, pool=pool or "")


# ------------------------------------------------------------------ what to label next
def pool_inputs(task: str, pool: str, upload, known: set) -> tuple[list[str], list[str] | None, list[int]]:
    """(texts, second texts, their line numbers) of the pool: the box's lines (pairs: tab-separated) and an
    uploaded file's texts, those already in the table left out."""
    from ..training.distill import read_unlabeled

    spec, pairs = get_task(task), pairs_of(task)
    texts, seconds, lines = [], [], []
    for n, line in enumerate((pool or "").splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if pairs:
            if "\t" not in line:
                raise DataError(f"expected a pair per line (the two texts separated by a tab), got line {n} "
                                f"without a tab: {line[:60]!r}; separate the two texts by a tab")
            a, b = (x.strip() for x in line.split("\t", 1))
        else:
            a, b = line, None
        texts.append(a), seconds.append(b), lines.append(n)
    if upload is not None:
        path = getattr(upload, "name", upload)
        for i, e in enumerate(read_unlabeled(spec, str(path))):
            texts.append(e.text), seconds.append(getattr(e, "text_pair", None)), lines.append(-(i + 1))
    keep = [i for i, (a, b) in enumerate(zip(texts, seconds)) if (a.lower(), *(() if b is None else (b.lower(),))) not in known]
    if len(keep) > MAX_POOL_LINES:
        raise DataError(f"expected at most {MAX_POOL_LINES:,} unlabelled texts, got {len(keep):,}; use a sample, or "
                        "ftclf suggest on the command line")
    return [texts[i] for i in keep], ([seconds[i] for i in keep] if pairs else None), [lines[i] for i in keep]


def suggestion_headers(task: str) -> list[str]:
    return ["pool line", "text", *(["second text"] if pairs_of(task) else []), "head's guess", "uncertainty", "your label"]


def _trained_head(visitor: str | None, request, task: str):
    """The torch classifier of this browser's finished run on ``task`` (DataError when there is none)."""
    from ..model import Classifier
    found = finished_run(visitor, request)
    if found is None or found[0].get("task") != task:
        raise DataError(f"expected a finished {task} run to ask, found none; train on your examples first")
    return Classifier.from_pretrained(found[1])


@ui_errors
def on_suggest(visitor: str | None, task: str, table, pool: str, upload, k, request: gr.Request = None):
    """-> (suggestions table, status): the pool's k texts most worth labelling, by this browser's last head
    (a problem: the status says what to do)."""
    workspaces().update(visitor, pool=pool or "")
    try:
        return _suggest(visitor, task, table, pool, upload, k, request)
    except FtclfError as exc:
        return gr.skip(), failure(exc)


def _suggest(visitor, task, table, pool, upload, k, request):
    from ..active_learning import suggest

    if not writable(task):
        raise DataError(f"expected a text or pair task to suggest texts for, got {task}; suggestions rank whole texts")
    known = {tuple(v.lower() for v in r[:-1]) for r in check_rows(_cells(table), pairs_of(task)).rows}
    texts, seconds, lines = pool_inputs(task, pool, upload, known)
    if not texts:
        raise DataError("expected unlabelled texts to choose from, got none (or only texts already in the table); "
                        "paste some, one per line, or upload a file")
    t0 = time.perf_counter()
    clf = _trained_head(visitor, request, task)
    picked = suggest(clf, texts, seconds, max(1, int(k or DEFAULT_K)))
    rows = [[lines[s.index] if lines[s.index] > 0 else f"file {-lines[s.index]}", s.text,
             *([s.text_pair] if pairs_of(task) else []), s.label, round(s.uncertainty, 3), ""] for s in picked]
    workspaces().update(visitor, suggestions=rows)
    status = (f"**{len(rows)} suggestions** from {len(texts):,} unlabelled texts in {time.perf_counter() - t0:.1f} s: "
              "the head's least certain, one from each group of similar texts. Type a label in **your label**, "
              "then **Add and retrain**.")
    return gr.Dataframe(value=rows, headers=suggestion_headers(task)), status


def on_suggestions_change(visitor: str | None, suggestions) -> None:
    workspaces().update(visitor, suggestions=_cells(suggestions))


def add_labelled(visitor: str | None, task: str, table, suggestions, pool: str):
    """-> (examples table, suggestions table, pool, data source, status, retrain?): the suggestions given a label
    join the examples (and leave the pool and the suggestions)."""
    if not writable(task):
        return gr.skip(), gr.skip(), gr.skip(), gr.skip(), "⚠️ Typed examples are for text and pair tasks.", False
    width = len(headers(task))
    rows = check_rows(_cells(table), pairs_of(task)).rows
    added, left, used = [], [], set()
    for row in _cells(suggestions):
        label = str(row[-1] or "").strip() if row else ""
        if label:
            added.append([str(v) for v in row[1:width]] + [label])
            used.add(str(row[0]))
        elif row:
            left.append(row)
    if not added:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip(), ("⚠️ **Nothing to add:** type a label in the **your label** "
                                                             "column of the suggestions you know, then add them."), False
    if len(rows) + len(added) > MAX_ROWS:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip(), (f"⚠️ **The table holds {MAX_ROWS:,} examples at most**: "
                                                             "train on a file for more."), False
    rows += added
    kept_lines = [line for n, line in enumerate((pool or "").splitlines(), 1) if str(n) not in used]
    new_pool = "\n".join(kept_lines)
    workspaces().update(visitor, task=task, rows=rows, suggestions=left, pool=new_pool)
    return (examples_table(task, rows), gr.Dataframe(value=left, headers=suggestion_headers(task)), new_pool,
            gr.Radio(value="write"), f"Added **{len(added)}** labelled texts: retraining on {len(rows)} examples…", True)


# ------------------------------------------------------------------ suspect labels
def suspect_headers(task: str) -> list[str]:
    return ["row", "text", *(["second text"] if pairs_of(task) else []), "given", "suggested", "score", "action"]


@ui_errors
def on_audit(task: str, table):
    """-> (suspects table, status): the table's rows whose label their out-of-fold prediction contradicts."""
    try:
        return _audit(task, table)
    except FtclfError as exc:
        return gr.skip(), failure(exc)


def _audit(task, table):
    from ..data import Example
    from ..label_issues import audit, served_audit_model

    if not writable(task):
        raise DataError(f"expected a text or pair task to audit here, got {task}; audit a file with ftclf audit")
    found = check_rows(_cells(table), pairs_of(task))
    if not found.ready:
        raise DataError(f"expected typed examples ready to train, found: {'; '.join(found.problems)}; fix the table")
    examples = [Example(r[0], r[1] if pairs_of(task) else None, r[-1]) for r in found.rows]
    result = run_apart(audit, examples, served_audit_model(task))  # five heads fitted: not in the server's threads
    rows = [[s.index + 1, s.text, *([s.text_pair] if pairs_of(task) else []), s.given, s.suggested, round(s.score, 3),
             "keep"] for s in result.suspects]
    if not rows:
        status = (f"No suspect labels: every row's out-of-fold prediction ({result.folds} folds, {result.seconds:.0f} s) "
                  "agrees with its label or is unsure.")
    else:
        small = (f" With {len(examples)} rows each fold's head learns from about {len(examples) * (result.folds - 1) // result.folds}: "
                 "read these as hints." if len(examples) < 200 else "")
        status = (f"**{len(rows)} suspect labels** of {len(examples)} ({result.folds} folds, {result.seconds:.0f} s), "
                  f"most suspect first.{small} Set **action** to fix (take the suggested label) or drop (remove the "
                  "row) where you agree, then **Apply and retrain**.")
    return gr.Dataframe(value=rows, headers=suspect_headers(task)), status


def apply_suspects(visitor: str | None, task: str, table, suspects):
    """-> (examples table, suspects table, data source, status, retrain?): fixes and drops applied."""
    skip = (gr.skip(), gr.skip(), gr.skip())
    if not writable(task):
        return *skip, "⚠️ Typed examples are for text and pair tasks.", False
    rows = check_rows(_cells(table), pairs_of(task)).rows
    width = len(headers(task))
    fixed, dropped, drop = 0, 0, set()
    for s in _cells(suspects):
        try:
            i = int(s[0]) - 1
        except (TypeError, ValueError, IndexError):
            continue
        action = str(s[-1] or "").strip().lower()
        if not 0 <= i < len(rows) or [str(v) for v in s[1:width]] != rows[i][:-1]:
            return *skip, "⚠️ **The table changed since the suspects were found:** find suspect labels again.", False
        if action == "fix":
            rows[i][-1] = str(s[width + 1])
            fixed += 1
        elif action == "drop":
            drop.add(i)
            dropped += 1
        elif action != "keep":
            return *skip, (f"⚠️ **Expected an action of {', '.join(ACTIONS)}, got “{md(action)}”** in row {i + 1}: "
                           "type one of them."), False
    if not fixed and not dropped:
        return *skip, "Nothing to apply: every suspect is kept.", False
    rows = [r for i, r in enumerate(rows) if i not in drop]
    workspaces().update(visitor, task=task, rows=rows)
    return (examples_table(task, rows), gr.Dataframe(value=[], headers=suspect_headers(task)), gr.Radio(value="write"),
            f"Fixed **{fixed}**, dropped **{dropped}**: retraining on {len(rows)} examples…", True)


# ------------------------------------------------------------------ rounds
def record_round(visitor: str | None, request: gr.Request = None):
    """After a run: a run on typed examples becomes the next round of the chart (once)."""
    found = finished_run(visitor, request)
    space = workspaces().get(visitor)
    if found is None or found[0].get("source") != "write":
        return charts.rounds_chart(space.rounds)
    run = found[0]
    result = run["result"]
    name = result.get("metric_name") or get_task(run["task"]).metric
    value = result["metrics"].get(name, result["metrics"].get(get_task(run["task"]).metric))
    key = f"{result['seconds']:.3f}:{value}"
    if isinstance(value, (int, float)) and not any(r.get("key") == key for r in space.rounds):
        rows = len(space.rows)
        space.rounds.append({"round": len(space.rounds) + 1, "examples": rows, "metric": float(value),
                             "metric_name": str(name), "key": key, "finished": time.time()})
        workspaces().update(visitor, rounds=space.rounds)
    return charts.rounds_chart(space.rounds)


def restore(visitor: str | None, task: str):
    """On page load: this browser's typed examples, pool, suggestions and rounds (its task's, if it has any)."""
    space = workspaces().get(visitor)
    if not space.rows and not space.pool and not space.suggestions:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), charts.rounds_chart(space.rounds), gr.skip()
    task = space.task if writable(space.task) else task
    return (gr.Radio(value=task), gr.Radio(value="write"), examples_table(task, space.rows), space.pool,
            gr.Dataframe(value=space.suggestions, headers=suggestion_headers(task)), charts.rounds_chart(space.rounds),
            check_view(task, space.rows))


def build(task: str, form: dict[str, Any]) -> dict:
    """The typed-examples box (shown for the "write" source) in the data row: table and live check."""
    with gr.Column(visible=False, elem_id="train-write-box") as box:
        table = gr.Dataframe(value=examples_value(task, []), headers=headers(task), column_count=len(headers(task)),
                             interactive=True, type="array", label="Your examples (double-click a cell to type; blank "
                             "rows are skipped; a cell's ⋮ menu adds rows)", elem_id="train-write-table",
                             show_row_numbers=True, wrap=True)
        check = gr.Markdown(check_view(task, []), elem_id="train-write-check")
        with gr.Accordion("Paste rows from a spreadsheet", open=False, elem_id="train-paste-box"):
            pasted = gr.Textbox(label="One example per line, its cells separated by tabs, in the table's column order "
                                "(text, label; pairs: text, second text, label)", lines=5, max_length=MAX_PASTE_CHARS,
                                elem_id="train-paste")
            paste_button = gr.Button("Add pasted rows", size="sm", elem_id="train-paste-add")
    form["write"] = table
    return {"box": box, "table": table, "check": check, "pasted": pasted, "paste": paste_button}


def build_loop() -> dict:
    """The improve panel under a run's results: suggestions, suspects, rounds."""
    with gr.Accordion("Improve the head: what to label next, suspect labels (typed examples)", open=False,
                      elem_id="train-improve"):
        gr.Markdown("After a run on **typed examples** (Data: Write examples): paste texts without labels below, and the "
                    "head picks the ones it would learn most from (its least certain, one from each group of similar "
                    "texts). Label them, add them, retrain. **Find suspect labels** asks heads that never saw a row "
                    "whether its label holds.")
        with gr.Row():
            pool = gr.Textbox(label="Unlabelled texts, one per line (pairs: the two texts separated by a tab)", lines=6,
                              elem_id="train-pool", scale=3)
            with gr.Column(scale=1):
                pool_file = gr.File(label="… or a file of them (.txt, CSV, JSONL)", file_types=[".txt", ".csv", ".tsv",
                                                                                                 ".jsonl", ".json"])
                k = gr.Slider(1, 32, value=DEFAULT_K, step=1, label="How many to suggest", elem_id="train-k")
                suggest_button = gr.Button("Suggest what to label next", elem_id="train-suggest")
        suggestions = gr.Dataframe(headers=suggestion_headers("sequence"), interactive=True, type="array", wrap=True,
                                   static_columns=[0, 1, 2, 3], label="Suggestions (type a label in the last column)",
                                   elem_id="train-suggestions")
        add_button = gr.Button("Add labelled and retrain", variant="primary", elem_id="train-add")
        loop_status = gr.Markdown(elem_id="train-loop-status")
        rounds = gr.Plot(label="Score per round", elem_id="train-rounds")
        audit_button = gr.Button("Find suspect labels", elem_id="train-audit")
        suspects = gr.Dataframe(headers=suspect_headers("sequence"), interactive=True, type="array", wrap=True,
                                label="Suspect labels (action: fix, drop or keep)", elem_id="train-suspects")
        apply_button = gr.Button("Apply and retrain", variant="primary", elem_id="train-apply")
    return {"pool": pool, "pool_file": pool_file, "k": k, "suggest": suggest_button, "suggestions": suggestions,
            "add": add_button, "status": loop_status, "rounds": rounds, "audit": audit_button, "suspects": suspects,
            "apply": apply_button}


def failure(exc: FtclfError) -> str:
    return f"⚠️ {md(for_browser(str(exc)))}"
