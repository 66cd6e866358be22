"""Label, train, improve through the Train tab's handlers: the typed table's checks, the browser's workspace
(kept, bounded, hostile content cut), and one whole loop on a tiny encoder: type → train → suggest → label →
add → audit → fix, each round on the chart, everything back after a reload."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from ftclf import ModelConfig, TrainingConfig
from ftclf.service import DataSource, Drafts, HeadStore, TrainingJobs, TrainRequest
from ftclf.service.workspaces import MAX_CELL_CHARS, Workspace, Workspaces, check_rows

from ..conftest import FILLER, NEGATIVE, POSITIVE

ME, STRANGER = "0123456789abcdef" * 2, "fedcba9876543210" * 2


def test_check_rows_skips_blanks_and_names_every_problem():
    ok = check_rows([["good film", "pos"], ["", ""], ["bad film", "neg"], ["nice", "pos"], ["awful", "neg"],
                     ["Good film", "pos"]], pairs=False)
    assert ok.ready and ok.counts == {"pos": 2, "neg": 2} and len(ok.rows) == 4
    assert "row 6 repeats row 1" in ok.notes and "1 blank row skipped" in ok.notes
    bad = check_rows([["good", ""], ["", "neg"], ["fine", "pos"], ["fine", "neg"], ["x" * (MAX_CELL_CHARS + 1), "pos"]],
                     pairs=False)
    assert not bad.ready
    text = "; ".join(bad.problems)
    assert "row 1 has no label" in text and "row 2 has no text" in text
    assert "rows 3 and 4 have the same text with the labels “pos” and “neg”" in text
    assert "more than 2,000 characters" in text and "the label “pos” has one example" in text
    assert "write examples of at least two" in "; ".join(check_rows([["a", "x"], ["b", "x"]], pairs=False).problems)
    pair = check_rows([["a", "b", "same"], ["a", "", "same"]], pairs=True)
    assert "row 2 has no second text" in "; ".join(pair.problems)


def test_a_workspace_is_one_browsers_bounded_and_read_back_defensively(tmp_path):
    spaces = Workspaces(tmp_path / "ws", max_workspaces=2)
    spaces.update(ME, task="pair", rows=[["a", "b", "same"]], pool="x\ty")
    assert spaces.get(ME).rows == [["a", "b", "same"]] and spaces.get(ME).task == "pair"
    assert spaces.get(STRANGER) == Workspace() and spaces.get(None) == Workspace()
    assert not spaces.put(None, Workspace(rows=[["a", "b"]]))
    path = spaces._path(ME)
    path.write_text(json.dumps({"task": 3, "rows": [["ok", "pos"], "not a row", [1, 2, 3, 4], ["y" * 10**5, "neg"]],
                                "rounds": [{"metric": "high"}, {"metric": 0.5, "round": 1}], "pool": ["no"]}))
    hostile = spaces.get(ME)
    assert hostile.task == "sequence" and hostile.pool == "" and len(hostile.rounds) == 1
    assert hostile.rows == [["ok", "pos"], ["y" * MAX_CELL_CHARS, "neg"]]
    path.write_text("{not json")
    assert spaces.get(ME) == Workspace()
    for visitor in ("a" * 32, "b" * 32):
        spaces.update(visitor, rows=[["t", "l"]])
    assert spaces.get(ME) == Workspace()  # the oldest went: at most two are kept


@pytest.fixture
def ui(tmp_path, monkeypatch):
    from ftclf.ui import context, label_loop

    context.set_store(HeadStore(user_dir=tmp_path / "user"))
    monkeypatch.setattr(context, "_jobs", TrainingJobs(drafts=Drafts(tmp_path / "drafts"), reattach_seconds=0))
    label_loop.set_workspaces(Workspaces(tmp_path / "workspaces"))
    yield label_loop
    label_loop.set_workspaces(None)
    context.set_store(None)


def _train(ui, tiny_encoder_dir, table):
    from ftclf.ui import train_tab

    path = ui.typed_file(ME, "sequence", table)
    request = TrainRequest(DataSource("sequence", "write", path), ModelConfig(task="sequence", encoder=tiny_encoder_dir,
                                                                              max_length=32), TrainingConfig(mode="frozen"))
    outs = list(train_tab.run_train(request, ME, visitor=ME))
    assert "Training finished" in outs[-1][1], outs[-1][1]
    return ui.record_round(ME, SimpleNamespace(session_hash="page"))


def test_type_train_suggest_label_add_audit_fix_and_reload(ui, tiny_encoder_dir):
    page = SimpleNamespace(session_hash="page")
    typed = [[f"{FILLER[i]} {POSITIVE[i]} {POSITIVE[(i + 3) % 8]}", "pos"] for i in range(8)] + \
            [[f"{FILLER[i]} {NEGATIVE[i]} {NEGATIVE[(i + 3) % 8]}", "neg"] for i in range(8)] + [["", ""]]
    assert "16 examples" in ui.on_table_change(ME, "sequence", typed) and "ready to train" in ui.check_view("sequence", typed)
    chart = _train(ui, tiny_encoder_dir, typed)
    assert list(chart.to_dict()["data"][0]["y"]) == [pytest.approx(ui.workspaces().get(ME).rounds[0]["metric"])]
    # what to label next: the pool's lines, those already typed left out
    pool = "\n".join([typed[0][0], *(f"{p} {n}" for p, n in zip(POSITIVE, NEGATIVE)), "so-so"])
    table, status = ui.on_suggest(ME, "sequence", typed, pool, None, 3, page)
    rows = table.value["data"] if isinstance(table.value, dict) else table.value
    assert "3 suggestions" in status and len(rows) == 3 and typed[0][0] not in {r[1] for r in rows}
    assert all(r[-1] == "" and r[2] in ("pos", "neg") for r in rows)
    rows[0][-1], rows[1][-1] = "pos", "neg"
    examples, left, new_pool, source, message, go = ui.add_labelled(ME, "sequence", typed, rows, pool)
    assert go and source.value == "write" and "Added **2**" in message
    assert len(check_rows(examples.value["data"], False).rows) == 18 and len(left.value["data"]) == 1
    assert rows[0][1] not in new_pool.splitlines() and len(new_pool.splitlines()) == len(pool.splitlines()) - 2
    assert ui.add_labelled(ME, "sequence", typed, left.value["data"], new_pool)[-1] is False  # nothing labelled
    chart = _train(ui, tiny_encoder_dir, examples.value["data"])
    assert [r["examples"] for r in ui.workspaces().get(ME).rounds] == [16, 18] and len(chart.to_dict()["data"][0]["x"]) == 2
    # suspect labels: one row given the wrong label
    current = check_rows(examples.value["data"], False).rows
    current[2][1] = "neg"
    suspects, status = ui.on_audit("sequence", current)
    found = suspects.value["data"]
    assert found and "suspect labels" in status and found[0][0] == 3 and found[0][3] == "pos" and found[0][-1] == "keep"
    assert ui.apply_suspects(ME, "sequence", current, found)[-1] is False  # all kept: nothing to retrain
    fixed, cleared, source, message, go = ui.apply_suspects(ME, "sequence", current, [found[0][:-1] + ["fix"]])
    assert go and check_rows(fixed.value["data"], False).rows[2][1] == "pos" and "Fixed **1**" in message
    changed = [r[:] for r in current]
    changed[2][0] = "edited since"
    assert "changed since" in ui.apply_suspects(ME, "sequence", changed, [found[0][:-1] + ["fix"]])[3]
    dropped = ui.apply_suspects(ME, "sequence", current, [found[0][:-1] + ["drop"]])[0]
    assert len(check_rows(dropped.value["data"], False).rows) == 17
    # a reload: the same browser finds its rows, pool, suggestions and rounds; another browser nothing
    task, source, table, kept_pool, suggestions, rounds, check = ui.restore(ME, "sequence")
    assert source.value == "write" and len(check_rows(table.value["data"], False).rows) == 17
    assert kept_pool == new_pool and len(rounds.to_dict()["data"][0]["x"]) == 2
    stranger = ui.restore(STRANGER, "sequence")
    assert getattr(stranger[1], "value", None) != "write" and not getattr(stranger[2], "value", None)


def test_the_loop_says_what_to_do_instead_of_failing(ui):
    page = SimpleNamespace(session_hash="page")
    table, status = ui.on_suggest(ME, "sequence", [], "a text", None, 3, page)
    assert "expected a finished sequence run" in status
    assert "expected unlabelled texts" in ui.on_suggest(ME, "sequence", [], "", None, 3, page)[1]
    assert "Train waits" in ui.check_view("sequence", [["only one", "pos"]])
    assert "expected typed examples ready to train" in ui.on_audit("sequence", [["a", "pos"]])[1]
    assert "tagged word by word" in ui.check_view("token", [])
    with pytest.raises(Exception, match="upload a CoNLL or JSONL file instead"):
        ui.typed_file(ME, "token", [["Anna went home", "B-PER O O"]])
    assert "expected a pair per line" in ui.on_suggest(ME, "pair", [], "no tab here", None, 3, page)[1]


def test_pasted_rows_join_the_table_or_leave_it_as_it_was(ui):
    """Rows pasted from a spreadsheet (tab-separated, the table's column order) join the typed ones and clear
    the box; a line with the wrong number of cells, an empty box, a token task or a table past its bound
    change nothing and say which line to fix."""
    typed = [["a fine film", "pos"], ["", ""]]
    table, check, box = ui.add_pasted("sequence", typed, "a dull film\tneg\n\n  a bright film \tpos\nan awful film\tneg")
    assert [r for r in table.value["data"] if any(r)] == [["a fine film", "pos"], ["a dull film", "neg"],
                                                          ["a bright film", "pos"], ["an awful film", "neg"]]
    assert box == "" and "4 examples" in check and "ready to train" in check
    table, check, box = ui.add_pasted("pair", [], "a cat sat\ta cat was sitting\tyes\nno tab here\nx\ty")
    assert table is not None and not isinstance(table, list) and box is not None
    assert "line 2 has 1, line 3 has 2" in check and "text, second text, label" in check
    assert "expected rows to add" in ui.add_pasted("sequence", typed, " \n ")[1]
    assert "upload a CoNLL or JSONL file" in ui.add_pasted("token", [], "Anna\tB-PER")[1]
    assert "at most 2,000 examples" in ui.add_pasted("sequence", [[f"text {i}", "x"] for i in range(1999)], "a\tb\nc\td")[1]
    assert ui.parse_pasted("pair", "one\ttwo\tyes") == [["one", "two", "yes"]]
    table, check, _ = ui.add_pasted("sequence", [["half typed", None]], "a\tb")  # an unfinished row stays
    assert table.value["data"][:2] == [["half typed", ""], ["a", "b"]] and "row 1 has no label" in check
