"""Blend time on this machine, one thread (as a form's model thread runs it): median of
10 pairs of test poems per form and number of steps, with and without crossings.

    python bench/blend.py            # needs `python -m model prepare`
"""

from __future__ import annotations

import statistics
import time

import torch

from model import corpus
from model.generate import PoemGenerator


def main() -> None:
    torch.set_num_threads(1)
    print("| form | steps | crossings ms | latent path alone ms |")
    print("|---|---|---|---|")
    for form in corpus.FORMS:
        gen = PoemGenerator.from_path(None, form)
        poems = [p for p in corpus.load_split(corpus.DATA_DIR, form, "test")[:200] if set(p) <= set(gen.vocab.index)]
        gen.interpolate(poems[0], poems[1])  # warm up
        for steps in (5, 10, 32):
            row = []
            for crossings in (True, False):
                times = []
                for i in range(10):
                    t0 = time.perf_counter()
                    gen.interpolate(poems[2 * i], poems[2 * i + 1], steps=steps, crossings=crossings)
                    times.append(time.perf_counter() - t0)
                row.append(f"{statistics.median(times) * 1000:.0f}")
            print(f"| {form} | {steps} | {row[0]} | {row[1]} |")


if __name__ == "__main__":
    main()
