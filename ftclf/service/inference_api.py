"""An HTTP API in the Hugging Face Inference API's shapes, so ``huggingface_hub.InferenceClient`` uses a
ftclf server unchanged::

    from huggingface_hub import InferenceClient
    client = InferenceClient(model="http://127.0.0.1:7860/v1/models/sentiment-sst2")
    client.text_classification("A gripping film.")   # [TextClassificationOutputElement(label='positive', ...)]

Routes (``create_api``; gradio-free: ``ftclf serve`` runs it alone, ``app.py`` beside the dashboard):

- ``POST /v1/models/{head}``: ``{"inputs": ..., "parameters": {...}}``. ``inputs`` is a text, a pair
  ``{"text": ..., "text_pair": ...}`` or a list of either (a batch). Text heads answer one list of
  ``{"label", "score"}`` per input, highest first (all labels; ``top_k`` keeps the first k); a multi-label
  head answers the labels that reach their thresholds (with ``top_k``: the top k, thresholds aside). Token
  heads answer ``{"entity_group", "score", "word", "start", "end"}`` per entity (a list per input for a
  batch). Scores are the head's calibrated probabilities; ``function_to_apply`` ``"none"`` gives the raw
  scores, and the other function of the two (``"softmax"`` for a multi-label head, ``"sigmoid"`` for a
  one-label head) that function of the raw scores.
- ``POST /v1/models/{head}/suggest``: ``{"inputs": [texts or pairs], "parameters": {"k", "strategy",
  "diversity"}}``, an unlabelled pool of at most ``MAX_POOL``: the k worth labelling next, most useful first
  (``{"index", "text", "label", "score", "uncertainty"}``; ``ftclf.suggest``).
- ``POST /v1/audit``: ``{"task": "sequence" | "pair" | "token", "inputs": [labelled rows, as in a JSONL file:
  {"text", "label"}, pairs with "text_pair", tagged sentences {"tokens", "tags"}], "parameters": {"folds", "seed"}}``, at most ``MAX_AUDIT_ROWS`` labelled rows and no model: the
  rows whose label the data contradicts, most suspect first (``{"index", "text", "given", "suggested",
  "score"}``; ``ftclf.audit``). One audit runs at a time (503 while another does).
- ``GET /v1/models``: every head with its task, pipeline tag and labels.
- ``GET /v1/models/{head}/health``: 200 once the head is loaded, 503 while it loads (the first call
  starts loading it).

Errors are JSON ``{"error": ...}`` with a status: 400 bad input, 401 a missing or wrong token, 404 an
unknown head, 413 a body or batch over the limits, 429 over the rate limit, 503 while warming. With
``FTCLF_API_TOKEN`` set every route needs that token, as ``Authorization: Bearer TOKEN`` or
``X-API-Key: TOKEN``. The rate limit (``FTCLF_API_RATE`` requests per minute, default 600, 0 = off) is
kept per token, else per client address; ``X-Forwarded-For`` is believed only from the addresses in
``FTCLF_TRUSTED_PROXIES``.
"""

import hmac
import json
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from ..errors import FtclfError, InputError, ModelFormatError
from ..predictions import MultiLabelPrediction, TokenPrediction
from ..tasks import get_task

PREFIX = "/v1/models"
#: inputs one request may carry, and the bytes of its body
MAX_INPUTS = 64
MAX_BODY_BYTES = 1_000_000
FUNCTIONS = ("softmax", "sigmoid", "none")
#: an unlabelled pool one suggest request may rank, and the most it may ask for
MAX_POOL = 2000
MAX_SUGGESTIONS = 100
#: labelled rows one audit may take (each of its folds trains a head)
MAX_AUDIT_ROWS = 2000


@dataclass
class ApiConfig:
    """How the API guards itself (read from the environment by :meth:`from_env`)."""

    #: every route needs this token (None: open)
    token: str | None = None
    #: requests per minute per token or client address (0: no limit)
    rate: float = 600.0
    #: addresses whose ``X-Forwarded-For`` names the real client (a reverse proxy's)
    trusted_proxies: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_env(cls) -> "ApiConfig":
        raw = os.environ.get("FTCLF_API_RATE", "").strip()
        try:
            rate = float(raw) if raw else 600.0
        except ValueError:
            raise FtclfError(f"expected FTCLF_API_RATE to be a number of requests per minute, got {raw!r}; fix the "
                             "environment (0 turns the limit off)") from None
        proxies = frozenset(p.strip() for p in os.environ.get("FTCLF_TRUSTED_PROXIES", "").split(",") if p.strip())
        return cls(os.environ.get("FTCLF_API_TOKEN") or None, rate, proxies)


