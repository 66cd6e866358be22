"""Distillation: the loss against its formula, CRF marginals with gradients, a student that follows its
teacher over wrong gold labels, unlabeled text, token tasks, refusals, the command line."""

import json

import pytest
import torch
import torch.nn.functional as F

from ftclf import ModelConfig, TrainingConfig, predict
from ftclf.cli import main
from ftclf.crf import CRF
from ftclf.data import Example, TokenExample
from ftclf.errors import ConfigError
from ftclf.training import distill, fit

from .conftest import pair_examples, sentiment_examples, token_examples

LORA = {"mode": "lora", "learning_rate": 5e-3, "epochs": 6, "batch_size": 16, "patience": 0, "seed": 3, "validation_fraction": 0.25}


def _fit(encoder, task, examples, val=None, unlabeled=None, **training):
    model = ModelConfig(task=task, encoder=encoder, max_length=32, **({"head": "crf"} if task == "token" else {}))
    return fit(model, TrainingConfig(**{**LORA, **training}), examples, val, unlabeled=unlabeled)


@pytest.fixture(scope="module")
def teacher_dir(tiny_encoder_dir, tmp_path_factory):
    """A sentiment head that learned the rule (the teacher of the tests below)."""
    clf, result = _fit(tiny_encoder_dir, "sequence", sentiment_examples(80))
    assert result.metrics["accuracy"] >= 0.9
    return str(clf.save_pretrained(tmp_path_factory.mktemp("teacher") / "teacher"))


def test_soft_loss_is_hinton_kl_at_temperature():
    torch.manual_seed(0)
    student, teacher = torch.randn(5, 3), torch.randn(5, 3)
    for t in (1.0, 2.0, 4.0):
        oracle = F.kl_div((student / t).log_softmax(-1), (teacher / t).softmax(-1), reduction="batchmean") * t * t
        got = distill.soft_loss(student.log_softmax(-1), teacher.softmax(-1), t)
        assert got == pytest.approx(float(oracle), rel=1e-5)
    assert distill.soft_loss(teacher.log_softmax(-1), teacher.softmax(-1), 2.0) == pytest.approx(0.0, abs=1e-6)
    # per-word rows: padding words (mask False) and words without a teacher row (zeros) are skipped
    s, p = torch.randn(2, 4, 3), torch.randn(2, 4, 3).softmax(-1)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]]).bool()
    p[1, 3] = 0
    rows = F.kl_div(s.log_softmax(-1), p, reduction="none").sum(-1)[[0, 0, 0, 1, 1, 1], [0, 1, 2, 0, 1, 2]]
    assert distill.soft_loss(s.log_softmax(-1), p, 1.0, mask) == pytest.approx(float(rows.mean()), rel=1e-5)


def test_labels_a_crf_student_cannot_give_leave_the_teacher_row():
    """I-X on a first word is forbidden by the CRF (log-probability about -10,000): the teacher's mass
    there is dropped and its row renormalised, so the loss is the KL over the possible labels only."""
    from ftclf.iob import crf_constraints

    labels = ["O", "B-PER", "I-PER"]
    crf = CRF(3, *map(torch.tensor, crf_constraints(labels)))
    emissions = torch.zeros(1, 2, 3, requires_grad=True)
    student = crf.log_marginals(emissions)
    assert student[0, 0, 2] < distill.IMPOSSIBLE  # I-PER cannot open a sentence
    teacher = torch.tensor([[[0.6, 0.2, 0.2], [0.5, 0.25, 0.25]]])
    projected = teacher.clone()
    projected[0, 0] = torch.tensor([0.75, 0.25, 0.0])
    for t in (1.0, 2.0):
        s_t = (student / t).log_softmax(-1)
        s_t = torch.where(student > distill.IMPOSSIBLE, s_t, torch.zeros(()))
        p_t = projected ** (1 / t)
        p_t = p_t / p_t.sum(-1, keepdim=True)
        oracle = (p_t * (p_t.clamp_min(1e-30).log() - s_t)).sum(-1).mean() * t * t
        got = float(distill.soft_loss(student, teacher, t))
        assert got == pytest.approx(float(oracle), rel=1e-4) and got < 1.0
    distill.soft_loss(student, teacher, 2.0).backward()
    assert torch.isfinite(emissions.grad).all()


