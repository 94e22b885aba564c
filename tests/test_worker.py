"""The inference worker: batching, the HTTP service on a real loopback port, the bot's client."""

from __future__ import annotations

import asyncio
import logging
import re

import aiohttp
import pytest
from aiohttp import web

from bot.worker_client import HttpWorker, InProcessWorker, WorkerBadRequest, WorkerUnavailable
from model.generate import InputError
from model.contract import (
    BlendRequest,
    EncodeRequest,
    REFUSALS,
    PoemsReply,
    RewriteRequest,
    SampleRequest,
    VaryRequest,
    parse_options,
    version,
)
from model.worker.engine import Engine
from model.worker.http import SERVER_OPTIONS, create_app
from tests.helpers import free_port


async def serve(worker_settings, port: int, engine=None) -> web.AppRunner:
    runner = web.AppRunner(create_app(worker_settings, engine), **SERVER_OPTIONS)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


@pytest.fixture
async def http_worker(worker_settings):
    port = free_port()
    runner = await serve(worker_settings, port)
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_batched_poems_equal_the_ones_written_alone(engine, generator):
    alone = [(await engine.sample(SampleRequest(seed=s))).poems[0].text for s in (3, 77, 1000)]
    together = await asyncio.gather(*(engine.sample(SampleRequest(seed=s)) for s in (3, 77, 1000)))
    assert [r.poems[0].text for r in together] == alone
    assert engine.metrics.batches.max >= 2, "concurrent requests should share a forward pass"
    direct = generator.sample_seeds([77])[0].text
    assert alone[1] == direct


async def test_a_subject_or_an_acrostic_is_checked_once_on_its_way_through_the_engine(engine, generator, monkeypatch):
    gen = engine.generators[5]
    checked = []
    real = type(gen).request_ids
    monkeypatch.setattr(gen, "request_ids", lambda *args: checked.append(args) or real(gen, *args))
    text = generator.sample_seeds([1])[0].text  # characters the tiny model knows, none twice
    for asked in ({"subject": [text[3]]}, {"acrostic": text[4:8]}):
        checked.clear()
        reply = await engine.sample(SampleRequest.from_json({"seed": 4, "n": 2, **asked}))
        assert len(checked) == 1, asked
        assert [p.text for p in reply.poems] == [p.text for p in generator.sample_seeds([4, 5], **asked)]
        assert [p.seed for p in reply.poems] == [4, 5]


async def test_concurrent_clients_each_get_their_own_poems(engine):
    requests = [{"seed": 100 + i, "n": 1 + i % 3, "form": 5 if i % 2 else 7} for i in range(24)]
    replies = await asyncio.gather(*(engine.sample(SampleRequest(**r)) for r in requests))
    for req, reply in zip(requests, replies):
        assert [p.seed for p in reply.poems] == [req["seed"] + i for i in range(req["n"])]
        assert all(len(p.text) == 4 * req["form"] for p in reply.poems)


async def test_a_lone_request_is_not_held_back_and_a_steady_crowd_shares_batches(worker_settings):
    # a long wait for company: a lone user must not pay it, a crowd must still be batched
    slow = Engine(Engine.from_settings(worker_settings).generators, max_batch=8, max_wait_ms=3000, threads=1)
    await slow.start()
    try:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for seed in range(3):
            await slow.sample(SampleRequest(seed=seed))
        assert loop.time() - t0 < 2.0, "one user at a time waited for company that never came"

        async def user(u: int) -> None:  # each user asks again as soon as answered
            for i in range(4):
                await slow.sample(SampleRequest(seed=100 * u + i))

        await asyncio.gather(*(user(u) for u in range(8)))
        assert slow.metrics.batches.max == 8
        assert slow.metrics.batches.count < 3 + 8 * 4 / 2, "the crowd's requests should mostly travel together"
    finally:
        await slow.close()


async def test_a_batch_never_holds_more_than_max_batch_poems(worker_settings):
    small = Engine(Engine.from_settings(worker_settings).generators, max_batch=4, max_wait_ms=50, threads=1)
    await small.start()
    try:
        replies = await asyncio.gather(*(small.sample(SampleRequest(seed=10 * i, n=3)) for i in range(4)))
        assert [[p.seed for p in r.poems] for r in replies] == [[10 * i + j for j in range(3)] for i in range(4)]
        assert small.metrics.batches.max == 3 and small.metrics.batches.count == 4  # 3 + 3 > 4: never together
    finally:
        await small.close()


