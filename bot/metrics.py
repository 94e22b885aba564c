"""The bot's Prometheus metrics and its health, served on an opt-in port
(`POEMBOT_METRICS_PORT`): `/metrics` (commands and presses by outcome, their latency, model
jobs in flight, the gateway: ready, shards up, heartbeat latency, connects, disconnects and
resumes by shard; the process: CPU, memory, open files), `/healthz` (200 only while the
bot is connected to Discord: ready, every shard it runs up) and `/livez` (200 while its
event loop answers, connected or not). The HTTP worker serves its own at `/metrics`."""

from __future__ import annotations

import asyncio
import json
import math
import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import discord
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily

BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
LOOP_TIMEOUT_S = 2.0  # an event loop that does not answer a probe in this long is stuck
GATEWAY_EVENTS = ("connect", "disconnect", "resumed")  # discord.py's events (`shard_*` on a sharded bot)


class Metrics:
    """One set of metrics in its own registry (a bot, or a test, has its own)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.handled = Counter(
            "poembot_commands",
            "Commands and button presses handled, by outcome",
            ["command", "outcome"],
            registry=self.registry,
        )
        self.seconds = Histogram(
            "poembot_command_seconds",
            "From a command's start to its reply",
            ["command"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge("poembot_jobs_in_flight", "Model jobs running now", registry=self.registry)
        self.gateway = Counter(
            "poembot_gateway_events",
            "Gateway connections by shard and event: connect (a new session), disconnect, resumed "
            "(a session picked up again); a disconnect followed by resumed or connect is a reconnect",
            ["shard", "event"],
            registry=self.registry,
        )
        self.registry.register(_GatewayCollector(self))
        self.bot: discord.Client | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._server: WSGIServer | None = None

    def watch(self, bot: discord.Client) -> None:
        """Count `bot`'s gateway events, and report its connection in /metrics and /healthz.
        Called on the bot's event loop."""
        self.bot, self.loop = bot, asyncio.get_running_loop()
        sharded = isinstance(bot, discord.AutoShardedClient)
        for event in GATEWAY_EVENTS:

            async def count(*args, event=event) -> None:
                shard = args[0] if sharded else (bot.shard_id or 0)
                self.gateway.labels(str(shard), event).inc()

            bot.add_listener(count, f"on_shard_{event}" if sharded else f"on_{event}")

    def serve(self, port: int, bot: discord.Client | None = None, host: str = "0.0.0.0") -> None:
        """Serve /metrics, /healthz and /livez on `port` (a thread of its own), watching `bot`."""
        if bot is not None:
            self.watch(bot)
        metrics = make_wsgi_app(self.registry)

        def app(environ, start_response):
            path = environ.get("PATH_INFO", "")
            if path not in ("/healthz", "/livez"):
                return metrics(environ, start_response)
            health = self.health()
            ok = health["status"] == "ok" if path == "/healthz" else health["loop"]
            start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "application/json")])
            return [json.dumps(health).encode()]

        self._server = make_server(host, port, app, _ThreadingServer, handler_class=_QuietHandler)
        threading.Thread(target=self._server.serve_forever, name="poembot-metrics", daemon=True).start()

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def health(self) -> dict:
        """The bot's connection, read on its event loop: `status` ok (ready, every shard up),
        starting (not ready yet), down (a shard is down, or the bot closed) or stuck (the
        loop did not answer); `loop` whether the event loop answered; `shards` each one's
        state and heartbeat latency."""
        if self.bot is None or self.loop is None:
            return {"status": "starting", "loop": True, "ready": False, "shards": {}}
        try:
            state = asyncio.run_coroutine_threadsafe(self._state(), self.loop).result(LOOP_TIMEOUT_S)
        except (TimeoutError, RuntimeError):  # stuck, or a loop that has closed
            closed = self.loop.is_closed()
            return {"status": "down" if closed else "stuck", "loop": False, "ready": False, "shards": {}}
        if state["ready"] and state["shards"] and all(s["up"] for s in state["shards"].values()):
            status = "ok"
        elif state["closed"] or state["ready"]:  # ready once, a shard down since
            status = "down"
        else:
            status = "starting"
        return {"status": status, "loop": True, **state}

    async def _state(self) -> dict:
        bot = self.bot
        if isinstance(bot, discord.AutoShardedClient):
            shards = {
                str(i): {"up": not info.is_closed(), "latency_s": _seconds(info.latency)}
                for i, info in sorted(bot.shards.items())
            }
        else:
            ws = getattr(bot, "ws", None)
            up = ws is not None and ws.open
            shards = {str(bot.shard_id or 0): {"up": up, "latency_s": _seconds(bot.latency) if up else None}}
        closed = bot.is_closed()
        return {"ready": bot.is_ready() and not closed, "closed": closed, "shards": shards}


def _seconds(latency: float) -> float | None:
    """A heartbeat latency, or None before the first heartbeat is acknowledged (inf) or connected (nan)."""
    return round(latency, 6) if math.isfinite(latency) else None


class _GatewayCollector:
    """The gateway's state at each scrape: ready, each shard up and its heartbeat latency."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self):
        if self.metrics.bot is None:
            return
        health = self.metrics.health()
        ready = GaugeMetricFamily("poembot_ready", "1 while the bot is connected to Discord and ready")
        ready.add_metric([], float(health["status"] == "ok"))
        up = GaugeMetricFamily("poembot_shard_up", "1 while the shard's gateway connection is open", labels=["shard"])
        latency = GaugeMetricFamily(
            "poembot_gateway_latency_seconds", "From a heartbeat to its acknowledgement, by shard", labels=["shard"]
        )
        for shard, state in health.get("shards", {}).items():
            up.add_metric([shard], float(state["up"]))
            if state["latency_s"] is not None:
                latency.add_metric([shard], state["latency_s"])
        yield from (ready, up, latency)

    def describe(self):
        return []  # (collected at scrape time: nothing to check at registration)


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a scrape in progress does not hold the process at exit


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args) -> None:  # every probe and scrape is not news
        pass
