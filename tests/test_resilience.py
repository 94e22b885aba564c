"""Faults: a worker process killed mid-load, a bot restart, a replica whose replies are wrong."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.app import APOLOGY
from bot.local import CHANNEL_ID
from bot.worker_client import HttpWorker, InProcessWorker, WorkerBadRequest, WorkerUnavailable
from model import contract
from model.contract import BlendRequest, EncodeRequest, RewriteRequest, SampleRequest
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


# -- a replica whose reply is wrong ------------------------------------------------------------
def _poem_text(reply: dict, i: int, text: str) -> dict:
    """`reply` with poem i's text (and what is shown of it) replaced by `text`."""
    poems = [dict(p) for p in reply["poems"]]
    poems[i] = {**poems[i], "text": text, "display": text}
    return {**reply, "poems": poems}


def _latent(reply: dict, latent) -> dict:
    return {**reply, "poems": [{**p, "latent": latent} for p in reply["poems"]]}


def _other(text: str) -> str:
    """A Chinese character that is not in `text`."""
    return next(ch for ch in "龘龖靐齉" if ch not in text)


# (what is asked, how the replica's reply is wrong, the fault its WARNING names)
WRONG_REPLIES = {
    "28 characters for 5": ("sample", lambda r, t: _poem_text(r, 0, (t * 2)[:28]), "has 28 characters, not 20"),
    "13 characters": ("sample", lambda r, t: _poem_text(r, 0, t[:13]), "has 13 characters"),
    "Latin letters": ("sample", lambda r, t: _poem_text(r, 0, "ab" + t[2:]), "characters a poem may not"),
    "shown as Latin": ("sample", lambda r, t: {**r, "poems": [{**r["poems"][0], "display": "x" * 20}]}, "display"),
    "a character twice": ("sample", lambda r, t: _poem_text(r, 0, t[0] + t[0] + t[2:]), "twice"),
    "a latent of strings": ("sample", lambda r, t: _latent(r, ["0.1"] * 8), "not a number"),
    "a latent with NaN": ("sample", lambda r, t: _latent(r, [float("nan")] * 8), "not a finite number"),
    "a latent of nothing": ("sample", lambda r, t: _latent(r, []), "not a list"),
    "another seed": ("sample", lambda r, t: {**r, "poems": [{**r["poems"][0], "seed": 8}]}, "seed 8, not 7"),
    "without its subject": (
        "subject",
        lambda r, t: _poem_text(r, 0, t.replace(r["request"]["subject"][0], _other(t))),
        "lacks the subject",
    ),
    "other heads": ("acrostic", lambda r, t: _poem_text(r, 0, _other(t) + t[1:]), "not the acrostic"),
    "64 poems for 3 steps": ("blend", lambda r, t: {**r, "poems": (r["poems"] * 22)[:64]}, "64 poems where 3"),
    "kept lines changed": ("rewrite", lambda r, t: _poem_text(r, 0, _other(t) + t[1:]), "changed the other lines"),
    "a latent of infinities": ("encode", lambda r, t: {**r, "latent": [float("inf")] * 8}, "not a finite number"),
}


async def _requests(engine) -> dict:
    """One request of each kind, with characters the tiny model knows."""
    text = (await engine.sample(SampleRequest(seed=1))).poems[0].text
    other = (await engine.sample(SampleRequest(seed=2))).poems[0].text
    return {
        "sample": SampleRequest(seed=7),
        "subject": SampleRequest(seed=7, subject=[text[3]]),
        "acrostic": SampleRequest(seed=7, acrostic=text[4:8]),
        "blend": BlendRequest(a=text, b=other, steps=3),
        "rewrite": RewriteRequest(text=text, line=4, seed=7),
        "encode": EncodeRequest(text=text),
    }


OURS = object()  # a replica's /healthz names this bot's contract version


