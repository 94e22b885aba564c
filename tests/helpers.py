"""Helpers the test modules share (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import importlib.util
import contextlib
import os
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from dataclasses import replace

from bot.__main__ import build
from bot.local import LocalDiscord
from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
# a test that runs the model (the in-process worker, a checkpoint): skipped where the model's
# packages are not installed (CI's Python 3.12 and 3.13 runs test the bot alone)
needs_model = pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs poembot[worker] (torch)")


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.asynccontextmanager
async def running_bot(url: str, worker, channels: int = 0, locale: str = "en-US", guilds: int = 1, **overrides):
    """The bot as `python -m bot` wires it (`bot.__main__.build`), on a real database and
    `worker`, connected to a local Discord (`guilds` servers, the first one's preferred
    `locale` given, and direct messages); cooldowns off, user 1 an owner."""
    settings = Settings(database_url=url, poem_cooldown_s=0, blend_cooldown_s=0, owner_ids=frozenset({1}))
    bot, engine, _ = await build(replace(settings, **overrides), worker=worker)
    local = LocalDiscord(bot, extra_channels=channels, locale=locale, guilds=guilds)
    await local.start()
    try:
        yield local
    finally:
        await bot.close()
        await engine.dispose()


async def start_worker(port: int, output=subprocess.DEVNULL, **env: str) -> subprocess.Popen:
    """`python -m model serve` as its own process on `port` (with `env` added to this
    environment; stdout and stderr to `output`), returned once /healthz answers."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "model", "serve", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=output,
        stderr=subprocess.STDOUT if output is not subprocess.DEVNULL else subprocess.DEVNULL,
    )
    async with aiohttp.ClientSession() as s:
        for _ in range(1200):
            if proc.poll() is not None:
                raise RuntimeError("the worker exited at start")
            try:
                async with s.get(f"http://127.0.0.1:{port}/healthz") as r:
                    if r.status == 200:
                        return proc
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)  # the process is still importing torch
    proc.kill()
    raise RuntimeError("the worker never became healthy")


def poem_of(sent) -> list[str]:
    """A poem reply's lines, as shown."""
    return sent.embeds[0]["description"].split("\n")
