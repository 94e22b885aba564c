"""The worker over HTTP (aiohttp): `create_app(settings)`; each endpoint reads its
request with the contract's `from_json` and answers its reply's `to_json`.

A request whose client hangs up is given up (aiohttp cancels its handler): the engine
drops its work if it has not started and gives its queue places back. On SIGTERM (or
SIGINT) the worker stops listening, so new work goes elsewhere, and finishes the requests
it has accepted within SHUTDOWN_GRACE_S before it exits."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from ..contract import ENDPOINTS, MAX_BODY, InputError, Overloaded
from .engine import Engine
from .settings import WorkerSettings

log = logging.getLogger("poembot.model.worker")
BODY_TIMEOUT_S = 10.0  # a body must arrive within this once its headers have
IDLE_TIMEOUT_S = 15.0  # a connection idle (or still sending its headers) this long is closed
# on SIGTERM, how long the requests accepted have to finish (then they are cut, and the
# client asks another replica): within Kubernetes' 45 s less the 15 s preStop
# (deploy/kubernetes/worker.yaml), and past the bot's 10 s request timeout
SHUTDOWN_GRACE_S = 20.0
# keyword arguments for web.AppRunner / web.run_app: bodies are never decompressed (our
# client never compresses; a bad gzip/deflate/br body would fail inside aiohttp's parser),
# the unread rest of a refused body is waited for 1 s, not aiohttp's 10, a handler is
# cancelled when its client hangs up (its work is dropped), and a shutdown waits
# SHUTDOWN_GRACE_S for the requests being answered
SERVER_OPTIONS = {
    "keepalive_timeout": IDLE_TIMEOUT_S,
    "auto_decompress": False,
    "lingering_time": 1.0,
    "handler_cancellation": True,
    "shutdown_timeout": SHUTDOWN_GRACE_S,
}


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
    app.on_shutdown.append(_stopping)  # (after the listener closes, before the grace period)
    for name, (request_type, _) in ENDPOINTS.items():
        app.router.add_post(request_type.PATH, _handler(name))
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


async def _stopping(app: web.Application) -> None:
    if ENGINE in app:
        log.info(
            "stopping: no new connections; %d requests being answered have %g s to finish",
            app[ENGINE].metrics.answering,
            SHUTDOWN_GRACE_S,
        )


def _handler(name: str):
    async def handler(request: web.Request) -> web.Response:
        engine = request.app[ENGINE]
        t0 = time.perf_counter()
        error = True
        engine.metrics.answering += 1
        try:
            req = ENDPOINTS[name][0].from_json(await _json_body(request))
            reply = await getattr(engine, name)(req)
            error = False
            return web.json_response(reply.to_json(), dumps=lambda o: json.dumps(o, ensure_ascii=False))
        finally:  # (also when the client hung up: the handler is cancelled)
            engine.metrics.answering -= 1
            engine.metrics.observe(name, time.perf_counter() - t0, error)

    return handler


@web.middleware
async def _errors(request: web.Request, handler):
    try:
        return await handler(request)
    except InputError as e:  # (the contract named: the client takes it for the user's mistake)
        return web.json_response(e.to_json(), status=400, dumps=lambda o: json.dumps(o, ensure_ascii=False))
    except Overloaded as e:
        return web.json_response(
            {"error": "busy", "message": str(e), "retry_after": round(e.retry_after, 1)},
            status=429,
            headers={"Retry-After": str(math.ceil(e.retry_after))},
        )
    except _Refused as e:
        return web.json_response({"error": e.error, "message": str(e)}, status=e.status)
    except web.HTTPRequestEntityTooLarge:
        return web.json_response(
            {"error": "too_large", "message": f"request bodies are limited to {MAX_BODY} bytes"}, status=413
        )
    except web.HTTPException as e:
        if e.status >= 500:
            raise
        return web.json_response({"error": e.reason.lower().replace(" ", "_"), "message": e.reason}, status=e.status)
    except Exception:
        log.exception("unexpected error on %s", request.path)
        return web.json_response({"error": "internal", "message": "the worker failed; see its log"}, status=500)


async def _health(request: web.Request) -> web.Response:
    return web.json_response(request.app[ENGINE].health())


async def _metrics(request: web.Request) -> web.Response:
    return web.Response(text=request.app[ENGINE].metrics.render(), content_type="text/plain")
