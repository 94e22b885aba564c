"""The fake worker the bot's tests run on keeps the real worker's rules: it refuses a bad
request with the same words as the tiny model's engine, and its poems keep the contract."""

from __future__ import annotations

import pytest

from bot.worker_client import InProcessWorker, WorkerBadRequest
from model.contract import BlendRequest, RewriteRequest, SampleRequest, VaryRequest, check_reply
from tests.fake_worker import FakeWorker

POEM = "白日依山盡黃河入海流欲窮千里目更上一層樓"
BAD = [  # (the worker's method, a request it must refuse)
    ("sample", SampleRequest(n=0)),
    ("sample", SampleRequest(seed=-1)),
    ("sample", SampleRequest(form=6)),
    ("sample", SampleRequest(subject=["𠀀"])),
    ("sample", SampleRequest(subject=["月", "月"])),
    ("sample", SampleRequest(acrostic="春花")),
    ("sample", SampleRequest(options={"temperature": -1})),
    ("blend", BlendRequest(a="hello world", b=POEM)),
    ("blend", BlendRequest(a=POEM, b=POEM, steps=99)),
    ("blend", BlendRequest(a=POEM[:-1], b=POEM)),
    ("vary", VaryRequest(text=POEM, t=2.0)),
    ("vary", VaryRequest(text="")),
    ("rewrite", RewriteRequest(text=POEM, line=5)),
    ("rewrite", RewriteRequest(text="明月", line=1)),
]


async def _refusal(worker, method: str, req) -> tuple[str, str, dict]:
    """The refusal's English words, its code and its parameters (which the bot words)."""
    with pytest.raises(WorkerBadRequest) as refused:
        await getattr(worker, method)(req)
    return str(refused.value), refused.value.code, refused.value.params


@pytest.mark.parametrize("method, req", BAD)
async def test_the_fake_refuses_a_bad_request_as_the_engine_does(method, req, engine):
    assert await _refusal(FakeWorker(), method, req) == await _refusal(InProcessWorker(engine), method, req)


@pytest.mark.parametrize("method, req", BAD)
async def test_the_fake_refuses_every_bad_request(method, req):
    assert await _refusal(FakeWorker(), method, req)


async def test_the_fakes_poems_keep_what_was_asked_and_repeat_under_their_seed():
    worker = FakeWorker()
    for req in (
        SampleRequest(seed=3, subject=["风"]),  # (simplified: the poem writes 風)
        SampleRequest(seed=3, form=7, subject=["秋", "雁"]),
        SampleRequest(seed=5, acrostic="春花秋月"),
        SampleRequest(seed=9, n=4, form=7),
    ):
        reply = await worker.sample(req)
        check_reply(req, reply)
        assert [p.text for p in (await worker.sample(req)).poems] == [p.text for p in reply.poems]
    assert "風" in (await worker.sample(SampleRequest(seed=3, subject=["风"]))).poems[0].text
    other = (await worker.sample(SampleRequest(seed=4))).poems[0].text
    path = await worker.blend(BlendRequest(a=POEM, b=other, steps=6))
    assert len(path.poems) == 6 and path.poems[0].text == POEM and path.poems[-1].text == other
    rewritten = (await worker.rewrite(RewriteRequest(text=POEM, line=3))).poems[0].text
    assert rewritten[:10] == POEM[:10] and rewritten[15:] == POEM[15:] and rewritten[10:15] != POEM[10:15]
    assert (await worker.vary(VaryRequest(text=POEM))).poems[0].text != POEM
