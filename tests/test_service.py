"""The gradio-free service: the head store, data sources, and the training job table."""

import logging
import shutil

import pytest

from ftclf import Classifier, ModelConfig, TrainingConfig
from ftclf.errors import DataError, InputError, ModelFormatError
from ftclf.service import DataSource, HeadStore, TrainingJobs, TrainRequest, sample, samples, shipped_heads_dir


@pytest.fixture
def store(tmp_path):
    return HeadStore(shipped_heads_dir(), tmp_path / "user")


def test_shipped_heads_are_package_data_and_listed_by_task(store):
    assert shipped_heads_dir().parts[-3:] == ("ftclf", "assets", "heads")
    assert store.names("token") == ["ner-conll2003"] and len(store.names()) == 5
    assert store.names("multilabel") == ["mentions-conll2003"]
    assert store.info("nli-sick").meta.model.labels == ["contradiction", "entailment", "neutral"]
    assert store.resolve("sentiment-sst2") == shipped_heads_dir() / "sentiment-sst2"
    with pytest.raises(ModelFormatError, match="expected a saved classifier directory, a head name"):
        store.resolve("nope")
    assert {s.task for s in samples()} == {"sequence", "pair", "token", "multilabel"} and sample("nli (90 pairs)").path.is_file()


VISITOR = "0123456789abcdef" * 2


def test_add_delete_and_a_damaged_user_head_is_skipped(store, tiny_encoder, caplog):
    clf = Classifier(ModelConfig(task="sequence", labels=["neg", "pos"], encoder="tiny"), tiny_encoder)
    info = store.add(clf, "mine", owner=VISITOR)
    assert info.row()["source"] == "user" and "mine" in store.names("sequence")
    with pytest.raises(InputError, match="already exists"):
        store.add(clf, "mine")
    with pytest.raises(InputError, match="shipped heads cannot be overwritten"):
        store.add(clf, "sentiment-sst2")
    shutil.copytree(info.path, store.user_dir / "broken")
    (store.user_dir / "broken" / "config.json").write_text('{"format": "ftclf-classifier"}')
    with caplog.at_level(logging.WARNING):
        assert "broken" not in store.names()
    assert "skipping the damaged head" in caplog.text
    store.delete("mine", visitor=VISITOR)
    assert "mine" not in store.names()
    with pytest.raises(InputError, match="shipped heads cannot be deleted"):
        store.delete("nli-sick", visitor=VISITOR)


def test_data_sources_are_checked_before_reading(tmp_path, monkeypatch):
    assert DataSource("pair", "sample", "nli (90 pairs)").preview()["examples"] == 90
    with pytest.raises(DataError, match="expected a sequence sample, got the pair sample"):
        DataSource("sequence", "sample", "nli (90 pairs)").path()
    with pytest.raises(DataError, match="expected a hub dataset id"):
        DataSource("sequence", "hub", " ").path()
    big = tmp_path / "big.tsv"
    big.write_text("text\tlabel\n" + "x\t1\n" * 100)
    monkeypatch.setattr("ftclf.service.jobs.MAX_UPLOAD_BYTES", 100)
    with pytest.raises(DataError, match="expected an upload of at most"):
        DataSource("sequence", "upload", str(big)).path()


def request(tiny_encoder_dir, **training):
    return TrainRequest(DataSource("sequence", "sample", "sentiment (120 reviews)"),
                        ModelConfig(task="sequence", encoder=tiny_encoder_dir, max_length=32),
                        TrainingConfig(**{"epochs": 3, "patience": 0, **training}))


def test_a_job_streams_events_and_keeps_its_outcome(tiny_encoder_dir):
    jobs = TrainingJobs(max_kept=1)
    job = jobs.start("a", request(tiny_encoder_dir))
    stages = {e.stage for e in job.stream(poll=0.05) if e is not None}
    assert {"features", "train", "eval", "done"} <= stages and not job.running and job.error is None
    outcome = job.outcome
    assert outcome.result.metrics["examples"] == len(outcome.result.validation_examples)
    assert all(row["gold"] != row["predicted"] for row in outcome.confused)
    jobs.start("b", request(tiny_encoder_dir)).thread.join()
    assert jobs.get("a") is None and jobs.get("b").outcome is not None  # only max_kept finished runs are kept


def test_cancel_and_one_run_per_session(tiny_encoder_dir):
    jobs = TrainingJobs()
    job = jobs.start("s", request(tiny_encoder_dir, epochs=500, mode="frozen", head_fit="adamw"))
    with pytest.raises(InputError, match="expected one training run per browser"):
        jobs.start("s", request(tiny_encoder_dir))
    for event in job.stream(poll=0.05):
        if event is not None and event.stage == "eval":
            assert jobs.cancel("s")
    assert job.outcome.result.cancelled and len(job.outcome.result.history) < 500
    assert not jobs.cancel("s") and not jobs.cancel("nobody")
