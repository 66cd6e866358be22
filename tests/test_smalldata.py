"""Small data: the auto recipe, cross-validated head fits, contrastive tuning, and model selection
that never decides on a validation split too small to tell candidates apart."""

import dataclasses

import pytest
import torch

from ftclf import Classifier, ModelConfig, TrainingConfig, load_encoder, predict
from ftclf.data import Example
from ftclf.training import fit, train
from ftclf.training import frozen as frozen_loop
from ftclf.training.contrastive import batches, pair_loss
from ftclf.training.fullbatch import folds_of

from .conftest import pair_examples, sentiment_examples, token_examples


def model(tiny_encoder_dir, task="sequence", **kw):
    return ModelConfig(task=task, encoder=tiny_encoder_dir, max_length=32, **kw)


def two_per_class():
    return [Example("a wonderful superb film", None, "pos"), Example("great fun", None, "pos"),
            Example("awful boring plot", None, "neg"), Example("a dull mess", None, "neg")]


def test_two_examples_per_class_train_and_predict_with_the_defaults(tiny_encoder_dir, tmp_path):
    clf, result = fit(model(tiny_encoder_dir), TrainingConfig(), two_per_class())
    cfg = clf.training_config
    assert cfg.mode == "contrastive" and cfg.head_fit == "lbfgs" and cfg.recipe.startswith("auto chose contrastive")
    assert clf.data_info["train_examples"] == 4 and clf.data_info["validation_examples"] == 0  # nothing carved
    assert "cross-validation" in result.validation and result.metrics["examples"] == 4  # out-of-fold scores
    assert "2-fold cross-validation" in result.selection
    assert [p.label for p in predict(clf, ["great fun", "a dull mess"])] == ["pos", "neg"]  # fitted on all 4
    again = Classifier.from_pretrained(clf.save_pretrained(tmp_path / "h"))
    assert again.training_config.recipe == cfg.recipe and "because" in (tmp_path / "h" / "README.md").read_text()
    assert [p.probabilities for p in predict(again, ["fun"])] == [p.probabilities for p in predict(clf, ["fun"])]


def test_a_class_with_one_example_still_trains(tiny_encoder_dir):
    data = two_per_class()[:3]  # pos, pos, neg
    clf, result = fit(model(tiny_encoder_dir), TrainingConfig(mode="frozen"), data)
    assert result.metrics == {} and "too few to cross-validate" in result.validation
    assert predict(clf, ["great fun"])[0].label in ("pos", "neg")


@pytest.mark.parametrize("task", ["sequence", "pair", "token"])
def test_lbfgs_head_fit_learns_every_task_from_small_data(tiny_encoder_dir, task):
    data = {"sequence": sentiment_examples(40), "pair": pair_examples(60, rule="second"), "token": token_examples(40)}[task]
    kw = {"pair_mode": "concat"} if task == "pair" else {}
    clf, result = fit(model(tiny_encoder_dir, task, **kw), TrainingConfig(mode="frozen"), data)
    assert clf.training_config.head_fit == "lbfgs"
    assert result.metrics[clf.task.metric] >= 0.8, result.history  # out-of-fold: every example scored unseen
    scores = [row[clf.task.metric] for row in result.history]
    assert len(scores) == 7 and result.best_metric == max(scores)


def test_cross_validation_folds_are_stratified_and_ties_pick_the_stronger_decay(tiny_encoder_dir, monkeypatch):
    folds = folds_of(["a"] * 10 + ["b"] * 5, 5, seed=0)
    assert sorted(i for f in folds for i in f) == list(range(15))
    assert all(sum(i >= 10 for i in f) == 1 for f in folds)  # each fold holds one of the five b's
    clf, result = fit(model(tiny_encoder_dir), TrainingConfig(mode="frozen"), sentiment_examples(40))
    best = max(row["accuracy"] for row in result.history)
    tied = [row["weight_decay"] for row in result.history if row["accuracy"] == best]
    assert f"weight decay {max(tied):g} chosen" in result.selection