@contextlib.asynccontextmanager
async def _replica(answer, status: int = 200, contract_version=OURS):
    """A replica on a loopback port that answers every request with `answer` (JSON, or a
    str as HTML) and `status`, and /healthz as a worker of `contract_version` does (None: as
    one from before the handshake); yields its URL and the requests it got."""
    got: list[str] = []

    async def reply(request: web.Request) -> web.Response:
        got.append(request.path)
        if isinstance(answer, str):
            return web.Response(text=answer, status=status, content_type="text/html")
        return web.json_response(answer, status=status)

    async def health(request: web.Request) -> web.Response:
        said = contract.version() if contract_version is OURS else contract_version
        return web.json_response({"status": "ok", "models": {"5": "tiny"}, **({"contract": said} if said else {})})

    app = web.Application()
    app.router.add_get("/healthz", health)
    app.router.add_post("/v1/{kind}", reply)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}", got
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("wrong", list(WRONG_REPLIES))
async def test_a_replica_whose_reply_fails_its_request_is_marked_down_and_the_next_one_answers(engine, wrong, caplog):
    kind, corrupt, fault = WRONG_REPLIES[wrong]
    request = (await _requests(engine))[kind]
    name = type(request).__name__.removesuffix("Request").lower()
    good = await getattr(engine, name)(request)
    key = "text" if name == "encode" else None
    answer = corrupt(good.to_json(), good.text if key else good.poems[0].text)
    async with _replica(answer) as (bad, asked), _replica(good.to_json()) as (fine, _):
        alone = HttpWorker(bad, timeout_s=5, retries=0)
        try:
            with caplog.at_level(logging.WARNING, "poembot.bot.worker"):
                with pytest.raises(WorkerUnavailable, match="not answering"):  # the user's "unavailable"
                    await getattr(alone, name)(request)
            warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
            assert any(bad in m and fault in m for m in warned), warned
            assert alone.endpoints[0].down_until > 0, "the replica is marked down like a dead one"
        finally:
            await alone.close()
        both = HttpWorker([bad, fine], timeout_s=5, retries=0, down_s=30)
        try:
            replies = [await getattr(both, name)(request) for _ in range(2)]
            assert asked, "the wrong replica was asked"
            assert all(r == good for r in replies), "every answer came from the good replica"
        finally:
            await both.close()


async def test_a_user_never_sees_a_poem_the_check_refuses(sqlite_url, engine):
    good = await engine.sample(SampleRequest(seed=7))
    answer = _poem_text(good.to_json(), 0, "ab" + good.poems[0].text[2:])
    async with _replica(answer) as (bad, _):
        worker = HttpWorker(bad, timeout_s=5, retries=1, backoff_s=0.01)
        async with running_bot(sqlite_url, worker) as local:
            (sent,) = await local.say("!poem 7")
            assert not sent.embeds and FRIENDLY_DOWN in sent.text()
            (shown,) = await local.say("!show 1")
            assert "There is no poem #1" in shown.text(), "nothing was saved"
        await worker.close()


# -- a 4xx that is not the user's mistake; a replica of another version -------------------------
@pytest.mark.parametrize(
    "status, answer",
    [
        (400, {"error": "bad_request", "message": "unknown fields: subject"}),  # a worker of another contract
        (401, {"message": "missing bearer token"}),
        (403, "<html>Forbidden</html>"),
        (404, {"error": "not_found"}),
        (405, "<html>Method Not Allowed</html>"),
        (422, {"detail": [{"loc": ["body", "n"], "msg": "field required"}]}),
    ],
    ids=str,
)
async def test_a_4xx_that_is_not_about_the_users_input_fails_over_like_a_5xx(engine, status, answer, caplog):
    request = SampleRequest(seed=7)
    good = await engine.sample(request)
    async with _replica(answer, status) as (odd, asked), _replica(good.to_json()) as (fine, _):
        alone = HttpWorker(odd, timeout_s=5, retries=0)
        try:
            with caplog.at_level(logging.WARNING, "poembot.bot.worker"):
                with pytest.raises(WorkerUnavailable, match="not answering"):  # not "your request was refused"
                    await alone.sample(request)
            assert any(odd in r.getMessage() and str(status) in r.getMessage() for r in caplog.records)
        finally:
            await alone.close()
        both = HttpWorker([odd, fine], timeout_s=5, retries=0, down_s=30)
        try:
            assert [await both.sample(request) for _ in range(2)] == [good, good]
            assert asked, "the odd replica was asked, and its answer passed on to the next"
        finally:
            await both.close()


async def test_the_workers_own_refusal_still_reaches_the_user_as_their_mistake(engine):
    async with _replica({"error": "bad_request", "message": "n must be", "contract": contract.version()}, 400) as (
        url,
        _,
    ):
        client = HttpWorker(url, timeout_s=5, retries=0)
        try:
            with pytest.raises(WorkerBadRequest, match="n must be"):
                await client.sample(SampleRequest(seed=7))
        finally:
            await client.close()