async def test_users_of_two_forms_each_get_whole_batches(worker_settings):
    # alternating forms used to share one batch, halved into two forward passes
    eng = Engine(Engine.from_settings(worker_settings).generators, max_batch=8, max_wait_ms=50, threads=1)
    await eng.start()
    try:
        replies = await asyncio.gather(*(eng.sample(SampleRequest(seed=i, form=(5, 7)[i % 2])) for i in range(16)))
        assert [len(r.poems[0].text) for r in replies] == [20, 28] * 8
        assert (eng.metrics.batches.count, eng.metrics.batches.max) == (2, 8)
    finally:
        await eng.close()


async def test_closing_the_engine_answers_every_waiting_request(worker_settings):
    eng = Engine(Engine.from_settings(worker_settings).generators, max_batch=2, max_wait_ms=5, threads=1)
    await eng.start()
    waiting = [asyncio.create_task(eng.sample(SampleRequest(seed=i))) for i in range(6)]
    await asyncio.sleep(0)  # queued; the first batch may be under way
    await asyncio.wait_for(eng.close(), 10)
    results = await asyncio.wait_for(asyncio.gather(*waiting, return_exceptions=True), 5)
    for r in results:  # written, or told why not: nothing is left hanging
        assert isinstance(r, PoemsReply) or "shut down" in str(r)
    assert any(not isinstance(r, PoemsReply) for r in results)
    with pytest.raises(RuntimeError, match="not started"):
        await eng.sample(SampleRequest(seed=1))


def test_every_option_takes_its_own_kind_of_value():
    """Numbers whose default is 0 (top_k, min_p, guidance, calibration) were once taken for
    switches and refused; each option takes a number or true/false as its default does."""
    numbers = {
        "temperature": 1.1,
        "top_k": 40,
        "top_p": 0.8,
        "min_p": 0.05,
        "calibration": 0.3,
        "tone_penalty": 2.0,
        "candidates": 2,
        "guidance": 0.5,
    }
    opts = parse_options(numbers)
    assert all(getattr(opts, k) == v for k, v in numbers.items())
    switches = {
        "no_repeat": False,
        "rhyme": False,
        "rhyme_first": True,
        "tone": False,
        "parallel": True,
        "simplified": True,
    }
    opts = parse_options(switches)
    assert all(getattr(opts, k) == v for k, v in switches.items())
    for key in numbers:
        with pytest.raises(InputError, match=f"option {key} must be a number"):
            parse_options({key: True})
    for key in switches:
        with pytest.raises(InputError, match=f"option {key} must be true or false"):
            parse_options({key: 1})


async def test_http_sample_blend_encode_health_and_metrics(http_worker, generator):
    client = HttpWorker(http_worker)
    try:
        poem = (await client.sample(SampleRequest(seed=42))).poems[0]
        assert poem.text == generator.sample_seeds([42])[0].text
        assert len(poem.lines) == 4 and poem.seed == 42
        encoded = await client.encode(EncodeRequest(text=poem.text))
        assert len(encoded.latent) == generator.ckpt.cfg.latent and encoded.form == 5
        other = (await client.sample(SampleRequest(seed=43))).poems[0].text
        path = (await client.blend(BlendRequest(a=poem.text, b=other, steps=4))).poems
        assert [p.text for p in path] == [p.text for p in generator.interpolate(poem.text, other, 4)]
        alone = await client.blend(BlendRequest(a=poem.text, b=other, steps=4, crossings=False))
        assert alone.crossings is False
        assert [p.text for p in alone.poems] == [
            p.text for p in generator.interpolate(poem.text, other, 4, crossings=False)
        ]
        varied = await client.vary(VaryRequest(text=poem.text, seed=7))
        assert varied.seed == 7 and varied.poems[0].text == generator.vary(poem.text, 7).text
        assert (await client.vary(VaryRequest(text=poem.text, seed=7))).poems == varied.poems  # seeded
        health = await client.health()
        assert health["status"] == "ok" and set(health["models"]) == {"5", "7"}
        assert health["contract"] == version(), "the handshake: the contract this worker speaks"
        async with aiohttp.ClientSession() as s, s.get(http_worker + "/metrics") as r:
            text = await r.text()
        assert r.status == 200
        assert 'poembot_requests_total{endpoint="sample"} 2.0' in text
        assert 'poembot_request_seconds_count{endpoint="sample"} 2.0' in text
        assert 'poembot_request_seconds_bucket{endpoint="sample",le="+Inf"} 2.0' in text
        assert "poembot_batch_size_count 2.0" in text and "process_resident_memory_bytes" in text
    finally:
        await client.close()


