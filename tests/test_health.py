"""The bot's health and gateway metrics against a local Discord gateway: a real websocket
on a loopback port speaking Discord's gateway protocol (hello, identify, ready, heartbeats,
reconnect, resume) and the REST calls a login makes, so that discord.py connects, loses its
connection and resumes as it would with Discord. `/healthz` says whether the bot is
connected; `/metrics` counts what the connection went through."""

from __future__ import annotations

import asyncio
import contextlib
import json

import aiohttp
import discord
import pytest
import yarl
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from bot.__main__ import build
from bot.settings import Settings
from tests.fake_worker import FakeWorker
from tests.helpers import free_port

BOT_USER = {"id": "900000000000000030", "username": "poembot", "discriminator": "0", "avatar": None, "bot": True}
APPLICATION = {
    "id": "900000000000000001",
    "name": "poembot",
    "description": "",
    "icon": None,
    "bot_public": True,
    "bot_require_code_grant": False,
    "verify_key": "0" * 64,
    "owner": {**BOT_USER, "id": "1", "username": "owner", "bot": False},
    "team": None,
    "flags": 0,
}


class FakeGateway:
    """Discord's login REST calls and its gateway, on loopback. `gate` closed: new gateway
    connections wait (the bot is down until it opens); `reconnect()` asks every open
    connection to reconnect (op 7), as Discord does when it moves a session."""

    def __init__(self) -> None:
        self.port = free_port()
        self.sockets: set[web.WebSocketResponse] = set()
        self.gate = asyncio.Event()
        self.gate.set()
        self.identified: list[int] = []  # the shard of each IDENTIFY
        self.resumed = 0

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    async def __aenter__(self) -> FakeGateway:
        app = web.Application()
        app.router.add_get("/api/v10/users/@me", _answer(BOT_USER))
        app.router.add_get("/api/v10/oauth2/applications/@me", _answer(APPLICATION))
        app.router.add_get("/", self._gateway)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc) -> None:
        for ws in list(self.sockets):
            await ws.close()
        await self.runner.cleanup()

    async def reconnect(self) -> None:
        for ws in list(self.sockets):
            await ws.send_json({"op": 7, "d": None})

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        await self.gate.wait()
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.add(ws)
        seq = 0

        async def dispatch(event: str, data: dict) -> None:
            nonlocal seq
            seq += 1
            await ws.send_json({"op": 0, "t": event, "s": seq, "d": data})

        await ws.send_json({"op": 10, "d": {"heartbeat_interval": 200}})
        try:
            async for msg in ws:
                payload = json.loads(msg.data)
                op, data = payload["op"], payload["d"]
                if op == 1:  # heartbeat
                    await ws.send_json({"op": 11, "d": None})
                elif op == 2:  # identify
                    shard = (data.get("shard") or [0, 1])[0]
                    self.identified.append(shard)
                    await dispatch(
                        "READY",
                        {
                            "v": 10,
                            "user": BOT_USER,
                            "guilds": [],
                            "session_id": f"session-{shard}",
                            "resume_gateway_url": f"ws://127.0.0.1:{self.port}/",
                            "application": {"id": APPLICATION["id"], "flags": 0},
                            "shard": data.get("shard"),
                        },
                    )
                elif op == 6:  # resume
                    self.resumed += 1
                    await dispatch("RESUMED", {})
        finally:
            self.sockets.discard(ws)
        return ws


def _answer(payload: dict):
    async def handler(request: web.Request) -> web.Response:  # discord.py reads JSON by this exact type
        return web.Response(body=json.dumps(payload).encode(), content_type="application/json")

    return handler


@contextlib.asynccontextmanager
async def connected_bot(tmp_path, monkeypatch, **settings):
    """The bot as `python -m bot` builds it (metrics on a free port), started against a
    `FakeGateway`; yields (gateway, bot, the metrics' base URL)."""
    async with FakeGateway() as gateway:
        monkeypatch.setattr(discord.http.Route, "BASE", gateway.api)
        monkeypatch.setattr(
            discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(f"ws://127.0.0.1:{gateway.port}/")
        )
        port = free_port()
        config = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'p.sqlite3'}", metrics_port=port, **settings)
        bot, engine, worker = await build(config.check(), worker=FakeWorker())
        # `async with bot` sets the client up before its start task runs (discord.py's own
        # pattern), so waiting for ready never races the task's first step
        async with bot:
            run = asyncio.create_task(bot.start("abc.def.ghi"))
            try:
                yield gateway, bot, f"http://127.0.0.1:{port}"
            finally:
                await bot.close()
                await asyncio.wait_for(run, 10)
                bot.service.metrics.close()
                await engine.dispose()


