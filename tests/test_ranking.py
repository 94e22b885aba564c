"""Choosing among candidates: likelihood less the unigram discount, and the command that
makes a panel's sampler a checkpoint's default."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from model.checkpoint import load
from model.generate import InputError, Options, PoemGenerator

from .conftest import CORPUS

ROOT = Path(__file__).resolve().parents[1]
PANEL = "panel 9 (5-char, 12 a variant): shipped 2.1, chosen 2.9, real 4.6"


@pytest.fixture(scope="module")
def chosen(tiny_checkpoints, tmp_path_factory) -> Path:
    """The tiny 5-character checkpoint given a ranking sampler through the command line, as a
    shipped one is."""
    path = tmp_path_factory.mktemp("chosen") / "tiny5"
    for suffix in (".json", ".safetensors"):
        shutil.copy(tiny_checkpoints[5].with_suffix(suffix), path.with_suffix(suffix))
    done = subprocess.run(
        [sys.executable, "-m", "model", "choose-sampler", str(path), "--data", str(CORPUS)]
        + ["--temperature", "0.9", "--candidates", "8", "--unigram-discount", "1.0", "--panel", PANEL],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return path


def test_the_chosen_sampler_and_its_panels_are_the_checkpoints_default(chosen):
    gen = PoemGenerator.from_path(chosen)
    assert gen.default_options.candidates == 8 and gen.default_options.unigram_discount == 1.0
    assert gen.default_options.temperature == 0.9
    assert gen.ckpt.card["panels"] == [PANEL]
    assert gen.ckpt.unigram is not None
    # a setting the sampler refuses leaves the card as it was
    before = chosen.with_suffix(".json").read_text()
    done = subprocess.run(
        [sys.executable, "-m", "model", "choose-sampler", str(chosen), "--data", str(CORPUS)]
        + ["--unigram-discount", "-1", "--panel", "x"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode != 0 and "unigram_discount must be between 0 and 2" in done.stderr
    assert chosen.with_suffix(".json").read_text() == before


def test_a_seed_gives_the_same_ranked_poem_alone_and_in_any_batch(chosen):
    gen = PoemGenerator.from_path(chosen)
    seeds = list(range(300, 312))
    together = [p.text for p in gen.sample_seeds(seeds)]
    alone = [gen.sample_seeds([s])[0].text for s in (seeds[0], seeds[5], seeds[-1])]
    assert alone == [together[0], together[5], together[-1]]
    assert [p.text for p in gen.sample_seeds(seeds[::-1])] == together[::-1]


def test_the_discount_picks_poems_of_less_common_characters_than_likelihood_alone(chosen):
    gen = PoemGenerator.from_path(chosen)
    plain = replace(gen.default_options, unigram_discount=0.0)
    seeds = list(range(40))
    by_likelihood = [p.text for p in gen.sample_seeds(seeds, plain)]
    discounted = [p.text for p in gen.sample_seeds(seeds, gen.default_options)]
    assert by_likelihood != discounted

    def commonness(texts):  # mean log share of the training poems' characters
        return float(gen.ckpt.unigram[gen.vocab.encode_batch(texts)].mean())

    assert commonness(discounted) < commonness(by_likelihood)
    # each is still one of its seed's own candidates: a ranking, never a new poem
    drawn = gen.decode(*gen.randomness(seeds[:1], 8), plain, keep=gen.detail_keep(8, 0.0))
    assert discounted[0] in drawn and by_likelihood[0] in drawn


def test_without_character_shares_the_discount_changes_nothing(tiny_checkpoints):
    gen = PoemGenerator(load(tiny_checkpoints[5]))
    assert gen.ckpt.unigram is None
    opts = replace(gen.default_options, candidates=4)
    seeds = list(range(10))
    assert [p.text for p in gen.sample_seeds(seeds, replace(opts, unigram_discount=1.5))] == [
        p.text for p in gen.sample_seeds(seeds, opts)
    ]


def test_a_rewrite_ranked_with_the_discount_keeps_the_other_lines(chosen):
    gen = PoemGenerator.from_path(chosen)
    poem = gen.sample_seeds([5])[0].text
    again = [gen.rewrite(poem, 3, seed=9).text for _ in range(2)]
    assert again[0] == again[1] and again[0] != poem
    assert again[0][:10] == poem[:10] and again[0][15:] == poem[15:]


@pytest.mark.parametrize("bad", [-0.1, 2.5, float("nan")])
def test_a_discount_out_of_range_is_refused(bad):
    with pytest.raises(InputError, match="unigram_discount"):
        replace(Options(), unigram_discount=bad).check()


def test_the_card_records_its_panels_in_order(chosen, tmp_path):
    path = tmp_path / "again"
    for suffix in (".json", ".safetensors"):
        shutil.copy(chosen.with_suffix(suffix), path.with_suffix(suffix))
    subprocess.run(
        [sys.executable, "-m", "model", "choose-sampler", str(path), "--data", str(CORPUS), "--panel", "panel 10"],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["panels"] == [PANEL, "panel 10"] and card["sampler"]["candidates"] == 8
