"""The inference worker: one engine that owns the checkpoints and batches requests,
served in-process (the default) or over HTTP (`python -m model serve`).

Requests and replies are plain JSON-shaped dicts, the same in both modes:
  sample  {n, seed, form, options, subject, acrostic} -> {poems, model, options[, request]}
          (subject: 1-3 words written into the poem, its latent drawn where poems holding
          them encode to; acrostic: 4 characters that start the lines)
  blend   {a, b, steps, method, form, seed, options, crossings} -> {poems, model, options, seed, method, crossings}
  encode  {text, form}                        -> {latent, text, form, model}
  vary    {text, form, seed, options, towards, t} -> {poems, model, options, seed}
          (near `text`; with `towards`, near the point a share t of the way there)
  rewrite {text, form, line, seed, options}   -> {poems, model, options, seed, line}
          (`text` with one line written anew, the other lines kept)
Concurrent sample requests are coalesced into one forward pass (at most
`max_batch` poems, waiting at most `max_wait_ms` for the ones likely to come
soon: see `Engine._run_batches`). Model work runs on dedicated threads,
never on the event loop (a thread per form). A subject or acrostic request runs on its own.
"""
from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import torch
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector, generate_latest
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from . import corpus
from .checkpoint import CheckpointError, shipped
from .text import MAX_SEED, form_of
from .generate import MAX_N, MAX_STEPS, InputError, Options, PoemGenerator, check_seed, new_seed

log = logging.getLogger("poembot.model.worker")
MAX_BODY = 16 * 1024  # bytes of JSON a request may send
BODY_TIMEOUT_S = 10.0  # a body must arrive within this once its headers have
IDLE_TIMEOUT_S = 15.0  # a connection idle (or still sending its headers) this long is closed
# keyword arguments for web.AppRunner / web.run_app: bodies are never decompressed (our
# client never compresses; a bad gzip/deflate/br body would fail inside aiohttp's parser),
# and the unread rest of a refused body is waited for 1 s, not aiohttp's 10
SERVER_OPTIONS = {"keepalive_timeout": IDLE_TIMEOUT_S, "auto_decompress": False, "lingering_time": 1.0}


def available_cpus() -> int:
    """The cores this process may use: its CPU affinity, and a container's CPU quota
    (cgroup v2 cpu.max, as `docker run --cpus` sets it), not the host's count."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cpus)


@dataclass
class WorkerSettings:
    checkpoints: dict[int, Path | None]  # form -> checkpoint path (None = shipped)
    max_batch: int = 64  # poems in one forward pass
    max_wait_ms: float = 5.0  # how long a batch may wait for the poems likely to come soon
    threads: int = 0  # torch intra-op threads (0 = one per core this process may use)

    @classmethod
    def from_env(cls, env: WorkerEnvironment | None = None) -> WorkerSettings:
        env = worker_environment() if env is None else env
        shipped_forms = ",".join(str(f) for f in corpus.FORMS if shipped(f).with_suffix(".json").exists())
        forms = sorted({int(f) for f in (env.forms or shipped_forms or "5").split(",") if f.strip()})
        paths = {5: env.checkpoint_5, 7: env.checkpoint_7}
        return cls(checkpoints={f: paths[f] for f in forms}, max_batch=env.max_batch,
                   max_wait_ms=env.max_wait_ms, threads=env.threads)


class SettingsError(ValueError):
    """A worker setting that cannot work; one line naming the variable."""


class WorkerEnvironment(BaseSettings):
    """Every setting the worker reads (the bot's own are in bot/settings.py), from the
    environment and `.env`."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore",
                                      populate_by_name=True)

    forms: str | None = Field(None, alias="POEMBOT_FORMS",
                              description="the forms the worker loads: `5`, `7` or `5,7`; default: the shipped ones")
    checkpoint_5: Path | None = Field(None, alias="POEMBOT_CHECKPOINT_5",
                                      description="a checkpoint (path without suffix) for 5-character poems")
    checkpoint_7: Path | None = Field(None, alias="POEMBOT_CHECKPOINT_7",
                                      description="a checkpoint (path without suffix) for 7-character poems")
    max_batch: int = Field(64, alias="POEMBOT_MAX_BATCH", ge=1, le=1024, description="poems in one forward pass")
    max_wait_ms: float = Field(5.0, alias="POEMBOT_MAX_WAIT_MS", ge=0, le=1000, allow_inf_nan=False,
                               description="how long a batch may wait for the poems likely to come soon")
    threads: int = Field(0, alias="POEMBOT_THREADS", ge=0,
                         description="torch threads; 0: the cores this process may use")
    host: str = Field("127.0.0.1", alias="POEMBOT_WORKER_HOST",
                      description="where `poembot-model serve` listens (`0.0.0.0` in a container)")
    port: int = Field(8500, alias="POEMBOT_WORKER_PORT", ge=1, le=65535, description="the port it listens on")
    progress: bool = Field(False, alias="POEMBOT_PROGRESS",
                           description="1: show training progress bars even when stderr is not a terminal")


    @field_validator("forms")
    @classmethod
    def _forms(cls, value: str | None) -> str | None:
        if value is not None and not {f.strip() for f in value.split(",") if f.strip()} <= {"5", "7"}:
            raise ValueError("the forms are 5, 7 or 5,7")
        return value


