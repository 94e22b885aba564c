"""The two-level latent: new poems written from a drawn z_g, blends decoded along the path,
the detail code that gives a poem back."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from model import corpus
from model.checkpoint import load, save
from model.blend import BLEND, detail_path
from model.generate import PoemGenerator
from model.network import PoemVAE, tiny
from model.train import steer_rate

from .conftest import CORPUS, train_tiny

TWO_LEVEL = {
    "latent": 12,
    "latent_global": 4,
    "rate_target": 2.0,
    "detail_drop": 0.35,
    "detail_nest": 0.3,
    "null_rate": 0.3,
}


@pytest.fixture(scope="module")
def two_level(tmp_path_factory):
    """A tiny two-level 5-character model, its card's sampler guided by z_g as a shipped one is."""
    path = tmp_path_factory.mktemp("two") / "tiny5"
    train_tiny(path, **TWO_LEVEL)
    ckpt = load(path)
    ckpt.card["sampler"] = {"temperature": 0.9, "top_p": 1.0, "min_p": 0.01, "guidance": 0.5, "detail": 0.0}
    ckpt.card["blend"] = {"continuity": 4.0}
    save(ckpt, path)
    return PoemGenerator(load(path))


@pytest.fixture(scope="module")
def poems(two_level):
    return [p for p in corpus.load_split(CORPUS, 5, "train") if all(c in two_level.vocab.index for c in p)][:40]


def test_a_new_poem_is_written_from_its_latent(two_level):
    """Two latents, one seed, the default sampler: different poems (the latent writes);
    the same latent twice: the same poem."""
    gen = two_level
    G = gen.ckpt.cfg.latent_global
    z = torch.zeros(2, gen.ckpt.cfg.latent)
    z[0, :G], z[1, :G] = 2.5, -2.5
    a, b = gen.decode_latents(z.tolist(), seed=7, opts=gen.default_options)
    assert a.text != b.text
    again = gen.decode_latents(z[:1].tolist(), seed=7, opts=gen.default_options)[0]
    assert again.text == a.text


def test_a_new_poem_reads_z_g_alone_and_its_seed_gives_it_in_any_batch(two_level):
    gen = two_level
    alone = gen.sample_seeds([42])[0]
    inside = gen.sample_seeds([7, 42, 9, 1000])[1]
    assert alone.text == inside.text
    # its latent is where the text encodes to: a batch's matrix products may round the 6th decimal
    assert alone.latent == pytest.approx(inside.latent, abs=2e-6)
    z, _ = gen.randomness([42])
    G = gen.ckpt.cfg.latent_global
    assert z[0, :G].tolist() == pytest.approx(torch.randn(G, generator=torch.Generator().manual_seed(42)).tolist())
    assert z[0, G:].abs().sum() == 0  # a drawn latent has no detail


def test_the_decoder_ignores_detail_it_is_told_not_to_read(two_level):
    model = two_level.model
    G, Dd = model.cfg.latent_global, model.cfg.latent_detail
    z = torch.randn(3, model.cfg.latent, generator=torch.Generator().manual_seed(0))
    other = z.clone()
    other[:, G + Dd // 2 :] = 5.0  # the second half of the detail code changed
    with torch.no_grad():
        half = torch.full((3,), Dd // 2)
        assert torch.equal(model.decode_parallel(z, half), model.decode_parallel(other, half))
        assert not torch.equal(model.decode_parallel(z), model.decode_parallel(other))
        moved = z.clone()
        moved[:, 0] += 1.0  # z_g is always read
        none = torch.zeros(3, dtype=torch.long)
        assert not torch.equal(model.decode_parallel(z, none), model.decode_parallel(moved, none))


def test_a_blend_is_its_latent_path_decoded_with_the_given_poems_at_its_ends(two_level, poems):
    gen = two_level
    a, b = poems[0], poems[1]
    path = gen.interpolate(a, b, steps=5, opts=replace(BLEND, continuity=0.0))
    assert [path[0].text, path[-1].text] == [a, b]  # what the user gave is the end
    latents, keep = detail_path(gen, torch.tensor(gen.encode(a)), torch.tensor(gen.encode(b)), 5, "lerp")
    Dd = gen.ckpt.cfg.latent_detail
    assert keep.tolist() == [Dd, round(Dd / 4), 0, round(Dd / 4), Dd]  # (1 - 2t)^2 of the nearer end's detail
    decoded = gen.decode_latents(latents.tolist(), opts=replace(BLEND, continuity=0.0), keep=keep)
    assert [p.text for p in path[1:-1]] == [p.text for p in decoded[1:-1]]
    # no crossings by default for a two-level code
    assert [p.text for p in gen.interpolate(a, b, steps=5, opts=replace(BLEND, continuity=0.0), crossings=None)] == [
        p.text for p in path
    ]


def test_continuity_keeps_more_of_each_neighbour(two_level, poems):
    gen = two_level

    def shared(c: float) -> float:
        total = 0.0
        for i in range(0, 20, 2):
            path = [p.text for p in gen.interpolate(poems[i], poems[i + 1], steps=5, opts=replace(BLEND, continuity=c))]
            total += sum(x == y for p, q in zip(path, path[1:]) for x, y in zip(p, q))
        return total

    assert shared(6.0) > shared(0.0)


def test_the_rate_controller_steers_the_weight_of_z_g():
    model = PoemVAE(replace(tiny(vocab_size=50), **TWO_LEVEL))
    assert float(model.beta_global) == 1.0
    steer_rate(model, kl_global=10.0)  # above the target of 2 nats: more weight
    up = float(model.beta_global)
    assert up > 1.0
    for _ in range(200):
        steer_rate(model, kl_global=0.0)  # below it: less
    assert float(model.beta_global) < up and float(model.beta_global) >= 0.01
