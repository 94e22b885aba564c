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


async def test_with_two_worker_processes_one_sigkilled_under_load_no_command_fails_and_its_return_is_seen(
    db_url, tiny_checkpoints
):
    """Two real worker processes behind the bot (SQLite and PostgreSQL); one is SIGKILLed
    while 40 users' poems and ratings are under way: every command is answered (retried on
    the other), no rating is lost, and when the killed one is started again the client
    sees it back within 5 s (its /healthz probe), without a user's request paying for it."""
    env = {"POEMBOT_FORMS": "5", "POEMBOT_CHECKPOINT_5": str(tiny_checkpoints[5]), "POEMBOT_THREADS": "1"}
    ports = [free_port(), free_port()]
    procs = [await start_worker(p, **env) for p in ports]
    worker = HttpWorker(",".join(f"http://127.0.0.1:{p}" for p in ports), timeout_s=5, retries=2, backoff_s=0.05)
    users = 40
    try:
        async with running_bot(db_url, worker, channels=users, max_in_flight=1000) as local:
            (first,) = await local.say("!poem 1")
            commands = [f"!poem {i}" if i % 2 else "!rate 1 4" for i in range(users)]
            tasks = [
                asyncio.create_task(local.first_reply(c, user_id=100 + i, channel_id=CHANNEL_ID + 1 + i, timeout=10))
                for i, c in enumerate(commands)
            ]
            await asyncio.sleep(0)
            procs[0].send_signal(signal.SIGKILL)
            procs[0].wait()
            replies = await asyncio.gather(*tasks)
            failed = [
                (c, r.text()) for c, r in zip(commands, replies) if not (r.embeds or r.text().startswith("You gave"))
            ]
            assert failed == [], failed
            (shown,) = await local.say("!show 1", user_id=999)
            assert f"from {users // 2} rating" in shown.text(), "every confirmed rating is there"
            assert worker.endpoints[0].down_until > 0, "the killed worker was noticed and marked down"
            procs[0] = await start_worker(ports[0], **env)
            loop = asyncio.get_running_loop()
            back = loop.time()
            while worker.endpoints[0].down_until > 0 and loop.time() - back < 5:
                await asyncio.sleep(0.05)
            assert worker.endpoints[0].down_until == 0, "the worker's return is noticed within 5 s"
    finally:
        await worker.close()
        for proc in procs:
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