def worker_environment() -> WorkerEnvironment:
    try:
        return WorkerEnvironment()
    except ValidationError as e:
        first = e.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "a worker setting"
        detail = first["msg"].removeprefix("Value error, ")
        detail = detail[:1].lower() + detail[1:]
        raise SettingsError(f"{name}: {detail}, not {first.get('input')!r}") from None


def parse_options(raw, base: Options = Options()) -> Options:
    """Decoding options from a request: `base` with the given fields changed."""
    if raw is None:
        return base
    if not isinstance(raw, dict):
        raise InputError("options must be an object")
    unknown = sorted(set(raw) - {f.name for f in fields(Options)})
    if unknown:
        raise InputError(f"unknown options: {', '.join(unknown)}")
    for key, value in raw.items():
        want_bool = type(Options.__dataclass_fields__[key].default) is bool  # not `in (True, False)`: 0.0 == False
        if want_bool and not isinstance(value, bool):
            raise InputError(f"option {key} must be true or false")
        if not want_bool and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise InputError(f"option {key} must be a number")
    opts = replace(base, **raw)
    if not isinstance(opts.top_k, int):
        raise InputError("option top_k must be a whole number")
    return opts.check()


def _int(body: dict, key: str, default, lo: int, hi: int) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not (lo <= value <= hi):
        raise InputError(f"{key} must be a whole number from {lo} to {hi}")
    return value


def _check_keys(body, allowed: set[str]) -> dict:
    if not isinstance(body, dict):
        raise InputError("the request body must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InputError(f"unknown fields: {', '.join(unknown)}")
    return body


@dataclass
class _Pending:
    form: int
    opts: Options
    seeds: list[int]
    future: asyncio.Future
    queued_at: float = field(default_factory=time.monotonic)


class BatchSizes:
    """Poems per forward pass: a Prometheus histogram, plus the count and largest batch
    (which the batching tests and the benchmark read)."""

    def __init__(self, histogram: Histogram):
        self.histogram, self.count, self.max = histogram, 0, 0

    def observe(self, size: int) -> None:
        self.histogram.observe(size)
        self.count += 1
        self.max = max(self.max, size)


class Metrics:
    """The worker's Prometheus metrics (prometheus_client), in a registry of its own:
    requests, errors and latency per endpoint, batch sizes, and the process."""

    LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
    BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)

    def __init__(self):
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.requests = Counter("poembot_requests", "Requests answered", ["endpoint"], registry=self.registry)
        self.errors = Counter("poembot_errors", "Requests answered with an error", ["endpoint"],
                              registry=self.registry)
        self.latency = Histogram("poembot_request_seconds", "Time to answer a request", ["endpoint"],
                                 buckets=self.LATENCY_BUCKETS, registry=self.registry)
        self.batches = BatchSizes(Histogram("poembot_batch_size", "Poems per forward pass",
                                            buckets=self.BATCH_BUCKETS, registry=self.registry))

    def observe(self, endpoint: str, seconds: float, error: bool) -> None:
        self.requests.labels(endpoint).inc()
        if error:
            self.errors.labels(endpoint).inc()
        self.latency.labels(endpoint).observe(seconds)

    def render(self) -> str:
        return generate_latest(self.registry).decode()


