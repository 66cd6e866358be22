"""Load test of the dashboard and its HTTP API as their users meet them: ``python app.py`` on a loopback port,
simulated users in a closed loop, every figure against gradio's own floor measured in the same run.

    python benchmarks/load.py                       # 32 clients x 20 Sentiment requests, then 100 clients x 3 mixed
    python benchmarks/load.py --floor --stock-floor --driver http api --clients 32 --requests 40 --mix sentiment
    python benchmarks/load.py --driver api --clients 200 --requests 15 --think 3 --mix sentiment   # people pause
    python benchmarks/load.py --driver http --clients 32 --requests 157 --fresh-sessions --mix sentiment  # RSS
    python benchmarks/load.py --driver http api --clients 32 --requests 40 --mix sentiment --profile runs/profile

Load generators (``--driver``): ``http`` (gradio's REST API from one asyncio loop: light), ``api`` (the HTTP API,
``POST /v1/models/<head>``) and ``gradio_client`` (one Client per simulated user, in threads: it spends about 65 ms
of CPU per request itself, so on a 2-core machine it competes with the server it measures). ``--floor`` first
measures ``benchmarks/floor_app.py`` (the same inputs and outputs answering constants, the dashboard's queue
settings; ``--stock-floor`` also on gradio's stock ones) and reports every round against it. ``--profile DIR``
samples the app with py-spy during each round and prints where its busy threads spent their time.

Reports requests/s, p50 / p95 / max latency per endpoint, the server's CPU use (cores, and milliseconds per
request), errors, and the app's RSS before and after (and after a pause). Prints tables and one JSON line.
"""


from __future__ import annotations

import argparse
import json
import os
import re
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


def _run_async(clients: int, requests: int, mix: list[str], request, think: float = 0.0) -> dict:
    """A closed-loop round from one asyncio loop (a light client, so the server, not the load generator, is
    measured): ``await request(client, name, i, user)`` makes one call; its latency and any failure are counted.
    ``think``: each user waits that many seconds (uniformly 0.5x to 1.5x) between its calls, as people do."""
    import asyncio
    import random

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
        pause = random.Random(k)
        if think:
            await asyncio.sleep(pause.uniform(0, think))  # users arrive spread out, not all at once
        for r in range(requests):
            await call(client, mix[(k + r) % len(mix)], k * requests + r, k)
            if think:
                await asyncio.sleep(pause.uniform(0.5 * think, 1.5 * think))

    async def main() -> float:
        limits = httpx.Limits(max_connections=2 * clients, max_keepalive_connections=2 * clients)
        async with httpx.AsyncClient(timeout=120, limits=limits) as client:
            t0 = time.perf_counter()
            await asyncio.gather(*(client_loop(client, k) for k in range(clients)))
            return time.perf_counter() - t0

    wall = asyncio.run(main())
    return _summary(clients, requests, mix, wall, latencies, errors)


def run_round_http(url: str, clients: int, requests: int, mix: list[str], think: float = 0.0,
                   fresh_sessions: bool = False) -> dict:
    """The same round through gradio's REST API (``POST /gradio_api/call/<api>`` then read the event
    stream), one session per simulated user, as one browser tab has (``fresh_sessions``: a new session for
    every request, as many visitors who each ask once)."""

    async def request(client, name: str, i: int, user: int) -> None:
        api, args = CALLS[name]
        session = f"load-{i if fresh_sessions else user}-{os.getpid()}"
        posted = await client.post(f"{url}gradio_api/call{api}", json={"data": list(args(i)), "session_hash": session})
        event = posted.json()["event_id"]
        async with client.stream("GET", f"{url}gradio_api/call{api}/{event}") as stream:
            async for line in stream.aiter_lines():
                if line.startswith("event: error"):
                    raise RuntimeError(line)
                if line.startswith("event: complete"):
                    break

    return _run_async(clients, requests, mix, request, think)


def run_round_api(url: str, clients: int, requests: int, mix: list[str], think: float = 0.0,
                  fresh_sessions: bool = False) -> dict:
    """The same round through the HTTP API (``POST /v1/models/<head>``, one request per answer; it has no
    sessions)."""

    async def request(client, name: str, i: int, user: int) -> None:
        head, payload = API_CALLS[name](i)
        (await client.post(f"{url}v1/models/{head}", json=payload)).raise_for_status()

    return _run_async(clients, requests, mix, request, think)


