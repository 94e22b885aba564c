"""The bot's side of the worker seam: the same client for the in-process engine
and the HTTP service. Nothing here imports torch; the in-process engine is
imported only when that mode is chosen.

Requests and replies are the contract's types (model/contract.py). Both
transports check a request with the same `from_json` (the HTTP worker on arrival,
the in-process one before the engine sees it), so one bad request fails the same
way in both: `WorkerBadRequest` with the contract's message (the user asked for
something impossible). `WorkerUnavailable`: the worker cannot be reached now.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

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

log = logging.getLogger("poembot.bot.worker")


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


RESOLVE_S = 10.0  # how often WORKER_URL's host names are looked up again
OTHER_CONTRACT_S = 30.0  # how long a replica of another contract version stays out before it is asked again


def _is_address(host: str | None) -> bool:
    try:
        ipaddress.ip_address(host or "")
        return True
    except ValueError:
        return False


async def _addresses(host: str, port: int) -> list[str]:
    """The addresses a host name has now: its IPv4 ones, else its IPv6 ones."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    v4 = sorted({i[4][0] for i in infos if i[0] == socket.AF_INET})
    return v4 or sorted({i[4][0] for i in infos if i[0] == socket.AF_INET6})


def _retry_after(header: str | None) -> float:
    """A Retry-After header's seconds (1 when absent or a date)."""
    try:
        return max(1.0, min(600.0, float(header)))
    except (TypeError, ValueError):
        return 1.0


class _BadReply(Exception):
    """A 2xx answer that is not a good reply: not the worker's (a WORKER_URL that reaches
    another service), or one that fails its request's check (a broken replica)."""


@dataclass
class _Endpoint:
    """One worker replica as the client sees it."""

    url: str
    outstanding: int = 0  # requests sent and not yet answered
    down_until: float = 0.0  # (monotonic) not chosen before this unless every replica is down
    failures: int = 0  # consecutive failures
    source: str = ""  # the WORKER_URL entry it came from (a host name may have several replicas)
    contract: str | None = None  # its contract version, once its /healthz says it is ours; None: ask first
    other: str | None = None  # the other contract version it last reported (said once in the log)
    asked: int = 0  # /healthz handshakes made (concurrent requests share one)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False, compare=False)


