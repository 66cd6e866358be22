import json
import sys

import pytest

from ftclf.cli import main

from .conftest import sentiment_examples, token_examples


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def sentiment_tsv(tmp_path):
    lines = ["sentence\tlabel"] + [f"{e.text}\t{int(e.label == 'pos')}" for e in sentiment_examples(60)]
    path = tmp_path / "train.tsv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_train_evaluate_predict(capsys, tmp_path, sentiment_tsv, tiny_encoder_dir):
    out_dir = tmp_path / "model"
    code, out, err = run(capsys, "train", "--task", "sequence", "--data", str(sentiment_tsv), "--head", "linear",
                         "--mode", "frozen", "--head-fit", "adamw", "--encoder", tiny_encoder_dir, "--epochs", "20",
                         "--learning-rate", "0.03", "--batch-size", "8", "--output", str(out_dir))
    assert code == 0, err
    result = json.loads(out)
    assert result["validation"]["accuracy"] >= 0.75 and result["train_examples"] == 54
    assert "AdamW" in result["recipe"] and result["measured_on"] == "validation split (6 examples)"
    code, out, _ = run(capsys, "evaluate", "--model", str(out_dir), "--data", str(sentiment_tsv))
    metrics = json.loads(out)
    assert code == 0 and {"accuracy", "f1", "f1_positive", "per_class", "confusion_matrix"} <= set(metrics)
    code, out, _ = run(capsys, "predict", "--model", str(out_dir), "--text", "good great film", "--text", "awful")
    preds = json.loads(out)
    assert code == 0 and len(preds) == 2 and set(preds[0]["probabilities"]) == {"0", "1"}


def test_train_defaults_to_auto_and_prints_the_recipe(capsys, tmp_path, sentiment_tsv, tiny_encoder_dir):
    code, out, err = run(capsys, "train", "--task", "sequence", "--data", str(sentiment_tsv), "--encoder",
                         tiny_encoder_dir, "--contrastive-steps", "8", "--output", str(tmp_path / "auto"))
    assert code == 0, err
    result = json.loads(out)
    assert result["recipe"].startswith("auto chose contrastive") and "[ftclf] recipe: auto chose contrastive" in err
    assert result["train_examples"] == 60 and result["validation_examples"] == 0  # every example trains
    assert "cross-validation on the 60 training examples" in result["measured_on"]
    assert "cross-validated accuracy" in err


def test_token_train_and_evaluate(capsys, tmp_path, tiny_encoder_dir):
    conll = tmp_path / "train.conll"
    conll.write_text("\n\n".join("\n".join(f"{w} {t}" for w, t in zip(e.words, e.tags)) for e in token_examples(40)) + "\n")
    code, out, err = run(capsys, "train", "--task", "token", "--data", str(conll), "--head", "crf", "--mode", "frozen",
                         "--encoder", tiny_encoder_dir, "--epochs", "3", "--output", str(tmp_path / "ner"))
    assert code == 0, err
    code, out, _ = run(capsys, "evaluate", "--model", str(tmp_path / "ner"), "--data", str(conll))
    metrics = json.loads(out)
    assert {"precision", "recall", "f1", "per_type", "invalid_transition_rate"} <= set(metrics)
    code, out, _ = run(capsys, "predict", "--model", str(tmp_path / "ner"), "--text", "john smith was here")
    assert code == 0 and "entities" in json.loads(out)[0]


def test_errors_are_one_line_messages_with_exit_code_2(capsys, tmp_path, sentiment_tsv):
    code, out, err = run(capsys, "evaluate", "--model", str(tmp_path), "--data", str(sentiment_tsv))
    assert code == 2 and out == "" and err.startswith("error: expected a saved ftclf classifier directory")
    bad = tmp_path / "bad.tsv"
    bad.write_text("text\tlabel\nonly one class\t1\nanother\t1\nthird\t1\nfourth\t1\nfifth\t1\n")
    code, _, err = run(capsys, "train", "--task", "sequence", "--data", str(bad), "--output", str(tmp_path / "o"))
    assert code == 2 and "expected at least 2 classes" in err
    assert not (tmp_path / "o").exists()