class RateLimiter:
    """A token bucket per key: ``rate`` requests per minute, bursts up to a tenth of a minute's worth."""

    def __init__(self, per_minute: float, max_keys: int = 10_000) -> None:
        self.rate = per_minute / 60.0
        self.burst = max(1.0, per_minute / 10.0)
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        if self.rate <= 0:
            return True
        now = time.monotonic()
        with self._lock:
            level, last = self._buckets.get(key, (self.burst, now))
            level = min(self.burst, level + (now - last) * self.rate)
            if len(self._buckets) >= self.max_keys and key not in self._buckets:
                self._buckets.clear()  # a flood of addresses: start over rather than grow without bound
            allowed = level >= 1.0
            self._buckets[key] = (level - 1.0 if allowed else level, now)
            return allowed


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def parse_inputs(payload, limit: int = MAX_INPUTS) -> tuple[list[str], list[str] | None, bool]:
    """(texts, second texts or None, batched) of an Inference API payload's ``inputs`` (at most ``limit``)."""
    if not isinstance(payload, dict) or "inputs" not in payload:
        raise ApiError(400, 'expected a JSON object with "inputs" (a text, a {"text", "text_pair"} pair, or a list of '
                            f'either), got {type(payload).__name__}; send {{"inputs": "some text"}}')
    inputs = payload["inputs"]
    batched = isinstance(inputs, list)
    items = inputs if batched else [inputs]
    if not items:
        raise ApiError(400, 'expected at least one input, got an empty list; send {"inputs": ["some text"]}')
    if len(items) > limit:
        raise ApiError(413, f"expected at most {limit} inputs in one request, got {len(items)}; split the batch")
    pairs = [isinstance(x, dict) for x in items]
    if any(pairs) and not all(pairs):
        raise ApiError(400, "expected every input of a batch to be of one kind (texts, or pairs), got both; split them")
    if all(pairs):
        for x in items:
            if not isinstance(x.get("text"), str) or not isinstance(x.get("text_pair"), str):
                raise ApiError(400, 'expected each pair as {"text": "...", "text_pair": "..."} with two strings, got '
                                    f"keys {sorted(x)}; send both texts")
        return [x["text"] for x in items], [x["text_pair"] for x in items], batched
    if not all(isinstance(x, str) for x in items):
        found = next(type(x).__name__ for x in items if not isinstance(x, str))
        raise ApiError(400, f"expected text inputs (strings), got a {found}; send strings")
    return list(items), None, batched


def parse_parameters(payload: dict) -> tuple[int | None, str | None]:
    params = parse_object(payload.get("parameters"), "parameters")
    top_k, function = params.get("top_k"), params.get("function_to_apply")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ApiError(400, f"expected top_k to be a whole number of at least 1, got {top_k!r}")
    if function is not None and function not in FUNCTIONS:
        raise ApiError(400, f"expected function_to_apply to be one of {', '.join(FUNCTIONS)}, got {function!r}")
    return top_k, function


def ranked(values: dict[str, float], top_k: int | None) -> list[dict]:
    """``[{"label", "score"}, ...]`` highest first (the first ``top_k``)."""
    out = sorted(({"label": k, "score": float(v)} for k, v in values.items()), key=lambda r: -r["score"])
    return out if top_k is None else out[:top_k]


def label_scores(prediction, top_k: int | None) -> list[dict]:
    """One input's labels and calibrated probabilities: every label, or for a multi-label head the labels that
    reach their thresholds (with ``top_k``: the top k, thresholds aside)."""
    out = ranked(prediction.probabilities, top_k)
    if top_k is None and isinstance(prediction, MultiLabelPrediction):
        return [r for r in out if r["label"] in prediction.labels]
    return out


def entities(prediction) -> list[dict]:
    return [{"entity_group": e.label, "score": float(e.score), "word": e.text, "start": e.start, "end": e.end}
            for e in prediction.entities]


BEARER = HTTPBearer(auto_error=False, description="FTCLF_API_TOKEN, when the server sets one")
API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, description="FTCLF_API_TOKEN, when the server sets one "
                       "(a private Space's proxy keeps Authorization for the visitor's own Hugging Face token)")


