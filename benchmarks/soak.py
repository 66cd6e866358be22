"""Soak tests.

    python benchmarks/soak.py                 # 10 minutes of mixed traffic against the live app
    python benchmarks/soak.py --in-process    # the serving process's memory through load and trainings

Live: ``python app.py`` and several gradio_client users in a loop of predictions on every tab,
explanations, comparisons, bad and hostile inputs, small trainings (some cancelled) and saves. Reports
requests, outcomes by kind (a refusal with an "expected … found … do …" message is a handled bad
input; anything else is a server error), the app's RSS at the start and the end, and whether every
head saved during the soak loads and predicts afterwards.

In process: all shipped heads served under concurrent load, a LoRA training through the Train tab's
service (a worker process), three runs started and cancelled, more load; RSS after warm-up and at
the end (target: under 10% growth).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # ftclf from this checkout (the saved heads' check)
os.environ.setdefault("TQDM_DISABLE", "1")


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def serve(store, seconds: float, threads: int = 16, errors: list[str] | None = None) -> int:
    """Concurrent predictions on every shipped head for ``seconds``; returns how many were served.
    A failed prediction is appended to ``errors`` (its head and exception) and its thread goes on."""
    calls = [("sentiment-sst2", ["a gripping , beautifully acted film"], None),
             ("nli-sick", ["A man is playing a guitar."], ["Nobody is playing music."]),
             ("paraphrase-mrpc", ["The firm said profit rose."], ["Profit rose, the firm said."]),
             ("ner-conll2003", ["Angela Merkel met Emmanuel Macron in Paris."], None)]
    done, stop, lock = [0], time.perf_counter() + seconds, threading.Lock()
    errors = [] if errors is None else errors

    def worker(k: int) -> None:
        while time.perf_counter() < stop:
            name, texts, pairs = calls[(k + done[0]) % len(calls)]
            try:
                store.predict(name, texts, pairs)
            except Exception as exc:  # noqa: BLE001 (counted and reported: the exit status says whether any failed)
                with lock:
                    errors.append(f"{name}: {type(exc).__name__}: {str(exc)[:160]}")
                continue
            with lock:
                done[0] += 1

    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return done[0]


def failed(what: str, errors: list[str]) -> int:
    """The exit status: 1 (after printing ``what`` and the first errors) when there were any, else 0."""
    if not errors:
        return 0
    print(f"FAILED: {what}; the first ones:", file=sys.stderr)
    for line in errors[:10]:
        print(f"  {line}", file=sys.stderr)
    return 1


def live_app(minutes: float, clients: int) -> dict:
    """Mixed traffic from gradio_client users against ``python app.py``: predictions on every tab,
    explanations, comparisons, bad and hostile inputs, small trainings, cancels and saves."""
    import random
    import socket
    import tempfile
    import urllib.request
    from collections import Counter

    from gradio_client import Client
    from gradio_client.exceptions import AppError

    root = Path(__file__).resolve().parents[1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    user_dir = Path(tempfile.mkdtemp(prefix="ftclf-soak-heads-"))
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port), "HF_HUB_OFFLINE": "1",
           "FTCLF_USER_HEADS": str(user_dir)}
    log = open(Path(tempfile.gettempdir()) / "ftclf-soak-app.log", "w")  # noqa: SIM115 (the app's log)
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"app.py did not start; see {log.name}") from None
            time.sleep(0.5)
    app = psutil.Process(proc.pid)
    warm = Client(url, verbose=False)
    for api, args in (("/sentiment", ("sentiment-sst2", "warm")), ("/pair", ("nli-sick", "a", "b")),
                      ("/ner", ("ner-conll2003", "Paris", 0.5)), ("/pair", ("paraphrase-mrpc", "a", "b"))):
        warm.predict(*args, api_name=api)
    report = {"rss_start_mb": app.memory_info().rss / 2**20}
    counts, server_errors, saved, lock = Counter(), [], [], threading.Lock()

    def visitor(k: int) -> str:  # each simulated user is one browser (its visitor id)
        return f"{k:032x}"

    stop = time.perf_counter() + 60 * minutes
    def train_args(client, epochs, k):
        parameters = client.view_api(return_format="dict", print_info=False)["named_endpoints"]["/train"]["parameters"]
        defaults = {p["label"]: p.get("parameter_default") for p in parameters}  # the form's own for the rest
        labels = [p["label"] for p in parameters]
        values = {"Task": "sequence", "Data": "sample", "Sample": "sentiment (120 reviews)", "Head": "linear",
                  "Pooling": "mean", "Pair mode": "cross", "concat: add |a−b| and a∗b": True,
                  "Word-shape features": False, "Training mode": "frozen", "Epochs (0 = default)": epochs,
                  "Learning rate (0 = default)": 0, "Batch size (0 = default)": 0}
        # the unlabelled parameter is the browser's visitor id (BrowserState): this user's runs and drafts
        return [visitor(k) if label == "parameter_2" else values.get(label, defaults[label]) for label in labels]

    def others_head(k):  # a head another user saved (its deletion must be refused): strangers on one Space
        with lock:
            theirs = [name for name in saved if not name.startswith(f"soak-{k // 100000}-")]
        return theirs[-1] if theirs else "sentiment-sst2"

    def action(client, rng, k):
        roll = rng.random()
        if roll < 0.55:
            return rng.choice([
                ("/sentiment", ("sentiment-sst2", f"a gripping film number {k}")),
                ("/pair", ("nli-sick", "A man is playing a guitar.", f"Nobody plays {k}.")),
                ("/pair", ("paraphrase-mrpc", "The firm said profit rose.", "Profit rose, the firm said.")),
                ("/ner", ("ner-conll2003", f"Angela Merkel met Emmanuel Macron in Paris on day {k}.", 0.5)),
                ("/run_explain", ("ner-conll2003", "Apple opened a store in London.", "")),
                ("/compare", ("sentiment-sst2", "sentiment-sst2", "a lovely film", "")),
            ]), "prediction"
        if roll < 0.8:
            return rng.choice([
                ("/sentiment", ("sentiment-sst2", "   ")),
                ("/sentiment", ("no-such-head", "text")),
                ("/pair", ("nli-sick", "good movie " * 9000, "good movie " * 9000)),
                ("/ner", ("ner-conll2003", "\x00\x01", 0.5)),
                ("/save_trained", ("../escape", visitor(k // 100000))),
                ("/delete_head", ("sentiment-sst2", visitor(k // 100000), "")),
                ("/delete_head", (others_head(k), visitor(k // 100000), "")),
            ]), "bad input"
        return None, "training"

    def user(k):
        rng, client = random.Random(k), Client(url, verbose=False)
        n = 0
        while time.perf_counter() < stop:
            n += 1
            call, kind = action(client, rng, k * 100000 + n)
            try:
                if call is None:
                    cancel = rng.random() < 0.4
                    job = client.submit(*train_args(client, 30 if cancel else 3, k), api_name="/train")
                    if cancel:
                        time.sleep(rng.uniform(2, 6))
                        client.predict(visitor(k), api_name="/cancel_train")
                    status = str(job.result(timeout=600)[1])
                    if "Training failed" in status:  # refused in the status line (e.g. the server's one slot is busy)
                        with lock:
                            counts[f"{kind}: refused with a message"] += 1
                        continue
                    if not cancel:
                        name = f"soak-{k}-{n}"
                        client.predict(name, visitor(k), api_name="/save_trained")
                        with lock:
                            saved.append(name)
                else:
                    client.predict(*call[1], api_name=call[0])
                with lock:
                    counts[f"{kind}: ok"] += 1
            except AppError as exc:  # gradio's gr.Error: a handled, explained refusal?
                text = str(exc)
                # ours: "expected … found … do …"; gradio's own: a value outside a dropdown's choices
                handled = (text.lstrip().startswith("expected") or "cancelled" in text.lower()
                           or "is not in the list of choices" in text)
                with lock:
                    counts[f"{kind}: {'refused with a message' if handled else 'SERVER ERROR'}"] += 1
                    if not handled:
                        server_errors.append(f"{call[0] if call else '/train'}: {text[:160]}")
            except Exception as exc:  # connection problems, timeouts: server errors too
                with lock:
                    counts[f"{kind}: SERVER ERROR"] += 1
                    server_errors.append(f"{type(exc).__name__}: {str(exc)[:160]}")

    threads = [threading.Thread(target=user, args=(k,)) for k in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report["seconds"] = time.perf_counter() - t0
    time.sleep(10)
    report["rss_end_mb"] = app.memory_info().rss / 2**20
    report["growth_pct"] = 100 * (report["rss_end_mb"] - report["rss_start_mb"]) / report["rss_start_mb"]
    report["requests"] = sum(counts.values())
    report["by_kind"] = dict(sorted(counts.items()))
    proc.terminate()
    proc.wait(timeout=30)
    from ftclf.service import HeadStore

    store, usable = HeadStore(user_dir=user_dir), 0
    for name in saved:  # every head saved during the soak, loaded afresh and asked
        try:
            usable += store.predict(name, ["a lovely film"])[0].label in store.info(name).meta.model.labels
        except Exception as exc:
            server_errors.append(f"saved head {name}: {type(exc).__name__}: {exc}")
    report["heads_saved"], report["heads_saved_usable"] = len(saved), usable
    report["server_errors"] = len(server_errors)  # counted after the saved heads' check, which adds its own
    report["first_server_errors"] = server_errors[:10]
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--in-process", action="store_true", help="the serving process's memory only (no web server)")
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the live soak")
    parser.add_argument("--clients", type=int, default=6, help="gradio_client users of the live soak")
    args = parser.parse_args()
    if not args.in_process:
        report = live_app(args.minutes, args.clients)
        print(f"{report['requests']} requests in {report['seconds']:.0f} s from {args.clients} users: "
              f"{report['server_errors']} server errors; RSS {report['rss_start_mb']:.0f} -> {report['rss_end_mb']:.0f} MB "
              f"({report['growth_pct']:+.1f}%); {report['heads_saved_usable']} of {report['heads_saved']} saved heads "
              "load and predict afterwards")
        for kind, n in report["by_kind"].items():
            print(f"  {kind}: {n}")
        print(json.dumps(report))
        unusable = report["heads_saved"] - report["heads_saved_usable"]
        errors = report["first_server_errors"] + ([f"{unusable} saved heads do not predict"] if unusable else [])
        return failed(f"{report['server_errors']} server errors in {report['requests']} requests, {unusable} saved heads "
                      "that do not predict", errors)
    return in_process()


def in_process() -> int:
    from ftclf import ModelConfig, TrainingConfig
    from ftclf.service import DataSource, HeadStore, TrainingJobs, TrainRequest

    store = HeadStore()
    store.warm().join()
    report, errors = {"backend": store.engine.backend}, []
    report["served_warm_up"] = serve(store, 20, errors=errors)
    report["rss_warm_mb"] = rss_mb()
    report["served_load"] = serve(store, 60, errors=errors)
    jobs = TrainingJobs()

    def request(mode: str, epochs: int) -> TrainRequest:
        return TrainRequest(DataSource("sequence", "sample", "sentiment (120 reviews)"), ModelConfig(task="sequence"),
                            TrainingConfig(mode=mode, epochs=epochs))

    t0 = time.perf_counter()
    job = jobs.start("soak", request("lora", 2))
    job.thread.join()
    report["lora_train_s"] = time.perf_counter() - t0
    report["lora_error"] = repr(job.error) if job.error else None
    for k, mode in enumerate(["lora", "frozen", "lora"]):  # start, then cancel at the first progress report
        job = jobs.start(f"cancel-{k}", request(mode, 50))
        for event in job.stream(poll=0.05):
            if event is not None and event.stage in ("train", "eval"):
                jobs.cancel(f"cancel-{k}")
        report[f"cancelled_{k}"] = bool(job.outcome and job.outcome.result.cancelled)
    report["served_after_training"] = serve(store, 30, errors=errors)
    time.sleep(2)
    report["rss_after_mb"] = rss_mb()
    report["growth_pct"] = 100 * (report["rss_after_mb"] - report["rss_warm_mb"]) / report["rss_warm_mb"]
    print(f"RSS warm {report['rss_warm_mb']:.0f} MB -> after load, a LoRA training, 3 cancelled runs and more load "
          f"{report['rss_after_mb']:.0f} MB ({report['growth_pct']:+.1f}%); backend {report['backend']}")
    report["errors"] = len(errors)
    print(json.dumps(report))
    if report["lora_error"]:
        errors.append(f"the LoRA training: {report['lora_error']}")
    return failed(f"{len(errors)} failed predictions or trainings", errors)


if __name__ == "__main__":
    sys.exit(main())