@pytest.mark.parametrize("old_version", [None, "0.0.1"], ids=["no version", "another version"])
async def test_a_replica_of_another_contract_version_is_kept_out_of_rotation_with_one_warning(
    sqlite_url, worker_settings, old_version, caplog, monkeypatch
):
    """WORKER_URL=<old worker>,<new worker>: the old one once answered 400 "unknown fields:
    subject" and the user read it as their fault. Its /healthz names no contract, or another:
    it gets no request, the log says so once, and every user gets a poem from the new one;
    upgraded, it is back in rotation."""
    import bot.replicas
    from model.worker.engine import Engine
    from model.worker.http import SERVER_OPTIONS, create_app

    refusal = {"error": "bad_request", "message": "unknown fields: subject"}
    runner = web.AppRunner(create_app(worker_settings, Engine.from_settings(worker_settings)), **SERVER_OPTIONS)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    new = f"http://127.0.0.1:{port}"
    try:
        async with _replica(refusal, 400, old_version) as (old, asked):
            worker = HttpWorker([old, new], timeout_s=30, retries=1, backoff_s=0.01)
            with caplog.at_level(logging.WARNING, "poembot.bot.worker"):
                async with running_bot(sqlite_url, worker) as local:
                    for seed in range(6):
                        (sent,) = await local.say(f"!poem {seed}", user_id=10 + seed)
                        assert sent.embeds, sent.text()
            warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and old in r.getMessage()]
            assert asked == [], "the old replica got no request"
            assert len(warned) == 1 and "contract" in warned[0], warned
            assert (old_version or "none") in warned[0] and contract.version() in warned[0]
            assert worker.endpoints[0].contract is None and worker.endpoints[1].contract == contract.version()
            await worker.close()
        async with _replica(refusal, 400) as (upgraded, asked):  # the same replica, upgraded
            monkeypatch.setattr(bot.replicas, "OTHER_CONTRACT_S", 0.0)
            worker = HttpWorker(upgraded, timeout_s=5, retries=0)
            worker.endpoints[0].other = "0.0.1"  # (as it was last seen)
            with caplog.at_level(logging.WARNING, "poembot.bot.worker"):
                with pytest.raises(WorkerUnavailable):  # asked now, and its own 400 is no refusal of ours
                    await worker.sample(SampleRequest(seed=1))
            assert asked == ["/v1/sample"]
            assert any("back in rotation" in r.getMessage() for r in caplog.records)
            await worker.close()
    finally:
        await runner.cleanup()


# -- the HTTP worker: clients that hang up, and SIGTERM -----------------------------------------
def _metric(text: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


async def test_on_sigterm_a_worker_whose_clients_hung_up_finishes_every_accepted_request(tiny_checkpoints, tmp_path):
    """`python -m model serve`: three clients ask for 64 poems of 16 candidates each (seconds
    of work) and hang up; their places come back at once instead of refusing the next
    requests 429 busy until that work is done. Then 24 requests are accepted and the worker
    gets SIGTERM while they are in flight: each gets its poem, and the worker exits within
    its grace period."""
    from model.worker.http import SHUTDOWN_GRACE_S

    port, log = free_port(), tmp_path / "worker.log"
    env = {"POEMBOT_FORMS": "5", "POEMBOT_CHECKPOINT_5": str(tiny_checkpoints[5]), "POEMBOT_THREADS": "1"}
    with log.open("w") as output:
        proc = await start_worker(port, output=output, POEMBOT_MAX_QUEUE="192", **env)
    url = f"http://127.0.0.1:{port}"
    loop = asyncio.get_running_loop()
    try:
        async with aiohttp.ClientSession() as s:

            async def metrics() -> str:
                async with s.get(url + "/metrics") as r:
                    return await r.text()

            async def until(condition, what: str, within_s: float):
                end = loop.time() + within_s
                while not condition(await metrics()):
                    if loop.time() > end:
                        pytest.fail(f"{what} within {within_s:g} s")
                    await asyncio.sleep(0.02)

            async def ask(body: dict):
                async with s.post(url + "/v1/sample", json=body) as r:
                    return r.status, await r.json()

            heavy = [
                asyncio.create_task(ask({"seed": 64 * i, "n": 64, "options": {"candidates": 16}})) for i in range(3)
            ]
            await until(lambda m: _metric(m, "poembot_queued") == 192, "the heavy requests were not queued", 10)
            for task in heavy:  # their clients hang up
                task.cancel()
            await asyncio.gather(*heavy, return_exceptions=True)
            await until(lambda m: _metric(m, "poembot_queued") == 0, "the hung-up requests still hold places", 3)

            asked = [asyncio.create_task(ask({"seed": 100 + i})) for i in range(24)]
            in_flight = lambda m: _metric(m, "poembot_requests_in_progress")  # noqa: E731
            answered = lambda m: _metric(m, 'poembot_requests_total{endpoint="sample"}')  # noqa: E731
            # (the heavy requests count as answered: cut short, as errors)
            await until(lambda m: in_flight(m) + answered(m) == 3 + 24, "the 24 requests were not all accepted", 10)
            assert in_flight(await metrics()) > 0, "SIGTERM comes while requests are in flight"
            proc.send_signal(signal.SIGTERM)
            stopped = loop.time()
            replies = await asyncio.gather(*asked)
        assert [status for status, _ in replies] == [200] * 24, [r for r in replies if r[0] != 200][:3]
        assert [reply["poems"][0]["seed"] for _, reply in replies] == [100 + i for i in range(24)]
        code = await loop.run_in_executor(None, proc.wait, SHUTDOWN_GRACE_S + 10)
        assert code == 0 and loop.time() - stopped < SHUTDOWN_GRACE_S + 10
        assert f"have {SHUTDOWN_GRACE_S:g} s to finish" in log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