def test_no_restore_from_a_two_example_validation_split(tiny_encoder_dir):
    clf = Classifier(model(tiny_encoder_dir, labels=["neg", "pos"]), _encoder(tiny_encoder_dir))
    snapshots = []
    data = sentiment_examples(40)
    result = train(clf, data, data[:2], TrainingConfig(mode="frozen", head_fit="adamw", epochs=6, learning_rate=3e-2,
                                                         patience=1, batch_size=8),
                   on_event=lambda e: snapshots.append(_head(clf)) if e.stage == "eval" else None)
    assert len(result.history) == 6 and not result.stopped_early  # patience does not act on 2 examples
    assert "too few" in result.selection
    assert all(torch.equal(a, b) for a, b in zip(_head(clf), snapshots[-1]))  # the last epoch, not "the best"


def test_ties_keep_the_later_epoch(tiny_encoder_dir, monkeypatch):
    monkeypatch.setattr(frozen_loop, "_validation_metric", lambda *a, **k: 0.5)  # every epoch ties
    clf = Classifier(model(tiny_encoder_dir, labels=["neg", "pos"]), _encoder(tiny_encoder_dir))
    snapshots = []
    data = sentiment_examples(200)
    result = train(clf, data[:80], data[80:], TrainingConfig(mode="frozen", head_fit="adamw", epochs=4, patience=0,
                                                             learning_rate=3e-2, batch_size=8),
                   on_event=lambda e: snapshots.append(_head(clf)) if e.stage == "eval" else None)
    assert "best of 4 epochs" in result.selection and len(snapshots) == 4
    assert all(torch.equal(a, b) for a, b in zip(_head(clf), snapshots[-1]))
    assert not all(torch.equal(a, b) for a, b in zip(snapshots[0], snapshots[-1]))


def test_trainer_runs_keep_the_last_weights_on_a_tiny_validation_split(tiny_encoder_dir):
    clf, result = fit(model(tiny_encoder_dir), TrainingConfig(mode="lora", epochs=2, batch_size=8, patience=1),
                      sentiment_examples(24), sentiment_examples(3, seed=5))
    assert "last weights kept" in result.selection and len(result.history) == 2


def test_contrastive_batches_hold_same_label_partners_and_cover_every_example():
    labels = ["a"] * 6 + ["b"] * 3 + ["c"]
    plan = batches(labels, 6, steps=30, seed=0)
    assert all(len(ids) == 6 == len(set(ids)) for ids in plan)
    assert all(sum(labels[i] == "a" for i in ids) >= 2 and sum(labels[i] == "b" for i in ids) >= 2 for ids in plan)
    uses = [sum(i in ids for ids in plan) for i in range(10)]
    assert min(uses[:6]) >= 0.8 * 30 * 2 / 6 and min(uses[6:9]) >= 0.8 * 30 * 2 / 3  # each class walked in rounds
    many = batches([str(i % 40) for i in range(80)], 32, steps=5, seed=0)  # more classes than fit in a batch
    assert all(len(ids) == 32 for ids in many)
    assert all(sorted(ids) == [0, 1] for ids in batches(["a", "b"], 32, steps=2, seed=0))


def test_pair_loss_is_every_pairs_cosine_error_with_both_kinds_weighing_half():
    x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0, 0, 1])
    assert pair_loss(x, labels).item() == pytest.approx(0.0)  # same label identical, different orthogonal
    y = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])  # the same pair orthogonal (error 1), one other pair identical (1)
    assert pair_loss(y, labels).item() == pytest.approx(0.5 * 1.0 + 0.5 * (1.0 + 0.0) / 2)
    assert pair_loss(x, torch.tensor([0, 1, 2])).item() == pytest.approx(1 / 3)  # no same-label pair: the other half only


