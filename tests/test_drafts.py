"""A browser's finished, unsaved run survives a reload and a server restart (a draft on disk, one per
browser, bounded); a reload during training reattaches; a closed tab cancels only when no page of that
browser comes back."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from ftclf import Classifier, ModelConfig, TrainingConfig
from ftclf.service import DataSource, Drafts, HeadStore, TrainingJobs, TrainRequest

ME, STRANGER = "0123456789abcdef" * 2, "fedcba9876543210" * 2


def request(tiny_encoder_dir, mode="frozen", epochs=2):
    return TrainRequest(DataSource("sequence", "sample", "sentiment (120 reviews)"),
                        ModelConfig(task="sequence", encoder=tiny_encoder_dir, max_length=32),
                        TrainingConfig(mode=mode, epochs=epochs, patience=0,
                                       head_fit="adamw" if mode == "frozen" else "auto"))


def fake_head(tmp_path, name="head"):
    head = tmp_path / "ftclf-draft-x" / name
    head.mkdir(parents=True)
    (head / "config.json").write_text("{}")
    return head


# ------------------------------------------------------------------------------ the drafts themselves
def test_one_draft_per_browser_found_only_by_that_browser(tmp_path):
    drafts = Drafts(tmp_path / "drafts")
    kept = drafts.put(ME, fake_head(tmp_path), {"task": "sequence", "events": []})
    assert kept is not None and (kept / "config.json").is_file()
    assert not (tmp_path / "ftclf-draft-x").exists()  # moved, and the run's temporary folder went with it
    assert drafts.get(ME).run["task"] == "sequence" and drafts.get(STRANGER) is None and drafts.get(None) is None
    assert drafts.put(None, fake_head(tmp_path, "other"), {"task": "x"}) is None  # no browser, no draft
    assert [p.name for p in (tmp_path / "drafts").iterdir()] == [drafts._folder(ME).name]  # a hash, not the id


def test_drafts_are_bounded_in_number_and_age(tmp_path):
    drafts = Drafts(tmp_path / "drafts", max_drafts=2)
    for k, visitor in enumerate((ME, STRANGER, "a" * 32)):
        drafts.put(visitor, fake_head(tmp_path, f"h{k}"), {"task": "sequence"})
        time.sleep(0.02)
    assert drafts.get(ME) is None and drafts.get(STRANGER) is not None and drafts.get("a" * 32) is not None
    assert Drafts(tmp_path / "drafts", max_seconds=0).get(STRANGER) is None  # expired


# ------------------------------------------------------------------------------ through the dashboard
@pytest.fixture
def ui(tmp_path, monkeypatch):
    from ftclf.ui import context

    context.set_store(HeadStore(user_dir=tmp_path / "user"))
    monkeypatch.setattr(context, "_jobs", TrainingJobs(drafts=Drafts(tmp_path / "drafts"), reattach_seconds=0))
    yield context
    context.set_store(None)


def test_a_finished_run_is_saved_after_a_reload_and_a_restart(ui, tiny_encoder_dir, tmp_path, monkeypatch):
    from ftclf.ui import train_tab

    outs = list(train_tab.run_train(request(tiny_encoder_dir), ME, visitor=ME))
    assert "Training finished" in outs[-1][1]
    # the server restarts: a new job table, the same drafts folder; the browser comes back on a new page
    monkeypatch.setattr(ui, "_jobs", TrainingJobs(drafts=Drafts(tmp_path / "drafts"), reattach_seconds=0))
    page = SimpleNamespace(session_hash="a-new-page")
    curves, status, metrics, matrix, confused = list(train_tab.restore(ME, page))[-1]
    assert "Your last run" in status and "Training finished" in status and metrics.headers[0] == "class"
    assert curves.data and matrix.data  # the curves are drawn again from the run's events
    assert list(train_tab.restore(STRANGER, page))[-1][1] is not status  # another browser sees nothing of it
    assert "Saved" in train_tab.save_trained("kept-over-restart", ME, page)
    head = ui.store().info("kept-over-restart")
    assert ui.store().owned_by("kept-over-restart", ME)
    Classifier.from_pretrained(head.path)  # whole
    with pytest.raises(Exception, match="expected a finished training run to save, found none"):
        train_tab.save_trained("nothing", STRANGER, page)


def test_few_examples_are_said_plainly():
    from ftclf.ui.train_tab import few_examples_note

    note = few_examples_note({"examples": 45, "accuracy": 1.0})
    assert "rests on 45 examples" in note and "2.2 points" in note and "optimistic" in note
    assert few_examples_note({"examples": 5000}) == ""


# ------------------------------------------------------------------------------ reattach
def test_a_reload_reattaches_and_a_closed_tab_cancels_after_the_grace(tiny_encoder_dir, monkeypatch):
    from ftclf.ui import context, train_tab

    jobs = TrainingJobs(reattach_seconds=1.5)
    monkeypatch.setattr(context, "_jobs", jobs)
    first = train_tab.run_train(request(tiny_encoder_dir, "lora", epochs=10_000), ME, visitor=ME)
    next(first)
    job = jobs.get(ME)
    for event in job.stream(poll=0.05):
        if event is not None and event.stage in ("train", "eval"):
            break
    first.close()  # the page reloads: its stream goes away …
    again = train_tab.restore(ME, SimpleNamespace(session_hash="reloaded"))
    curves, status, *_ = next(again)  # … and the new page reattaches, replaying the run so far
    assert "Your run is still going" in status
    time.sleep(2.5)
    assert job.running  # past the grace: a page is watching
    again.close()  # the tab closes for good
    job.thread.join(15)
    assert not job.running and job.cancelled
