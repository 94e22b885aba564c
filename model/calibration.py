"""The sampler's unigram calibration: how far the sampler's share of each character
strays from real poems', measured once per checkpoint (`python -m model calibrate`,
model/commands.py) and stored in it; the decoder adds it with the `calibration` option."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import torch

from .contract import Options

if TYPE_CHECKING:
    from .generate import PoemGenerator


def calibrate(
    gen: PoemGenerator, poems: list[str], opts: Options, samples: int = 5000, seed: int = 100_000, clip: float = 2.0
) -> torch.Tensor:
    """The sampler's unigram calibration: per character, log(its share of the characters
    of `poems` / its share in `samples` poems drawn with `opts`, uncalibrated), each share
    smoothed by half a count and the ratio clipped to +-`clip` nats. (V,)

    Truncated sampling (temperature, nucleus, min-p) favours the characters a language
    model already likes best; added to the log-probabilities with a weight (the
    `calibration` option), this hands back to the rarer characters the share real poems
    give them, a fixed correction per character, so a seed's poem stays the same in any
    batch. Seeds from `seed` on are drawn, apart from the evaluation's."""
    drawn = [p.text for p in gen.sample_range(range(seed, seed + samples), replace(opts, calibration=0.0))]

    def share(texts: list[str]) -> torch.Tensor:  # (V,) each character's share, smoothed by half a count
        counts = torch.bincount(torch.tensor([i for t in texts for i in gen.vocab.ids(t)]), minlength=len(gen.vocab))
        counts = counts.float()
        counts[gen.vocab.unk] = 0.0
        return (counts + 0.5) / (counts + 0.5).sum()

    return (share(poems).log() - share(drawn).log()).clamp(-clip, clip)