async def get(url: str) -> tuple[int, str]:
    """(status, body) of a GET from another thread's client, as a probe would make it."""

    def fetch():
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    return await asyncio.to_thread(fetch)


def sample(metrics: str, name: str, **labels: str) -> float | None:
    """One sample's value from a Prometheus text exposition (read by prometheus_client's own
    parser), or None if it is absent."""
    for family in text_string_to_metric_families(metrics):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return found.value
    return None


async def heartbeat_acknowledged(bot: discord.Client) -> None:
    """Until the bot has a finite gateway latency: a heartbeat answered (discord.py's heartbeat
    thread raises no event for it, so this looks every 50 ms)."""
    while not all(0 <= latency < float("inf") for _, latency in getattr(bot, "latencies", [(0, bot.latency)])):
        await asyncio.sleep(0.05)


async def test_health_says_connected_only_while_the_bot_is_connected_and_metrics_count_reconnects(
    tmp_path, monkeypatch
):
    async with connected_bot(tmp_path, monkeypatch) as (gateway, bot, base):
        await asyncio.wait_for(bot.wait_until_ready(), 15)
        await asyncio.wait_for(heartbeat_acknowledged(bot), 5)
        status, body = await get(base + "/healthz")
        health = json.loads(body)
        assert status == 200 and health["status"] == "ok" and health["shards"]["0"]["up"], body
        assert health["shards"]["0"]["latency_s"] is not None

        gateway.gate.clear()  # Discord goes away: the bot's reconnection waits
        disconnected = bot.wait_for("disconnect", timeout=5)  # (listening from now on)
        await gateway.reconnect()
        await disconnected
        status, body = await get(base + "/healthz")
        assert status == 503 and json.loads(body)["status"] == "down", body
        live, _ = await get(base + "/livez")
        assert live == 200, "the process itself is fine: no restart wanted"

        resumed = bot.wait_for("resumed", timeout=10)
        gateway.gate.set()
        await resumed
        status, body = await get(base + "/healthz")
        assert status == 200, body

        status, metrics = await get(base + "/metrics")
        assert sample(metrics, "poembot_gateway_events_total", shard="0", event="connect") == 1
        assert sample(metrics, "poembot_gateway_events_total", shard="0", event="disconnect") == 1
        assert sample(metrics, "poembot_gateway_events_total", shard="0", event="resumed") == 1
        assert sample(metrics, "poembot_shard_up", shard="0") == 1 and sample(metrics, "poembot_ready") == 1
        assert gateway.resumed == 1 and gateway.identified == [0], "a resume, not a new session"


async def test_a_sharded_bot_reports_each_shard_it_runs(tmp_path, monkeypatch):
    async with connected_bot(tmp_path, monkeypatch, shard_count=4, shard_ids=(2,)) as (gateway, bot, base):
        await asyncio.wait_for(bot.wait_until_ready(), 15)
        await asyncio.wait_for(heartbeat_acknowledged(bot), 5)
        status, body = await get(base + "/healthz")
        assert status == 200 and set(json.loads(body)["shards"]) == {"2"}, body
        status, metrics = await get(base + "/metrics")
        assert sample(metrics, "poembot_shard_up", shard="2") == 1
        assert sample(metrics, "poembot_gateway_latency_seconds", shard="2") is not None
        assert sample(metrics, "poembot_gateway_events_total", shard="2", event="connect") == 1
        assert gateway.identified == [2]


async def test_health_is_503_before_the_bot_connects_and_after_it_closes(tmp_path, monkeypatch):
    async with FakeGateway() as gateway:
        gateway.gate.clear()  # Discord never answers the gateway
        monkeypatch.setattr(discord.http.Route, "BASE", gateway.api)
        monkeypatch.setattr(
            discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(f"ws://127.0.0.1:{gateway.port}/")
        )
        port = free_port()
        config = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'p.sqlite3'}", metrics_port=port)
        bot, engine, _ = await build(config.check(), worker=FakeWorker())
        base = f"http://127.0.0.1:{port}"
        try:
            status, body = await get(base + "/healthz")
            assert status == 503 and json.loads(body)["status"] == "starting", body
            await bot.close()
            status, body = await get(base + "/healthz")
            assert status == 503 and json.loads(body)["status"] == "down", body
        finally:
            bot.service.metrics.close()
            await engine.dispose()
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as s, s.get(base + "/metrics"):
            pass