def test_crf_log_marginals_are_the_marginals_and_carry_gradients():
    torch.manual_seed(0)
    crf = CRF(4)
    emissions = torch.randn(2, 5, 4, requires_grad=True)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]).bool()
    log_m = crf.log_marginals(emissions, mask)
    assert torch.allclose(log_m.exp() * mask.unsqueeze(-1), crf.marginals(emissions, mask), atol=1e-6)
    assert torch.allclose(log_m.exp()[mask].sum(-1), torch.ones(int(mask.sum())), atol=1e-5)
    log_m[mask].sum().backward()  # gradients reach the emissions and the transitions
    assert emissions.grad is not None and crf.transitions.grad is not None


def test_student_follows_the_teacher_over_wrong_gold_labels(tiny_encoder_dir, teacher_dir):
    teacher = distill.load_teacher(teacher_dir)
    examples = sentiment_examples(80, seed=1)
    flipped = [Example(e.text, None, "neg" if e.label == "pos" else "pos") for e in examples]
    val = sentiment_examples(40, seed=2)
    student, result = _fit(tiny_encoder_dir, "sequence", flipped, val=val, teacher=teacher_dir, distill_weight=1.0)
    agree = [p.label for p in predict(student, [e.text for e in val])] == [p.label for p in predict(teacher, [e.text for e in val])]
    assert result.metrics["accuracy"] >= 0.9 and agree, result.history  # the gold labels said the opposite
    cfg = student.training_config
    assert cfg.teacher == teacher_dir and "distilled from teacher" in cfg.recipe
    _, base = _fit(tiny_encoder_dir, "sequence", flipped, val=val)
    assert base.metrics["accuracy"] <= 0.1  # without the teacher the wrong labels win


def test_unlabeled_text_trains_the_student_through_the_teacher(tiny_encoder_dir, teacher_dir, tmp_path):
    labelled = sentiment_examples(8, seed=4)
    unlabeled = [Example(e.text) for e in sentiment_examples(80, seed=5)]
    val = sentiment_examples(40, seed=6)
    student, result = _fit(tiny_encoder_dir, "sequence", labelled, val=val, unlabeled=unlabeled, teacher=teacher_dir,
                           distill_weight=0.5)
    assert result.metrics["accuracy"] >= 0.9, result.history
    assert student.data_info["unlabeled_examples"] == 80 and student.data_info["train_examples"] == 8
    saved = json.loads((student.save_pretrained(tmp_path / "s") / "config.json").read_text())
    assert saved["training"]["teacher"] == teacher_dir and saved["data"]["unlabeled_examples"] == 80


def test_token_task_distils_crf_marginals_with_windows(tiny_encoder_dir, tmp_path):
    teacher, _ = _fit(tiny_encoder_dir, "token", token_examples(60), learning_rate=1e-2, epochs=8)
    teacher_dir = str(teacher.save_pretrained(tmp_path / "t"))
    long = TokenExample(tuple(["the", "movie", "john", "smith"] * 12), tuple(["O", "O", "B-PER", "I-PER"] * 12))
    items = distill.training_items(teacher, [long, *token_examples(4)], [TokenExample(("mary", "was", "here"))],
                                   teacher)
    windows = [it for it in items if it.source == 0]
    assert len(windows) > 1  # 48 words do not fit one 32-token pass
    for item in items:
        assert item.soft.shape == (len(item.word_index), len(teacher.labels))
        assert torch.allclose(item.soft.sum(-1), torch.ones(len(item.word_index)), atol=1e-4)
    assert items[-1].label == [-100] * 3  # the unlabeled sentence: soft loss only
    _, result = _fit(tiny_encoder_dir, "token", token_examples(60, seed=1), val=token_examples(30, seed=2),
                           unlabeled=[TokenExample(e.words) for e in token_examples(30, seed=3)],
                           teacher=teacher_dir, learning_rate=1e-2, epochs=8)
    assert result.metrics["f1"] >= 0.8 and result.metrics["invalid_transition_rate"] == 0.0, result.history


def test_refusals_name_the_problem(tiny_encoder_dir, teacher_dir):
    with pytest.raises(ConfigError, match="teacher trained on the pair task"):
        _fit(tiny_encoder_dir, "pair", pair_examples(40), teacher=teacher_dir)
    relabelled = [Example(e.text, None, {"pos": "good", "neg": "bad"}[e.label]) for e in sentiment_examples(40)]
    with pytest.raises(ConfigError, match=r"teacher with the labels \['bad', 'good'\]"):
        _fit(tiny_encoder_dir, "sequence", relabelled, teacher=teacher_dir)
    with pytest.raises(ConfigError, match="a teacher to label the 3 unlabeled"):
        _fit(tiny_encoder_dir, "sequence", sentiment_examples(40), unlabeled=[Example("a"), Example("b"), Example("c")])
    with pytest.raises(ConfigError, match="mode lora, full or auto with a teacher"):
        TrainingConfig(mode="frozen", teacher=teacher_dir)
    for weight in (-0.1, 1.5, True):
        with pytest.raises(ConfigError, match="distill_weight"):
            TrainingConfig(distill_weight=weight)
    with pytest.raises(ConfigError, match="distill_temperature"):
        TrainingConfig(distill_temperature=0)
    auto = TrainingConfig(mode="auto", teacher=teacher_dir)
    from ftclf.tasks import get_task
    from ftclf.training.recipes import resolve

    assert resolve(auto, get_task("sequence"), 40).mode == "lora"  # small data with a teacher: lora, not contrastive


