"""Faults: a worker process killed mid-load, a bot restart, and hostile input."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest

from bot.app import APOLOGY
from bot.local import CHANNEL_ID
from bot.worker_client import HttpWorker, InProcessWorker
from tests.helpers import free_port, running_bot, start_worker

ROOT = Path(__file__).resolve().parents[1]
FRIENDLY_DOWN = "not answering right now"


async def test_users_get_a_friendly_reply_when_the_worker_dies_and_the_bot_recovers(sqlite_url, tiny_checkpoints):
    port = free_port()
    proc = await start_worker(
        port, POEMBOT_FORMS="5", POEMBOT_CHECKPOINT_5=str(tiny_checkpoints[5]), POEMBOT_THREADS="1"
    )
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

            proc = await start_worker(
                port, POEMBOT_FORMS="5", POEMBOT_CHECKPOINT_5=str(tiny_checkpoints[5]), POEMBOT_THREADS="1"
            )  # the worker comes back
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
