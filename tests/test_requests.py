"""Poems on request: a subject, an acrostic (藏頭), a line rewritten; through the generator,
the worker over real HTTP, and the bot through discord.py's dispatch."""

from __future__ import annotations

from dataclasses import replace

import aiohttp
import pytest
import torch

from bot.worker_client import HttpWorker, InProcessWorker
from model.contract import RewriteRequest, SampleRequest
from model import corpus
from model.checkpoint import load
from model.generate import InputError, PoemGenerator
from model.subjects import SubjectIndex, index_path
from tests.helpers import poem_of, running_bot

from .conftest import CORPUS
from .test_worker import http_worker, serve  # noqa: F401  (the fixture)


@pytest.fixture(scope="module")
def indexed(tiny_checkpoints, tmp_path_factory):
    """The tiny 5-character model with a subject index built from its training poems."""
    ckpt = load(tiny_checkpoints[5])
    path = tmp_path_factory.mktemp("indexed") / "tiny5"
    import shutil

    for suffix in (".json", ".safetensors"):
        shutil.copy(tiny_checkpoints[5].with_suffix(suffix), path.with_suffix(suffix))
    poems = [p for p in corpus.load_split(CORPUS, 5, "train") if all(c in ckpt.vocab.index for c in p)]
    SubjectIndex.build(ckpt.model, ckpt.vocab.encode_batch(poems), ckpt.cfg.latent, min_poems=3).save(index_path(path))
    return PoemGenerator.from_path(path)


def common(gen: PoemGenerator, n: int) -> list[str]:
    """The n commonest characters the model knows (words the tiny model can write)."""
    return gen.vocab.chars[:n]


def test_every_subject_word_is_in_the_poem_and_its_seed_gives_it_again(indexed):
    a, b = common(indexed, 2)
    for subject in ([a], [a + b], [a, b]):
        poems = indexed.sample_seeds([1, 2, 3], subject=subject)
        for p in poems:
            assert all(w in p.text for w in subject), (subject, p.text)
            assert len(set(p.text)) == len(p.text)
        again = indexed.sample_seeds([7, 2], subject=subject)[1]
        assert again.text == poems[1].text  # the same seed, alone or in any batch
    placed = {indexed.sample_seeds([s], subject=[a])[0].text.index(a) for s in range(30)}
    assert len(placed) > 1, "a subject is placed where poets put it, not always in one place"


def test_a_subject_draws_its_latent_from_where_its_poems_encode(indexed):
    a = common(indexed, 1)[0]
    index = indexed.ckpt.subjects
    mean, std = index.gaussian([indexed.vocab.index[a]])
    generators: list = []
    z, _ = indexed.randomness([5], 1, generators)
    moved, _ = indexed.requests.place_subject(z, [[indexed.vocab.index[a]]], generators, indexed.default_options)
    assert torch.allclose(moved[0], mean + std * z[0])
    row = index.row[indexed.vocab.index[a]]
    holding = [p for p in corpus.load_split(CORPUS, 5, "train") if a in p and all(c in indexed.vocab.index for c in p)]
    assert int(index.poems[row]) == len(holding)


def test_a_subject_leans_on_the_characters_its_poems_use(indexed):
    from dataclasses import replace

    a = common(indexed, 1)[0]
    index = indexed.ckpt.subjects
    associated = set(index.assoc_ids[index.row[indexed.vocab.index[a]]][:16].tolist())

    def share(topic: float) -> float:
        poems = indexed.sample_range(range(60), replace(indexed.default_options, topic=topic), subject=[a])
        return sum(i in associated for p in poems for i in indexed.vocab.ids(p.text)) / (60 * 20)

    assert share(3.0) > share(0.0)


def test_an_acrostic_starts_each_line_with_its_character(indexed):
    heads = "".join(common(indexed, 4))
    for p in indexed.sample_seeds([1, 2, 3, 4], acrostic=heads):
        assert [line[0] for line in p.lines] == list(heads)
        assert indexed.prosody.rhymes(p.text[9], p.text[19])


@pytest.mark.parametrize(
    "request_, message",
    [
        ({"subject": ["月亮太陽星"]}, "1 to 4"),
        ({"subject": ["a"]}, "Chinese characters"),
        ({"subject": ["一", "二", "三", "四"]}, "1 to 3 words"),
        ({"acrostic": "春花"}, "4 characters"),
        ({"subject": ["龘"]}, "does not know the character 龘"),
    ],
)
def test_impossible_requests_get_a_clear_error(indexed, request_, message):
    with pytest.raises(InputError, match=message):
        indexed.sample_seeds([1], **request_)


def test_a_rewritten_line_is_new_and_the_other_lines_stay(indexed):
    text = next(p for p in corpus.load_split(CORPUS, 5, "train") if all(c in indexed.vocab.index for c in p))
    for line in (1, 2, 3, 4):
        new = indexed.rewrite(text, line, seed=3).text
        lo, hi = (line - 1) * 5, line * 5
        assert new[:lo] + new[hi:] == text[:lo] + text[hi:]
        assert new[lo:hi] != text[lo:hi]
        assert len(set(new[lo:hi]) & (set(text[:lo] + text[hi:]))) == 0  # no character twice
        if line in (2, 4):
            assert indexed.prosody.rhymes(new[9], new[19])
        assert indexed.rewrite(text, line, seed=3).text == new
    with pytest.raises(InputError, match="numbered 1 to 4"):
        indexed.rewrite(text, 5, seed=1)