class Engine:
    """Owns the loaded generators; the one place model work is scheduled."""

    def __init__(self, generators: dict[int, PoemGenerator], max_batch: int = 64,
                 max_wait_ms: float = 5.0, threads: int = 0):
        if not generators:
            raise ValueError("the engine needs at least one checkpoint")
        self.generators = generators
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self.threads = threads or available_cpus()
        self.metrics = Metrics()
        # one model thread and one batcher per form: the forms are separate models, so one
        # form's batch never waits for the other's
        self._pools: dict[int, ThreadPoolExecutor] = {}
        self._waiting: dict[tuple[int, Options], deque[_Pending]] = {}  # by kind, oldest first
        self._arrived: dict[int, asyncio.Event] = {}
        self._batchers: dict[int, asyncio.Task] = {}
        self._queued = 0  # poems waiting
        self._batch: dict[int, list[_Pending]] = {}  # per form, the requests being written now

    @classmethod
    def from_settings(cls, settings: WorkerSettings) -> Engine:
        gens = {form: PoemGenerator.from_path(path, form) for form, path in settings.checkpoints.items()}
        for form, gen in gens.items():
            if gen.form != form:
                raise CheckpointError(f"POEMBOT_CHECKPOINT_{form}: {settings.checkpoints[form]} writes "
                                      f"{gen.form}-character lines, not {form}")
        return cls(gens, settings.max_batch, settings.max_wait_ms, settings.threads)

    @property
    def versions(self) -> dict[int, str]:
        return {form: g.version for form, g in self.generators.items()}

    async def start(self) -> None:
        # the cores are shared out between the forms' threads (torch's setting is process-wide)
        threads = max(1, self.threads // len(self.generators))

        def init() -> None:  # each model thread's torch settings
            torch.set_num_threads(threads)

        self._waiting, self._queued = {}, 0
        for form in self.generators:
            self._pools[form] = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"poembot-model-{form}",
                                                   initializer=init)
            self._arrived[form] = asyncio.Event()
            self._batch[form] = []
            self._batchers[form] = asyncio.create_task(self._run_batches(form), name=f"poembot-batcher-{form}")

    async def close(self) -> None:
        for task in self._batchers.values():
            task.cancel()
        for task in self._batchers.values():
            try:
                await task
            except asyncio.CancelledError:
                pass
        for pool in self._pools.values():
            pool.shutdown(wait=True)
        waiting = [item for batch in self._batch.values() for item in batch]
        waiting += [item for queue in self._waiting.values() for item in queue]
        for item in waiting:  # nobody will write these now: say so instead of leaving them hanging
            if not item.future.done():
                item.future.set_exception(RuntimeError("the worker shut down before writing this poem"))
        self._batchers, self._pools, self._waiting, self._batch = {}, {}, {}, {}

    def _generator(self, form) -> PoemGenerator:
        if isinstance(form, bool) or not isinstance(form, int) or form not in self.generators:
            raise InputError(f"form must be one of {sorted(self.generators)}")
        return self.generators[form]

    async def _in_thread(self, form: int, fn, *args):
        """Run model work on `form`'s model thread, never on the event loop."""
        if form not in self._pools:
            raise RuntimeError("the engine is not started")
        return await asyncio.get_running_loop().run_in_executor(self._pools[form], fn, *args)

    # -- batching ------------------------------------------------------------------------
    async def _run_batches(self, form: int) -> None:
        """Form batches of one kind (form and options: one forward pass), the kind
        whose oldest request has waited longest first: everything of that kind
        already queued, up to `max_batch` poems (a request that would overflow opens
        the next batch; one bigger than `max_batch` goes alone, never split); then,
        while fewer are here than are likely to come soon and no other kind is
        waiting, wait up to `max_wait` for them.

        Likely to come soon: the poems of the last batch of that form (their
        clients, just answered, tend to ask again) and the poems of that kind that
        queued while it ran (taken at once). A lone user (a last batch of one) never
        waits, a steady crowd is served in whole batches, a crowd split into two
        half-batches that take turns (each coming back while the other runs) merges
        again, and users of one form never share (and halve) the other form's batches.
        """
        expected = 1
        while True:
            while not (mine := [k for k in self._waiting if k[0] == form]):
                self._arrived[form].clear()
                await self._arrived[form].wait()
            kind = min(mine, key=lambda k: self._waiting[k][0].queued_at)
            batch = await self._collect(kind, expected)
            size = await self._run(kind, batch)
            if size:
                came = sum(len(item.seeds) for k, q in self._waiting.items() if k[0] == form for item in q)
                expected = min(self.max_batch, size + came)
            self._batch[form] = []  # (close() answers a batch cancelled while it ran)

    async def _collect(self, kind: tuple, expected: int) -> list[_Pending]:
        """The next batch of one kind: what is queued, then what is likely to come soon."""
        queue = self._waiting[kind]
        self._batch[kind[0]] = batch = [queue.popleft()]  # held where close() can answer it, from the first
        size = len(batch[0].seeds)
        deadline = time.monotonic() + self.max_wait
        while size < self.max_batch:
            if not queue:
                timeout = deadline - time.monotonic()
                others = any(q for k, q in self._waiting.items() if k != kind and k[0] == kind[0])
                if size >= expected or timeout <= 0 or others:
                    break
                self._arrived[kind[0]].clear()
                try:
                    await asyncio.wait_for(self._arrived[kind[0]].wait(), timeout)
                except asyncio.TimeoutError:
                    break
                continue
            if size + len(queue[0].seeds) > self.max_batch:
                break  # too big for what is left: it opens the next batch of its kind
            batch.append(queue.popleft())
            size += len(batch[-1].seeds)
        if not queue:
            del self._waiting[kind]
        self._queued -= size
        return batch

    async def _run(self, kind: tuple, batch: list[_Pending]) -> int:
        """Write a batch in one forward pass and answer each request with its poems (or
        the error); the poems written (0 on an error)."""
        form, opts = kind
        seeds = [s for item in batch for s in item.seeds]
        self.metrics.batches.observe(len(seeds))
        try:
            poems = await self._in_thread(form, self.generators[form].sample_seeds, seeds, opts)
        except Exception as e:  # handed to every waiting request
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(e)
            return 0
        at = 0
        for item in batch:
            if not item.future.done():
                item.future.set_result(poems[at : at + len(item.seeds)])
            at += len(item.seeds)
        return len(seeds)

    # -- the API ------------------------------------------------------------------------
    async def sample(self, body: dict) -> dict:
        body = _check_keys(body, {"n", "seed", "form", "options", "subject", "acrostic"})
        gen = self._generator(body.get("form", 5))
        n = _int(body, "n", 1, 1, MAX_N)
        seed = body.get("seed")
        seed = new_seed() if seed is None else check_seed(seed)
        if seed + n - 1 > MAX_SEED:
            raise InputError("seed + n is too large")
        opts = parse_options(body.get("options"), gen.default_options)
        subject, acrostic = body.get("subject"), body.get("acrostic")
        if subject is not None or acrostic is not None:  # a request of its own: checked here, written on its own
            if subject is not None and (not isinstance(subject, list) or not all(isinstance(w, str) for w in subject)):
                raise InputError("subject is a list of words")
            if acrostic is not None and not isinstance(acrostic, str):
                raise InputError("acrostic is a string of characters")
            gen.request(subject, acrostic, opts)
            poems = await self._in_thread(gen.form, gen.sample_seeds, [seed + i for i in range(n)], opts,
                                          subject, acrostic)
            return {"poems": [p.to_dict() for p in poems], "model": gen.version, "options": asdict(opts),
                    "request": {"subject": subject, "acrostic": acrostic}}
        if gen.form not in self._batchers:
            raise RuntimeError("the engine is not started")
        future = asyncio.get_running_loop().create_future()
        self._queued += n
        self._waiting.setdefault((gen.form, opts), deque()).append(
            _Pending(gen.form, opts, [seed + i for i in range(n)], future))
        self._arrived[gen.form].set()
        poems = await future
        return {"poems": [p.to_dict() for p in poems], "model": gen.version, "options": asdict(opts)}

    async def blend(self, body: dict) -> dict:
        body = _check_keys(body, {"a", "b", "steps", "method", "form", "seed", "options", "crossings"})
        gen = self._generator(body.get("form", 5))
        for key in ("a", "b"):
            if not isinstance(body.get(key), (str, list)):
                raise InputError(f"{key} must be a poem's text or its latent")
        steps = _int(body, "steps", 5, 2, MAX_STEPS)
        seed = check_seed(body.get("seed", 0))
        method = body.get("method", "lerp")
        opts = parse_options(body.get("options"), gen.blend_options)
        crossings = body.get("crossings")  # None: the model's way (see PoemGenerator.interpolate)
        if crossings is None:
            crossings = not gen.ckpt.cfg.latent_global
        if not isinstance(crossings, bool):
            raise InputError("crossings is true (steps between the ends cross their half-lines) or false")
        poems = await self._in_thread(gen.form, gen.interpolate, body["a"], body["b"], steps, method, seed, opts,
                                      crossings)
        return {"poems": [p.to_dict() for p in poems], "model": gen.version, "options": asdict(opts),
                "seed": seed, "method": method, "crossings": crossings}

    def _text_and_generator(self, body: dict) -> tuple[str, PoemGenerator]:
        text = body.get("text")
        if not isinstance(text, str):
            raise InputError("text must be a poem")
        form = body.get("form")
        if form is None:  # the form is the poem's: 20 characters or 28
            form = form_of(text)
            form = form if form in self.generators else 5
        return text, self._generator(form)

    async def vary(self, body: dict) -> dict:
        body = _check_keys(body, {"text", "form", "seed", "options", "towards", "t"})
        text, gen = self._text_and_generator(body)
        seed = body.get("seed")
        seed = new_seed() if seed is None else check_seed(seed)
        towards, t = body.get("towards"), body.get("t", 0.5)
        opts = parse_options(body.get("options"), gen.vary_options if towards is None else gen.favourite_options)
        if towards is not None and not isinstance(towards, str):
            raise InputError("towards must be a poem's text")
        poem = await self._in_thread(gen.form, gen.vary, text, seed, opts, towards, t)
        return {"poems": [poem.to_dict()], "model": gen.version, "options": asdict(opts), "seed": seed}

    async def rewrite(self, body: dict) -> dict:
        body = _check_keys(body, {"text", "form", "line", "seed", "options"})
        text, gen = self._text_and_generator(body)
        seed = body.get("seed")
        seed = new_seed() if seed is None else check_seed(seed)
        line = _int(body, "line", 0, 1, 4)
        opts = parse_options(body.get("options"), gen.default_options)
        poem = await self._in_thread(gen.form, gen.rewrite, text, line, seed, opts)
        return {"poems": [poem.to_dict()], "model": gen.version, "options": asdict(opts), "seed": seed, "line": line}

    async def encode(self, body: dict) -> dict:
        body = _check_keys(body, {"text", "form"})
        text, gen = self._text_and_generator(body)

        def work() -> tuple[str, list[float]]:
            parsed = gen.parse(text)
            return parsed, gen.latent_of(parsed)

        parsed, latent = await self._in_thread(gen.form, work)
        return {"latent": latent, "text": parsed, "form": gen.form, "model": gen.version}

    def health(self) -> dict:
        return {"status": "ok", "models": {str(f): v for f, v in self.versions.items()}}


