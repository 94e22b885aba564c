"""The fitted prior (where `sample` draws latents) and what a latent carries."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from model import corpus
from model.checkpoint import Checkpoint, CheckpointError, Vocab, load, save
from model.blend import BLEND
from model.generate import Options, PoemGenerator
from model.network import PoemVAE, loss, tiny
from model.prior import GaussianMixture
from model.prosody import Prosody
from model.train import fit_prior

from .conftest import CORPUS, train_tiny


@pytest.fixture(scope="module")
def with_prior(tiny_checkpoints, tmp_path_factory):
    """The tiny 5-character checkpoint with a 4-component prior fitted to its training poems."""
    path = tmp_path_factory.mktemp("prior") / "tiny5"
    ckpt = load(tiny_checkpoints[5])
    fit_prior(ckpt, corpus.load_split(CORPUS, 5, "train"), components=4, points=500)
    save(ckpt, path)
    return path


def test_em_finds_separated_clusters():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[-6.0, 0.0], [6.0, 0.0], [0.0, 8.0]])
    counts = [600, 300, 100]
    x = torch.cat([c + 0.5 * torch.randn(n, 2, generator=g) for c, n in zip(centres, counts)])
    mix = GaussianMixture.fit(x, components=3)
    order = [int(torch.cdist(c[None], mix.means).argmin()) for c in centres]
    assert sorted(order) == [0, 1, 2]
    assert mix.weights[order].tolist() == pytest.approx([0.6, 0.3, 0.1], abs=0.01)
    assert torch.allclose(mix.means[order], centres, atol=0.1)
    covariances = mix.scale_tril @ mix.scale_tril.transpose(1, 2)
    assert torch.allclose(covariances[order], 0.25 * torch.eye(2).expand(3, 2, 2), atol=0.06)


def test_the_prior_round_trips_through_safetensors(with_prior, tmp_path):
    ckpt = load(with_prior)
    assert ckpt.prior is not None and ckpt.prior.components == 4
    assert ckpt.card["prior"]["kind"] == "gaussian-mixture" and ckpt.card["prior"]["points"] == 500
    again = tmp_path / "again"
    save(ckpt, again, half=True)  # as `ship` writes it
    back = load(again)
    for name, t in ckpt.prior.to_tensors().items():  # float16 in a shipped checkpoint
        assert torch.allclose(back.prior.to_tensors()[name], t, rtol=1e-3, atol=1e-4), name
    assert torch.equal(load(with_prior).prior.means, ckpt.prior.means)  # float32 stays exact
    a, b = PoemGenerator(ckpt), PoemGenerator(back)
    assert torch.allclose(a.randomness([1, 2, 3])[0], b.randomness([1, 2, 3])[0], atol=1e-2)


def test_sampling_from_the_prior_is_seeded_and_batch_independent(with_prior):
    gen = PoemGenerator(load(with_prior))
    alone = gen.sample_seeds([42])[0]
    inside = gen.sample_seeds([7, 42, 9, 1000])[1]
    assert (alone.text, alone.latent) == (inside.text, inside.latent)
    # a poem keeps the latent its text encodes to
    assert alone.latent == pytest.approx(gen.latent_of(alone.text), abs=1e-5)
    # the prior's draws land where the training poems encode to: far likelier under the mixture than N(0, I)'s
    prior = gen.ckpt.prior
    draws = torch.stack([prior.sample(torch.Generator().manual_seed(s)) for s in range(200)])
    noise = torch.randn(200, 8, generator=torch.Generator().manual_seed(0))
    assert prior.log_prob(draws) > prior.log_prob(noise) + 5


def test_a_checkpoint_without_a_prior_samples_from_the_standard_normal(tiny_checkpoints):
    ckpt = load(tiny_checkpoints[5])
    assert ckpt.prior is None and "prior" not in ckpt.card
    gen = PoemGenerator(ckpt)
    z, _ = gen.randomness([42])
    assert z[0].tolist() == pytest.approx(torch.randn(8, generator=torch.Generator().manual_seed(42)).tolist())
    with_prior = PoemGenerator(load(tiny_checkpoints[5]))
    with_prior.ckpt.prior = GaussianMixture(torch.ones(1), torch.full((1, 8), 5.0), torch.eye(8)[None])
    assert with_prior.randomness([42])[0][0].mean() > 3  # the mixture's draw, not N(0, I)'s


def test_a_prior_that_card_and_weights_disagree_on_is_refused(with_prior, tiny_checkpoints, tmp_path):
    lost = tmp_path / "lost"  # the card names a prior, the weights lack it
    shutil.copy(tiny_checkpoints[5].with_suffix(".safetensors"), lost.with_suffix(".safetensors"))
    card = json.loads(with_prior.with_suffix(".json").read_text("utf-8"))
    del card["sha256"], card["version"]  # past the hash check (which would refuse it first), to the prior's
    lost.with_suffix(".json").write_text(json.dumps(card), "utf-8")
    with pytest.raises(CheckpointError, match="names a fitted prior"):
        load(lost)

    hidden = tmp_path / "hidden"  # the weights hold a prior, the card does not say so
    shutil.copy(with_prior.with_suffix(".safetensors"), hidden.with_suffix(".safetensors"))
    del card["prior"]
    hidden.with_suffix(".json").write_text(json.dumps(card), "utf-8")
    with pytest.raises(CheckpointError, match="does not describe"):
        load(hidden)


def test_a_tiny_model_gives_back_the_poems_it_memorised_exactly():
    """Decoding a poem's own latent as a blend does returns the poem, once the model has learnt it."""
    prosody = Prosody.default()
    train = corpus.load_split(CORPUS, 5, "train")
    poems = [p for p in train if len(set(p)) == 20 and prosody.rhymes(p[9], p[19])][:6]
    assert len(poems) == 6
    vocab = Vocab(corpus.build_vocab(train, min_count=1))  # a real vocabulary: rhyme groups need members
    cfg = tiny(5, len(vocab))
    cfg.free_bits, cfg.dropout = 2.0, 0.3
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same sums in any test order
    model = PoemVAE(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x = vocab.encode_batch(poems)
    for _ in range(2500):  # until every character is far likelier than the tone pattern's 4-nat nudge
        parts = loss(cfg, *model(x))
        opt.zero_grad()
        parts.total.backward()
        opt.step()
    torch.set_num_threads(threads)
    gen = PoemGenerator(Checkpoint(model.eval(), vocab, {}))
    decoded = gen.decode_latents([gen.latent_of(p) for p in poems], opts=BLEND)
    assert [d.text for d in decoded] == poems


@pytest.fixture(scope="module")
def guided(tmp_path_factory):
    """A tiny model whose writing head also learnt to write without a latent (null_rate)."""
    path = tmp_path_factory.mktemp("guided") / "tiny5"
    train_tiny(path, null_rate=0.5)
    return PoemGenerator(load(path))


def test_guidance_sets_how_much_the_latent_steers_the_writing(guided):
    assert guided.model.can_guide
    latents = [p.latent for p in guided.sample_seeds([1, 2, 3, 4])]
    greedy = {"temperature": 0.0, "rhyme": False, "tone": False}
    steered = [p.text for p in guided.decode_latents(latents, opts=Options(guidance=1.0, **greedy))]
    ignored = [p.text for p in guided.decode_latents(latents, opts=Options(guidance=0.0, **greedy))]
    assert len(set(steered)) > 1  # the latent decides the poem
    assert len(set(ignored)) == 1  # with no guidance every latent writes the same greedy poem
    half = [p.text for p in guided.decode_latents(latents, opts=Options(guidance=0.5, **greedy))]
    assert half != steered and half != ignored


def test_guided_sampling_is_seeded_and_batch_independent(guided):
    opts = Options(guidance=0.5)
    alone = guided.sample_seeds([42], opts)[0].text
    assert guided.sample_seeds([5, 42, 6], opts)[1].text == alone
    assert guided.sample_seeds([42], opts)[0].text == alone


def test_sample_and_rank_keeps_the_likeliest_of_a_seeds_draws(guided):
    one = guided.sample_seeds(list(range(20)), Options(guidance=0.5))
    four = guided.sample_seeds(list(range(20)), Options(guidance=0.5, candidates=4))
    f_one = guided.fluency([p.text for p in one], None)  # the head's latent-free language model
    f_four = guided.fluency([p.text for p in four], None)
    assert (f_four >= f_one - 1e-6).all()  # the first draw is among the four
    assert (f_four > f_one).any()
    assert guided.sample_seeds([3, 11], Options(guidance=0.5, candidates=4))[1].text == four[11].text
    with pytest.raises(Exception, match="candidates"):
        guided.sample_seeds([1], Options(candidates=0))
