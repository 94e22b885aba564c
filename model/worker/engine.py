"""The engine: owns the loaded generators and schedules all model work.

Concurrent sample requests are coalesced into one forward pass (at most
`max_batch` poems, waiting at most `max_wait_ms` for the ones likely to come
soon: see `Engine._run_batches`). Model work runs on dedicated threads, never on
the event loop (a thread per form). A subject or acrostic request runs on its own.
Requests arrive checked by their `from_json` (model/contract.py); what only the
model can judge is refused here, as InputError, once: a subject's or an acrostic's
characters become ids here (`PoemGenerator.request_ids`) and those ids go down to the
generator (`sample_checked`), which checks nothing again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

import torch
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest

from ..checkpoint import CheckpointError
from ..contract import (
    Overloaded,
    BlendRequest,
    EncodeReply,
    EncodeRequest,
    InputError,
    Options,
    PoemsReply,
    RewriteRequest,
    SampleRequest,
    VaryRequest,
    parse_options,
    version,
)
from ..generate import PoemGenerator, consecutive_seeds, new_seed
from ..text import form_of
from .settings import WorkerSettings, available_cpus

log = logging.getLogger("poembot.model.worker")


@dataclass(eq=False)  # (compared by identity: a request given up is taken out of its queue)
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


class EngineMetrics:
    """The worker's Prometheus metrics (prometheus_client), in a registry of its own:
    requests, errors and latency per endpoint, requests being answered, batch sizes, the
    queue (set by the engine: `queued`), and the process."""

    LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
    BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)

    def __init__(self):
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.requests = Counter("poembot_requests", "Requests answered", ["endpoint"], registry=self.registry)
        self.errors = Counter("poembot_errors", "Requests answered with an error", ["endpoint"], registry=self.registry)
        self.latency = Histogram(
            "poembot_request_seconds",
            "Time to answer a request",
            ["endpoint"],
            buckets=self.LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batches = BatchSizes(
            Histogram(
                "poembot_batch_size", "Poems per forward pass", buckets=self.BATCH_BUCKETS, registry=self.registry
            )
        )
        self.answering = 0  # requests being answered now (read at shutdown)
        Gauge("poembot_requests_in_progress", "Requests being answered", registry=self.registry).set_function(
            lambda: self.answering
        )
        self.queued = Gauge(
            "poembot_queued",
            "Poems waiting or being written, and other jobs (POEMBOT_MAX_QUEUE)",
            registry=self.registry,
        )

    def observe(self, endpoint: str, seconds: float, error: bool) -> None:
        self.requests.labels(endpoint).inc()
        if error:
            self.errors.labels(endpoint).inc()
        self.latency.labels(endpoint).observe(seconds)

    def render(self) -> str:
        return generate_latest(self.registry).decode()


class Engine:
    """Owns the loaded generators; the one place model work is scheduled."""

    def __init__(
        self,
        generators: dict[int, PoemGenerator],
        max_batch: int = 64,
        max_wait_ms: float = 5.0,
        threads: int = 0,
        max_queue: int = 512,
    ):
        if not generators:
            raise ValueError("the engine needs at least one checkpoint")
        self.generators = generators
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self.threads = threads or available_cpus()
        self.metrics = EngineMetrics()
        # one model thread and one batcher per form: the forms are separate models, so one
        # form's batch never waits for the other's
        self._pools: dict[int, ThreadPoolExecutor] = {}
        self._waiting: dict[tuple[int, Options], deque[_Pending]] = {}  # by batch key, oldest first
        self._arrived: dict[int, asyncio.Event] = {}
        self._batchers: dict[int, asyncio.Task] = {}
        self._batch: dict[int, list[_Pending]] = {}  # per form, the requests being written now
        self.max_queue = max_queue
        self.queued = 0  # poems waiting or being written, and other jobs on the model threads
        self.metrics.queued.set_function(lambda: self.queued)
        self._job_s = 0.05  # seconds a batch or job took lately, for Retry-After

    @classmethod
    def from_settings(cls, settings: WorkerSettings) -> Engine:
        gens = {form: PoemGenerator.from_path(path, form) for form, path in settings.checkpoints.items()}
        for form, gen in gens.items():
            if gen.form != form:
                raise CheckpointError(
                    f"POEMBOT_CHECKPOINT_{form}: {settings.checkpoints[form]} writes "
                    f"{gen.form}-character lines, not {form}"
                )
        return cls(gens, settings.max_batch, settings.max_wait_ms, settings.threads, settings.max_queue)

    @property
    def versions(self) -> dict[int, str]:
        return {form: g.version for form, g in self.generators.items()}

    async def start(self) -> None:
        # the cores are shared out between the forms' threads (torch's setting is process-wide)
        threads = max(1, self.threads // len(self.generators))

        def init() -> None:  # each model thread's torch settings
            torch.set_num_threads(threads)

        self._waiting = {}
        for form in self.generators:
            self._pools[form] = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix=f"poembot-model-{form}", initializer=init
            )
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
            forms = sorted(self.generators)
            raise InputError(f"form must be one of {forms}", "form_not_loaded", forms=forms)
        return self.generators[form]

    async def _in_thread(self, form: int, fn, *args):
        """Run model work on `form`'s model thread, never on the event loop. A job whose
        request is given up (its client hung up) before the thread takes it is never run."""
        if form not in self._pools:
            raise RuntimeError("the engine is not started")
        t0 = time.monotonic()
        result = await asyncio.get_running_loop().run_in_executor(self._pools[form], fn, *args)
        self._job_s = 0.8 * self._job_s + 0.2 * (time.monotonic() - t0)
        return result

    @contextlib.contextmanager
    def _admitted(self, poems: int):
        """Count `poems` (or one job) as queued while they are written, or until their request
        is given up (cancelled: its client hung up); past `max_queue`, refuse at once
        (Overloaded: 429) with the time the queue ahead should take."""
        if self.queued + poems > self.max_queue and self.queued:
            ahead = math.ceil(self.queued / self.max_batch) / max(1, len(self.generators))
            raise Overloaded(max(1.0, ahead * self._job_s))
        self.queued += poems
        try:
            yield
        finally:
            self.queued -= poems

    # -- batching ------------------------------------------------------------------------
    async def _run_batches(self, form: int) -> None:
        """Form batches of requests that share a batch key (form and options: one forward
        pass), the key whose oldest request has waited longest first: everything queued
        under that key, up to `max_batch` poems (a request that would overflow opens the
        next batch; one bigger than `max_batch` goes alone, never split); then, while fewer
        are here than are likely to come soon and no other key is waiting, wait up to
        `max_wait` for them.

        Likely to come soon: the poems of the last batch of that form (their
        clients, just answered, tend to ask again) and the poems under that key that
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
            batch_key = min(mine, key=lambda k: self._waiting[k][0].queued_at)
            batch = await self._collect(batch_key, expected)
            size = await self._run(batch_key, batch)
            if size:
                came = sum(len(item.seeds) for k, q in self._waiting.items() if k[0] == form for item in q)
                expected = min(self.max_batch, size + came)
            self._batch[form] = []  # (close() answers a batch cancelled while it ran)

    async def _collect(self, batch_key: tuple, expected: int) -> list[_Pending]:
        """The next batch under one batch key: what is queued, then what is likely to come soon."""
        queue = self._waiting[batch_key]
        self._batch[batch_key[0]] = batch = [queue.popleft()]  # held where close() can answer it, from the first
        size = len(batch[0].seeds)
        deadline = time.monotonic() + self.max_wait
        while size < self.max_batch:
            if not queue:
                timeout = deadline - time.monotonic()
                others = any(q for k, q in self._waiting.items() if k != batch_key and k[0] == batch_key[0])
                if size >= expected or timeout <= 0 or others:
                    break
                self._arrived[batch_key[0]].clear()
                try:
                    await asyncio.wait_for(self._arrived[batch_key[0]].wait(), timeout)
                except asyncio.TimeoutError:
                    break
                continue
            if size + len(queue[0].seeds) > self.max_batch:
                break  # too big for what is left: it opens the next batch under its key
            batch.append(queue.popleft())
            size += len(batch[-1].seeds)
        if not queue and self._waiting.get(batch_key) is queue:  # (`_give_up` may have emptied and dropped it)
            del self._waiting[batch_key]
        return batch

    async def _run(self, batch_key: tuple, batch: list[_Pending]) -> int:
        """Write a batch in one forward pass and answer each request with its poems (or
        the error); the poems written (0 on an error)."""
        form, opts = batch_key
        batch = [item for item in batch if not item.future.done()]  # (given up while it was collected)
        if not batch:
            return 0
        seeds = [s for item in batch for s in item.seeds]
        self.metrics.batches.observe(len(seeds))
        try:
            poems = await self._in_thread(form, self.generators[form].sample_checked, seeds, opts)
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

    # -- the API: a checked request in, its reply out -----------------------------------
    async def sample(self, req: SampleRequest) -> PoemsReply:
        gen = self._generator(req.form)
        seeds = consecutive_seeds(new_seed() if req.seed is None else req.seed, req.n)  # (in range: from_json)
        opts = parse_options(req.options, gen.default_options)
        if req.subject is not None or req.acrostic is not None:  # a request of its own, written on its own
            words, heads = gen.request_ids(req.subject, req.acrostic, opts)  # what only the model can judge
            with self._admitted(req.n):
                poems = await self._in_thread(gen.form, gen.sample_checked, seeds, opts, words, heads)
            return PoemsReply(
                poems, gen.version, asdict(opts), request={"subject": req.subject, "acrostic": req.acrostic}
            )
        if gen.form not in self._batchers:
            raise RuntimeError("the engine is not started")
        with self._admitted(req.n):
            pending = _Pending(gen.form, opts, seeds, asyncio.get_running_loop().create_future())
            self._waiting.setdefault((gen.form, opts), deque()).append(pending)
            self._arrived[gen.form].set()
            try:
                poems = await pending.future
            except asyncio.CancelledError:  # its client hung up: not written, its place given back
                self._give_up(pending)
                raise
        return PoemsReply(poems, gen.version, asdict(opts))

    def _give_up(self, pending: _Pending) -> None:
        """Take a request nobody waits for out of its queue (one already in a batch is skipped
        when the batch is written, or written with it if it has started)."""
        batch_key = (pending.form, pending.opts)
        queue = self._waiting.get(batch_key)
        if queue is not None and pending in queue:
            queue.remove(pending)
            if not queue:
                del self._waiting[batch_key]

    async def blend(self, req: BlendRequest) -> PoemsReply:
        gen = self._generator(req.form)
        opts = parse_options(req.options, gen.blend_options)
        crossings = not gen.ckpt.cfg.latent_global if req.crossings is None else req.crossings
        with self._admitted(1):
            poems = await self._in_thread(
                gen.form, gen.interpolate, req.a, req.b, req.steps, req.method, req.seed, opts, crossings
            )
        return PoemsReply(poems, gen.version, asdict(opts), seed=req.seed, method=req.method, crossings=crossings)

    def _text_generator(self, text: str, form: int | None) -> PoemGenerator:
        """The generator of `form`, else of the text's own form (20 characters or 28)."""
        if form is None:
            form = form_of(text)
            form = form if form in self.generators else 5
        return self._generator(form)

    async def vary(self, req: VaryRequest) -> PoemsReply:
        gen = self._text_generator(req.text, req.form)
        seed = new_seed() if req.seed is None else req.seed
        opts = parse_options(req.options, gen.vary_options if req.towards is None else gen.favourite_options)
        with self._admitted(1):
            poem = await self._in_thread(gen.form, gen.vary, req.text, seed, opts, req.towards, req.t)
        return PoemsReply([poem], gen.version, asdict(opts), seed=seed)

    async def rewrite(self, req: RewriteRequest) -> PoemsReply:
        gen = self._text_generator(req.text, req.form)
        seed = new_seed() if req.seed is None else req.seed
        opts = parse_options(req.options, gen.default_options)
        with self._admitted(1):
            poem = await self._in_thread(gen.form, gen.rewrite, req.text, req.line, seed, opts)
        return PoemsReply([poem], gen.version, asdict(opts), seed=seed, line=req.line)

    async def encode(self, req: EncodeRequest) -> EncodeReply:
        gen = self._text_generator(req.text, req.form)

        def work() -> tuple[str, list[float]]:
            parsed = gen.parse(req.text)
            return parsed, gen.latent_of(parsed)

        with self._admitted(1):
            parsed, latent = await self._in_thread(gen.form, work)
        return EncodeReply(latent=latent, text=parsed, form=gen.form, model=gen.version)

    def health(self) -> dict:
        """/healthz: the models loaded, and the contract this worker speaks (the bot's client
        keeps a worker of another version out of rotation)."""
        return {"status": "ok", "models": {str(f): v for f, v in self.versions.items()}, "contract": version()}
