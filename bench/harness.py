"""The harness the benchmarks and the tests share, without pytest: a free loopback port, and
the worker (`python -m model serve`) as its own process, returned once it answers. For the
benchmarks that load the whole bot: the bot on a local Discord, simulated users who each ask
in a channel of their own at a fixed rate (an open loop), and the latency table they print.

A benchmark (`python bench/x.py`) imports it as `harness` (its own folder is on the path);
the tests as `bench.harness`, through tests/helpers.py."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp

if TYPE_CHECKING:  # the bot is imported where a bench runs it: the worker's benches and tests need none of it
    from bot.local import LocalDiscord
    from bot.local_api import Sent

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_healthy(port: int, proc: subprocess.Popen) -> None:
    """Returns once `proc` answers GET /healthz on `port` with 200; raises if it exits
    first, or (after killing it) if it has not answered within two minutes."""
    async with aiohttp.ClientSession() as s:
        for _ in range(1200):
            if proc.poll() is not None:
                raise RuntimeError("the worker exited at start")
            try:
                async with s.get(f"http://127.0.0.1:{port}/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass  # not listening yet: the process is still importing torch
            await asyncio.sleep(0.1)
    proc.kill()
    raise RuntimeError("the worker never became healthy")


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
    await wait_healthy(port, proc)
    return proc


def stop(*procs: subprocess.Popen) -> None:
    """Terminate each process and wait for it to end."""
    for p in procs:
        p.terminate()
        p.wait(timeout=30)


@contextlib.asynccontextmanager
async def workers(count: int, **env: str) -> AsyncIterator[tuple[list[int], list[subprocess.Popen]]]:
    """`count` workers (`start_worker` with `env`), each on a free port: yields (ports,
    processes) and at the end stops the processes the list then holds (a caller that
    restarts one puts the new process in its place)."""
    ports = [free_port() for _ in range(count)]
    procs: list[subprocess.Popen] = []
    try:
        for port in ports:
            procs.append(await start_worker(port, **env))
        yield ports, procs
    finally:
        stop(*procs)


@contextlib.asynccontextmanager
async def local_bot(
    database_url: str, channels: int, warm_poems: int = 0, **settings
) -> AsyncIterator[tuple[LocalDiscord, object]]:
    """The bot as `python -m bot` wires it (`bot.__main__.build`: cooldowns off, `settings`
    added) on `database_url`, connected to a local Discord with `channels` extra channels
    (one a simulated user), after user 10 000 asked for `warm_poems` poems (seeds 0, 1, ...).
    Yields (the local Discord, the database engine); closes the bot, worker client and
    engine at the end."""
    from bot.__main__ import build
    from bot.local import LocalDiscord
    from bot.settings import Settings

    settings = Settings(database_url=database_url, poem_cooldown_s=0, blend_cooldown_s=0, **settings)
    bot, engine, worker = await build(settings)
    try:
        local = LocalDiscord(bot, extra_channels=channels)
        await local.start()
        for i in range(warm_poems):
            await local.say(f"!poem {i}", user_id=10_000)
        yield local, engine
    finally:
        await bot.close()
        await worker.close()
        await engine.dispose()


async def ask(local: LocalDiscord, user: int, text: str, timeout: float = 30) -> Sent | None:
    """Simulated user `user` (0, 1, ...) posts `text` in a channel of their own; the bot's
    first reply there, None if none came within `timeout` seconds."""
    from bot.local import CHANNEL_ID

    try:
        return await local.first_reply(text, user_id=user + 1, channel_id=CHANNEL_ID + 1 + user, timeout=timeout)
    except TimeoutError:
        return None


async def open_loop(
    command: Callable[[int], Awaitable[None]],
    free: list[int],
    rate: float,
    count: int,
    t_start: float,
    no_user: Callable[[], None] | None = None,
) -> None:
    """Open loop: the i-th of `count` commands starts at `t_start + i / rate`, whether or not
    earlier ones have finished, as `command(user)` for a simulated user taken from the end
    of `free` (given back when the command ends); with none free, `no_user()` instead.
    Returns once every command has ended."""

    async def one(user: int) -> None:
        try:
            await command(user)
        finally:
            free.append(user)

    tasks = []
    for i in range(count):
        delay = t_start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if free:
            tasks.append(asyncio.create_task(one(free.pop())))
        elif no_user is not None:
            no_user()
    await asyncio.gather(*tasks)


def pct(values: list[float], q: float) -> float:
    """The `q` quantile of `values` (seconds), in milliseconds; nan if there are none."""
    values = sorted(values)
    return 1000 * values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def print_latencies(heading: str, groups: Iterable[tuple[str, list[float]]]) -> None:
    """A markdown table, a row a group: its name, its count and its p50 and p99 in ms
    (`heading` names the first two columns, as "window | commands")."""
    print(f"| {heading} | p50 ms | p99 ms |")
    print("|---|---|---|---|")
    for name, values in groups:
        print(f"| {name} | {len(values)} | {pct(values, 0.5):.0f} | {pct(values, 0.99):.0f} |")