@pytest.mark.parametrize("task", ["sequence", "pair"])
def test_contrastive_mode_tunes_adapters_then_fits_the_head(tiny_encoder_dir, tmp_path, task):
    data = sentiment_examples(32) if task == "sequence" else pair_examples(40, rule="same")
    events = []
    clf, result = fit(model(tiny_encoder_dir, task), TrainingConfig(mode="contrastive", contrastive_steps=12),
                      data, on_event=events.append)
    assert clf.mode == "lora" and clf.training_config.contrastive_steps == 12
    assert any(e.detail == "contrastive" for e in events) and any(e.stage == "recipe" for e in events)
    lora_b = [p for n, p in clf.encoder.named_parameters() if "lora_B" in n]
    assert lora_b and any(p.abs().sum() > 0 for p in lora_b)  # the adapters moved
    # its out-of-fold predictions were held out from the head, not from the tuned encoder: no calibration
    assert clf.calibration is None and result.calibration.startswith("not fitted: the encoder was tuned on every")
    out = clf.save_pretrained(tmp_path / "c")
    assert (out / "adapter").is_dir()
    again = Classifier.from_pretrained(out)
    inputs = (["good good film"], None) if task == "sequence" else (["a b"], ["a c"])
    assert predict(again, *inputs)[0].probabilities == pytest.approx(predict(clf, *inputs)[0].probabilities, abs=1e-5)


def test_contrastive_tuning_of_every_weight_saves_the_encoder(tiny_encoder_dir, tmp_path):
    cfg = TrainingConfig(mode="contrastive", contrastive_body="full", contrastive_steps=6)
    assert cfg.learning_rate == 5e-5 and TrainingConfig(mode="contrastive").learning_rate == 3e-4
    before = {n: p.clone() for n, p in load_encoder(tiny_encoder_dir).model.named_parameters()}
    clf, _ = fit(model(tiny_encoder_dir), cfg, sentiment_examples(32))
    assert clf.mode == "full" and "every encoder weight" in clf.training_config.recipe
    moved = [n for n, p in clf.encoder.named_parameters() if n in before and not torch.equal(p, before[n])]
    assert any("attention" in n for n in moved)  # not adapters: the encoder's own weights moved
    out = clf.save_pretrained(tmp_path / "full")
    assert (out / "encoder").is_dir() and not (out / "adapter").exists()
    again = Classifier.from_pretrained(out)
    assert predict(again, ["good good film"])[0].probabilities == pytest.approx(
        predict(clf, ["good good film"])[0].probabilities, abs=1e-5)
    auto = fit(model(tiny_encoder_dir), TrainingConfig(contrastive_body="full", contrastive_steps=4), two_per_class())[0]
    assert auto.mode == "full" and auto.training_config.learning_rate == 5e-5


def test_cancel_during_contrastive_tuning_stops_without_a_head(tiny_encoder_dir):
    import threading

    from ftclf.errors import TrainingCancelled

    cancel = threading.Event()
    with pytest.raises(TrainingCancelled, match="while tuning the encoder"):
        fit(model(tiny_encoder_dir), TrainingConfig(mode="contrastive", contrastive_steps=40), sentiment_examples(32),
            on_event=lambda e: cancel.set() if e.detail == "contrastive" else None, cancel=cancel)


def _encoder(path):
    from ftclf.encoders import load_encoder

    return load_encoder(path)


def _head(clf):
    return [v.detach().clone() for v in clf.head_state_dict().values()]