class HttpWorker:
    """The worker service over HTTP: one URL or several replicas. Each request goes to the
    replica with the fewest requests outstanding (ties in turn); a replica that cannot be
    reached, times out, answers 5xx or answers a reply that fails the contract's check against
    its request (`check_reply`: a wrong poem is never shown) is marked down for a while and the
    request is sent to another (every request is idempotent: a seed gives the same poem
    anywhere, and saving happens in the bot); so is one that answers any 4xx but the worker's
    own refusal (400 bad_request naming this contract: the user's mistake, not retried). A
    replica is used once its /healthz names this bot's contract version (`_handshake`). A replica marked down is asked for /healthz every `probe_s` seconds
    and is back the moment it answers (or, failing that, tried again once its pause is over)."""

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
        self.endpoints = [_Endpoint(u, source=u) for u in self.urls]
        self.url = self.endpoints[0].url  # (the first, for messages)
        self._resolve = resolve or _addresses
        self._resolved_at = -RESOLVE_S
        self.timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=min(2.0, timeout_s))
        self.retries = retries
        self.backoff_s = backoff_s
        self.down_s = down_s
        self.probe_s = probe_s
        self._probes: dict[str, asyncio.Task] = {}  # replica -> its /healthz probe while it is down
        self._turn = 0
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    def _choose(self, tried: set[str]) -> _Endpoint:
        """The least busy replica that is up and not yet tried for this request (else the one
        back soonest)."""
        now = time.monotonic()
        fresh = [e for e in self.endpoints if e.url not in tried] or self.endpoints
        up = [e for e in fresh if e.down_until <= now]
        if not up:
            return min(fresh, key=lambda e: e.down_until)
        self._turn += 1
        return min(up, key=lambda e: (e.outstanding, (self.endpoints.index(e) - self._turn) % len(self.endpoints)))

    def _failed(self, e: _Endpoint, why: str) -> None:
        e.contract = None  # what answers there next may be another process: ask it again
        e.failures += 1
        e.down_until = time.monotonic() + min(30.0, self.down_s * e.failures)
        log.warning("worker at %s failed (%s); marked down for %.0fs", e.url, why, e.down_until - time.monotonic())
        if len(self.endpoints) > 1 and (e.url not in self._probes or self._probes[e.url].done()):
            self._probes[e.url] = asyncio.get_running_loop().create_task(self._probe(e), name=f"probe {e.url}")

    async def _probe(self, e: _Endpoint) -> None:
        """Ask a replica that is down for /healthz until it answers; then it is up again."""
        timeout = aiohttp.ClientTimeout(total=max(0.5, self.probe_s))
        while e.down_until > 0:
            await asyncio.sleep(self.probe_s)
            try:
                async with self._client().get(e.url + "/healthz", timeout=timeout) as resp:
                    if resp.status == 200:
                        e.failures, e.down_until = 0, 0.0
                        log.warning("worker at %s is back", e.url)
                        return
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError):
                pass

    async def _handshake(self, e: _Endpoint) -> bool:
        """Whether `e` speaks this bot's contract, from its /healthz (asked once, before its
        first request and after it fails; concurrent requests share the answer). A replica of
        another version (an old worker reports none) is kept out of rotation, said once in
        the log, and asked again after OTHER_CONTRACT_S; one that cannot answer is down."""
        if e.contract is not None:
            return True
        if e.other is not None and e.down_until > time.monotonic():
            return False  # (out of rotation: not asked again before its pause is over)
        asked = e.asked
        async with e.lock:
            if e.asked != asked:  # another request asked while this one waited: its answer holds
                return e.contract is not None
            try:
                async with self._client().get(e.url + "/healthz") as resp:
                    health = await resp.json() if resp.status == 200 else None
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError, ValueError) as err:
                self._failed(e, f"/healthz: {str(err) or err.__class__.__name__}")
                return False
            finally:
                e.asked += 1
            if not isinstance(health, dict) or health.get("status") != "ok":
                self._failed(e, f"/healthz answered {resp.status} with no poem worker's health")
                return False
            ours, theirs = version(), health.get("contract")
            if theirs != ours:
                theirs = theirs if isinstance(theirs, str) and theirs else "none (a worker older than the handshake)"
                e.down_until = time.monotonic() + OTHER_CONTRACT_S
                if theirs != e.other:
                    e.other = theirs
                    log.warning(
                        "worker at %s speaks contract %s, this bot %s: kept out of rotation until they match",
                        e.url,
                        theirs[:40],
                        ours,
                    )
                return False
            if e.other is not None:
                log.warning("worker at %s now speaks contract %s: back in rotation", e.url, ours)
            e.contract, e.other = ours, None
            return True

    async def _refresh(self) -> None:
        """Every RESOLVE_S seconds, look up the host names of WORKER_URL again: a name with
        several addresses (compose's `--scale worker=3`) is one replica an address. Replicas
        that stay keep their state; a lookup that fails keeps what that name had."""
        if time.monotonic() - self._resolved_at < RESOLVE_S:
            return
        self._resolved_at = time.monotonic()
        found: list[tuple[str, str]] = []  # (replica's URL, the configured URL it came from)
        for url in self.urls:
            parts = urlsplit(url)
            if parts.scheme != "http" or _is_address(parts.hostname):  # (https keeps its name, for TLS)
                found.append((url, url))
                continue
            try:
                addresses = await self._resolve(parts.hostname, parts.port or 80)
            except OSError:
                found += [(e.url, url) for e in self.endpoints if e.source == url] or [(url, url)]
                continue
            if not addresses:
                found.append((url, url))
                continue
            port = parts.port or 80
            found += [(f"http://{f'[{a}]' if ':' in a else a}:{port}{parts.path}", url) for a in addresses]
        known = {e.url: e for e in self.endpoints}
        fresh = [known.get(u) or _Endpoint(u, source=source) for u, source in dict.fromkeys(found)]
        if [e.url for e in fresh] != [e.url for e in self.endpoints]:
            log.info("workers: %s", ", ".join(e.url for e in fresh))
        self.endpoints = fresh

    async def _request(self, method: str, path: str, body: dict | None = None, reply_type=None, request=None):
        """The reply to one request (as `reply_type`, else a dict), from whichever replica answers
        with a reply that passes the contract's check against `request` (`check_reply`): a
        replica whose reply fails it is marked down like a dead one, and the next is asked."""
        await self._refresh()
        delay, tried, last = self.backoff_s, set(), ""
        busy: dict[str, float] = {}  # replica -> the Retry-After of its 429 (busy, not broken)
        attempts = self.retries + len(self.endpoints)
        for attempt in range(attempts):
            if attempt and len(tried) >= len(self.endpoints):  # every replica tried: wait a little
                await asyncio.sleep(delay)
                delay *= 2
                tried.clear()
            e = self._choose(tried)
            tried.add(e.url)
            if request is not None and not await self._handshake(e):
                last = f"{e.url} does not speak this bot's contract ({version()}) or cannot say"
                continue
            e.outstanding += 1
            try:
                async with self._client().request(method, e.url + path, json=body) as resp:
                    if resp.status < 400:
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
                                f"{e.url}{path} answered {resp.status} with no poem worker's "
                                f"reply ({why}): is WORKER_URL the worker's address?"
                            ) from None
                        if request is not None:
                            try:
                                check_reply(request, reply)
                            except ReplyError as why:
                                raise _BadReply(f"a bad reply to {path}: {why}") from None
                        e.failures, e.down_until = 0, 0.0
                        return reply
                    try:
                        message = (await resp.json()).get("message", resp.reason)
                    except (aiohttp.ContentTypeError, ValueError, AttributeError):
                        message = resp.reason or "error"
                    if resp.status == 429:  # past its queue bound: another replica may have room
                        busy[e.url] = _retry_after(resp.headers.get("Retry-After"))
                        if len(busy) >= len(self.endpoints):
                            raise WorkerBusy(min(busy.values()))
                        continue
                    if refusal := await self._refusal(resp):  # the user's mistake: the same anywhere
                        raise WorkerBadRequest.of(refusal)
                    # any other 4xx is not about the user's input (another service's 401, 403,
                    # 404, 422; a worker of another contract's "unknown fields"): like a 5xx
                    last = f"{resp.status}: {message}"
                    self._failed(e, last)
            except (aiohttp.ClientConnectionError, ConnectionError, aiohttp.ClientPayloadError) as err:
                last = str(err) or err.__class__.__name__
                self._failed(e, last)
            except asyncio.TimeoutError:
                last = "timed out"
                self._failed(e, last)
            except _BadReply as err:
                last = str(err)
                self._failed(e, last)
            finally:
                e.outstanding -= 1
        raise WorkerUnavailable(last)

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
        for task in self._probes.values():
            task.cancel()
        await asyncio.gather(*self._probes.values(), return_exceptions=True)
        if self._session is not None:
            await self._session.close()


async def connect(worker_url: str | None, timeout_s: float = 10.0) -> WorkerClient:
    """The HTTP worker when a URL is configured, else the in-process engine."""
    if worker_url:
        return HttpWorker(worker_url, timeout_s)
    return await InProcessWorker.start()
