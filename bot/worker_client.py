"""The bot's side of the worker seam: the same client for the in-process engine
and the HTTP service. Nothing here imports torch; the in-process engine is
imported only when that mode is chosen.

Requests and replies are the contract's types (model/contract.py). Both
transports check a request with the same `from_json` (the HTTP worker on arrival,
the in-process one before the engine sees it), so one bad request fails the same
way in both: `WorkerBadRequest` with the contract's message (the user asked for
something impossible). `WorkerUnavailable`: the worker cannot be reached now.

`HttpWorker` sends a request and retries it elsewhere; which replica it goes to, which are
down, and the contract handshake are bot/replicas.py's.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

import aiohttp

from model.contract import (
    BlendRequest,
    EncodeReply,
    EncodeRequest,
    InputError,
    PoemsReply,
    ReplyError,
    RewriteRequest,
    SampleRequest,
    Overloaded,
    VaryRequest,
    check_reply,
    version,
)  # torch-free

from .i18n import t
from .replicas import Replica, ReplicaPool


class WorkerError(Exception):
    """The worker could not answer."""


class WorkerBadRequest(WorkerError):
    """The request was refused, for the user's mistake: `code` and `params` say what is wrong
    (the contract's REFUSALS, which the bot words in its reader's language); the message says
    it in English, as the worker did."""

    def __init__(self, message: str, code: str = "invalid_request", params: dict | None = None):
        super().__init__(message)
        self.code, self.params = code, params or {}

    @classmethod
    def of(cls, error: InputError) -> WorkerBadRequest:
        return cls(str(error), error.code, error.params)


class WorkerBusy(WorkerError):
    """Every worker has more work waiting than its bound (HTTP 429): try again in
    `retry_after` seconds."""

    def __init__(self, retry_after: float):
        super().__init__(f"the poem worker is busy; try again in {retry_after:.0f} s")
        self.retry_after = retry_after


class WorkerUnavailable(WorkerError):
    """No worker answered; `words` tell the user (`detail` says why, for the log)."""

    def __init__(self, detail: str = ""):
        self.words = t("The poem worker is not answering right now.") + t("Please try again in a minute.")
        super().__init__(str(self.words))
        self.detail = detail


class WorkerClient(Protocol):
    async def sample(self, req: SampleRequest) -> PoemsReply: ...
    async def blend(self, req: BlendRequest) -> PoemsReply: ...
    async def encode(self, req: EncodeRequest) -> EncodeReply: ...
    async def vary(self, req: VaryRequest) -> PoemsReply: ...
    async def rewrite(self, req: RewriteRequest) -> PoemsReply: ...
    async def health(self) -> dict: ...
    async def close(self) -> None: ...


class InProcessWorker:
    """The engine in this process, its model work on its own thread."""

    def __init__(self, engine):
        self.engine = engine

    @classmethod
    async def start(cls) -> InProcessWorker:
        from .settings import ConfigError

        try:
            from model.worker.engine import Engine  # torch is loaded only here
            from model.worker.settings import SettingsError, WorkerSettings
        except ModuleNotFoundError as e:  # a bot installed without the model's extra
            raise ConfigError(
                f"the in-process worker needs the model's packages ({e.name} is missing): install "
                "poembot[worker], or set WORKER_URL to an HTTP worker"
            ) from None

        try:
            settings = WorkerSettings.from_env()
        except SettingsError as e:
            raise ConfigError(str(e)) from None
        from model.checkpoint import CheckpointError

        try:  # a checkpoint that cannot be used is the operator's setting, said in one line at start
            engine = await asyncio.get_running_loop().run_in_executor(None, Engine.from_settings, settings)
        except CheckpointError as e:
            raise ConfigError(str(e)) from None
        await engine.start()
        return cls(engine)

    async def _call(self, name: str, req):
        try:
            checked = type(req).from_json(req.to_json())  # the check the HTTP worker makes on arrival
            return await getattr(self.engine, name)(checked)
        except InputError as e:
            raise WorkerBadRequest.of(e) from None
        except Overloaded as e:
            raise WorkerBusy(e.retry_after) from None

    async def sample(self, req: SampleRequest) -> PoemsReply:
        return await self._call("sample", req)

    async def blend(self, req: BlendRequest) -> PoemsReply:
        return await self._call("blend", req)

    async def encode(self, req: EncodeRequest) -> EncodeReply:
        return await self._call("encode", req)

    async def vary(self, req: VaryRequest) -> PoemsReply:
        return await self._call("vary", req)

    async def rewrite(self, req: RewriteRequest) -> PoemsReply:
        return await self._call("rewrite", req)

    async def health(self) -> dict:
        return self.engine.health()

    async def close(self) -> None:
        await self.engine.close()


def _retry_after(header: str | None) -> float:
    """A Retry-After header's seconds (1 when absent or a date)."""
    try:
        return max(1.0, min(600.0, float(header)))
    except (TypeError, ValueError):
        return 1.0


