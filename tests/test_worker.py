"""The inference worker: batching, the HTTP service on a real loopback port, the bot's client."""
from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest
from aiohttp import web

from bot.worker_client import HttpWorker, InProcessWorker, WorkerBadRequest, WorkerUnavailable
from model.worker import Engine, create_app


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def serve(worker_settings, port: int, engine=None) -> web.AppRunner:
    runner = web.AppRunner(create_app(worker_settings, engine))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


@pytest.fixture
async def http_worker(worker_settings):
    port = _port()
    runner = await serve(worker_settings, port)
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_batched_poems_equal_the_ones_written_alone(engine, generator):
    alone = [(await engine.sample({"seed": s}))["poems"][0]["text"] for s in (3, 77, 1000)]
    together = await asyncio.gather(*(engine.sample({"seed": s}) for s in (3, 77, 1000)))
    assert [r["poems"][0]["text"] for r in together] == alone
    assert engine.metrics.batches.max >= 2, "concurrent requests should share a forward pass"
    direct = generator.sample_seeds([77])[0].text
    assert alone[1] == direct


async def test_concurrent_clients_each_get_their_own_poems(engine):
    requests = [{"seed": 100 + i, "n": 1 + i % 3, "form": 5 if i % 2 else 7} for i in range(24)]
    replies = await asyncio.gather(*(engine.sample(r) for r in requests))
    for req, reply in zip(requests, replies):
        assert [p["seed"] for p in reply["poems"]] == [req["seed"] + i for i in range(req["n"])]
        assert all(len(p["text"]) == 4 * req["form"] for p in reply["poems"])


async def test_a_lone_request_is_not_held_back_and_a_steady_crowd_shares_batches(worker_settings):
    # a long wait for company: a lone user must not pay it, a crowd must still be batched
    slow = Engine(Engine.from_settings(worker_settings).generators, max_batch=8, max_wait_ms=3000, threads=1)
    await slow.start()
    try:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for seed in range(3):
            await slow.sample({"seed": seed})
        assert loop.time() - t0 < 2.0, "one user at a time waited for company that never came"

        async def user(u: int) -> None:  # each user asks again as soon as answered
            for i in range(4):
                await slow.sample({"seed": 100 * u + i})

        await asyncio.gather(*(user(u) for u in range(8)))
        assert slow.metrics.batches.max == 8
        assert slow.metrics.batches.count < 3 + 8 * 4 / 2, "the crowd's requests should mostly travel together"
    finally:
        await slow.close()


async def test_a_batch_never_holds_more_than_max_batch_poems(worker_settings):
    small = Engine(Engine.from_settings(worker_settings).generators, max_batch=4, max_wait_ms=50, threads=1)
    await small.start()
    try:
        replies = await asyncio.gather(*(small.sample({"seed": 10 * i, "n": 3}) for i in range(4)))
        assert [[p["seed"] for p in r["poems"]] for r in replies] == [[10 * i + j for j in range(3)] for i in range(4)]
        assert small.metrics.batches.max == 3 and small.metrics.batches.count == 4  # 3 + 3 > 4: never together
    finally:
        await small.close()


async def test_closing_the_engine_answers_every_waiting_request(worker_settings):
    eng = Engine(Engine.from_settings(worker_settings).generators, max_batch=2, max_wait_ms=5, threads=1)
    await eng.start()
    waiting = [asyncio.create_task(eng.sample({"seed": i})) for i in range(6)]
    await asyncio.sleep(0)  # queued; the first batch may be under way
    await asyncio.wait_for(eng.close(), 10)
    results = await asyncio.wait_for(asyncio.gather(*waiting, return_exceptions=True), 5)
    for r in results:  # written, or told why not: nothing is left hanging
        assert isinstance(r, dict) or "shut down" in str(r)
    assert any(not isinstance(r, dict) for r in results)
    with pytest.raises(RuntimeError, match="not started"):
        await eng.sample({"seed": 1})


