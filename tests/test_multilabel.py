"""The built-in multi-label task: label sets read from JSONL and "|"-joined tables, sigmoid heads trained in
every mode, metrics against scikit-learn, predictions and file lines carrying label sets."""

import json

import pytest
import torch

from ftclf import Classifier, ModelConfig, TrainingConfig, evaluate, fit, predict, read_examples
from ftclf.predictions import MultiLabelPrediction
from ftclf.tasks.multilabel import LabelSet, multilabel_metrics, split_labels

from .conftest import FILLER

TOPICS = {"food": ["pizza", "pasta", "bread", "cheese"], "music": ["guitar", "piano", "song", "drums"],
          "sport": ["football", "tennis", "match", "goal"]}


def label_sets(n=120, seed=0):
    import random

    rng = random.Random(seed)
    out = []
    for i in range(n):
        chosen = tuple(sorted(rng.sample(list(TOPICS), i % 3)))  # 0, 1 or 2 labels: the empty set too
        words = [rng.choice(TOPICS[t]) for t in chosen] + rng.sample(FILLER, 3)
        rng.shuffle(words)
        out.append(LabelSet(" ".join(words), chosen))
    return out


def test_label_cells_become_sorted_sets():
    assert split_labels("music|food") == ("food", "music") and split_labels("") == () and split_labels(None) == ()
    assert split_labels(["sport", " food ", "sport"]) == ("food", "sport")


def test_jsonl_and_tables_read_the_same_label_sets(tmp_path):
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps({"text": t, "labels": list(ls)}) for t, ls in
                                                [("pizza song", ["food", "music"]), ("the film", [])]))
    (tmp_path / "a.csv").write_text("text,labels\npizza song,music|food\nthe film,\n")
    for name in ("a.jsonl", "a.csv"):
        examples = read_examples(tmp_path / name, "multilabel")
        assert examples == [LabelSet("pizza song", ("food", "music")), LabelSet("the film", ())]


def test_metrics_match_scikit_learn():
    out = multilabel_metrics([[0, 1], [], [2]], [[0], [], [1, 2]], ["a", "b", "c"])
    assert out["exact_match"] == pytest.approx(1 / 3) and out["hamming_loss"] == pytest.approx(2 / 9)
    assert out["micro_f1"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 1)) and out["per_label"]["b"]["support"] == 1


def test_auto_says_why_small_multilabel_data_skips_contrastive_tuning():
    from ftclf.tasks import get_task
    from ftclf.training.recipes import resolve

    cfg = resolve(TrainingConfig(mode="auto"), get_task("multilabel"), 60)
    assert cfg.mode == "frozen" and "contrastive tuning is skipped" in cfg.recipe


def test_a_threshold_maximises_its_labels_f1_and_sits_between_two_probabilities():
    from ftclf.label_calibration import f1_threshold

    p = torch.tensor([0.9, 0.8, 0.35, 0.3, 0.1]).numpy()
    assert f1_threshold(p, torch.tensor([1, 1, 1, 0, 0]).bool().numpy()) == pytest.approx(0.325)
    assert f1_threshold(p, torch.tensor([1, 0, 0, 0, 0]).bool().numpy()) == pytest.approx(0.85)
    assert f1_threshold(p, torch.zeros(5).bool().numpy()) == 0.5  # no positives: the default


def test_per_label_calibration_recovers_a_known_distortion_and_reports_held_out_decisions():
    """Scores of a label are 3x too sharp and shifted: the per-label map undoes it (cross-fitted ECE near its
    floor), the thresholds land near the F1 optimum, and the reported metrics are the held-out ones."""
    from types import SimpleNamespace

    from ftclf.label_calibration import fit_label_calibration
    from ftclf.predictions import Decoded
    from ftclf.tasks import get_task

    g = torch.Generator().manual_seed(0)
    true = torch.randn(3000, 2, generator=g) * 1.5
    y = torch.rand(3000, 2, generator=g) < torch.sigmoid(true)
    scores = torch.stack([true[:, 0] * 3 + 2, true[:, 1]], 1)  # label a distorted, label b honest
    decoded = [Decoded([], torch.sigmoid(s), s) for s in scores]
    gold = [torch.nonzero(row).flatten().tolist() for row in y]
    clf = SimpleNamespace(task=get_task("multilabel"), labels=["a", "b"])
    cal = fit_label_calibration(clf, decoded, gold, repeats=1)
    assert cal.method == "temperature+label-platt" and cal.metrics["before"]["ece"] > 0.08
    assert cal.metrics["after"]["ece"] < 0.03 and cal.scales[0] * 3 / cal.temperature == pytest.approx(1, abs=0.15)
    assert all(0.2 < t < 0.6 for t in cal.thresholds) and cal.metrics["decisions"]["examples"] == 3000
    restored = type(cal).from_dict(json.loads(json.dumps(cal.to_dict())))
    assert restored.thresholds == cal.thresholds and restored.scales == cal.scales