# -- HTTP ------------------------------------------------------------------------------------
ENGINE = web.AppKey("engine", Engine)


def create_app(settings: WorkerSettings, engine: Engine | None = None) -> web.Application:
    """The HTTP service. The engine (and its models) is built once when the app starts."""
    app = web.Application(client_max_size=MAX_BODY, middlewares=[_errors], handler_args={"logger": http_log()})

    async def lifecycle(app: web.Application):
        eng = engine or await asyncio.get_running_loop().run_in_executor(None, Engine.from_settings, settings)
        await eng.start()
        app[ENGINE] = eng
        log.info("worker ready: %s", eng.versions)
        yield
        await eng.close()

    app.cleanup_ctx.append(lifecycle)
    for name in ("sample", "blend", "encode", "vary", "rewrite"):
        app.router.add_post(f"/v1/{name}", _handler(name))
    app.router.add_get("/healthz", _health)
    app.router.add_get("/metrics", _metrics)
    return app


class _OneLine(logging.Filter):
    """Malformed HTTP (a bad chunk size, two Content-Lengths, a NUL in a header) is the
    sender's fault: one WARNING line naming it, not an ERROR with aiohttp's traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            reason = (error.message or type(error).__name__).strip().splitlines()[0].rstrip(":")
            record.msg, record.args = "%s (malformed HTTP: %d %s)", (record.getMessage(), error.code, reason)
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info = record.exc_text = None
        return True


def http_log() -> logging.Logger:
    """The logger of the HTTP server (aiohttp's protocol errors), with `_OneLine` on it."""
    logger = logging.getLogger("poembot.model.worker.http")
    if not any(isinstance(f, _OneLine) for f in logger.filters):
        logger.addFilter(_OneLine())
    return logger


class _Refused(Exception):
    """A request refused before it reached the engine: status, error code, message."""

    def __init__(self, status: int, error: str, message: str):
        super().__init__(message)
        self.status, self.error = status, error


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


async def _json_body(request: web.Request):
    """The body as JSON (UTF-8, as RFC 8259 says, whatever charset is claimed)."""
    if request.headers.get("Content-Encoding", "identity").strip().lower() != "identity":
        raise _Refused(415, "unsupported_encoding", "send the request body uncompressed (no Content-Encoding)")
    if (request.content_length or 0) > MAX_BODY:  # refused at once, not after waiting for the body
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=request.content_length)
    try:
        async with asyncio.timeout(BODY_TIMEOUT_S):
            raw = await request.read()
    except TimeoutError:
        raise _Refused(408, "timeout", f"the request body did not arrive within {BODY_TIMEOUT_S:g} s") from None
    except (ConnectionError, RequestPayloadError):
        raise _Refused(400, "incomplete_body", "the request body was cut short") from None
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (ValueError, RecursionError):  # bad UTF-8 or JSON, NaN, a 5,000-digit number, [[[[...
        raise InputError("the request body is not valid JSON") from None


