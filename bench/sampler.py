"""What a sampler costs: one `!poem` on one thread, two samplers side by side in one run.

A poem drawn from k candidates decodes k poems (in one batch) and ranks them, so the
card's sampler costs more than drawing one. The issue's budget is 3x today's `!poem` on one
thread. Both samplers write the same seeds, alternating poem by poem so a busy machine
slows both alike; the figures are the median milliseconds of one poem (a batch of one, as
a single `!poem` is served) and poems per second in batches of 64 (a busy worker).

    python bench/sampler.py [--form 5] [--poems 40] \
        [--baseline '{"candidates": 1, "unigram_discount": 0, "calibration": 0.35}'] [--candidate '{}']

Each JSON object changes the checkpoint card's sampler (the default `--candidate` is the
card's sampler as it is).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace

import torch

from model.checkpoint import shipped
from model.generate import PoemGenerator


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--form", type=int, choices=(5, 7), default=5)
    p.add_argument("--checkpoint", help="checkpoint path without suffix (default: shipped)")
    p.add_argument("--poems", type=int, default=40, help="single poems timed per sampler")
    p.add_argument("--baseline", default='{"candidates": 1, "unigram_discount": 0, "calibration": 0.35}')
    p.add_argument("--candidate", default="{}")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    gen = PoemGenerator.from_path(args.checkpoint or shipped(args.form), args.form)
    samplers = {
        name: replace(gen.default_options, **json.loads(spec)).check()
        for name, spec in (("baseline", args.baseline), ("candidate", args.candidate))
    }
    for opts in samplers.values():  # warm up: first calls allocate
        gen.sample_seeds([0], opts)
    single = {name: [] for name in samplers}
    for i in range(args.poems):
        for name, opts in samplers.items():
            t0 = time.perf_counter()
            gen.sample_seeds([1000 + i], opts)
            single[name].append(1000 * (time.perf_counter() - t0))
    batch = {}
    for name, opts in samplers.items():
        t0 = time.perf_counter()
        gen.sample_seeds(list(range(5000, 5064)), opts)
        batch[name] = 64 / (time.perf_counter() - t0)
    print(f"{args.form}-character, {args.threads} thread(s), {args.poems} single poems each, checkpoint {gen.version}")
    print(f"{'sampler':<10} {'one poem, median ms':>20} {'p90 ms':>8} {'poems/s at 64':>14}  options")
    base = statistics.median(single["baseline"])
    for name, opts in samplers.items():
        ms = sorted(single[name])
        changed = {k: v for k, v in vars(opts).items() if getattr(gen.default_options, k) != v or name == "candidate"}
        keys = ("temperature", "min_p", "calibration", "candidates", "unigram_discount")
        shown = {k: changed.get(k, getattr(opts, k, None)) for k in keys if hasattr(opts, k)}
        print(
            f"{name:<10} {statistics.median(ms):>14.1f} ({statistics.median(ms) / base:.2f}x) "
            f"{ms[int(0.9 * (len(ms) - 1))]:>8.1f} {batch[name]:>14.1f}  {shown}"
        )


if __name__ == "__main__":
    main()