@pytest.mark.parametrize(
    "path,body,message",
    [
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
        ("/v1/sample", b'{"seed": 7, "options": {"temperature": 5e-324}}', "temperature must be 0"),
        (
            "/v1/blend",
            b'{"a": [' + b",".join([b"3e38"] * 8) + b'], "b": [' + b",".join([b"0"] * 8) + b"]}",
            "lie between",
        ),
        ("/v1/sample", b'{"options": {"colour": 1}}', "unknown options"),
        ("/v1/sample", b'{"surprise": 1}', "unknown fields"),
        ("/v1/blend", b'{"a": "abc", "b": "def"}', "Chinese characters"),
        ("/v1/blend", b'{"a": 1, "b": 2}', "a must be"),
        ("/v1/blend", b'{"a": [1, 2], "b": [3, 4]}', "latent"),
        ("/v1/blend", '{"a": "床前明月光", "b": "床前明月光"}'.encode(), "20 characters"),
        ("/v1/blend", b'{"a": "x", "b": "y", "steps": 1000}', "steps"),
        (
            "/v1/blend",
            '{"a": "白日依山盡黃河入海流欲窮千里目更上一層樓", "b": "白日依山盡黃河入海流欲窮千里目更上一層樓", "crossings": 1}'.encode(),
            "crossings is true",
        ),
        ("/v1/encode", b"{}", "text must be"),
        ("/v1/vary", b"{}", "text must be"),
        ("/v1/vary", b'{"text": "abc"}', "Chinese characters"),
        ("/v1/vary", '{"text": "床前明月光", "seed": -2}'.encode(), "seed"),
        ("/v1/vary", '{"text": "床前明月光", "options": {"top_p": 0}}'.encode(), "top_p"),
        ("/v1/vary", '{"text": "白日依山盡黃河入海流欲窮千里目更上一層樓", "towards": 5}'.encode(), "towards"),
        (
            "/v1/vary",
            '{"text": "白日依山盡黃河入海流欲窮千里目更上一層樓", "towards": "白日依山盡黃河入海流欲窮千里目更上一層樓", "t": 2}'.encode(),
            "t must be",
        ),
        (
            "/v1/vary",
            '{"text": "白日依山盡黃河入海流欲窮千里目更上一層樓", "towards": "床前明月光"}'.encode(),
            "characters",
        ),
        ("/v1/encode", '{"text": "\U0001f600"}'.encode(), "Chinese characters"),
        ("/v1/sample", b'{"n": 1, "pad": "' + b"x" * 40000 + b'"}', "limited"),
    ],
)
async def test_every_bad_request_gets_a_clear_4xx(http_worker, path, body, message):
    async with aiohttp.ClientSession() as s:
        async with s.post(http_worker + path, data=body, headers={"Content-Type": "application/json"}) as r:
            reply = await r.json()
    assert 400 <= r.status < 500
    assert message in reply["message"]
    if reply["error"] == "bad_request":  # the worker's own refusal names its contract (the client trusts no other)
        assert reply["contract"] == version()
        assert REFUSALS[reply["code"]] == set(reply["params"]), "and its code, for the bot to word"


async def test_the_client_reports_a_stopped_worker_and_recovers_when_it_returns(worker_settings, tiny_checkpoints):
    port = free_port()
    engine = Engine.from_settings(worker_settings)
    client = HttpWorker(f"http://127.0.0.1:{port}", timeout_s=5, retries=1, backoff_s=0.01)
    try:
        with pytest.raises(WorkerUnavailable, match="not answering"):
            await client.sample(SampleRequest(seed=1))
        runner = await serve(worker_settings, port, engine)
        first = await client.sample(SampleRequest(seed=1))
        await runner.cleanup()
        with pytest.raises(WorkerUnavailable):
            await client.sample(SampleRequest(seed=1))
        runner = await serve(worker_settings, port, Engine.from_settings(worker_settings))
        assert await client.sample(SampleRequest(seed=1)) == first
        await runner.cleanup()
    finally:
        await client.close()


async def test_in_process_client_turns_model_errors_into_bad_requests(engine):
    client = InProcessWorker(engine)
    with pytest.raises(WorkerBadRequest, match="Chinese characters"):
        await client.encode(EncodeRequest(text="hello"))
    assert len((await client.sample(SampleRequest(seed=5, n=2))).poems) == 2


