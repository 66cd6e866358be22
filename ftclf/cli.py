"""Command line: ``python -m ftclf {train,evaluate,predict}``; JSON on stdout, tqdm on stderr."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys

from .config import (
    DEFAULT_ENCODER,
    DEFAULT_POOLING,
    HEADS,
    MODES,
    PAIR_MODES,
    POOLINGS,
    TASKS,
    ModelConfig,
    TrainingConfig,
)
from .errors import FtclfError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ftclf", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a head and save it")
    train.add_argument("--task", choices=TASKS, required=True)
    train.add_argument("--data", required=True, help="CSV/TSV/JSONL/CoNLL file, or hf:ID[:CONFIG[:SPLIT]]")
    train.add_argument("--validation", help="validation file (default: a stratified, seeded split of --data)")
    train.add_argument("--format", choices=("csv", "tsv", "jsonl", "conll"), help="default: from the file name")
    train.add_argument("--text-column")
    train.add_argument("--text-pair-column")
    train.add_argument("--label-column")
    train.add_argument("--head", choices=HEADS, default="linear")
    train.add_argument("--mode", choices=MODES, default="frozen")
    train.add_argument("--pooling", choices=POOLINGS, default=DEFAULT_POOLING)
    train.add_argument("--pair-mode", choices=PAIR_MODES, default="cross")
    train.add_argument("--pair-features", action="store_true", help="concat mode: add |a-b| and a*b")
    train.add_argument("--word-shape", action="store_true", help="token tasks: add word-shape features")
    train.add_argument("--encoder", default=DEFAULT_ENCODER, help="hub id or local directory (default: embedded)")
    train.add_argument("--max-length", type=int, default=128)
    train.add_argument("--epochs", type=int)
    train.add_argument("--learning-rate", type=float)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--max-examples", type=int)
    train.add_argument("--patience", type=int, default=3)
    train.add_argument("--seed", type=int, default=42)
    train.add_argument("--lora-r", type=int, default=16)
    train.add_argument("--lora-alpha", type=int, default=32)
    train.add_argument("--mlp-hidden", type=int, default=256)
    train.add_argument("--evals-per-epoch", type=int, default=1)
    train.add_argument("--output", required=True, help="directory to save the classifier in")

    ev = sub.add_parser("evaluate", help="score a saved classifier on a labelled file")
    ev.add_argument("--model", required=True)
    ev.add_argument("--data", required=True)
    ev.add_argument("--format", choices=("csv", "tsv", "jsonl", "conll"))
    ev.add_argument("--text-column")
    ev.add_argument("--text-pair-column")
    ev.add_argument("--label-column")
    ev.add_argument("--max-examples", type=int)

    pr = sub.add_parser("predict", help="predict one text (or pair) with a saved classifier")
    pr.add_argument("--model", required=True)
    pr.add_argument("--text", required=True, action="append", help="repeat for several texts")
    pr.add_argument("--text-pair", action="append")
    return parser


def _columns(args):
    from .data import ColumnMap

    return ColumnMap(args.text_column, args.text_pair_column, args.label_column)


def _progress(event) -> None:
    if event.stage == "eval":
        print(f"[ftclf] epoch {event.epoch:.2f} step {event.step}/{event.total_steps} "
              f"loss {event.loss if event.loss is None else round(event.loss, 4)} "
              f"{event.metric_name} {event.metric if event.metric is None else round(event.metric, 4)}",
              file=sys.stderr, flush=True)


def cmd_train(args) -> dict:
    from .data import read_examples
    from .training import fit

    model_config = ModelConfig(
        task=args.task, head=args.head, pooling=args.pooling, pair_mode=args.pair_mode,
        pair_features=args.pair_features, word_shape=args.word_shape, max_length=args.max_length,
        encoder=args.encoder, mlp_hidden=args.mlp_hidden,
    )
    training = TrainingConfig(
        mode=args.mode, epochs=args.epochs, learning_rate=args.learning_rate, batch_size=args.batch_size,
        seed=args.seed, patience=args.patience, max_examples=args.max_examples, lora_r=args.lora_r,
        lora_alpha=args.lora_alpha, evals_per_epoch=args.evals_per_epoch,
    )
    train_examples = read_examples(args.data, args.task, args.format, _columns(args))
    val_examples = read_examples(args.validation, args.task, args.format, _columns(args)) if args.validation else None
    data_info = {"train": str(args.data), "validation": str(args.validation) if args.validation else f"split of {args.data}"}
    clf, result = fit(model_config, training, train_examples, val_examples, on_event=_progress, data_info=data_info)
    out = clf.save_pretrained(args.output)
    return {
        "output": str(out),
        "validation": result.metrics,
        "history": result.history,
        "train_seconds": round(result.seconds, 1),
        "stopped_early": result.stopped_early,
        "train_examples": clf.data_info["train_examples"],
        "validation_examples": clf.data_info["validation_examples"],
    }


def cmd_evaluate(args) -> dict:
    from .data import read_examples, sample
    from .evaluation import evaluate
    from .model import Classifier

    clf = Classifier.from_pretrained(args.model)
    examples = sample(read_examples(args.data, clf.task, args.format, _columns(args)), args.max_examples, 0)
    return evaluate(clf, examples)


def cmd_predict(args) -> list:
    from .model import Classifier

    clf = Classifier.from_pretrained(args.model)
    return [p.to_dict() for p in clf.predict(args.text, args.text_pair)]


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    out = sys.stdout
    try:
        # Libraries (transformers' Trainer logs, tqdm.write) print to stdout; keep it for the JSON.
        with contextlib.redirect_stdout(sys.stderr):
            result = {"train": cmd_train, "evaluate": cmd_evaluate, "predict": cmd_predict}[args.command](args)
    except FtclfError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    json.dump(result, out, indent=2, ensure_ascii=False)
    out.write("\n")
    return 0