class Profile:
    """py-spy sampling the app while a round runs (``--profile DIR``): raw stacks to DIR/<round>.txt, and the
    functions that hold the CPU summarised (own samples, and samples with the function on the stack)."""

    def __init__(self, directory: Path | None, pid: int) -> None:
        self.directory, self.pid, self.proc = directory, pid, None

    def start(self, name: str) -> None:
        if self.directory is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        self.out = self.directory / f"{name}.txt"
        self.proc = subprocess.Popen(["py-spy", "record", "--pid", str(self.pid), "--format", "raw", "--rate", "200",
                                      "--nonblocking", "--output", str(self.out)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # py-spy attaches

    def stop(self) -> dict | None:
        if self.proc is None:
            return None
        import signal

        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=60)
        self.proc = None
        return summarise_stacks(self.out.read_text().splitlines())


#: where a sampled stack's time is charged (the first match from the innermost frame outwards)
PROFILE_GROUPS = (
    ("onnxruntime run", ("onnxruntime",)), ("torch", ("torch/",)), ("tokenizer", ("tokenizers", "tokenization_utils")),
    ("ftclf serving", ("ftclf/serving",)), ("ftclf ui / charts", ("ftclf/ui",)), ("ftclf other", ("ftclf/",)),
    ("plotly", ("plotly",)), ("gradio queue / processing", ("gradio/",)), ("pydantic / fastapi / starlette",
    ("pydantic", "fastapi", "starlette")), ("uvicorn / h11 / anyio", ("uvicorn", "h11", "anyio", "httptools")),
    ("asyncio", ("asyncio",)), ("json", ("json", "orjson")),
)


#: innermost frames of a thread that waits (py-spy's --nonblocking sampling counts some of them as running)
IDLE_FRAMES = ("Condition.wait (threading.py)", "EpollSelector.select (selectors.py)", "Event.wait (threading.py)",
               "Thread.join (threading.py)")


def summarise_stacks(lines: list[str], top: int = 15) -> dict:
    """py-spy raw lines ("function (file:line);…;… count", outermost first) -> samples per group and the busiest
    functions, waiting threads left out."""
    groups: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in lines:
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n, frames = int(count), stack.split(";")
        inner = re.sub(r":\d+\)$", ")", frames[-1])  # "function (path/file.py)", every line of it together
        if inner in IDLE_FRAMES:
            continue
        total += n
        own[inner] = own.get(inner, 0) + n
        group = next((g for frame in reversed(frames) for g, keys in PROFILE_GROUPS if any(k in frame for k in keys)),
                     "other")
        groups[group] = groups.get(group, 0) + n
    share = {g: n / max(1, total) for g, n in sorted(groups.items(), key=lambda kv: -kv[1])}
    busiest = sorted(own.items(), key=lambda kv: -kv[1])[:top]
    return {"samples": total, "groups": share, "own": [(f, n / max(1, total)) for f, n in busiest]}


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


#: gradio's own defaults for what ``ftclf.ui.QUEUE_ENV`` changes (``--stock-floor``)
STOCK_QUEUE_ENV = {"GRADIO_ANALYTICS_CACHE_FREQUENCY": "1", "GRADIO_ANALYTICS_MAX_EVENTS": "10000"}


def measure_floor(clients: int, requests: int, env: dict | None = None) -> dict:
    """benchmarks/floor_app.py (constants, the dashboard's queue settings unless ``env`` overrides them) under
    one http round."""
    port = free_port()
    proc = start_app(port, env or {}, "benchmarks/floor_app.py")
    try:
        run_round_http(f"http://127.0.0.1:{port}/", 4, 5, ["sentiment"])  # warm
        cpu0 = _cpu(proc.pid)
        floor = run_round_http(f"http://127.0.0.1:{port}/", clients, requests, ["sentiment"])
        floor["server_cores"] = (_cpu(proc.pid) - cpu0) / floor["wall_s"]
        return floor
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def print_against(which: str, floor: dict, rounds: list[dict]) -> None:
    """A floor's figures, then each Sentiment round's requests/s and p95 as ratios of the floor's."""
    f95 = floor["endpoints"]["sentiment"]["p95_ms"]
    print(f"\n{which}, http, {floor['clients']} x {floor['requests_per_client']}: {floor['req_per_s']:.1f} req/s, "
          f"p95 {f95:.0f} ms, server CPU {1000 * floor['server_cores'] / floor['req_per_s']:.1f} ms per request")
    print("| driver | req/s ÷ floor's | p95 ÷ floor's |\n|---|---|---|")
    for r in rounds:
        if r["mix"] == ["sentiment"]:
            print(f"| {r['driver']} | {r['req_per_s'] / floor['req_per_s']:.2f} | "
                  f"{r['endpoints']['sentiment']['p95_ms'] / f95:.2f} |")


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
    parser.add_argument("--think", type=float, nargs="*", default=[],
                        help="per round: seconds each user waits between calls (default 0: closed loop)")
    parser.add_argument("--fresh-sessions", action="store_true",
                        help="a new gradio session for every request (RSS over many distinct visitors)")
    parser.add_argument("--profile", type=Path, help="sample the app with py-spy during every round: raw stacks "
                        "to this folder, a summary of where the server's CPU went printed per round")
    parser.add_argument("--stock-floor", action="store_true",
                        help="with --floor: also the floor app on gradio's stock queue settings (its analytics summary "
                             "rebuilt after every event)")
    parser.add_argument("--floor", action="store_true",
                        help="first measure benchmarks/floor_app.py (the same inputs and outputs answering constants) "
                             "with the http driver, and report every round's requests/s and p95 against it")
    args = parser.parse_args()
    floor = stock = None
    if args.floor:
        floor = measure_floor(args.clients[0], args.requests[0])
        if args.stock_floor:
            stock = measure_floor(args.clients[0], args.requests[0], STOCK_QUEUE_ENV)
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
        profile = Profile(args.profile, proc.pid)
        thinks = args.think + [0.0] * (len(args.clients) - len(args.think))
        for driver in args.driver:
            for clients, requests, mix, think in zip(args.clients, args.requests, args.mix, thinks):
                cpu0 = _cpu(proc.pid)
                extra = {"think": think, "fresh_sessions": args.fresh_sessions} if driver != "gradio_client" else {}
                run = {"http": run_round_http, "api": run_round_api}.get(driver, run_round)
                profile.start(f"{driver}-{clients}x{requests}-{mix}")
                rounds.append({"driver": driver, "think_s": think, **run(url, clients, requests, mix.split("+"), **extra)})
                rounds[-1]["server_cores"] = (_cpu(proc.pid) - cpu0) / rounds[-1]["wall_s"]
                rounds[-1]["rss_after_mb"] = rss_mb(proc.pid)
                rounds[-1]["profile"] = profile.stop()
        report["rounds"] = rounds
        time.sleep(10)
        report["rss_after_pause_mb"] = rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(f"start {report['start_s']:.1f} s, first prediction {report['start_to_first_prediction_s']:.1f} s after "
          f"start; RSS warm {report['rss_warm_mb']:.0f} MB, after the rounds and a pause {report['rss_after_pause_mb']:.0f} MB")
    print("| driver | clients x requests | think s | endpoint | n | p50 ms | p95 ms | max ms | req/s (round) | "
          "server CPU cores | server CPU ms per request | RSS after MB | errors |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in report["rounds"]:
        for name, e in r["endpoints"].items():
            print(f"| {r['driver']} | {r['clients']} x {r['requests_per_client']} | {r['think_s']:g} | {name} | {e['n']} | "
                  f"{e['p50_ms']:.0f} | {e['p95_ms']:.0f} | {e['max_ms']:.0f} | {r['req_per_s']:.1f} | "
                  f"{r['server_cores']:.2f} | {1000 * r['server_cores'] / r['req_per_s']:.1f} | {r['rss_after_mb']:.0f} | "
                  f"{r['errors']} |")
    for r in report["rounds"]:
        if r["profile"]:
            p = r["profile"]
            print(f"\nwhere the server's CPU went, {r['driver']} {r['clients']} x {r['requests_per_client']} "
                  f"({p['samples']} samples of busy threads):")
            print("| group | share |\n|---|---|")
            for group, share in p["groups"].items():
                print(f"| {group} | {share:.1%} |")
            print("| busiest function (own samples) | share |\n|---|---|")
            for frame, share in p["own"]:
                print(f"| `{frame}` | {share:.1%} |")
    for key, which, measured in (("floor", "floor app (constants), the dashboard's queue settings", floor),
                                 ("stock_floor", "floor app on gradio's stock queue settings", stock)):
        if measured is not None:
            print_against(which, measured, report["rounds"])
            report[key] = measured
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