def test_a_rewrite_of_line_2_against_an_oblique_line_4_end_writes_it_without_the_rhyme(generator, monkeypatch):
    """Line 4 ends on a character in no level rhyme group: nothing can rhyme with it, so the
    new line 2 is written without the rhyme instead of from no allowed character at all
    (which fell on the vocabulary's first character: 不 twice, no rhyme)."""
    import model.generate

    gen, first = generator, generator.vocab.chars[0]
    unrhymable = [
        ch
        for i, ch in enumerate(gen.vocab.chars[:-1])
        if gen.endings.oblique[i] and not gen.endings.level[i] and not gen.endings.groups[i].any() and ch != first
    ]
    picks, real = [], model.generate.choose

    def choose(logp, u, opts):
        picks.append(bool((logp.amax(dim=1) == -float("inf")).any()))  # a row with no allowed character
        return real(logp, u, opts)

    monkeypatch.setattr(model.generate, "choose", choose)
    for seed in range(4):
        poem = next(
            p for p in (q.text for q in gen.sample_seeds(range(10 * seed, 10 * seed + 10))) if first not in p[5:10]
        )
        end = next(ch for ch in unrhymable if ch not in poem)
        text = (poem[0] if first in poem else first) + poem[1:19] + end  # the first character, line 4 oblique
        for opts in (replace(gen.default_options, temperature=0.0), None):  # greedy, then sampled
            picks.clear()
            new = gen.rewrite(text, 2, seed=seed, opts=opts).text
            assert new[:5] + new[10:] == text[:5] + text[10:] and new[5:10] != text[5:10]
            assert len(set(new)) == len(new), (text, new)  # no character twice
            assert picks and not any(picks)


async def test_subject_acrostic_and_rewrite_over_http(http_worker, generator):  # noqa: F811
    a = common(generator, 1)[0]
    heads = "".join(common(generator, 4))
    client = HttpWorker(http_worker)
    try:
        on = await client.sample(SampleRequest(seed=4, subject=[a]))
        assert a in on.poems[0].text and on.request["subject"] == [a]
        assert on.poems[0].text == generator.sample_seeds([4], subject=[a])[0].text
        acro = await client.sample(SampleRequest(seed=4, acrostic=heads))
        assert "".join(line[0] for line in acro.poems[0].lines) == heads
        text = on.poems[0].text
        new = await client.rewrite(RewriteRequest(text=text, line=3, seed=1))
        assert new.poems[0].text[:10] == text[:10] and new.poems[0].text[15:] == text[15:]
    finally:
        await client.close()
    for body, message in (
        ({"subject": "月"}, "list of words"),
        ({"acrostic": 5}, "acrostic must be"),
        ({"subject": ["龘"]}, "龘"),
        ({"subject": [a], "acrostic": heads}, "not both"),
    ):
        async with aiohttp.ClientSession() as s, s.post(http_worker + "/v1/sample", json=body) as r:
            assert r.status == 400 and message in (await r.json())["message"], body
    async with aiohttp.ClientSession() as s, s.post(http_worker + "/v1/rewrite", json={"text": text, "line": 9}) as r:
        assert r.status == 400 and "line must be" in (await r.json())["message"]


async def test_the_bot_writes_subjects_acrostics_and_rewrites(sqlite_url, engine, generator):
    a = common(generator, 1)[0]
    heads = "".join(common(generator, 4))
    async with running_bot(sqlite_url, InProcessWorker(engine)) as local:
        (on,) = await local.say(f"!poem {a} #42")
        assert a in "".join(poem_of(on)) and f"on {a}, seed 42" in on.embeds[0]["footer"]["text"]
        (again,) = await local.say(f"!poem #42 {a}")  # words in any order
        assert poem_of(again) == poem_of(on)
        slash = [s for s in await local.slash("poem", {"subject": a, "seed": "42"}) if s.embeds][-1]
        assert poem_of(slash) == poem_of(on)
        (acro,) = await local.say(f"!poem 藏頭 {heads} 7言")
        assert [line[0] for line in poem_of(acro)] == list(heads) and len(poem_of(acro)[0]) == 8
        (plain,) = await local.say("!poem 42")  # a bare number stays a seed
        assert "seed 42" in plain.embeds[0]["footer"]["text"] and "on " not in plain.embeds[0]["footer"]["text"]
        (new,) = await local.say("!rewrite 1 2")
        assert poem_of(new)[0] == poem_of(on)[0] and poem_of(new)[2:] == poem_of(on)[2:]
        assert poem_of(new)[1] != poem_of(on)[1]
        assert "line 2 rewritten from #1" in new.embeds[0]["footer"]["text"]
        picked = [s for s in await local.choose(on.message, "poem:rewrite:1", ["4"]) if s.embeds][-1]
        assert poem_of(picked)[:3] == poem_of(on)[:3] and poem_of(picked)[3] != poem_of(on)[3]
        (bad,) = await local.say("!poem 龘")
        assert "does not know the character 龘" in bad.content
        (bad,) = await local.say("!poem 藏頭 春花")
        assert "four Chinese characters" in bad.content
        (bad,) = await local.say("!rewrite 1 5")
        assert "1" in bad.content and "4" in bad.content
        (count,) = await local.say("!show 8")  # seven poems written, nothing for the refused requests
        assert "There is no poem #8" in count.content