# -- hostile HTTP: every answer a 4xx in JSON (or a clean close), never a 500 ------------------
async def _raw(url: str, data: bytes, wait_s: float = 10.0) -> bytes:
    """Send raw bytes to the worker and read until it closes (or `wait_s` passes)."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), wait_s)
    finally:
        writer.close()


def _post(
    path: str, body: bytes, headers: str = "Content-Type: application/json\r\n", length: int | None = None
) -> bytes:
    length = len(body) if length is None else length
    return (
        f"POST {path} HTTP/1.1\r\nHost: worker\r\n{headers}Content-Length: {length}\r\nConnection: close\r\n\r\n"
    ).encode() + body


def _status_and_json(reply: bytes) -> tuple[int, dict]:
    import json

    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


@pytest.mark.parametrize(
    "request_bytes, status, error",
    [
        (_post("/v1/sample", b"[" * 1000 + b"]" * 1000), 400, "bad_request"),  # RecursionError in json
        (_post("/v1/blend", b'{"a": ' + b"[" * 8000 + b"]" * 8000 + b', "b": "x"}'), 400, "bad_request"),
        (_post("/v1/sample", b'{"n": 1}', "Content-Type: application/json; charset=bogus\r\n"), 200, None),
        (
            _post("/v1/sample", b'{"n": 1}', "Content-Type: application/json\r\nContent-Encoding: gzip\r\n"),
            415,
            "unsupported_encoding",
        ),
        (
            _post("/v1/sample", b'{"n": 1}', "Content-Type: application/json\r\nContent-Encoding: deflate\r\n"),
            415,
            "unsupported_encoding",
        ),
        (
            _post("/v1/sample", b'{"n": 1}', "Content-Type: application/json\r\nContent-Encoding: br\r\n"),
            415,
            "unsupported_encoding",
        ),
        (_post("/v1/blend", b'{"a": [' + b"1" * 400 + b'], "b": "x"}'), 400, "bad_request"),  # 10**400: OverflowError
        (_post("/v1/sample", b'{"seed": ' + b"9" * 5000 + b"}"), 400, "bad_request"),  # past int's digit limit
        (_post("/v1/sample", b'{"options": {"temperature": NaN}}'), 400, "bad_request"),
        (_post("/v1/sample", b'{"n": 1}\xff'), 400, "bad_request"),
    ],
)
async def test_hostile_bodies_get_a_json_4xx_not_a_500(http_worker, request_bytes, status, error, caplog):
    got, reply = _status_and_json(await _raw(http_worker, request_bytes))
    assert got == status, reply
    assert error is None or reply["error"] == error
    assert not [r for r in caplog.records if r.levelname == "ERROR"], "a client's mistake is not the worker's error"


@pytest.mark.parametrize(
    "path, body",
    [
        ("/v1/vary", b'{"text": "\\ud800"}'),
        ("/v1/rewrite", b'{"text": "\\udfff", "line": 2}'),
        ("/v1/encode", b'{"text": "\\ud83d"}'),  # the first half of 😀 without its second
        ("/v1/sample", b'{"subject": ["\\udc00"]}'),
        ("/v1/blend", b'{"a": "x", "b": "y", "\\ud800": 1}'),  # in a key, which a refusal quotes too
    ],
)
async def test_text_that_is_not_valid_unicode_is_refused_as_the_senders_mistake(http_worker, path, body, caplog):
    """JSON can spell a lone surrogate ("\\ud800"), which no UTF-8 holds: a 400 naming it,
    not a 500 from a refusal that quotes it and cannot be sent."""
    status, reply = _status_and_json(await _raw(http_worker, _post(path, body)))
    assert (status, reply["error"], reply["code"]) == (400, "bad_request", "invalid_request"), reply
    assert "not valid Unicode" in reply["message"]
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    status, reply = _status_and_json(await _raw(http_worker, _post("/v1/encode", b'{"text": "\\ud83d\\ude00"}')))
    assert (status, reply["code"]) == (400, "poem_not_chinese"), "a whole pair is a character like any other"


async def test_a_client_hanging_up_mid_body_is_no_error_and_the_worker_carries_on(http_worker, caplog):
    host, port = http_worker.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(_post("/v1/sample", b'{"n": ', length=1000))
    await writer.drain()
    writer.close()
    await asyncio.sleep(0.3)
    status, reply = _status_and_json(await _raw(http_worker, _post("/v1/sample", b'{"seed": 3}')))
    assert status == 200 and reply["poems"][0]["seed"] == 3
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


async def test_a_body_declared_too_large_is_refused_at_once_not_after_waiting_for_it(http_worker):
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    status, reply = _status_and_json(await _raw(http_worker, _post("/v1/sample", b"{}", length=10_000_000), wait_s=5))
    assert (status, reply["error"]) == (413, "too_large")
    assert loop.time() - t0 < 2, "the worker should not wait for a body it will refuse"


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST /v1/sample HTTP/1.1\r\nHost: w\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nab\r\n",
        b"POST /v1/sample HTTP/1.1\r\nHost: w\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc",
        b"POST /v1/sample HTTP/1.1\r\nHost: w\r\nX: a\x00b\r\nContent-Length: 2\r\n\r\n{}",
        b"POST /v1/sample HTTP/1.1\r\nHost: w\r\n" + b"".join(b"X%d: 1\r\n" % i for i in range(200)) + b"\r\n",
    ],
)
async def test_malformed_http_is_a_400_and_one_warning_line_not_an_error_traceback(http_worker, request_bytes, caplog):
    caplog.set_level(logging.INFO)
    reply = await _raw(http_worker, request_bytes, wait_s=5)
    assert reply.split()[1] == b"400"
    server = [r for r in caplog.records if not r.name.endswith("access") and r.name != "poembot.model.worker"]
    assert [(r.levelname, r.exc_info) for r in server] == [("WARNING", None)], [r.getMessage() for r in server]
    assert "malformed HTTP: 400" in server[0].getMessage() and "\n" not in server[0].getMessage()


async def test_idle_and_slow_connections_are_closed(worker_settings, monkeypatch):
    import model.worker.http

    monkeypatch.setattr(model.worker.http, "BODY_TIMEOUT_S", 0.5)
    runner = web.AppRunner(create_app(worker_settings), **{**SERVER_OPTIONS, "keepalive_timeout": 0.5})
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        assert await _raw(f"http://127.0.0.1:{port}", b"", wait_s=5) == b""  # says nothing: closed
        assert await _raw(f"http://127.0.0.1:{port}", b"POST /v1/sample HTTP/1.1\r\nHo", wait_s=5) == b""
        status, reply = _status_and_json(
            await _raw(f"http://127.0.0.1:{port}", _post("/v1/sample", b'{"n"', length=100), wait_s=5)
        )
        assert (status, reply["error"]) == (408, "timeout")
        assert loop.time() - t0 < 5, "each should be closed within about a second"
    finally:
        await runner.cleanup()


def _rss_mb() -> float:
    import resource

    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def _fuzz_request(rng) -> bytes:
    """One malformed request from a seeded generator covering the classes above."""
    import json

    path = rng.choice(["/v1/sample", "/v1/blend", "/v1/encode", "/v1/vary", "/v1/nope", "/healthz", "/"])
    junk = [None, True, -1, 0, 2**70, 1e308, "", "床前明月光", "x" * 300, [], {}, [1.5] * 3, {"a": 1}]
    kind = rng.randrange(10)
    headers = "Content-Type: application/json\r\n"
    if kind == 0:
        body = bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 200)))
    elif kind == 1:
        depth = rng.randrange(1, 6000)
        body = b"[" * depth + b"]" * rng.choice([depth, depth - 1, 0])
    elif kind == 2:
        body = b'{"seed": ' + str(rng.choice([10**400, -(10**30), 2**63, 2**64])).encode()[:4000] + b"}"
    elif kind == 3:
        keys = ["n", "seed", "form", "options", "a", "b", "steps", "method", "text", "latent", "zzz"]
        body = json.dumps({rng.choice(keys): rng.choice(junk) for _ in range(rng.randrange(1, 5))}).encode()
    elif kind == 4:
        opts = {
            rng.choice(["temperature", "top_k", "top_p", "guidance", "candidates", "rhyme", "x"]): rng.choice(junk)
            for _ in range(2)
        }
        body = json.dumps({"options": opts}).encode()
    elif kind == 5:
        body = json.dumps(
            {"a": [rng.choice([1e308, -1e308, 0.0, 1])] * rng.randrange(0, 300), "b": rng.choice(junk)}
        ).encode()
    elif kind == 6:
        headers += rng.choice(
            [
                "Content-Encoding: gzip\r\n",
                "Content-Encoding: deflate\r\n",
                "Content-Encoding: br\r\n",
                "Content-Type: text/plain; charset=bogus\r\n",
            ]
        )
        body = b'{"n": 1}'
    elif kind == 7:
        body = b'{"n": 1, "pad": "' + b"y" * rng.choice([100, 20000]) + b'"}'
    elif kind == 8:
        return rng.choice(
            [
                b"GARBAGE\r\n\r\n",
                b"GET / HTTP/9.9\r\n\r\n",
                b"POST /v1/sample HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
                b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
            ]
        )
    else:
        body = json.dumps(
            {
                "text": "".join(chr(rng.randrange(0x20, 0x10FFFF)) for _ in range(rng.randrange(1, 40))),
                "form": rng.choice([5, 7, 6, None]),
            },
            ensure_ascii=rng.random() < 0.5,
        ).encode("utf-8", "surrogatepass")
    method = rng.choice(["POST"] * 8 + ["GET", "PUT"])
    return _post(path, body, headers).replace(b"POST", method.encode(), 1)


async def test_a_thousand_malformed_requests_get_no_5xx_and_leak_no_memory(http_worker, caplog):
    import random

    rng = random.Random(2026)
    requests = [_fuzz_request(rng) for _ in range(1100)]
    statuses = []
    for i, request in enumerate(requests):
        if i == 100:  # after warming up: imports, caches, the first batches
            rss_before = _rss_mb()
        reply = await _raw(http_worker, request)
        statuses.append(int(reply.split()[1]) if reply.startswith(b"HTTP/") else None)
    growth = _rss_mb() - rss_before
    assert not [s for s in statuses if s is not None and s >= 500]
    assert len({s for s in statuses}) >= 5, f"the generator should reach many paths: {set(statuses)}"
    assert growth < 20, f"RSS grew {growth:.1f} MB over 1,000 requests"
    assert not [r for r in caplog.records if r.levelname == "ERROR" and r.name.startswith("poembot")]
    status, reply = _status_and_json(await _raw(http_worker, _post("/v1/sample", b'{"seed": 3}')))
    assert status == 200


async def test_a_poem_between_two_poems_is_seeded_and_between_a_poem_and_itself_is_its_variation(engine):
    a, b = [(await engine.sample(SampleRequest(seed=s))).poems[0].text for s in (1, 2)]  # words it knows
    between = await engine.vary(VaryRequest(text=a, towards=b, t=0.5, seed=9))
    assert between == await engine.vary(VaryRequest(text=a, towards=b, t=0.5, seed=9))
    alone = await engine.vary(VaryRequest(text=a, seed=9))
    assert await engine.vary(VaryRequest(text=a, towards=a, t=0.3, seed=9)) == alone
    assert (await engine.vary(VaryRequest(text=a, towards=b, t=0.0, seed=9))).poems == alone.poems


async def test_several_workers_share_requests_and_one_that_dies_is_retried_elsewhere(worker_settings):
    """Two real HTTP workers behind one client: requests spread over both; when one stops,
    every request is answered by the other; when it comes back, it is used again."""
    ports = [free_port(), free_port()]
    runners = [await serve(worker_settings, p) for p in ports]
    client = HttpWorker(",".join(f"http://127.0.0.1:{p}" for p in ports), timeout_s=5, down_s=30, probe_s=0.2)
    try:
        alone = (await client.sample(SampleRequest(seed=5))).poems[0].text
        replies = await asyncio.gather(*(client.sample(SampleRequest(seed=5)) for _ in range(16)))
        assert all(r.poems[0].text == alone for r in replies)
        served = [_sampled(await _metrics(p)) for p in ports]
        assert all(n > 0 for n in served), served
        await runners[0].cleanup()  # one replica dies
        for seed in range(8):
            assert (await client.sample(SampleRequest(seed=seed))).poems
        assert client.endpoints[0].down_until > 0, "the dead replica is marked down"
        runners[0] = await serve(worker_settings, ports[0])  # and comes back
        loop = asyncio.get_running_loop()
        back = loop.time()
        while client.endpoints[0].down_until > 0 and loop.time() - back < 5:  # its /healthz probe, not a request
            await asyncio.sleep(0.05)
        assert client.endpoints[0].down_until == 0, "its return is noticed within 5 s (down_s alone would be 30)"
        before = _sampled(await _metrics(ports[0]))
        await asyncio.gather(*(client.sample(SampleRequest(seed=s)) for s in range(16)))
        assert _sampled(await _metrics(ports[0])) > before, "the replica that came back is used again"
        with pytest.raises(WorkerBadRequest):  # a user's mistake is not retried elsewhere
            await client.sample(SampleRequest(n=0))
    finally:
        await client.close()
        for r in runners:
            await r.cleanup()


def _sampled(metrics: str) -> int:
    found = re.search(r'poembot_requests_total\{endpoint="sample"\} (\S+)', metrics)
    return int(float(found.group(1))) if found else 0


async def _metrics(port: int) -> str:
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/metrics") as r:
        return await r.text()


@pytest.mark.parametrize(
    "status, body, kind",
    [
        (404, "<html>Not Found</html>", "text/html"),
        (200, "<html>hello</html>", "text/html"),
        (200, "{}", "application/json"),
    ],
)
async def test_a_url_that_reaches_the_wrong_service_is_the_worker_not_answering_not_the_users_mistake(
    status, body, kind
):
    async def not_found(request):
        return web.Response(status=status, text=body, content_type=kind)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", not_found)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    client = HttpWorker(f"http://127.0.0.1:{port}", timeout_s=5, retries=0)
    try:
        with pytest.raises(WorkerUnavailable, match="not answering"):
            await client.sample(SampleRequest(seed=1))
    finally:
        await client.close()
        await runner.cleanup()


@pytest.mark.parametrize(
    "request_",
    [
        SampleRequest(n=0),
        SampleRequest(seed=-1),
        SampleRequest(form=6),
        SampleRequest(options={"temperature": 9}),
        SampleRequest(options={"loud": True}),
        SampleRequest(subject=["龘"]),
        SampleRequest(acrostic="春花"),
        BlendRequest(a="床前明月光", b="x", steps=1),
        BlendRequest(a=[1e30] * 3, b="x"),
        VaryRequest(text="hello"),
        VaryRequest(text="床前明月光", t=2.0),
        RewriteRequest(text="床前明月光疑是地上霜舉頭望明月低頭思故鄉", line=5),
        EncodeRequest(text="x" * 500),
    ],
    ids=lambda r: f"{type(r).__name__}{r.to_json()}"[:60],
)
async def test_both_transports_refuse_one_bad_request_with_the_same_message(engine, http_worker, request_):
    name = type(request_).__name__.removesuffix("Request").lower()
    http = HttpWorker(http_worker, retries=0)
    try:
        with pytest.raises(WorkerBadRequest) as over_http:
            await getattr(http, name)(request_)
    finally:
        await http.close()
    with pytest.raises(WorkerBadRequest) as in_process:
        await getattr(InProcessWorker(engine), name)(request_)
    assert str(in_process.value) == str(over_http.value)
    assert (in_process.value.code, in_process.value.params) == (over_http.value.code, over_http.value.params)


async def test_a_worker_past_its_queue_bound_says_busy_with_retry_after_and_the_user_is_told_when(
    worker_settings, sqlite_url
):
    from bot.worker_client import WorkerBusy
    from tests.helpers import running_bot

    port = free_port()
    small = Engine.from_settings(worker_settings.model_copy(update={"max_queue": 2, "max_wait_ms": 200}))
    runner = await serve(worker_settings, port, small)
    client = HttpWorker(f"http://127.0.0.1:{port}", timeout_s=10, retries=0)
    try:
        replies = await asyncio.gather(
            *(client.sample(SampleRequest(seed=s)) for s in range(12)), return_exceptions=True
        )
        refused = [r for r in replies if isinstance(r, WorkerBusy)]
        assert refused and all(r.retry_after >= 1 for r in refused)
        assert all(isinstance(r, (PoemsReply, WorkerBusy)) for r in replies), replies
        async with aiohttp.ClientSession() as s:
            statuses = await asyncio.gather(
                *(s.post(f"http://127.0.0.1:{port}/v1/sample", json={"seed": i}) for i in range(12))
            )
            busy = [r for r in statuses if r.status == 429]
            assert busy and busy[0].headers["Retry-After"].isdigit() and (await busy[0].json())["error"] == "busy"
        async with running_bot(sqlite_url, client, poem_cooldown_s=60, channels=12) as local:
            from bot.local import CHANNEL_ID

            small.queued = small.max_queue  # the worker is full (its queue, as other clients filled it)
            sent = await asyncio.gather(
                *(local.first_reply(f"!poem {i}", user_id=100 + i, channel_id=CHANNEL_ID + 1 + i) for i in range(3))
            )
            assert all("busy" in s.text() and "try again in" in s.text() for s in sent), [s.text() for s in sent]
            small.queued = 0
            (again,) = await local.say("!poem 5", user_id=100)  # the busy reply spent no cooldown
            assert again.embeds, again.text()
    finally:
        await client.close()
        await runner.cleanup()


async def test_a_host_name_with_several_addresses_is_one_replica_an_address(worker_settings):
    """compose's `--scale worker=3`: one name, WORKER_URL=http://worker:8500, several
    addresses. Each is a replica of its own; one that goes is dropped at the next lookup."""
    from bot.replicas import RESOLVE_S

    port = free_port()
    runners = []
    for host in ("127.0.0.1", "127.0.0.2"):
        runner = web.AppRunner(create_app(worker_settings), **SERVER_OPTIONS)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        runners.append(runner)
    addresses = ["127.0.0.1", "127.0.0.2"]

    async def resolve(host: str, port_: int) -> list[str]:
        assert host == "worker"
        return list(addresses)

    client = HttpWorker(f"http://worker:{port}", timeout_s=5, resolve=resolve)
    try:
        await asyncio.gather(*(client.sample(SampleRequest(seed=s)) for s in range(16)))
        assert [e.url for e in client.endpoints] == [f"http://127.0.0.1:{port}", f"http://127.0.0.2:{port}"]
        async with aiohttp.ClientSession() as s:
            counts = []
            for host in ("127.0.0.1", "127.0.0.2"):
                async with s.get(f"http://{host}:{port}/metrics") as r:
                    counts.append(_sampled(await r.text()))
        assert all(c > 0 for c in counts), counts
        addresses.pop()  # scaled down to one
        client.pool._resolved_at -= RESOLVE_S
        await client.sample(SampleRequest(seed=1))
        assert [e.url for e in client.endpoints] == [f"http://127.0.0.1:{port}"]
    finally:
        await client.close()
        for r in runners:
            await r.cleanup()


async def test_every_reply_the_worker_writes_passes_the_check_the_bot_makes(engine):
    """The client refuses a reply that fails `check_reply` (tests/test_resilience.py): a real
    worker's replies, of every kind, on typed, punctuated or simplified input, all pass it."""
    from model.contract import check_reply

    asked = []
    for form in (5, 7):
        asked += [SampleRequest(seed=s, n=4, form=form, options={"simplified": s % 2 == 1}) for s in range(4)]
        poems = [p.text for s in range(4) for p in (await engine.sample(SampleRequest(seed=10 * s, form=form))).poems]
        for i, text in enumerate(poems):
            typed = "，".join(text[j : j + form] for j in range(0, len(text), form)) + "。"
            other = poems[i - 1]
            asked += [
                SampleRequest(seed=i, form=form, subject=[text[2], text[5 : 5 + 2]]),
                SampleRequest(seed=i, form=form, acrostic=text[1 : 1 + 4]),
                RewriteRequest(text=typed, line=1 + i % 4, seed=i),
                VaryRequest(text=typed, seed=i),
                VaryRequest(text=text, towards=other, t=0.4, seed=i),
                EncodeRequest(text=typed),
                BlendRequest(a=typed, b=other, steps=5, form=form, crossings=i % 2 == 0),
                BlendRequest(a=(await engine.encode(EncodeRequest(text=text))).latent, b=other, steps=3, form=form),
            ]
    checked = 0
    for request in asked:
        try:
            reply = await getattr(engine, type(request).__name__.removesuffix("Request").lower())(request)
        except InputError:  # (a subject the tiny model cannot place, a line it cannot rewrite)
            continue
        check_reply(request, reply)
        checked += 1
    assert checked > len(asked) * 3 // 4


