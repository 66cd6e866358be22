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


@pytest.mark.parametrize("mode", ["frozen", "lora"])
def test_a_multilabel_head_trains_predicts_label_sets_and_scores_files(tiny_encoder_dir, tmp_path, mode):
    fast = {"frozen": dict(head_fit="adamw", epochs=40, learning_rate=5e-2), "lora": dict(epochs=12, learning_rate=1e-2)}[mode]
    clf, result = fit(ModelConfig(task="multilabel", encoder=tiny_encoder_dir, max_length=32),
                      TrainingConfig(mode=mode, batch_size=16, patience=0, seed=1, validation_fraction=0.2, **fast),
                      label_sets())
    assert clf.labels == ["food", "music", "sport"] and result.metric_name == "micro_f1"
    assert result.metrics["micro_f1"] >= {"frozen": 0.8, "lora": 0.7}[mode], result.history
    loaded = Classifier.from_pretrained(clf.save_pretrained(tmp_path / "topics"))
    (pred,) = predict(loaded, ["pizza and a guitar song"])
    assert isinstance(pred, MultiLabelPrediction)
    assert min(pred.probabilities["food"], pred.probabilities["music"]) > pred.probabilities["sport"]
    assert set(pred.labels) == {"food", "music"} or mode == "lora"  # the weaker LoRA run may miss one at 0.5
    assert set(pred.thresholds) == set(pred.probabilities) == {"food", "music", "sport"}
    ids, probs = loaded.task.decode(torch.tensor([[-3.0, 0.0, 2.0], [-1.0, -2.0, -5.0]]))
    assert ids == [[1, 2], []] and probs[1].sum() < 1  # the empty set is an answer; one sigmoid per label
    figures = evaluate(loaded, label_sets(45, seed=5))
    assert figures["micro_f1"] >= {"frozen": 0.8, "lora": 0.6}[mode] and {"macro_f1", "exact_match", "hamming_loss", "per_label"} <= set(figures)
    from ftclf import predict_file

    data = tmp_path / "rows.jsonl"
    data.write_text(json.dumps({"text": "pizza and a guitar song"}) + "\n")
    predict_file(loaded, data, tmp_path / "out.jsonl", progress=False)
    (line,) = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert line["labels"] == pred.labels and set(line["probabilities"]) == {"food", "music", "sport"}


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
