"""Worker throughput and latency over HTTP, in one run on this machine.

Starts `python -m model serve` on a loopback port (batched, then with batches
of one), sends seeded /v1/sample requests at several concurrencies, and
prints poems/s with p50/p99 latency beside the compute bound: the decoder's
FLOPs per poem against a measured matrix-multiply rate.

    python bench/worker.py [--requests 512] [--concurrency 1,8,64,256]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time

import aiohttp
import torch

from model.checkpoint import load, shipped


def decoder_flops_per_poem(cfg) -> float:
    """Multiply-adds x 2 of writing one poem: the dense map from z, the parallel
    GCNNs, then per position the causal head's step and the full log-probabilities."""
    T, C, V = cfg.positions, cfg.emb, cfg.vocab_size
    gcnn = cfg.kernel * C * 2 * C  # one position through one GCNN
    flops = cfg.latent * T * C + T * gcnn * len(cfg.dec_dilations)
    per_position = gcnn * len(cfg.ar_dilations)
    cutoffs = [c for c in cfg.cutoffs if c < V - 1] + [V]
    if len(cutoffs) > 1:  # adaptive softmax: head, then each tail's projection and output
        per_position += C * (cutoffs[0] + len(cutoffs) - 1)
        for i in range(1, len(cutoffs)):
            width = int(C // (cfg.div_value ** i))
            per_position += C * width + width * (cutoffs[i] - cutoffs[i - 1])
    else:
        per_position += C * V
    return 2.0 * (flops + T * per_position)


def matmul_flops_per_s(threads: int, seconds: float = 2.0) -> float:
    torch.set_num_threads(threads)
    a, b = torch.randn(256, 384), torch.randn(384, 256)
    for _ in range(20):
        a @ b
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(50):
            a @ b
        n += 50
    return n * 2 * 256 * 384 * 256 / (time.perf_counter() - t0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as s:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError("the worker exited during start-up")
            try:
                async with s.get(url + "/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("the worker did not become healthy")


async def load_run(url: str, concurrency: int, requests: int) -> dict:
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)
    errors = 0

    async def client(session: aiohttp.ClientSession):
        nonlocal errors
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            t0 = time.perf_counter()
            async with session.post(url + "/v1/sample", json={"seed": 10_000 + i}) as r:
                await r.read()
                errors += r.status != 200
            latencies.append(time.perf_counter() - t0)

    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn) as session:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    latencies.sort()
    return {"poems_per_s": requests / wall, "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], "errors": errors}


async def measure(max_batch: int, runs: list[tuple[int, int]], threads: int) -> list[dict]:
    port = free_port()
    env = dict(os.environ, POEMBOT_FORMS="5", POEMBOT_MAX_BATCH=str(max_batch), POEMBOT_THREADS=str(threads))
    proc = subprocess.Popen([sys.executable, "-m", "model", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_healthy(url, proc)
        await load_run(url, 4, 16)  # warm-up
        return [dict(await load_run(url, c, n), concurrency=c) for c, n in runs]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=512, help="requests per concurrency level")
    p.add_argument("--concurrency", default="1,8,64,256")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--max-batch", type=int, default=64)
    args = p.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    cfg = load(shipped(5)).cfg
    flops = decoder_flops_per_poem(cfg)
    rate = matmul_flops_per_s(args.threads)
    bound = rate / flops
    batched = asyncio.run(measure(args.max_batch, [(c, max(args.requests if c > 1 else args.requests // 4, c)) for c in levels],
                                  args.threads))
    single = asyncio.run(measure(1, [(1, args.requests // 8)], args.threads))[0]
    print(f"decoder: {flops / 1e6:.1f} MFLOP per poem; matmul rate {rate / 1e9:.1f} GFLOP/s on {args.threads} threads;"
          f" compute bound {bound:.0f} poems/s")
    print("| mode | concurrency | poems/s | p50 ms | p99 ms | errors | vs one-at-a-time | of compute bound |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| one at a time (batch 1) | 1 | {single['poems_per_s']:.0f} | {single['p50_ms']:.0f} |"
          f" {single['p99_ms']:.0f} | {single['errors']} | 1.0x | {single['poems_per_s'] / bound:.0%} |")
    for r in batched:
        print(f"| batched (max {args.max_batch}, 5 ms) | {r['concurrency']} | {r['poems_per_s']:.0f} | {r['p50_ms']:.0f} |"
              f" {r['p99_ms']:.0f} | {r['errors']} | {r['poems_per_s'] / single['poems_per_s']:.1f}x |"
              f" {r['poems_per_s'] / bound:.0%} |")


if __name__ == "__main__":
    main()
