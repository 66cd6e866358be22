"""Command line: ``ftclf {train,evaluate,predict,calibrate,explain,export,push,serve}`` (also ``python -m ftclf``); JSON on stdout,
progress on stderr.

``train``'s options are generated from the fields of ``ModelConfig`` and ``TrainingConfig`` (help
from each field's metadata), so the command line, the API and the dashboard share one set of
options and defaults.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import re
import sys
import types
import typing

from .attribution import DEFAULT_METHOD as DEFAULT_ATTRIBUTION
from .attribution import METHODS as ATTRIBUTION_METHODS
from .config import PASS_BATCH_SIZE, PREDICT_CHUNK, ModelConfig, TrainingConfig
from .data import FORMATS, ColumnMap
from .errors import FtclfError
from .serving.backends import BACKENDS


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _kind(cls, f: dataclasses.Field) -> type:
    """The plain type of a field (``int | None`` -> int)."""
    hint = typing.get_type_hints(cls)[f.name]
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    return hint


def add_config_arguments(parser: argparse.ArgumentParser, cls) -> None:
    """One option per field of a config dataclass whose metadata does not say ``cli: False``."""
    group = parser.add_argument_group(f"{cls.__name__} options")
    for f in dataclasses.fields(cls):
        if not f.metadata.get("cli", True):
            continue
        kind, choices = _kind(cls, f), f.metadata.get("choices")
        choices = choices() if callable(choices) else choices
        default = None if f.default is dataclasses.MISSING else f.default
        shown = "" if default is None else f" (default: {default})"
        kwargs = {"dest": f.name, "default": default, "help": f.metadata.get("help", "") + shown}
        if f.default is dataclasses.MISSING:
            kwargs["required"] = True
        if kind is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs.update(type=kind, choices=choices, metavar=None if choices else f.name.upper())
            if f.metadata.get("many"):
                kwargs["nargs"] = "+"
        group.add_argument(_flag(f.name), **kwargs)


def config_from_args(cls, args: argparse.Namespace):
    return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if f.metadata.get("cli", True)})


def _add_data_arguments(parser: argparse.ArgumentParser, data_help: str) -> None:
    parser.add_argument("--data", required=True, help=data_help)
    parser.add_argument("--format", choices=FORMATS, help="default: from the file name")
    parser.add_argument("--text-column", help="default: detected (text, sentence, sentence1, …)")
    parser.add_argument("--text-pair-column", help="default: detected (text_pair, sentence2, hypothesis, …)")
    parser.add_argument("--label-column", help="default: detected (label, labels, gold_label, …)")
    parser.add_argument("--label-sep", default="|", help="multi-label tables: what joins a text's labels in one cell")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ftclf", description="Fine-tune, evaluate and use classification heads.")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a head and save it")
    _add_data_arguments(train, "CSV/TSV/JSONL/CoNLL file, or hf:ID[:CONFIG[:SPLIT]]")
    train.add_argument("--validation", help="validation file (default: a stratified, seeded split of --data)")
    train.add_argument("--output", required=True, help="directory to save the classifier in")
    train.add_argument("--unlabeled", help="with --teacher: texts without labels that the teacher labels for the "
                                           "student (a .txt file, one text per line, or a file like --data)")
    add_config_arguments(train, ModelConfig)
    add_config_arguments(train, TrainingConfig)

    ev = sub.add_parser("evaluate", help="score a saved classifier on a labelled file")
    ev.add_argument("--model", required=True, help="a saved classifier directory or a head name")
    _add_data_arguments(ev, "labelled file to score")
    ev.add_argument("--max-examples", type=int, help="score a seeded sample of at most this many examples")

    pr = sub.add_parser("predict", help="predict texts (or pairs), or score a whole file into JSON lines")
    pr.add_argument("--model", required=True,
                    help="a saved classifier directory, a head name (e.g. sentiment-sst2) or a hub id owner/name")
    given = pr.add_mutually_exclusive_group(required=True)
    given.add_argument("--text", action="append", help="repeat for several texts")
    given.add_argument("--data", help="score every example of a CSV/TSV/JSONL/CoNLL file or hf:ID[:CONFIG[:SPLIT]], "
                                      "streamed (needs --output)")
    pr.add_argument("--text-pair", action="append", help="pair heads: the second text of each --text")
    pr.add_argument("--output", help="with --data: the JSON-lines file to write (resumed if interrupted)")
    pr.add_argument("--format", choices=FORMATS, help="with --data: default from the file name")
    pr.add_argument("--text-column", help="default: detected (text, sentence, sentence1, …)")
    pr.add_argument("--text-pair-column", help="default: detected (text_pair, sentence2, hypothesis, …)")
    pr.add_argument("--label-column", help="a gold label column to copy beside each prediction (default: detected)")
    pr.add_argument("--chunk-size", type=int, default=PREDICT_CHUNK, help="examples read, scored and written at a time")
    pr.add_argument("--batch-size", type=int, default=PASS_BATCH_SIZE, help="examples per encoder batch")
    pr.add_argument("--overwrite", action="store_true", help="with --data: replace an --output of another run")
    pr.add_argument("--attributions", nargs="?", const=DEFAULT_ATTRIBUTION, choices=ATTRIBUTION_METHODS,
                    help=f"add each prediction's word attributions (default method: {DEFAULT_ATTRIBUTION})")
    for command in (ev, pr):
        command.add_argument("--backend", choices=BACKENDS, default="torch",
                             help="how the encoder runs (default: torch fp32; an exported head always runs on ONNX Runtime)")

    cal = sub.add_parser("calibrate", help="fit a saved head's probabilities to labelled data (its confidence then "
                                           "matches its accuracy); decisions do not change")
    cal.add_argument("--model", required=True, help="a saved classifier directory, a head name or a hub id owner/name")
    cal.add_argument("--data", help="labelled examples the head was not trained on (default: the head's recorded "
                                    "validation split)")
    cal.add_argument("--format", choices=FORMATS, help="default: from the file name")
    cal.add_argument("--text-column", help="default: detected (text, sentence, sentence1, …)")
    cal.add_argument("--text-pair-column", help="default: detected (text_pair, sentence2, hypothesis, …)")
    cal.add_argument("--label-column", help="default: detected (label, labels, gold_label, …)")
    cal.add_argument("--output", help="directory to write the calibrated head to (default: in place; required for a "
                                      "shipped head)")
    cal.add_argument("--threshold", type=float, help="binary heads: predict the second label when its calibrated "
                                                     "probability is at least this (default: the argmax)")
    cal.add_argument("--backend", choices=BACKENDS, default="torch", help="how the encoder runs while scoring the data")

    exp = sub.add_parser("explain", help="which words made a head say what it says: a score per word (JSON)")
    exp.add_argument("--model", required=True, help="a saved classifier directory, a head name or a hub id owner/name")
    exp.add_argument("--text", action="append", required=True, help="repeat for several texts")
    exp.add_argument("--text-pair", action="append", help="pair heads: the second text of each --text")
    exp.add_argument("--target", help="the label to explain (default: the predicted one; token heads: an entity type)")
    exp.add_argument("--method", choices=ATTRIBUTION_METHODS, default=None,
                     help=f"default: {DEFAULT_ATTRIBUTION} (forward passes only); integrated_gradients needs the torch "
                          "backend")
    exp.add_argument("--backend", choices=BACKENDS, default="torch", help="how the encoder runs (default: torch fp32)")

    push = sub.add_parser("push", help="upload a saved head to a Hugging Face Hub model repository")
    push.add_argument("--model", required=True, help="a saved classifier directory or a head name")
    push.add_argument("--repo", required=True, help="the repository id, owner/name (created if it does not exist)")
    push.add_argument("--private", action="store_true", help="create the repository private")
    push.add_argument("--message", help="the commit message")

    ex = sub.add_parser("export", help="write a self-contained ONNX head (encoder with any adapter merged, tokenizer, head)")
    ex.add_argument("--model", required=True, help="a saved classifier directory or a head name")
    ex.add_argument("--format", choices=("onnx",), default="onnx")
    ex.add_argument("--quantize", choices=("int8",), help="int8 weights (weight-only, blocks of 16, fp32 arithmetic) for every linear map of the encoder")
    ex.add_argument("--output", required=True, help="directory to write the exported head to")
    aud = sub.add_parser("audit", help="find rows whose label the data contradicts (out-of-fold predictions, "
                                       "confident learning): most suspect first, no saved model needed")
    _add_data_arguments(aud, "labelled CSV/TSV/JSONL/CoNLL file or hf:ID[:CONFIG[:SPLIT]] (texts, pairs or tagged sentences)")
    aud.add_argument("--task", required=True, choices=("sequence", "pair", "token"))
    aud.add_argument("--mode", default="frozen", choices=("frozen", "lora", "full"),
                     help="how each fold's head trains (frozen: fastest; full: more accurate, slower)")
    aud.add_argument("--head", help="each fold's head (default: the task's; linear is the fastest for token tasks)")
    aud.add_argument("--folds", type=int, default=5)
    aud.add_argument("--seed", type=int, default=0)
    aud.add_argument("--encoder", help="hub id or local directory (default: the embedded all-MiniLM-L6-v2)")
    aud.add_argument("--output", help="write the suspects as JSON lines (index, text, given, suggested, score)")
    sug = sub.add_parser("suggest", help="which unlabelled texts to label next: the head's most uncertain, one per "
                                         "cluster of its vectors (most useful first)")
    sug.add_argument("--model", required=True, help="a saved classifier directory or a head name (text or pair)")
    sug.add_argument("--data", required=True, help="the unlabelled pool: a .txt file (one text per line) or a "
                                                   "CSV/TSV/JSONL file or hf:ID[:CONFIG[:SPLIT]] (labels ignored)")
    sug.add_argument("--format", choices=FORMATS, help="default: from the file name")
    sug.add_argument("--text-column", help="default: detected (text, sentence, sentence1, …)")
    sug.add_argument("--text-pair-column", help="default: detected (text_pair, sentence2, hypothesis, …)")
    sug.add_argument("--k", type=int, default=16, help="how many texts to suggest")
    sug.add_argument("--strategy", choices=("margin", "entropy"), default="margin", help="how uncertainty is measured")
    sug.add_argument("--no-diversity", action="store_true", help="the k most uncertain, without clustering")
    sug.add_argument("--seed", type=int, default=0)
    sug.add_argument("--output", help="write the suggestions as JSON lines (index, text, label, score, uncertainty)")
    tst = sub.add_parser("test", help="run a behaviour suite (CheckList-style tests) against a head: pass rates per "
                                      "test and capability, failing cases; exit 1 when a test passes under --min-pass")
    tst.add_argument("--model", required=True, help="a saved classifier directory or a head name")
    tst.add_argument("--suite", required=True, help="a suite file (.yaml/.json) or a built-in suite's name "
                                                    "(sentiment, paraphrase, nli, ner)")
    tst.add_argument("--backend", choices=BACKENDS, default="torch", help="how the encoder runs (default: torch fp32)")
    tst.add_argument("--min-pass", type=float, help="the pass rate (0-1) every test must reach, else exit status 1")
    tst.add_argument("--output", help="write the whole report (every test, up to 50 failing cases each) as JSON")
    serve = sub.add_parser("serve", help="serve the heads over HTTP in the Hugging Face Inference API's shapes "
                                         "(InferenceClient works unchanged; no dashboard, no gradio)")
    serve.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT") or 7860))
    return parser


def _columns(args) -> ColumnMap:
    return ColumnMap(args.text_column, args.text_pair_column, args.label_column, getattr(args, "label_sep", "|"))


def _progress(event) -> None:
    if event.stage in ("recipe", "teacher"):
        print(f"[ftclf] {event.stage}: {event.detail}", file=sys.stderr, flush=True)
    elif event.stage == "eval" and event.detail.startswith("weight decay"):
        print(f"[ftclf] {event.detail}: cross-validated {event.metric_name} {round(event.metric, 4)}",
              file=sys.stderr, flush=True)
    elif event.stage == "eval":
        print(f"[ftclf] epoch {event.epoch:.2f} step {event.step}/{event.total_steps} "
              f"loss {event.loss if event.loss is None else round(event.loss, 4)} "
              f"{event.metric_name} {event.metric if event.metric is None else round(event.metric, 4)}",
              file=sys.stderr, flush=True)


def _classifier(name_or_path: str, backend: str = "torch"):
    from .service import HeadStore
    from .serving import load

    return load(HeadStore().resolve(name_or_path), backend)


def cmd_train(args) -> dict | None:
    from .distributed import placement
    from .format import check_target
    from .tasks import read_examples
    from .training import fit

    check_target(args.output)  # before any work: a run is not lost to a bad --output
    model_config, training = config_from_args(ModelConfig, args), config_from_args(TrainingConfig, args)
    if training.teacher or training.init_from:  # a saved head's name, a directory or a hub id (teachers: several)
        from .service import HeadStore

        store = HeadStore()
        training = dataclasses.replace(
            training, teacher=[str(store.resolve(t)) for t in training.teachers] or None,
            init_from=str(store.resolve(training.init_from)) if training.init_from else None)
    train_examples = read_examples(args.data, args.task, args.format, _columns(args))
    val_examples = read_examples(args.validation, args.task, args.format, _columns(args)) if args.validation else None
    unlabeled = None
    if args.unlabeled:
        from .tasks import get_task
        from .training.distill import read_unlabeled

        unlabeled = read_unlabeled(get_task(args.task), args.unlabeled)
    data_info = {"train": str(args.data), **({"unlabeled": str(args.unlabeled)} if args.unlabeled else {}),
                 **({"validation_file": str(args.validation)} if args.validation else {})}
    where = placement()  # under accelerate launch / torchrun: this process's share
    clf, result = fit(model_config, training, train_examples, val_examples, on_event=_progress if where.is_main else None,
                      data_info=data_info, unlabeled=unlabeled)
    if not where.is_main:  # the main process saves and reports
        return None
    if where.world > 1:
        clf.data_info["processes"] = where.world
    out = clf.save_pretrained(args.output)
    return {
        "output": str(out),
        "recipe": clf.training_config.recipe,
        "selection": result.selection,
        "measured_on": result.validation,
        "calibration": result.calibration,
        "validation": result.metrics,
        "history": result.history,
        "train_seconds": round(result.seconds, 1),
        "stopped_early": result.stopped_early,
        "train_examples": clf.data_info["train_examples"],
        "validation_examples": clf.data_info["validation_examples"],
        **({"unlabeled_examples": clf.data_info["unlabeled_examples"]} if unlabeled else {}),
    }


def cmd_evaluate(args) -> dict:
    from .evaluation import evaluate
    from .splits import sample

    clf = _classifier(args.model, args.backend)
    examples = clf.task.read(args.data, args.format, _columns(args))
    return evaluate(clf, sample(examples, args.max_examples, 0))


def cmd_predict(args) -> list | dict:
    from .inference import predict

    if args.data is None:
        clf = _classifier(args.model, args.backend)
        predictions = [p.to_dict() for p in predict(clf, args.text, args.text_pair)]
        if args.attributions:
            from .attribution import attribute

            for line, a in zip(predictions, attribute(clf, args.text, args.text_pair, method=args.attributions)):
                line["attributions"] = a.to_dict()
        return predictions
    from .batch import predict_file
    from .distributed import placement
    from .format import read_metadata
    from .service import HeadStore

    if not args.output:
        raise FtclfError("expected --output FILE with --data (one JSON line per example is written there), got none; "
                         "add --output preds.jsonl")
    where = placement()
    directory = HeadStore().resolve(args.model)
    identity = f"{directory} ({read_metadata(directory).created})"
    summary = predict_file(_classifier(str(directory), args.backend), args.data, args.output, fmt=args.format,
                           columns=_columns(args), model=identity, chunk_size=args.chunk_size,
                           batch_size=args.batch_size, overwrite=args.overwrite, where=where,
                           attributions=args.attributions)
    return summary if where.is_main else None  # one summary, from the main process


def cmd_calibrate(args) -> dict:
    from .recalibration import calibrate_saved
    from .service import HeadStore

    store = HeadStore()
    directory = store.resolve(args.model)
    if not args.output and directory.resolve().is_relative_to(store.shipped_dir.resolve()):
        raise FtclfError(f"expected --output DIR for the shipped head {directory.name!r} (shipped heads are not changed "
                         "in place), got none; add --output my-calibrated-head")
    examples = None
    if args.data:
        from .format import read_metadata

        examples = read_metadata(directory).model.task_spec.read(args.data, args.format, _columns(args))
    out, cal = calibrate_saved(directory, examples, args.output, args.backend, args.threshold,
                               described=f"{args.data}" if args.data else "")
    return {"output": str(out), "method": cal.method, "temperature": round(cal.temperature, 5),
            "threshold": cal.threshold, "fitted_on": cal.fitted_on, "examples": cal.examples,
            "before": cal.metrics.get("before", {}), "after": cal.metrics.get("after", {}), "summary": cal.summary()}


def cmd_explain(args) -> list:
    from .attribution import attribute

    clf = _classifier(args.model, args.backend)
    return [a.to_dict() for a in attribute(clf, args.text, args.text_pair, target=args.target, method=args.method)]


def cmd_push(args) -> dict:
    """Token: ``$HF_TOKEN`` or the hub login (never an option: it would land in shell histories)."""
    from .hub_heads import push
    from .service import HeadStore

    directory = HeadStore().resolve(args.model)
    return {"repo": args.repo, "url": push(directory, args.repo, private=args.private, commit_message=args.message),
            "private": args.private}


def cmd_export(args) -> dict:
    import time

    from .service import HeadStore
    from .serving import export_head

    t0 = time.perf_counter()
    out = export_head(HeadStore().resolve(args.model), args.output, quantize=args.quantize == "int8")
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {"output": str(out), "runtime": "onnx-int8" if args.quantize else "onnx", "megabytes": round(size / 2**20, 1),
            "seconds": round(time.perf_counter() - t0, 1)}


def _output_target(output: str | None, kind: str = ".jsonl") -> None:
    """Refuse an --output that cannot be written before any work is done."""
    from pathlib import Path

    if output and (Path(output).is_dir() or not Path(output).parent.resolve().is_dir()):
        raise FtclfError(f"expected a file path in an existing folder for --output, got {output!r}; name a "
                         f"{kind} file to write")


def _write_jsonl(output: str | None, lines: list[dict]) -> None:
    from pathlib import Path

    if output:
        Path(output).write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")


def cmd_audit(args) -> dict:
    from .label_issues import audit
    from .tasks import read_examples

    _output_target(args.output)
    examples = read_examples(args.data, args.task, args.format, _columns(args))
    model = ModelConfig(task=args.task, **({"encoder": args.encoder} if args.encoder else {}),
                        **({"head": args.head} if args.head else {}))
    found = audit(examples, model, TrainingConfig(mode=args.mode, seed=args.seed), args.folds, args.seed,
                  on_fold=lambda f, k: print(f"[ftclf] fold {f}/{k}", file=sys.stderr, flush=True))
    lines = [s.to_dict() for s in found.suspects]
    _write_jsonl(args.output, lines)
    return {"rows": len(examples), "suspects": len(lines), "folds": found.folds, "seconds": round(found.seconds, 1),
            **({"output": args.output} if args.output else {}), "most_suspect": lines[:10]}


def cmd_suggest(args) -> dict:
    from .active_learning import suggest
    from .training.distill import read_unlabeled

    _output_target(args.output)
    clf = _classifier(args.model)
    pool = read_unlabeled(clf.task, args.data, args.format, ColumnMap(args.text_column, args.text_pair_column))
    pairs = clf.task.second_texts([e.text_pair for e in pool]) if "text_pair" in clf.task.column_roles else None
    picked = suggest(clf, [e.text for e in pool], pairs, args.k, args.strategy, not args.no_diversity, args.seed)
    lines = [s.to_dict() for s in picked]
    _write_jsonl(args.output, lines)
    return {"pool": len(pool), "suggested": len(lines), **({"output": args.output} if args.output else {}),
            "suggestions": lines[:10]}


def cmd_test(args) -> dict:
    from pathlib import Path

    from .behaviour import load_suite, run_suite

    if args.min_pass is not None and not 0 <= args.min_pass <= 1:
        raise FtclfError(f"expected --min-pass between 0 and 1 (a fraction of cases), got {args.min_pass}; e.g. 0.95")
    _output_target(args.output, ".json")
    suite = load_suite(args.suite)  # a bad suite is refused before the head loads
    report = run_suite(_classifier(args.model, args.backend), suite, head=args.model)
    full = report.to_dict()
    if args.output:
        Path(args.output).write_text(json.dumps(full, ensure_ascii=False, indent=2), encoding="utf-8")
    below = report.below(args.min_pass) if args.min_pass is not None else []
    return {"suite": report.suite, "head": report.head, "cases": report.cases, "pass_rate": round(report.pass_rate, 4),
            "seconds": round(report.seconds, 2), "capabilities": [{**c, "pass_rate": round(c["pass_rate"], 4)}
                                                                  for c in report.capabilities()],
            "tests": [{"name": t.name, "capability": t.capability, "type": t.kind, "cases": t.cases,
                       "pass_rate": round(t.pass_rate, 4),
                       "failing": [{"text": f.text, **({"text_pair": f.text_pair} if f.text_pair else {}),
                                    **({"variant": f.variant} if f.variant else {}), "expected": f.expected,
                                    "predicted": f.predicted} for f in t.failures[:3]]} for t in report.tests],
            **({"min_pass": args.min_pass, "below": [t.name for t in below]} if args.min_pass is not None else {}),
            **({"output": args.output} if args.output else {}), "_exit": 1 if below else 0}


def cmd_serve(args) -> None:
    """Serve until interrupted: the shipped and user heads (the dashboard's store and engine), loaded in the background."""
    import uvicorn

    from .service import HeadStore
    from .service.inference_api import create_api

    store = HeadStore()
    store.warm()
    print(f"[ftclf] serving http://{args.host}:{args.port}/v1/models (docs: /docs)", file=sys.stderr, flush=True)
    uvicorn.run(create_api(store), host=args.host, port=args.port, log_level="warning")
    return None


_COLUMN_PARAMETER = re.compile(r"\(columns=ColumnMap\((\w+)=\.\.\.\)\)")


def for_command_line(message: str) -> str:
    """A library message in the command line's words: ``columns=ColumnMap(text=...)`` is ``--text-column``."""
    return _COLUMN_PARAMETER.sub(lambda m: f"(--{m.group(1).replace('_', '-')}-column)", message)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    out = sys.stdout
    try:
        # Libraries (transformers' Trainer logs, tqdm.write) print to stdout; keep it for the JSON.
        with contextlib.redirect_stdout(sys.stderr):
            commands = {"train": cmd_train, "evaluate": cmd_evaluate, "predict": cmd_predict, "export": cmd_export,
                        "push": cmd_push, "calibrate": cmd_calibrate,
                        "explain": cmd_explain, "serve": cmd_serve, "audit": cmd_audit,
                        "suggest": cmd_suggest, "test": cmd_test}
            result = commands[args.command](args)
    except FtclfError as exc:
        print(f"error: {for_command_line(str(exc))}", file=sys.stderr)
        return 2
    except OSError as exc:  # the disk or a file the user named: still one line, not a traceback
        print(f"error: expected {exc.filename or 'the file system'} to be usable, but {exc.strerror or exc}; "
              "check the path and the disk", file=sys.stderr)
        return 2
    finally:
        from .distributed import finish

        finish()  # under a launcher: the process group goes down before the interpreter does
    if result is None:  # another process of a multi-process run: the main one reports
        return 0
    status = result.pop("_exit", 0) if isinstance(result, dict) else 0  # e.g. `ftclf test` under its --min-pass
    json.dump(result, out, indent=2, ensure_ascii=False)
    out.write("\n")
    return status
