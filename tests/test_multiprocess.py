"""Two CPU processes (``accelerate launch`` / ``torchrun``, gloo) on the tiny encoder: training in every engine and batch
prediction give one output, reported once, equal to a one-process run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from ftclf import Classifier, predict
from ftclf.cli import main

from .conftest import sentiment_examples

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="torchrun needs a POSIX system")


def _torchrun(*args: str, processes: int = 2, via: str = "torchrun") -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    launcher = {  # accelerate's multi-process launcher is torch's elastic one; with no GPU, ranks talk over gloo
        "torchrun": ["torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"],
        "accelerate": ["accelerate.commands.launch", "--multi_gpu", f"--num_processes={processes}", "--main_process_port=0"],
    }[via]
    command = [sys.executable, "-m", *launcher, "-m", "ftclf", *args]
    done = subprocess.run(command, check=False, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("mp") / "train.tsv"
    path.write_text("text\tlabel\n" + "".join(f"{e.text}\t{e.label}\n" for e in sentiment_examples(240)))
    return path


def _train_args(data, encoder, output, mode: str) -> list[str]:
    return ["train", "--task", "sequence", "--data", str(data), "--encoder", encoder, "--output", str(output),
            "--mode", mode, "--seed", "0", "--epochs", "2"]


def test_lora_through_trainer_ddp(data, tiny_encoder_dir, tmp_path, capsys):
    two = _torchrun(*_train_args(data, tiny_encoder_dir, tmp_path / "two", "lora"), via="accelerate")
    report = json.loads(two.stdout)  # one JSON document: reported once, by the main process
    assert sorted(p.name for p in tmp_path.iterdir()) == ["two"]
    assert {"config.json", "head.safetensors", "adapter"} <= {p.name for p in (tmp_path / "two").iterdir()}
    assert main(_train_args(data, tiny_encoder_dir, tmp_path / "one", "lora")) == 0
    alone = json.loads(capsys.readouterr().out)
    # same seed: the same split and the same number of updates (each process takes half of every batch)
    assert (report["train_examples"], report["validation_examples"]) == (alone["train_examples"], alone["validation_examples"])
    assert report["history"][-1]["step"] == alone["history"][-1]["step"]
    assert abs(report["validation"]["accuracy"] - alone["validation"]["accuracy"]) <= 0.05
    clf = Classifier.from_pretrained(tmp_path / "two")
    assert clf.data_info["processes"] == 2 and len(predict(clf, ["a good film", "a bad plot"])) == 2


def test_frozen_encoder_pass_is_shared_and_the_head_fitted_once(data, tiny_encoder_dir, tmp_path, capsys):
    two = _torchrun(*_train_args(data, tiny_encoder_dir, tmp_path / "two", "frozen"))
    assert json.loads(two.stdout)["recipe"].startswith("frozen")
    assert main(_train_args(data, tiny_encoder_dir, tmp_path / "one", "frozen")) == 0
    capsys.readouterr()
    a, b = (load_file(str(tmp_path / d / "head.safetensors")) for d in ("two", "one"))
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-4) for k in a)


def test_batch_prediction_shards_and_merges_in_input_order(data, tiny_encoder_dir, tmp_path, capsys):
    assert main(_train_args(data, tiny_encoder_dir, tmp_path / "head", "frozen")) == 0
    assert main(["predict", "--model", str(tmp_path / "head"), "--data", str(data), "--output", str(tmp_path / "one.jsonl"),
                 "--chunk-size", "16"]) == 0
    capsys.readouterr()
    two = _torchrun("predict", "--model", str(tmp_path / "head"), "--data", str(data), "--output",
                    str(tmp_path / "two.jsonl"), "--chunk-size", "16")
    summary = json.loads(two.stdout)
    assert summary["processes"] == 2 and summary["examples"] == 240 and summary["predicted"] == 240
    one, merged = (tmp_path / "one.jsonl").read_text().splitlines(), (tmp_path / "two.jsonl").read_text().splitlines()
    assert [json.loads(x)["index"] for x in merged] == list(range(240))
    assert [json.loads(x)["label"] for x in merged] == [json.loads(x)["label"] for x in one]
    assert not list(tmp_path.glob("two.jsonl.part-*"))  # parts merged and removed


def test_a_command_takes_the_process_group_down_even_when_it_fails(tmp_path, capsys):
    # a gloo group still up at interpreter exit can abort the process (SIGABRT in its worker threads)
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        code = main(["predict", "--model", str(tmp_path / "no-such-head"), "--text", "a film"])
        still_up = dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    assert code == 2 and "error:" in capsys.readouterr().err
    assert not still_up