def test_audit_ranks_flipped_labels_first_and_writes_suspects(tiny_encoder_dir, tmp_path, capsys):
    """Out-of-fold probabilities and confident learning: labels flipped on purpose rank first; the command
    line writes the suspects as JSON lines (0-based row, given and suggested label, score)."""
    import json
    import random

    from ftclf import ModelConfig, audit
    from ftclf.cli import main as cli
    from ftclf.errors import DataError

    examples = sentiment_examples(120, seed=3)
    flipped = sorted(random.Random(0).sample(range(len(examples)), 8))
    other = {"neg": "pos", "pos": "neg"}
    noisy = [dataclasses.replace(e, label=other[e.label]) if i in flipped else e for i, e in enumerate(examples)]
    found = audit(noisy, ModelConfig(task="sequence", encoder=tiny_encoder_dir, max_length=32))
    assert len(set(found.ranking[:16]) & set(flipped)) >= 6, (found.ranking[:16], flipped)
    assert len(found.probabilities) == 120 and found.probabilities[0].shape == (2,) and found.folds == 5
    top = found.suspects[0]
    assert top.index in flipped and top.given == noisy[top.index].label and top.suggested == other[top.given]
    data = tmp_path / "noisy.csv"
    data.write_text("text,label\n" + "".join(f"{e.text},{e.label}\n" for e in noisy))
    out = tmp_path / "suspects.jsonl"
    assert cli(["audit", "--task", "sequence", "--data", str(data), "--encoder", tiny_encoder_dir,
                "--output", str(out)]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines and set(lines[0]) == {"index", "text", "given", "suggested", "score"}
    hits = len({line["index"] for line in lines[:16]} & set(flipped))  # flagged rows only, most suspect first
    assert hits >= 5 and hits >= 0.8 * len(lines[:16]), (lines[:16], flipped)
    assert json.loads(capsys.readouterr().out)["suspects"] == len(lines)
    with pytest.raises(DataError, match="expected labelled texts, pairs or tagged sentences to audit"):
        audit([], ModelConfig(task="multilabel", encoder=tiny_encoder_dir))


def test_a_frozen_audit_encodes_every_row_once_and_scores_it_out_of_fold(tiny_encoder_dir, monkeypatch):
    """A frozen-encoder audit reads its out-of-fold probabilities off one cross-validated fit: the encoder
    reads each row once (not once per fold), and each row is scored by a fold head that did not train on it."""
    import ftclf.training.frozen as frozen
    from ftclf import ModelConfig, audit

    passes = []
    real = frozen.cached_features

    def counted(clf, examples, items, **kw):
        passes.append(len(items))
        return real(clf, examples, items, **kw)

    monkeypatch.setattr(frozen, "cached_features", counted)
    examples = sentiment_examples(60, seed=5)
    folds_seen = []
    found = audit(examples, ModelConfig(task="sequence", encoder=tiny_encoder_dir, max_length=32),
                  on_fold=lambda f, k: folds_seen.append((f, k)))
    assert passes == [60]
    assert folds_seen == [(f, 5) for f in range(1, 6)] and found.folds == 5
    # each row is scored out of fold: its given label's probability is not the head-on-all-rows' one
    assert len(found.probabilities) == 60 and all(abs(p.sum() - 1) < 1e-5 for p in found.probabilities)


def test_audit_flags_the_sentences_whose_tags_were_changed(tiny_encoder_dir, tmp_path, capsys):
    """Tagged sentences: a person's tags changed to O (or a word outside any name tagged B-PER) are flagged by
    their out-of-fold tag probabilities, named word by word; the command line audits a CoNLL file."""
    import json

    from ftclf import ModelConfig, TrainingConfig, audit
    from ftclf.cli import main as cli
    from ftclf.data import TokenExample

    from .conftest import token_examples

    examples = token_examples(48, seed=2)
    changed = [3, 17, 30, 41]
    noisy = list(examples)
    for i in changed:
        e = examples[i]
        tags = tuple("O" if t != "O" else t for t in e.tags) if any(t != "O" for t in e.tags) else \
            ("B-PER",) + e.tags[1:]
        noisy[i] = TokenExample(e.words, tags)
    found = audit(noisy, ModelConfig(task="token", encoder=tiny_encoder_dir, max_length=32, head="linear"),
                  TrainingConfig(mode="frozen"), folds=3)
    assert len(found.probabilities) == 48 and found.probabilities[0].shape == (len(noisy[0].words), len(found.labels))
    assert len({s.index for s in found.suspects[:8]} & set(changed)) >= 3, [(s.index, s.given) for s in found.suspects]
    top = next(s for s in found.suspects if s.index in changed)
    assert top.text == " ".join(noisy[top.index].words) and "/" in top.given and top.given != top.suggested
    data = tmp_path / "noisy.conll"
    data.write_text("".join("".join(f"{w} {t}\n" for w, t in zip(e.words, e.tags)) + "\n" for e in noisy))
    out = tmp_path / "suspects.jsonl"
    assert cli(["audit", "--task", "token", "--data", str(data), "--encoder", tiny_encoder_dir, "--head", "linear",
                "--folds", "3", "--output", str(out)]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines and {"index", "text", "given", "suggested", "score"} <= set(lines[0])
    assert json.loads(capsys.readouterr().out)["suspects"] == len(lines)