def test_cli_train_with_teacher_and_unlabeled_file(tiny_encoder_dir, teacher_dir, tmp_path, capsys):
    data, extra = tmp_path / "train.tsv", tmp_path / "extra.txt"
    data.write_text("text\tlabel\n" + "".join(f"{e.text}\t{e.label}\n" for e in sentiment_examples(16, seed=7)))
    extra.write_text("".join(f"{e.text}\n" for e in sentiment_examples(40, seed=8)))
    code = main(["train", "--data", str(data), "--task", "sequence", "--encoder", tiny_encoder_dir, "--mode", "lora",
                 "--epochs", "2", "--max-length", "32", "--teacher", teacher_dir, "--unlabeled", str(extra),
                 "--output", str(tmp_path / "student")])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["unlabeled_examples"] == 40 and "distilled from teacher" in report["recipe"]
    code = main(["train", "--data", str(data), "--task", "sequence", "--encoder", tiny_encoder_dir, "--mode", "lora",
                 "--teacher", str(tmp_path / "nowhere"), "--output", str(tmp_path / "other")])
    assert code == 2 and "nowhere" in capsys.readouterr().err and not (tmp_path / "other").exists()


def test_an_ensemble_teaches_its_members_mean_probabilities(tiny_encoder_dir, teacher_dir, tmp_path, capsys):
    other, _ = _fit(tiny_encoder_dir, "sequence", sentiment_examples(80, seed=9), seed=11)
    other_dir = str(other.save_pretrained(tmp_path / "other"))
    members = [distill.load_teacher(teacher_dir), distill.load_teacher(other_dir)]
    examples, labels = sentiment_examples(12, seed=10), ["pos", "neg"]  # the student's order, not the teachers'
    each = [distill.teacher_probabilities(m, examples, labels) for m in members]
    assert not torch.allclose(torch.stack(each[0]), torch.stack(each[1]))  # two different teachers
    mean = distill.teacher_probabilities(members, examples, labels)
    assert torch.allclose(torch.stack(mean), (torch.stack(each[0]) + torch.stack(each[1])) / 2)
    # rows of a token sentence one member did not read count for the others alone (each row is renormalised)
    assert torch.equal(distill._padded_sum(torch.ones(3, 2), torch.ones(2, 2)), torch.tensor([[2.0, 2], [2, 2], [1, 1]]))

    data = tmp_path / "train.tsv"
    data.write_text("text\tlabel\n" + "".join(f"{e.text}\t{e.label}\n" for e in sentiment_examples(16, seed=7)))
    capsys.readouterr()  # the teachers' training logs
    code = main(["train", "--data", str(data), "--task", "sequence", "--encoder", tiny_encoder_dir, "--mode", "lora",
                 "--epochs", "1", "--max-length", "32", "--teacher", teacher_dir, other_dir,
                 "--output", str(tmp_path / "student")])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and f"the mean of 2 teachers ({teacher_dir}, {other_dir})" in report["recipe"]
    saved = json.loads((tmp_path / "student" / "config.json").read_text())
    assert saved["training"]["teacher"] == [teacher_dir, other_dir]


def test_teacher_is_one_reference_or_a_list_of_them():
    assert TrainingConfig(mode="lora", teacher=["a"]).teacher == "a"  # one teacher is stored as itself
    ensemble = TrainingConfig(mode="lora", teacher=("a", "b"))
    assert ensemble.teacher == ["a", "b"] and ensemble.teachers == ["a", "b"] and TrainingConfig().teachers == []
    assert TrainingConfig.from_dict(ensemble.to_dict()) == ensemble
    for bad in ([], ["a", " "], 3, ["a", None]):
        with pytest.raises(ConfigError, match="expected teacher to be a directory, saved head name or hub id"):
            TrainingConfig(mode="lora", teacher=bad)