def test_predict_with_a_shipped_head_name(capsys):
    code, out, err = run(capsys, "predict", "--model", "sentiment-sst2", "--text", "a wonderful , moving film")
    assert code == 0, err
    assert json.loads(out)[0]["label"] == "positive"
    code, _, err = run(capsys, "predict", "--model", "no-such-head", "--text", "x")
    assert code == 2 and "expected a saved classifier directory, a head name (" in err and "sentiment-sst2" in err


def test_options_are_generated_from_the_config_dataclasses(capsys):
    import dataclasses

    from ftclf import ModelConfig, TrainingConfig

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for cls in (ModelConfig, TrainingConfig):
        for f in dataclasses.fields(cls):
            if f.metadata.get("cli", True):
                assert "--" + f.name.replace("_", "-") in text
                assert f.metadata["help"].split()[0] in text  # the field's own help text
    assert "--no-word-shape" in text and "--labels" not in text


def test_unknown_choice_is_rejected_by_argparse(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--task", "sequence", "--data", "x", "--head", "svm", "--output", "o"])
    assert "invalid choice: 'svm'" in capsys.readouterr().err


def test_import_ftclf_does_not_import_gradio():
    import subprocess

    code = "import sys, ftclf, ftclf.training, ftclf.inference, ftclf.cli; print('gradio' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_lora_train_prints_only_json_on_stdout(capsys, tmp_path, sentiment_tsv, tiny_encoder_dir):
    code, out, err = run(capsys, "train", "--task", "sequence", "--data", str(sentiment_tsv), "--mode", "lora",
                         "--encoder", tiny_encoder_dir, "--epochs", "1", "--output", str(tmp_path / "lora"))
    assert code == 0, err
    assert json.loads(out)["output"].endswith("lora")  # Trainer's log lines went to stderr


def test_train_continues_a_saved_classifier(capsys, tmp_path, sentiment_tsv, tiny_encoder_dir):
    first = tmp_path / "first"
    assert run(capsys, "train", "--task", "sequence", "--data", str(sentiment_tsv), "--mode", "lora",
               "--encoder", tiny_encoder_dir, "--epochs", "1", "--output", str(first))[0] == 0
    code, out, err = run(capsys, "train", "--task", "sequence", "--data", str(sentiment_tsv), "--init-from", str(first),
                         "--epochs", "1", "--learning-rate", "1e-4", "--output", str(tmp_path / "second"))
    assert code == 0, err
    saved = json.loads((tmp_path / "second" / "config.json").read_text())
    assert saved["mode"] == "lora" and saved["training"]["init_from"] == str(first)
    assert saved["data"]["continued_from"].startswith(str(first))
    code, _, err = run(capsys, "train", "--task", "sequence", "--data", str(sentiment_tsv), "--init-from", "no-such-head",
                       "--output", str(tmp_path / "third"))
    assert code == 2 and "expected a saved classifier directory, a head name (" in err
    assert not (tmp_path / "third").exists()


def test_a_missing_column_is_named_in_each_interfaces_words(tmp_path, capsys):
    """The library names its parameter, the command line its flag (the dashboard its picker: tests/ui)."""
    import pytest

    from ftclf import read_examples
    from ftclf.errors import DataError

    data = tmp_path / "support.csv"
    data.write_text("message,category\n" + "".join(f"text {i},{'a' if i % 2 else 'b'}\n" for i in range(10)))
    with pytest.raises(DataError, match=r"name the text column explicitly \(columns=ColumnMap\(text=\.\.\.\)\)"):
        read_examples(data, "sequence")
    assert main(["train", "--task", "sequence", "--data", str(data), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "name the text column explicitly (--text-column)" in err and "ColumnMap" not in err
