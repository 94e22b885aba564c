"""The harness the benchmarks and the tests share, without pytest: a free loopback port, and
the worker (`python -m model serve`) as its own process, returned once it answers.

A benchmark (`python bench/x.py`) imports it as `harness` (its own folder is on the path);
the tests as `bench.harness`, through tests/helpers.py."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