def _handler(name: str):
    async def handler(request: web.Request) -> web.Response:
        engine = request.app[ENGINE]
        t0 = time.perf_counter()
        error = True
        try:
            body = await _json_body(request)
            reply = await getattr(engine, name)(body)
            error = False
            return web.json_response(reply, dumps=lambda o: json.dumps(o, ensure_ascii=False))
        finally:
            engine.metrics.observe(name, time.perf_counter() - t0, error)

    return handler


@web.middleware
async def _errors(request: web.Request, handler):
    try:
        return await handler(request)
    except InputError as e:
        return web.json_response({"error": "bad_request", "message": str(e)}, status=400)
    except _Refused as e:
        return web.json_response({"error": e.error, "message": str(e)}, status=e.status)
    except web.HTTPRequestEntityTooLarge:
        return web.json_response({"error": "too_large", "message": f"request bodies are limited to {MAX_BODY} bytes"},
                                 status=413)
    except web.HTTPException as e:
        if e.status >= 500:
            raise
        return web.json_response({"error": e.reason.lower().replace(" ", "_"), "message": e.reason},
                                 status=e.status)
    except Exception:
        log.exception("unexpected error on %s", request.path)
        return web.json_response({"error": "internal", "message": "the worker failed; see its log"}, status=500)


async def _health(request: web.Request) -> web.Response:
    return web.json_response(request.app[ENGINE].health())


async def _metrics(request: web.Request) -> web.Response:
    return web.Response(text=request.app[ENGINE].metrics.render(), content_type="text/plain")
