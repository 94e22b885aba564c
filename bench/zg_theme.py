"""How much a poem written from z_g alone follows its z_g (5-character checkpoints).

Prints two figures, each beside its baseline, for one checkpoint:
- source: 400 test poems are encoded, their z_g (posterior mean, no detail) decoded once
  each; the share of a decoded poem's characters found in its source poem, against the
  share found in another test poem.
- same z_g: 200 z_g drawn from N(0, I), four draws each (their own uniforms); the share of
  one draw's characters found in another draw of the same z_g, against a draw of another.
The sampler is the checkpoint's own, one draw, no ranking (the ranking picks among draws
of one z_g and would hide what the latent does).

    python bench/zg_theme.py model/checkpoints/quatrain5 runs/bow/c
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
from pathlib import Path

import torch

from model import corpus
from model.generate import PoemGenerator


def share(a: str, b: str) -> float:
    """The share of a's characters that b holds."""
    held = set(b)
    return sum(c in held for c in a) / len(a)


@torch.no_grad()
def measure(path: str, data: Path, n: int = 400, latents: int = 200, draws: int = 4) -> dict:
    gen = PoemGenerator.from_path(path)
    opts = dataclasses.replace(gen.default_options, candidates=1)
    G, D = gen.ckpt.cfg.latent_global, gen.ckpt.cfg.latent
    test = corpus.load_split(data, gen.form, "test")[:n]
    mu, _ = gen.model.encode(gen.vocab.encode_batch(test))  # (n, D)
    mu[:, G:] = 0  # z_g alone
    _, us = gen.randomness(list(range(5000, 5000 + n)))
    poems = gen.decode(mu, us, opts, keep=gen.detail_keep(n, 0.0))
    zg = torch.randn(latents, G, generator=torch.Generator().manual_seed(1))  # (L, G)
    z = torch.cat([zg.repeat_interleave(draws, 0), torch.zeros(latents * draws, D - G)], 1)  # (L * draws, D)
    _, us = gen.randomness(list(range(9000, 9000 + latents * draws)))
    out = gen.decode(z, us, opts, keep=gen.detail_keep(len(z), 0.0))
    same = [
        share(out[draws * i + a], out[draws * i + b])
        for i in range(latents)
        for a, b in itertools.permutations(range(draws), 2)
    ]
    other = [share(out[draws * i], out[draws * ((i + 1) % latents) + 1]) for i in range(latents)]
    return {
        "source": sum(share(p, s) for p, s in zip(poems, test)) / n,
        "another poem": sum(share(p, test[(i + 1) % n]) for i, p in enumerate(poems)) / n,
        "same z_g": sum(same) / len(same),
        "different z_g": sum(other) / len(other),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("checkpoints", nargs="+", help="checkpoint paths without suffix")
    p.add_argument("--data", type=Path, default=Path("data/corpus"))
    a = p.parse_args()
    torch.set_num_threads(1)
    for path in a.checkpoints:
        m = measure(path, a.data)
        print(
            f"{path}: source {m['source']:.3f} vs another poem {m['another poem']:.3f}; "
            f"same z_g {m['same z_g']:.3f} vs different {m['different z_g']:.3f}"
        )


if __name__ == "__main__":
    main()
