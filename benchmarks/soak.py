"""Memory over a working day of the serving process: serve all shipped heads under concurrent load,
train a LoRA head through the Train tab's service (a worker process), start and cancel three more
runs, serve again; the serving process's RSS after warm-up and at the end (target: under 10% growth).

    python benchmarks/soak.py
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

os.environ.setdefault("TQDM_DISABLE", "1")


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def serve(store, seconds: float, threads: int = 16) -> int:
    """Concurrent predictions on every shipped head for ``seconds``; returns how many were served."""
    calls = [("sentiment-sst2", ["a gripping , beautifully acted film"], None),
             ("nli-sick", ["A man is playing a guitar."], ["Nobody is playing music."]),
             ("paraphrase-mrpc", ["The firm said profit rose."], ["Profit rose, the firm said."]),
             ("ner-conll2003", ["Angela Merkel met Emmanuel Macron in Paris."], None)]
    done, stop = [0], time.perf_counter() + seconds

    def worker(k: int) -> None:
        while time.perf_counter() < stop:
            name, texts, pairs = calls[(k + done[0]) % len(calls)]
            store.predict(name, texts, pairs)
            done[0] += 1

    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return done[0]


def main() -> int:
    from ftclf import ModelConfig, TrainingConfig
    from ftclf.service import DataSource, HeadStore, TrainingJobs, TrainRequest

    store = HeadStore()
    store.warm().join()
    report = {"backend": store.engine.backend}
    report["served_warm_up"] = serve(store, 20)
    report["rss_warm_mb"] = rss_mb()
    report["served_load"] = serve(store, 60)
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
    report["served_after_training"] = serve(store, 30)
    time.sleep(2)
    report["rss_after_mb"] = rss_mb()
    report["growth_pct"] = 100 * (report["rss_after_mb"] - report["rss_warm_mb"]) / report["rss_warm_mb"]
    print(f"RSS warm {report['rss_warm_mb']:.0f} MB -> after load, a LoRA training, 3 cancelled runs and more load "
          f"{report['rss_after_mb']:.0f} MB ({report['growth_pct']:+.1f}%); backend {report['backend']}")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