@pytest.mark.parametrize("mode", ["frozen", "lora"])
def test_a_multilabel_head_trains_predicts_label_sets_and_scores_files(tiny_encoder_dir, tmp_path, mode):
    fast = {"frozen": dict(head_fit="adamw", epochs=40, learning_rate=5e-2), "lora": dict(epochs=12, learning_rate=1e-2)}[mode]
    clf, result = fit(ModelConfig(task="multilabel", encoder=tiny_encoder_dir, max_length=32),
                      TrainingConfig(mode=mode, batch_size=16, patience=0, seed=1, validation_fraction=0.25, **fast),
                      label_sets(200))
    assert clf.labels == ["food", "music", "sport"] and result.metric_name == "micro_f1"
    assert result.metrics["micro_f1"] >= {"frozen": 0.8, "lora": 0.7}[mode], result.history
    loaded = Classifier.from_pretrained(clf.save_pretrained(tmp_path / "topics"))
    card = (tmp_path / "topics" / "README.md").read_text()
    assert "pipeline_tag: text-classification" in card and "multi-label-classification" in card.split("---")[1]
    assert "micro_f1" in card and "lrap" in card
    (pred,) = predict(loaded, ["pizza and a guitar song"])
    assert isinstance(pred, MultiLabelPrediction)
    assert min(pred.probabilities["food"], pred.probabilities["music"]) > pred.probabilities["sport"]
    assert set(pred.labels) == {"food", "music"} or mode == "lora"  # the weaker LoRA run may miss one at 0.5
    assert set(pred.thresholds) == set(pred.probabilities) == {"food", "music", "sport"}
    assert pred.thresholds == dict(zip(loaded.labels, loaded.calibration.thresholds))  # tuned, saved, loaded
    assert loaded.calibration.metrics["decisions"]["decided_on"].startswith("thresholds tuned on the other folds")
    assert result.metrics["micro_f1"] == loaded.calibration.metrics["decisions"]["micro_f1"]  # held-out, reported
    assert 0 <= result.metrics["ece"] <= 1 and 0 < result.metrics["lrap"] <= 1
    ids, probs = loaded.task.decode(torch.tensor([[-3.0, 0.0, 2.0], [-1.0, -2.0, -5.0]]))  # raw: 0.5 each
    assert ids == [[1, 2], []] and probs[1].sum() < 1  # the empty set is an answer; one sigmoid per label
    figures = evaluate(loaded, label_sets(45, seed=5))
    assert figures["micro_f1"] >= {"frozen": 0.8, "lora": 0.6}[mode]
    assert {"macro_f1", "exact_match", "hamming_loss", "per_label", "lrap", "ece", "nll", "brier"} <= set(figures)
    from ftclf import predict_file

    data = tmp_path / "rows.jsonl"
    data.write_text(json.dumps({"text": "pizza and a guitar song"}) + "\n")
    predict_file(loaded, data, tmp_path / "out.jsonl", progress=False)
    (line,) = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert line["labels"] == pred.labels and set(line["probabilities"]) == {"food", "music", "sport"}


