"""Faults: a worker process killed mid-load, a bot restart, and hostile input."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from bot.app import APOLOGY
from bot.local import CHANNEL_ID
from bot.worker_client import HttpWorker, InProcessWorker
from tests.helpers import free_port, running_bot

ROOT = Path(__file__).resolve().parents[1]
FRIENDLY_DOWN = "not answering right now"


async def start_worker(port: int, checkpoint: Path) -> subprocess.Popen:
    """`python -m model serve` as its own process, returned once /healthz answers."""
    env = dict(os.environ, POEMBOT_FORMS="5", POEMBOT_CHECKPOINT_5=str(checkpoint), POEMBOT_THREADS="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "model", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    async with aiohttp.ClientSession() as s:
        for _ in range(600):
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


async def test_users_get_a_friendly_reply_when_the_worker_dies_and_the_bot_recovers(sqlite_url, tiny_checkpoints):
    port = free_port()
    proc = await start_worker(port, tiny_checkpoints[5])
    worker = HttpWorker(f"http://127.0.0.1:{port}", timeout_s=3, retries=2, backoff_s=0.05)
    users = 24
    try:
        async with running_bot(sqlite_url, worker, channels=users, max_in_flight=1000) as local:
            first = await local.say("!poem 1")
            assert first[0].embeds, "the worker serves before the fault"

            async def user(i: int):
                return await local.first_reply(f"!poem {i}", user_id=100 + i, channel_id=CHANNEL_ID + 1 + i, timeout=5)

            t0 = time.monotonic()
            tasks = [asyncio.create_task(user(i)) for i in range(users)]
            await asyncio.sleep(0)  # the commands are dispatched ...
            proc.send_signal(signal.SIGKILL)  # ... and the worker dies under them
            proc.wait()
            replies = []
            for t in tasks:
                try:
                    replies.append(await t)
                except asyncio.TimeoutError:
                    pytest.fail("a user waited more than 5 s for a reply")
            assert time.monotonic() - t0 < 5 + 1
            await local.wait_idle()
            every = [s for s in local.sent[1:]]
            assert len(every) == users, "every user got exactly one reply"
            assert all(s.embeds or FRIENDLY_DOWN in s.content for s in every)
            assert any(FRIENDLY_DOWN in s.content for s in every), "the fault was felt"
            assert not any(s.content == APOLOGY for s in every)

            proc = await start_worker(port, tiny_checkpoints[5])  # the worker comes back
            again = await local.say("!poem 1", user_id=999)
            assert again[0].embeds and again[0].embeds[0]["description"] == first[0].embeds[0]["description"]
    finally:
        await worker.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_ratings_favourites_and_buttons_survive_a_bot_restart(sqlite_url, engine):
    async with running_bot(sqlite_url, InProcessWorker(engine)) as local:
        (posted,) = await local.say("!poem 5")
        await local.say("!rate 1 4", user_id=2)
        await local.say("!fav 1", user_id=2)
        await local.say("!script simplified", user_id=2)
    async with running_bot(sqlite_url, InProcessWorker(engine)) as local:
        (shown,) = await local.say("!show 1", user_id=3)
        assert "4.00★ from 1" in shown.text()
        (favs,) = await local.say("!favs", user_id=2)
        assert [f["name"] for f in favs.embeds[0]["fields"]] == ["#1"]
        clicked = await local.click(posted.message, "poem:rate:1:2", user_id=3)
        assert any("2 ratings, 3.00★" in s.content for s in clicked)


def hostile_commands(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    names = [
        "poem",
        "blend",
        "rate",
        "fav",
        "unfav",
        "favs",
        "top",
        "show",
        "script",
        "forgetme",
        "help",
        "sync",
        "nosuch",
        "",
    ]
    atoms = [
        "@everyone",
        "@here",
        "<@123456789012345678>",
        "<@&1>",
        "<#1>",
        "9" * 30,
        "-1",
        "0",
        "1",
        "2",
        "7",
        "5",
        "1e9",
        "NaN",
        "inf",
        "#1",
        "##",
        '"',
        "'",
        "`",
        "\\",
        "\u202e",
        "\u0000",
        "🙂" * 3,
        "﷽",
        "白日依山盡，黃河入海流。欲窮千里目，更上一層樓。",
        '"白日依山盡黃河入海流欲窮千里目更上一層樓"',
        "床前明月光",
        "simplified",
        "traditional",
        "confirm",
        "x" * 300,
        " ",
        "\n",
        "-" * 5,
        "0x10",
        "18446744073709551616",
        "9223372036854775807",
        "9223372036854775808",
        "１２",
        "٣",
    ]
    out = []
    for _ in range(n):
        kind = rng.random()
        if kind < 0.05:
            out.append("")
        elif kind < 0.1:
            out.append("".join(chr(rng.randrange(32, 0x2FFFF)) for _ in range(rng.randrange(1, 50))))
        elif kind < 0.15:
            out.append("!" + "".join(rng.choice(atoms) for _ in range(rng.randrange(20, 60)))[:3900])
        else:
            parts = [rng.choice(atoms) for _ in range(rng.randrange(0, 4))]
            out.append(("!" if rng.random() < 0.9 else "/") + rng.choice(names) + " " + " ".join(parts))
    return out


async def test_a_thousand_hostile_commands_raise_nothing_and_mention_no_one(sqlite_url, engine, caplog):
    caplog.set_level(logging.ERROR)
    async with running_bot(sqlite_url, InProcessWorker(engine)) as local:
        await local.say("!poem 1")
        await local.say("!poem 2")
        for i, command in enumerate(hostile_commands(1000)):
            await local.say(command, user_id=1 + i % 7)
        sent = local.sent
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], f"unhandled: {[r.getMessage() for r in errors][:3]}"
    assert not any(s.content == APOLOGY for s in sent)
    for s in sent:
        mentions = s.allowed_mentions
        assert mentions is not None and mentions.get("parse") == [] and not mentions.get("replied_user")
        assert not mentions.get("users") and not mentions.get("roles")
        assert len(s.content) <= 2000