def create_api(store, config: ApiConfig | None = None) -> FastAPI:
    """The FastAPI application of the routes above, serving ``store``'s heads through its engine."""
    config = config or ApiConfig.from_env()
    limiter = RateLimiter(config.rate)

    def client_key(request: Request, token: str | None) -> str:
        if token:
            return "token:" + token
        host = request.client.host if request.client else "unknown"
        forwarded = request.headers.get("x-forwarded-for", "")
        if forwarded and host in config.trusted_proxies:
            host = forwarded.split(",")[0].strip()
        return "address:" + host

    def guard(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
              key: Annotated[str | None, Depends(API_KEY)]) -> None:
        given = key or (credentials.credentials if credentials else None)
        if config.token is not None and not (given and hmac.compare_digest(given, config.token)):
            raise ApiError(401, "expected the server's API token as 'Authorization: Bearer TOKEN' or 'X-API-Key: TOKEN', "
                                "got none or another; ask the server's owner for it")
        if not limiter.allow(client_key(request, given)):
            raise ApiError(429, f"expected at most {config.rate:g} requests per minute, got more; wait and retry")

    app = FastAPI(title="ftclf inference API", version="1",
                  description="Hugging Face Inference API payloads for ftclf heads (text and token classification).")

    @app.exception_handler(ApiError)
    async def _api_error(request, exc: ApiError):
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    def head_info(head: str):
        try:
            return store.info(head)
        except (FtclfError, OSError):
            raise ApiError(404, f"expected one of the heads {', '.join(store.names()) or '(none)'}, got {head!r}; "
                                f"GET {PREFIX} lists them") from None

    @app.get(PREFIX, dependencies=[Depends(guard)], summary="List the heads")
    def list_heads():
        return [{"id": h.name, "task": get_task(h.task).pipeline_tag, "ftclf_task": h.task, "labels": h.meta.model.labels}
                for h in store.list()]

    @app.get(PREFIX + "/{head}/health", dependencies=[Depends(guard)], summary="200 once the head is loaded")
    def health(head: str):
        info = head_info(head)
        if not store.engine.ready(info.path):
            store.engine.warm([info.path])
            raise ApiError(503, f"expected {head} to be loaded, it is still loading; retry in a few seconds")
        return {"status": "ok"}

    @app.post(PREFIX + "/{head}", dependencies=[Depends(guard)], summary="Classify texts, pairs or words")
    async def classify(head: str, request: Request):
        payload = await read_json(request)
        texts, pairs, batched = parse_inputs(payload)
        top_k, function = parse_parameters(payload)
        info = head_info(head)
        try:
            if function in (None, info.meta.model.task_spec.probability_function):  # the usual request
                answers, spans = shaped(await store.engine.predict_async(info.path, texts, pairs), top_k)
            else:  # raw scores, or the other function of them: off the loop
                answers, spans = await run_in_threadpool(answer, store, info, texts, pairs, top_k, function)
        except InputError as exc:
            raise ApiError(400, str(exc)) from None
        except ModelFormatError as exc:
            raise ApiError(404, str(exc)) from None
        # a text head answers a list per input even for one; the client reads one input's entities flat
        return answers[0] if spans and not batched else answers

    torch_heads: dict = {}  # suggestions need the head's own vectors: its torch form, the last few loaded

    @app.post(PREFIX + "/{head}/suggest", dependencies=[Depends(guard)], summary="Which unlabelled texts to label next")
    async def suggest_route(head: str, request: Request):
        payload = await read_json(request)
        texts, pairs, _ = parse_inputs(payload, MAX_POOL)
        params = parse_object(payload.get("parameters"), "parameters")
        k, strategy, diversity = params.get("k", 16), params.get("strategy", "margin"), params.get("diversity", True)
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_SUGGESTIONS:
            raise ApiError(400, f"expected k to be a whole number from 1 to {MAX_SUGGESTIONS}, got {k!r}")
        if not isinstance(diversity, bool):
            raise ApiError(400, f"expected diversity to be true or false, got {diversity!r}")
        info = head_info(head)

        def run() -> list:
            from ..active_learning import suggest
            from ..serving import load

            key = (str(info.path), info.path.stat().st_mtime_ns)
            if key not in torch_heads:
                while len(torch_heads) >= 2:
                    torch_heads.pop(next(iter(torch_heads)))
                torch_heads[key] = load(info.path, "torch")
            return [s.to_dict() for s in suggest(torch_heads[key], texts, pairs, k, strategy, diversity)]

        try:
            return await run_in_threadpool(run)
        except FtclfError as exc:
            raise ApiError(400, str(exc)) from None

    auditing = threading.Lock()

    @app.post("/v1/audit", dependencies=[Depends(guard)], summary="Rows whose label the data contradicts")
    async def audit_route(request: Request):
        payload = await read_json(request)
        spec = audit_task(payload.get("task") if isinstance(payload, dict) else None)
        rows = payload.get("inputs")
        if not isinstance(rows, list) or not rows:
            raise ApiError(400, 'expected "inputs" to be a list of labelled rows ({"text", "label"}; pairs add '
                                f'"text_pair"; tagged sentences are {{"tokens", "tags"}}), got {type(rows).__name__}')
        if len(rows) > MAX_AUDIT_ROWS:
            raise ApiError(413, f"expected at most {MAX_AUDIT_ROWS} rows in one audit, got {len(rows)}; audit a "
                                "sample, or run ftclf audit on the whole file")
        if not all(isinstance(row, dict) for row in rows):
            raise ApiError(400, "expected every row to be a JSON object, got another kind; send objects")
        try:
            examples = spec.from_rows(list(enumerate(rows, 1)), None, "the inputs (counted from 1)", True)
            spec.check_examples(examples)
        except FtclfError as exc:
            raise ApiError(400, str(exc)) from None
        params = parse_object(payload.get("parameters"), "parameters")
        folds, seed = params.get("folds", 5), params.get("seed", 0)
        for name, value, low in (("folds", folds, 2), ("seed", seed, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low or (name == "folds" and value > 10):
                raise ApiError(400, f"expected {name} to be a whole number{' from 2 to 10' if name == 'folds' else ''}, "
                                    f"got {value!r}")
        if not auditing.acquire(blocking=False):
            raise ApiError(503, "expected no other audit to be running, one is; retry in a minute")

        def run() -> list:
            from ..label_issues import audit, served_audit_model
            from .jobs import run_apart

            try:
                found = run_apart(audit, examples, served_audit_model(spec.name), None, folds, seed)  # not in the server
                return [s.to_dict() for s in found.suspects]
            finally:
                auditing.release()

        try:
            return await run_in_threadpool(run)
        except FtclfError as exc:
            raise ApiError(400, str(exc)) from None

    return app


async def read_json(request: Request):
    """The request's JSON body, within the size limit."""
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise ApiError(413, f"expected a request body of at most {MAX_BODY_BYTES:,} bytes, got {len(body):,}; "
                            "send fewer or shorter inputs")
    try:
        return json.loads(body or b"null")
    except ValueError:
        raise ApiError(400, 'expected a JSON body, got something else; send {"inputs": "some text"}') from None


def parse_object(value, name: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ApiError(400, f'expected "{name}" to be an object, got {type(value).__name__}')
    return value


def audit_task(name):
    """The task an audit request names (one whose data ``ftclf.audit`` reads)."""
    from ..tasks import TASKS

    spec = TASKS.get(name) if isinstance(name, str) else None
    if spec is None or not spec.auditable:
        names = ", ".join(n for n, t in TASKS.items() if t.auditable)
        raise ApiError(400, f'expected "task" to be one of {names}, got {name!r}; say which task the rows are')
    return spec


def answer(store, info, texts, pairs, top_k, function) -> tuple[list, bool]:
    """(per input: the label scores of a text head or the entities of a token head, whether they are entities)."""
    import torch

    task, engine = info.meta.model.task_spec, store.engine
    if function not in (None, task.probability_function) and task.pipeline_tag == "text-classification":
        rows = engine.scores(info.path, texts, pairs)  # raw scores, or the other function of them
        apply = {"none": lambda z: z, "softmax": lambda z: z.softmax(-1), "sigmoid": torch.sigmoid}[function]
        return [ranked(dict(zip(info.meta.model.labels, apply(z).tolist())), top_k) for z in rows], False
    return shaped(engine.predict(info.path, texts, pairs), top_k)


def shaped(predictions: list, top_k: int | None) -> tuple[list, bool]:
    """Predictions in the Inference API's shapes: (per input, its label scores or its entities; entities?)."""
    if isinstance(predictions[0], TokenPrediction):
        return [entities(p) for p in predictions], True
    return [label_scores(p, top_k) for p in predictions], False