@pytest.mark.slow
def test_a_multilabel_student_learns_each_label_from_its_teacher_on_unlabeled_text(tiny_encoder_dir, tmp_path):
    from ftclf.training import distill

    lora = dict(mode="lora", epochs=12, learning_rate=1e-2, batch_size=16, patience=0, seed=1, validation_fraction=0.25)
    model = ModelConfig(task="multilabel", encoder=tiny_encoder_dir, max_length=32)
    teacher, _ = fit(model, TrainingConfig(**lora), label_sets(200))
    teacher_dir = str(teacher.save_pretrained(tmp_path / "teacher"))
    p = torch.tensor([[0.9, 0.2, 0.5]])
    logp = torch.log(torch.tensor([[0.6, 0.3, 0.5]]))
    oracle = sum(q * torch.log(q / s) + (1 - q) * torch.log((1 - q) / (1 - s))
                 for q, s in zip(p[0], logp.exp()[0])) / 3  # binary KL per label, averaged
    assert teacher.task.distillation_loss(logp, p, 1.0) == pytest.approx(float(oracle), rel=1e-4)
    few, unlabeled = label_sets(12, seed=3), [LabelSet(e.text) for e in label_sets(150, seed=4)]
    items = distill.training_items(teacher, few, unlabeled, teacher)
    assert items[-1].label == [-100.0] * 3 and items[-1].soft.shape == (3,)  # one probability per label, not a distribution
    soft = {"teacher": teacher_dir, "distill_weight": 1.0, "distill_temperature": 1.0, "epochs": 20}
    _, result = fit(model, TrainingConfig(**{**lora, **soft}), few, label_sets(60, seed=5), unlabeled=unlabeled)
    assert result.metrics["micro_f1"] >= 0.7, result.history  # measured 0.79; 12 gold examples alone: 0.50


def test_the_command_line_trains_and_predicts_label_sets(tiny_encoder_dir, tmp_path, capsys):
    from ftclf.cli import main as cli

    data = tmp_path / "train.csv"
    data.write_text("text,labels\n" + "\n".join(f"{e.text},{';'.join(e.labels)}" for e in label_sets(60)))
    assert cli(["train", "--task", "multilabel", "--data", str(data), "--output", str(tmp_path / "head"),
                "--encoder", tiny_encoder_dir, "--mode", "frozen", "--max-length", "32", "--label-sep", ";"]) == 0
    assert Classifier.from_pretrained(tmp_path / "head").labels == ["food", "music", "sport"]
    capsys.readouterr()
    assert cli(["predict", "--model", str(tmp_path / "head"), "--text", "pizza and a song"]) == 0
    (out,) = json.loads(capsys.readouterr().out)
    assert set(out) >= {"labels", "probabilities", "thresholds"} and isinstance(out["labels"], list)
    held = tmp_path / "held.jsonl"
    held.write_text("\n".join(json.dumps({"text": e.text, "labels": list(e.labels)}) for e in label_sets(80, seed=9)))
    assert cli(["calibrate", "--model", str(tmp_path / "head"), "--data", str(held), "--output", str(tmp_path / "re")]) == 0
    recalibrated = Classifier.from_pretrained(tmp_path / "re").calibration
    assert len(recalibrated.thresholds) == 3 and recalibrated.examples == 80 * 3  # refitted per label on the new data


def test_a_label_of_a_set_is_explained_by_its_own_probability(tiny_encoder_dir):
    from ftclf import attribute

    clf, _ = fit(ModelConfig(task="multilabel", encoder=tiny_encoder_dir, max_length=32),
                 TrainingConfig(mode="frozen", patience=0, seed=1), label_sets(60))
    text = "pizza and a guitar song"
    (pred,) = predict(clf, [text])
    (a,) = attribute(clf, [text], target="music")
    assert a.target == "music" and a.probability == pytest.approx(pred.probabilities["music"], abs=1e-6)
    assert a.label == "|".join(pred.labels)
    w = next(w for w in a.words if w.word == "guitar")
    without = text[: w.start] + text[w.end:]
    assert w.score == pytest.approx(pred.probabilities["music"] - predict(clf, [without])[0].probabilities["music"], abs=1e-6)
    from ftclf.explain import explain
    from ftclf.ui.explain_tab import _numbers

    out = explain(clf, text)  # How it works: a sigmoid per label, the softmax of the same scores beside it
    assert out.probability_function == "sigmoid" and sum(out.softmax) == pytest.approx(1.0)
    assert out.probs == pytest.approx(torch.sigmoid(torch.tensor(out.scores)).tolist())
    assert out.calibrated == pytest.approx(list(pred.probabilities.values())) and out.chosen == pred.labels
    shown, *_ = _numbers(out)
    assert "**3. sigmoid**" in shown and "would make the labels compete" in shown and "threshold per label" in shown