async def test_http_sample_blend_encode_health_and_metrics(http_worker, generator):
    client = HttpWorker(http_worker)
    try:
        poem = (await client.sample({"seed": 42}))["poems"][0]
        assert poem["text"] == generator.sample_seeds([42])[0].text
        assert len(poem["lines"]) == 4 and poem["seed"] == 42
        encoded = await client.encode({"text": poem["text"]})
        assert len(encoded["latent"]) == generator.ckpt.cfg.latent and encoded["form"] == 5
        other = (await client.sample({"seed": 43}))["poems"][0]["text"]
        path = (await client.blend({"a": poem["text"], "b": other, "steps": 4}))["poems"]
        assert len(path) == 4
        varied = await client.vary({"text": poem["text"], "seed": 7})
        assert varied["seed"] == 7 and varied["poems"][0]["text"] == generator.vary(poem["text"], 7).text
        assert (await client.vary({"text": poem["text"], "seed": 7}))["poems"] == varied["poems"]  # seeded
        health = await client.health()
        assert health["status"] == "ok" and set(health["models"]) == {"5", "7"}
        async with aiohttp.ClientSession() as s, s.get(http_worker + "/metrics") as r:
            text = await r.text()
        assert r.status == 200
        assert 'poembot_requests_total{endpoint="sample"} 2' in text
        assert 'poembot_request_seconds_count{endpoint="sample"} 2' in text
        assert 'poembot_request_seconds_bucket{endpoint="sample",le="+Inf"} 2' in text
        assert "poembot_batch_size_count{} 2" in text
    finally:
        await client.close()


@pytest.mark.parametrize("path,body,message", [
    ("/v1/sample", b"not json", "not valid JSON"),
    ("/v1/sample", b"[1, 2]", "JSON object"),
    ("/v1/sample", b'{"n": 0}', "n must be"),
    ("/v1/sample", b'{"n": 100000}', "n must be"),
    ("/v1/sample", b'{"seed": -1}', "seed"),
    ("/v1/sample", b'{"seed": 1e400}', "seed"),
    ("/v1/sample", b'{"seed": "abc"}', "seed"),
    ("/v1/sample", b'{"form": 6}', "form must be"),
    ("/v1/sample", b'{"options": {"temperature": -3}}', "temperature"),
    ("/v1/sample", b'{"options": {"rhyme": "yes"}}', "true or false"),
    ("/v1/sample", b'{"options": {"colour": 1}}', "unknown options"),
    ("/v1/sample", b'{"surprise": 1}', "unknown fields"),
    ("/v1/blend", b'{"a": "abc", "b": "def"}', "Chinese characters"),
    ("/v1/blend", b'{"a": 1, "b": 2}', "a must be"),
    ("/v1/blend", b'{"a": [1, 2], "b": [3, 4]}', "latent"),
    ("/v1/blend", "{\"a\": \"床前明月光\", \"b\": \"床前明月光\"}".encode(), "20 characters"),
    ("/v1/blend", b'{"a": "x", "b": "y", "steps": 1000}', "steps"),
    ("/v1/encode", b'{}', "text must be"),
    ("/v1/vary", b'{}', "text must be"),
    ("/v1/vary", b'{"text": "abc"}', "Chinese characters"),
    ("/v1/vary", "{\"text\": \"床前明月光\", \"seed\": -2}".encode(), "seed"),
    ("/v1/vary", "{\"text\": \"床前明月光\", \"options\": {\"top_p\": 0}}".encode(), "top_p"),
    ("/v1/encode", "{\"text\": \"\U0001F600\"}".encode(), "Chinese characters"),
    ("/v1/sample", b'{"n": 1, "pad": "' + b"x" * 40000 + b'"}', "limited"),
])
async def test_every_bad_request_gets_a_clear_4xx(http_worker, path, body, message):
    async with aiohttp.ClientSession() as s:
        async with s.post(http_worker + path, data=body, headers={"Content-Type": "application/json"}) as r:
            reply = await r.json()
    assert 400 <= r.status < 500
    assert message in reply["message"]


async def test_the_client_reports_a_stopped_worker_and_recovers_when_it_returns(worker_settings, tiny_checkpoints):
    port = _port()
    engine = Engine.from_settings(worker_settings)
    client = HttpWorker(f"http://127.0.0.1:{port}", timeout_s=5, retries=1, backoff_s=0.01)
    try:
        with pytest.raises(WorkerUnavailable, match="not answering"):
            await client.sample({"seed": 1})
        runner = await serve(worker_settings, port, engine)
        first = await client.sample({"seed": 1})
        await runner.cleanup()
        with pytest.raises(WorkerUnavailable):
            await client.sample({"seed": 1})
        runner = await serve(worker_settings, port, Engine.from_settings(worker_settings))
        assert await client.sample({"seed": 1}) == first
        await runner.cleanup()
    finally:
        await client.close()


async def test_in_process_client_turns_model_errors_into_bad_requests(engine):
    client = InProcessWorker(engine)
    with pytest.raises(WorkerBadRequest, match="Chinese characters"):
        await client.encode({"text": "hello"})
    assert len((await client.sample({"seed": 5, "n": 2}))["poems"]) == 2
