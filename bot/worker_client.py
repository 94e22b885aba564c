"""The bot's side of the worker seam: the same client for the in-process engine
and the HTTP service. Nothing here imports torch; the in-process engine is
imported only when that mode is chosen.

Replies are the worker's JSON dicts (see model/worker.py). Errors come as
`WorkerBadRequest` (the user asked for something impossible; the message
says what) or `WorkerUnavailable` (the worker cannot be reached now).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Protocol

import aiohttp

log = logging.getLogger("poembot.bot.worker")


class WorkerError(Exception):
    """The worker could not answer."""


class WorkerBadRequest(WorkerError):
    """The request was refused; the message is for the user."""


class WorkerUnavailable(WorkerError):
    def __init__(self, detail: str = ""):
        super().__init__("The poem worker is not answering right now. Please try again in a minute.")
        self.detail = detail


class WorkerClient(Protocol):
    async def sample(self, body: dict) -> dict: ...
    async def blend(self, body: dict) -> dict: ...
    async def encode(self, body: dict) -> dict: ...
    async def vary(self, body: dict) -> dict: ...
    async def rewrite(self, body: dict) -> dict: ...
    async def health(self) -> dict: ...
    async def close(self) -> None: ...


class InProcessWorker:
    """The engine in this process, its model work on its own thread."""

    def __init__(self, engine):
        self.engine = engine

    @classmethod
    async def start(cls) -> InProcessWorker:
        from model.worker import Engine, SettingsError, WorkerSettings  # torch is loaded only here

        from .settings import ConfigError

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

    async def _call(self, name: str, body: dict) -> dict:
        try:
            return await getattr(self.engine, name)(body)
        except ValueError as e:  # the model's InputError
            raise WorkerBadRequest(str(e)) from None

    async def sample(self, body: dict) -> dict:
        return await self._call("sample", body)

    async def blend(self, body: dict) -> dict:
        return await self._call("blend", body)

    async def encode(self, body: dict) -> dict:
        return await self._call("encode", body)

    async def vary(self, body: dict) -> dict:
        return await self._call("vary", body)

    async def rewrite(self, body: dict) -> dict:
        return await self._call("rewrite", body)

    async def health(self) -> dict:
        return self.engine.health()

    async def close(self) -> None:
        await self.engine.close()


class HttpWorker:
    """The worker service over HTTP, with timeouts and retries on connection errors."""

    def __init__(self, url: str, timeout_s: float = 10.0, retries: int = 2, backoff_s: float = 0.2):
        self.url = url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=min(2.0, timeout_s))
        self.retries = retries
        self.backoff_s = backoff_s
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def _request(self, method: str, path: str, body: dict | None = None) -> dict:
        delay = self.backoff_s
        for attempt in range(self.retries + 1):
            try:
                async with self._client().request(method, self.url + path, json=body) as resp:
                    if resp.status < 400:
                        return await resp.json()
                    try:
                        message = (await resp.json()).get("message", resp.reason)
                    except (aiohttp.ContentTypeError, ValueError):
                        message = resp.reason or "error"
                    if 400 <= resp.status < 500:
                        raise WorkerBadRequest(message)
                    raise WorkerUnavailable(f"{resp.status}: {message}")
            except (aiohttp.ClientConnectionError, ConnectionError) as e:
                if attempt == self.retries:
                    raise WorkerUnavailable(str(e)) from None
                log.warning("worker at %s unreachable (%s); retrying in %.1fs", self.url, e, delay)
                await asyncio.sleep(delay)
                delay *= 2
            except asyncio.TimeoutError:
                raise WorkerUnavailable("timed out") from None
        raise AssertionError("unreachable")

    async def sample(self, body: dict) -> dict:
        return await self._request("POST", "/v1/sample", body)

    async def blend(self, body: dict) -> dict:
        return await self._request("POST", "/v1/blend", body)

    async def encode(self, body: dict) -> dict:
        return await self._request("POST", "/v1/encode", body)

    async def vary(self, body: dict) -> dict:
        return await self._request("POST", "/v1/vary", body)

    async def rewrite(self, body: dict) -> dict:
        return await self._request("POST", "/v1/rewrite", body)

    async def health(self) -> dict:
        return await self._request("GET", "/healthz")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


async def connect(worker_url: str | None, timeout_s: float = 10.0) -> WorkerClient:
    """The HTTP worker when a URL is configured, else the in-process engine."""
    if worker_url:
        return HttpWorker(worker_url, timeout_s)
    return await InProcessWorker.start()