def test_another_separator_and_a_go_emotions_shaped_hub_dataset(tmp_path, monkeypatch):
    import datasets

    from ftclf import ColumnMap
    from ftclf import data as data_module

    (tmp_path / "a.csv").write_text("text,labels\npizza song,music;food\nthe film,\n")
    examples = read_examples(tmp_path / "a.csv", "multilabel", columns=ColumnMap(label_sep=";"))
    assert examples[0].labels == ("food", "music") and examples[1].labels == ()
    features = datasets.Features({"text": datasets.Value("string"), "id": datasets.Value("string"),
                                  "labels": datasets.Sequence(datasets.ClassLabel(names=["joy", "anger", "neutral"]))})
    local = datasets.Dataset.from_dict({"text": ["so happy", "so angry and happy", "ok"], "id": ["a", "b", "c"],
                                        "labels": [[0], [1, 0], []]}, features=features)
    monkeypatch.setattr(data_module, "load_hub_dataset", lambda spec: (local, "go_emotions"))
    examples = read_examples("hf:go_emotions:simplified:train", "multilabel")
    assert [e.labels for e in examples] == [("joy",), ("anger", "joy"), ()]


@pytest.mark.parametrize("backend,tolerance", [
    ("int8", 0.03),
    pytest.param("onnx", 1e-4, marks=pytest.mark.slow),  # exports run in child processes
    pytest.param("onnx-int8", 0.03, marks=pytest.mark.slow),
])
def test_every_backend_keeps_the_sigmoids_and_the_thresholds(tiny_encoder_dir, tmp_path, monkeypatch, backend, tolerance):
    from ftclf.serving import EncoderPool

    monkeypatch.setenv("FTCLF_CACHE", str(tmp_path / "cache"))
    clf, _ = fit(ModelConfig(task="multilabel", encoder=tiny_encoder_dir, max_length=32),
                 TrainingConfig(mode="frozen", head_fit="adamw", epochs=40, learning_rate=5e-2, batch_size=16, patience=0,
                                seed=1, validation_fraction=0.25), label_sets(200))
    path = clf.save_pretrained(tmp_path / "topics")
    texts = [e.text for e in label_sets(30, seed=11)]
    exact, served = predict(Classifier.from_pretrained(path), texts), predict(EncoderPool(backend).load(path), texts)
    for a, b in zip(served, exact):
        assert isinstance(a, MultiLabelPrediction) and a.thresholds == b.thresholds  # the tuned thresholds travel
        assert list(a.probabilities.values()) == pytest.approx(list(b.probabilities.values()), abs=tolerance)
    agree = sum(a.labels == b.labels for a, b in zip(served, exact)) / len(texts)
    assert agree >= 0.9 and any(sum(p.probabilities.values()) > 1.2 for p in served)  # one sigmoid per label, kept


def test_unlabeled_files_and_operating_points_follow_the_task(tmp_path, tiny_encoder):
    """Unlabeled multi-label data read from a labelled file or a text file drops the label sets (the teacher
    labels them); a binary operating point is refused: each label has its own threshold already."""
    from ftclf.errors import FtclfError
    from ftclf.recalibration import set_threshold
    from ftclf.tasks import get_task
    from ftclf.training.distill import read_unlabeled

    task = get_task("multilabel")
    table = tmp_path / "sets.jsonl"
    table.write_text('{"text": "great pasta", "labels": ["food"]}\n{"text": "slow waiter", "labels": []}\n')
    lines = tmp_path / "texts.txt"
    lines.write_text("great pasta\n\nslow waiter\n")
    for source in (table, lines):
        assert read_unlabeled(task, str(source)) == [LabelSet("great pasta"), LabelSet("slow waiter")]
    assert not task.operating_point(["food", "service"]) and get_task("sequence").operating_point(["neg", "pos"])
    clf = Classifier(ModelConfig(task="multilabel", labels=["food", "service"], encoder="tiny"), tiny_encoder)
    head = clf.save_pretrained(tmp_path / "head")
    with pytest.raises(FtclfError, match="thresholds apply to two-label heads"):
        set_threshold(head, 0.7)