async def _until(condition, what: str, within_s: float = 5.0) -> None:
    """Wait (a loopback server's events, a few ms each) until `condition()` holds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + within_s
    while not condition():
        if loop.time() > end:
            pytest.fail(f"{what} within {within_s:g} s")
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("kind", ["sample", "vary"])  # a batched request, and a job of its own
async def test_requests_whose_clients_hung_up_are_dropped_and_give_their_places_back(worker_settings, kind):
    """The queue holds 4; 4 clients ask and hang up while the model is busy with the first.
    Their places come back at once (before, the next request was told 429 busy until the
    abandoned work was done), the ones not started are never written, and the next client
    gets its poem."""
    import threading

    eng = Engine(Engine.from_settings(worker_settings).generators, max_batch=1, max_queue=4, threads=1)
    gen = eng.generators[5]
    text = gen.sample_seeds([1])[0].text
    method = "sample_checked" if kind == "sample" else "vary"
    real, written, release = getattr(gen, method), [], threading.Event()

    def held(*args):  # the model thread is busy until the test lets it go
        written.append(args[0] if kind == "sample" else args[1])  # the seeds, or the seed
        release.wait(10)
        return real(*args)

    setattr(gen, method, held)
    port = free_port()
    runner = await serve(worker_settings, port, eng)
    url = f"http://127.0.0.1:{port}/v1/{kind}"
    body = (lambda seed: {"seed": seed}) if kind == "sample" else (lambda seed: {"text": text, "seed": seed})
    try:
        async with aiohttp.ClientSession() as s:

            async def ask(seed: int):
                async with s.post(url, json=body(seed)) as r:
                    return r.status, await r.json()

            gone = [asyncio.create_task(ask(seed)) for seed in range(4)]
            await _until(lambda: eng.queued == 4 and written, "the four requests were not all queued")
            for task in gone:  # the clients hang up
                task.cancel()
            await asyncio.gather(*gone, return_exceptions=True)
            await _until(lambda: eng.queued == 0, "the hung-up requests still hold their queue places")
            nxt = asyncio.create_task(ask(99))
            await _until(lambda: eng.queued == 1, "the next request was not queued")
            release.set()
            status, reply = await nxt
        assert status == 200, reply
        assert reply["poems"][0]["seed"] == 99
        assert len(written) == 2 and written[-1] in ([99], 99), "of the hung-up requests only the one begun was written"
    finally:
        release.set()
        await runner.cleanup()
