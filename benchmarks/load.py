"""Load test of the dashboard as its users meet it: ``python app.py`` on a loopback port, driven by
gradio_client sessions in threads (each client its own session, as each browser tab is).

    python benchmarks/load.py                       # 32 clients x 20 Sentiment requests, then 100 clients x 3 mixed
    python benchmarks/load.py --clients 32 --requests 20 --mix sentiment --driver http
    python benchmarks/load.py --clients 32 --requests 20 --mix sentiment --driver http api   # the UI path and the API

Each round runs with two load generators: ``http`` (gradio's REST API from one asyncio loop: light)
and ``gradio_client`` (one Client per simulated user, in threads: what the issue's figures used,
but it spends about 65 ms of CPU per request itself, so on a 2-core machine it competes with the
server it measures). Reports requests/s, p50 / p95 / max latency per endpoint, the server's CPU use,
errors, and the app's RSS before and after (and after a pause). Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CALLS = {
    "sentiment": ("/sentiment", lambda i: ("sentiment-sst2", f"a gripping , beautifully acted film number {i}")),
    "pair": ("/pair", lambda i: ("nli-sick", f"A man is playing guitar number {i}.", "Nobody is playing music.")),
    "ner": ("/ner", lambda i: ("ner-conll2003", f"Angela Merkel met Emmanuel Macron in Paris on day {i}.", 0.5)),
}


#: the same calls through the HTTP API (Inference API payloads, straight to the engine: no gradio queue)
API_CALLS = {
    "sentiment": lambda i: ("sentiment-sst2", {"inputs": f"a gripping , beautifully acted film number {i}"}),
    "pair": lambda i: ("nli-sick", {"inputs": {"text": f"A man is playing guitar number {i}.",
                                               "text_pair": "Nobody is playing music."}}),
    "ner": lambda i: ("ner-conll2003", {"inputs": f"Angela Merkel met Emmanuel Macron in Paris on day {i}."}),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu(pid: int) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def rss_mb(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / 2**20


def start_app(port: int, env_extra: dict, script: str = "app.py") -> subprocess.Popen:
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port), "HF_HUB_OFFLINE": "1",
           "GRADIO_ANALYTICS_ENABLED": "False", "FTCLF_USER_HEADS": tempfile.mkdtemp(prefix="ftclf-load-"), **env_extra}
    log = open(Path(tempfile.gettempdir()) / f"ftclf-load-{port}.log", "w")  # noqa: SIM115 (the app's log)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, script], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                break
        except OSError:
            if proc.poll() is not None or time.perf_counter() - t0 > 180:
                raise RuntimeError(f"{script} did not start; see {log.name}") from None
            time.sleep(0.2)
    proc.start_seconds = time.perf_counter() - t0
    return proc


def run_round(url: str, clients: int, requests: int, mix: list[str]) -> dict:
    from gradio_client import Client

    latencies: dict[str, list[float]] = {name: [] for name in mix}
    errors: list[str] = []
    lock = threading.Lock()
    sessions = [Client(url, verbose=False) for _ in range(clients)]
    barrier = threading.Barrier(clients)

    def worker(k: int) -> None:
        barrier.wait()
        for r in range(requests):
            name = mix[(k + r) % len(mix)]
            api, args = CALLS[name]
            t0 = time.perf_counter()
            try:
                sessions[k].predict(*args(k * requests + r), api_name=api)
                with lock:
                    latencies[name].append(time.perf_counter() - t0)
            except Exception as exc:  # every failure is counted and reported
                with lock:
                    errors.append(f"{name}: {type(exc).__name__}: {str(exc)[:120]}")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    for s in sessions:
        s.close()
    return _summary(clients, requests, mix, wall, latencies, errors)


def _run_async(clients: int, requests: int, mix: list[str], request) -> dict:
    """A closed-loop round from one asyncio loop (a light client, so the server, not the load generator, is
    measured): ``await request(client, name, i, user)`` makes one call; its latency and any failure are counted."""
    import asyncio

    import httpx

    latencies: dict[str, list[float]] = {name: [] for name in mix}
    errors: list[str] = []

    async def call(client: httpx.AsyncClient, name: str, i: int, user: int) -> None:
        t0 = time.perf_counter()
        try:
            await request(client, name, i, user)
            latencies[name].append(time.perf_counter() - t0)
        except Exception as exc:  # every failure is counted and reported
            errors.append(f"{name}: {type(exc).__name__}: {str(exc)[:120]}")

    async def client_loop(client, k: int) -> None:
        for r in range(requests):
            await call(client, mix[(k + r) % len(mix)], k * requests + r, k)

    async def main() -> float:
        limits = httpx.Limits(max_connections=2 * clients, max_keepalive_connections=2 * clients)
        async with httpx.AsyncClient(timeout=120, limits=limits) as client:
            t0 = time.perf_counter()
            await asyncio.gather(*(client_loop(client, k) for k in range(clients)))
            return time.perf_counter() - t0

    wall = asyncio.run(main())
    return _summary(clients, requests, mix, wall, latencies, errors)


def run_round_http(url: str, clients: int, requests: int, mix: list[str]) -> dict:
    """The same round through gradio's REST API (``POST /gradio_api/call/<api>`` then read the event
    stream), one session per simulated user, as one browser tab has."""

    async def request(client, name: str, i: int, user: int) -> None:
        api, args = CALLS[name]
        session = f"load-{user}-{os.getpid()}"
        posted = await client.post(f"{url}gradio_api/call{api}", json={"data": list(args(i)), "session_hash": session})
        event = posted.json()["event_id"]
        async with client.stream("GET", f"{url}gradio_api/call{api}/{event}") as stream:
            async for line in stream.aiter_lines():
                if line.startswith("event: error"):
                    raise RuntimeError(line)
                if line.startswith("event: complete"):
                    break

    return _run_async(clients, requests, mix, request)


def run_round_api(url: str, clients: int, requests: int, mix: list[str]) -> dict:
    """The same round through the HTTP API (``POST /v1/models/<head>``, one request per answer)."""

    async def request(client, name: str, i: int, user: int) -> None:
        head, payload = API_CALLS[name](i)
        (await client.post(f"{url}v1/models/{head}", json=payload)).raise_for_status()

    return _run_async(clients, requests, mix, request)


def _summary(clients, requests, mix, wall, latencies, errors) -> dict:
    done = sum(len(v) for v in latencies.values())
    per = {}
    for name, values in latencies.items():
        if values:
            q = statistics.quantiles(values, n=100) if len(values) > 1 else [values[0]] * 99
            per[name] = {"n": len(values), "p50_ms": 1000 * q[49], "p95_ms": 1000 * q[94], "max_ms": 1000 * max(values)}
    return {"clients": clients, "requests_per_client": requests, "mix": mix, "wall_s": wall, "req_per_s": done / wall,
            "errors": len(errors), "first_errors": errors[:10], "endpoints": per}


def first_prediction_seconds(url: str) -> float:
    from gradio_client import Client

    t0 = time.perf_counter()
    Client(url, verbose=False).predict(*CALLS["sentiment"][1](0), api_name=CALLS["sentiment"][0])
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, nargs="*", default=[32, 100])
    parser.add_argument("--requests", type=int, nargs="*", default=[20, 3])
    parser.add_argument("--mix", nargs="*", default=["sentiment", "sentiment+pair+ner"],
                        help="one per round: endpoints joined by +")
    parser.add_argument("--backend", help="FTCLF_BACKEND for the app (default: the app's own)")
    parser.add_argument("--driver", choices=("http", "gradio_client", "api"), nargs="*", default=["http", "gradio_client"],
                        help="load generators to run each round with (gradio_client costs ~65 ms of client CPU per request; "
                             "api: the HTTP API at /v1/models, no gradio queue)")
    parser.add_argument("--floor", action="store_true",
                        help="first measure benchmarks/floor_app.py (the same inputs and outputs answering constants) "
                             "with the http driver, and report every round's requests/s and p95 against it")
    args = parser.parse_args()
    floor = None
    if args.floor:
        fport = free_port()
        fproc = start_app(fport, {}, "benchmarks/floor_app.py")
        try:
            run_round_http(f"http://127.0.0.1:{fport}/", 4, 5, ["sentiment"])  # warm
            floor = run_round_http(f"http://127.0.0.1:{fport}/", args.clients[0], args.requests[0], ["sentiment"])
        finally:
            fproc.terminate()
            fproc.wait(timeout=30)
    port = free_port()
    proc = start_app(port, {"FTCLF_API_RATE": "0", **({"FTCLF_BACKEND": args.backend} if args.backend else {})})
    url = f"http://127.0.0.1:{port}/"
    report = {"start_s": proc.start_seconds}
    try:
        report["first_prediction_s"] = first_prediction_seconds(url)
        report["start_to_first_prediction_s"] = proc.start_seconds + report["first_prediction_s"]
        for name in CALLS:  # warm every head once
            from gradio_client import Client

            Client(url, verbose=False).predict(*CALLS[name][1](0), api_name=CALLS[name][0])
        report["rss_warm_mb"] = rss_mb(proc.pid)
        rounds = []
        for driver in args.driver:
            for clients, requests, mix in zip(args.clients, args.requests, args.mix):
                cpu0 = _cpu(proc.pid)
                run = {"http": run_round_http, "api": run_round_api}.get(driver, run_round)
                rounds.append({"driver": driver, **run(url, clients, requests, mix.split("+"))})
                rounds[-1]["server_cores"] = (_cpu(proc.pid) - cpu0) / rounds[-1]["wall_s"]
                rounds[-1]["rss_after_mb"] = rss_mb(proc.pid)
        report["rounds"] = rounds
        time.sleep(10)
        report["rss_after_pause_mb"] = rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(f"start {report['start_s']:.1f} s, first prediction {report['start_to_first_prediction_s']:.1f} s after "
          f"start; RSS warm {report['rss_warm_mb']:.0f} MB, after the rounds and a pause {report['rss_after_pause_mb']:.0f} MB")
    print("| driver | clients x requests | endpoint | n | p50 ms | p95 ms | max ms | req/s (round) | server CPU cores | errors |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in report["rounds"]:
        for name, e in r["endpoints"].items():
            print(f"| {r['driver']} | {r['clients']} x {r['requests_per_client']} | {name} | {e['n']} | {e['p50_ms']:.0f} | "
                  f"{e['p95_ms']:.0f} | {e['max_ms']:.0f} | {r['req_per_s']:.1f} | {r['server_cores']:.2f} | {r['errors']} |")
    if floor is not None:
        f95 = floor["endpoints"]["sentiment"]["p95_ms"]
        print(f"\nfloor app (constants), http, {floor['clients']} x {floor['requests_per_client']}: "
              f"{floor['req_per_s']:.1f} req/s, p95 {f95:.0f} ms")
        print("| driver | req/s ÷ floor's | p95 ÷ floor's |\n|---|---|---|")
        for r in report["rounds"]:
            if r["mix"] == ["sentiment"]:
                print(f"| {r['driver']} | {r['req_per_s'] / floor['req_per_s']:.2f} | "
                      f"{r['endpoints']['sentiment']['p95_ms'] / f95:.2f} |")
        report["floor"] = floor
    print(json.dumps(report))
    errored = [r for r in report["rounds"] if r["errors"]]
    if errored:  # the figures are quoted as "0 server errors": a run with any is a failed run
        print(f"FAILED: {sum(r['errors'] for r in errored)} requests errored; the first ones:", file=sys.stderr)
        for r in errored:
            for line in r["first_errors"]:
                print(f"  {r['driver']} {r['clients']} x {r['requests_per_client']}: {line}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
