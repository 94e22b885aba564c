"""How long a poem on request takes beside a plain one: one poem a request, as the bot asks,
on one thread (a form's model thread). Prints the median and p90 of 50 requests each.

    python bench/requests.py [--form 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from model.generate import PoemGenerator


def timed(fn, n: int) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        out.append(1000 * (time.perf_counter() - t0))
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--form", type=int, choices=(5, 7), default=5)
    p.add_argument("--n", type=int, default=50)
    args = p.parse_args()
    torch.set_num_threads(1)
    gen = PoemGenerator.from_path(None, args.form)
    text = gen.sample_seeds([0])[0].text
    kinds = {
        "plain !poem": lambda i: gen.sample_seeds([i]),
        "subject 月": lambda i: gen.sample_seeds([i], subject=["月"]),
        "subject 秋 雁": lambda i: gen.sample_seeds([i], subject=["秋", "雁"]),
        "acrostic 春花秋月": lambda i: gen.sample_seeds([i], acrostic="春花秋月"),
        "rewrite line 3": lambda i: gen.rewrite(text, 3, seed=i),
    }
    timed(kinds["plain !poem"], 5)  # warm up
    base = None
    print(f"| {args.form}-character, one thread | median ms | p90 ms | vs plain |")
    print("|---|---|---|---|")
    for name, fn in kinds.items():
        ms = sorted(timed(fn, args.n))
        median, p90 = statistics.median(ms), ms[int(0.9 * len(ms))]
        base = base or median
        print(f"| {name} | {median:.1f} | {p90:.1f} | {median / base:.2f}x |")


if __name__ == "__main__":
    main()