class _BadReply(Exception):
    """A 2xx answer that is not a good reply: not the worker's (a WORKER_URL that reaches
    another service), or one that fails its request's check (a broken replica)."""


class HttpWorker:
    """The worker service over HTTP: one URL or several replicas (bot/replicas.py). Each
    request goes to the replica with the fewest requests outstanding (ties in turn); a replica
    that cannot be reached, times out, answers 5xx or answers a reply that fails the contract's
    check against its request (`check_reply`: a wrong poem is never shown) is marked down for a
    while and the request is sent to another (every request is idempotent: a seed gives the
    same poem anywhere, and saving happens in the bot); so is one that answers any 4xx but the
    worker's own refusal (400 bad_request naming this contract: the user's mistake, not
    retried). A replica is used once its /healthz names this bot's contract version (its
    handshake). A replica marked down is asked for /healthz every `probe_s` seconds and is back
    the moment it answers (or, failing that, tried again once its pause is over)."""

    def __init__(
        self,
        url: str | list[str],
        timeout_s: float = 10.0,
        retries: int = 2,
        backoff_s: float = 0.2,
        down_s: float = 2.0,
        probe_s: float = 1.0,
        resolve=None,
    ):
        urls = [u.strip().rstrip("/") for u in (url.split(",") if isinstance(url, str) else url)]
        self.urls = [u for u in urls if u]  # as configured
        self.pool = ReplicaPool(self.urls, self._client, down_s, probe_s, resolve)
        self.url = self.urls[0]  # (the first, for messages)
        self.timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=min(2.0, timeout_s))
        self.retries = retries
        self.backoff_s = backoff_s
        self._session: aiohttp.ClientSession | None = None

    @property
    def endpoints(self) -> list[Replica]:
        """The replicas as the client sees them now (WORKER_URL's host names looked up)."""
        return self.pool.replicas

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def _request(self, method: str, path: str, body: dict | None = None, reply_type=None, request=None):
        """The reply to one request (as `reply_type`, else a dict), from whichever replica answers
        with a reply that passes the contract's check against `request` (`check_reply`): a
        replica whose reply fails it is marked down like a dead one, and the next is asked."""
        pool = self.pool
        await pool.refresh()
        delay, tried, last = self.backoff_s, set(), ""
        busy: dict[str, float] = {}  # replica -> the Retry-After of its 429 (busy, not broken)
        attempts = self.retries + len(pool.replicas)
        for attempt in range(attempts):
            if attempt and len(tried) >= len(pool.replicas):  # every replica tried: wait a little
                await asyncio.sleep(delay)
                delay *= 2
                tried.clear()
            e = pool.choose(tried)
            tried.add(e.url)
            if request is not None and not await pool.handshake(e):
                last = f"{e.url} does not speak this bot's contract ({version()}) or cannot say"
                continue
            e.outstanding += 1
            try:
                async with self._client().request(method, e.url + path, json=body) as resp:
                    if resp.status < 400:
                        reply = await self._reply(resp, e.url, path, reply_type, request)
                        pool.answered(e)
                        return reply
                    message = await self._message(resp)
                    if resp.status == 429:  # past its queue bound: another replica may have room
                        busy[e.url] = _retry_after(resp.headers.get("Retry-After"))
                        if len(busy) >= len(pool.replicas):
                            raise WorkerBusy(min(busy.values()))
                        continue
                    if refusal := await self._refusal(resp):  # the user's mistake: the same anywhere
                        raise WorkerBadRequest.of(refusal)
                    # any other 4xx is not about the user's input (another service's 401, 403,
                    # 404, 422; a worker of another contract's "unknown fields"): like a 5xx
                    last = f"{resp.status}: {message}"
                    pool.failed(e, last)
            except (aiohttp.ClientConnectionError, ConnectionError, aiohttp.ClientPayloadError) as err:
                last = str(err) or err.__class__.__name__
                pool.failed(e, last)
            except asyncio.TimeoutError:
                last = "timed out"
                pool.failed(e, last)
            except _BadReply as err:
                last = str(err)
                pool.failed(e, last)
            finally:
                e.outstanding -= 1
        raise WorkerUnavailable(last)

    @staticmethod
    async def _reply(resp: aiohttp.ClientResponse, url: str, path: str, reply_type, request):
        """A 2xx answer as the reply to `request` (as `reply_type`, else a dict); _BadReply when
        it is not a poem worker's reply or fails the contract's check against `request`."""
        try:
            reply = await resp.json()
        except (aiohttp.ContentTypeError, ValueError):
            reply = None
        try:
            if not isinstance(reply, dict):
                raise ReplyError("not a JSON object")
            reply = reply_type.from_json(reply) if reply_type else reply
        except ReplyError as why:
            raise _BadReply(
                f"{url}{path} answered {resp.status} with no poem worker's "
                f"reply ({why}): is WORKER_URL the worker's address?"
            ) from None
        if request is not None:
            try:
                check_reply(request, reply)
            except ReplyError as why:
                raise _BadReply(f"a bad reply to {path}: {why}") from None
        return reply

    @staticmethod
    async def _message(resp: aiohttp.ClientResponse) -> str:
        """An error answer's message (its JSON `message`, else the HTTP reason), for the log."""
        try:
            return (await resp.json()).get("message", resp.reason)
        except (aiohttp.ContentTypeError, ValueError, AttributeError):
            return resp.reason or "error"

    @staticmethod
    async def _refusal(resp: aiohttp.ClientResponse) -> InputError | None:
        """The worker's refusal of the request itself, if a 4xx is that (the contract's
        InputError: 400 bad_request naming this bot's contract), the only 4xx the user is told
        about; else None."""
        if resp.status != 400:
            return None
        try:
            return InputError.from_json(await resp.json())
        except (aiohttp.ContentTypeError, ValueError):
            return None

    async def _post(self, req, reply_type):
        return await self._request("POST", req.PATH, req.to_json(), reply_type, req)

    async def sample(self, req: SampleRequest) -> PoemsReply:
        return await self._post(req, PoemsReply)

    async def blend(self, req: BlendRequest) -> PoemsReply:
        return await self._post(req, PoemsReply)

    async def encode(self, req: EncodeRequest) -> EncodeReply:
        return await self._post(req, EncodeReply)

    async def vary(self, req: VaryRequest) -> PoemsReply:
        return await self._post(req, PoemsReply)

    async def rewrite(self, req: RewriteRequest) -> PoemsReply:
        return await self._post(req, PoemsReply)

    async def health(self) -> dict:
        return await self._request("GET", "/healthz")

    async def close(self) -> None:
        await self.pool.close()
        if self._session is not None:
            await self._session.close()


async def connect(worker_url: str | None, timeout_s: float = 10.0) -> WorkerClient:
    """The HTTP worker when a URL is configured, else the in-process engine."""
    if worker_url:
        return HttpWorker(worker_url, timeout_s)
    return await InProcessWorker.start()
