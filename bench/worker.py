"""Worker throughput and latency over HTTP, in one run on this machine.

Starts `python -m model serve` on a loopback port (batched; batched with
requests alternating between the two forms; with batches of one), sends
seeded /v1/sample requests at several concurrencies, and
prints poems/s with p50/p99 latency beside the compute bound: the decoder's
FLOPs per poem against a measured matrix-multiply rate. The whole sequence
runs `--repeat` times and each figure is the median, because a shared 2-core
machine varies by 10-20% from one run to the next.

Rows without HTTP show where the time goes: the engine called in-process by
256 concurrent callers, the decoder alone on batches of 64 and 256, and its
matrix products alone. A last line measures HTTP alone (a server that does no
model work) and the ceiling it leaves on this machine.

    python bench/worker.py [--requests 512] [--concurrency 1,8,64,256] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import torch

from model.contract import SampleRequest
from model.checkpoint import load, shipped
from model.generate import PoemGenerator
from model.worker.engine import Engine
from model.worker.http import SERVER_OPTIONS

from harness import free_port, stop, wait_healthy, workers  # one harness for the tests and the benchmarks


def decoder_flops_per_poem(cfg) -> float:
    """Multiply-adds x 2 of writing one poem: the dense map from z, the parallel
    GCNNs, then per position the causal head's step and the full log-probabilities."""
    T, C, V = cfg.positions, cfg.emb, cfg.vocab_size
    gcnn = cfg.kernel * C * 2 * C  # one position through one GCNN
    flops = (cfg.latent + cfg.latent_detail) * T * C + T * gcnn * len(cfg.dec_dilations)
    per_position = gcnn * len(cfg.ar_dilations)
    cutoffs = [c for c in cfg.cutoffs if c < V - 1] + [V]
    if len(cutoffs) > 1:  # adaptive softmax: head, then each tail's projection and output
        per_position += C * (cutoffs[0] + len(cutoffs) - 1)
        for i in range(1, len(cutoffs)):
            width = int(C // (cfg.div_value**i))
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


async def load_run(url: str, concurrency: int, requests: int, forms: tuple[int, ...] = (5,)) -> dict:
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
            body = {"seed": 10_000 + i, "form": forms[i % len(forms)]}
            async with session.post(url + "/v1/sample", json=body) as r:
                await r.read()
                errors += r.status != 200
            latencies.append(time.perf_counter() - t0)

    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn) as session:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return summary(latencies, wall, errors)


def summary(latencies: list[float], wall: float, errors: int = 0) -> dict:
    latencies = sorted(latencies)
    return {
        "poems_per_s": len(latencies) / wall,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "errors": errors,
    }


async def batch_totals(url: str) -> tuple[float, float]:
    """(poems, forward passes) so far, from the worker's /metrics."""
    async with aiohttp.ClientSession() as s, s.get(url + "/metrics") as r:
        text = await r.text()
    values = dict(line.rsplit(" ", 1) for line in text.splitlines() if line.startswith("poembot_batch_size_"))
    return float(values["poembot_batch_size_sum"]), float(values["poembot_batch_size_count"])


async def measure(
    max_batch: int, runs: list[tuple[int, int]], threads: int, forms: tuple[int, ...] = (5,)
) -> list[dict]:
    env = dict(
        POEMBOT_FORMS=",".join(map(str, forms)),
        POEMBOT_MAX_BATCH=str(max_batch),
        POEMBOT_THREADS=str(threads),
    )
    async with workers(1, **env) as ([port], _):
        url = f"http://127.0.0.1:{port}"
        await load_run(url, 4, 16)  # warm-up
        results = []
        for c, n in runs:
            poems0, passes0 = await batch_totals(url)
            result = dict(await load_run(url, c, n, forms), concurrency=c)
            poems1, passes1 = await batch_totals(url)
            results.append(dict(result, mean_batch=(poems1 - poems0) / max(passes1 - passes0, 1)))
        return results


async def engine_run(gen: PoemGenerator, max_batch: int, threads: int, concurrency: int, requests: int) -> dict:
    """The same load through the engine in this process: batching without HTTP."""
    engine = Engine({5: gen}, max_batch=max_batch, threads=threads)
    await engine.start()
    try:
        await asyncio.gather(*(engine.sample(SampleRequest(seed=i)) for i in range(max_batch)))  # warm-up
        queue = list(range(requests))
        latencies: list[float] = []

        async def client() -> None:
            while queue:
                seed = 10_000 + queue.pop()
                t0 = time.perf_counter()
                await engine.sample(SampleRequest(seed=seed))
                latencies.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        passes0 = engine.metrics.batches.count
        await asyncio.gather(*(client() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
        return dict(summary(latencies, wall), mean_batch=requests / max(engine.metrics.batches.count - passes0, 1))
    finally:
        await engine.close()


def batches_per_s(work, batch: int, seconds: float = 3.0) -> dict:
    """Run `work` (one batch) over and over for `seconds`, nothing else running."""
    work()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        work()
        n += 1
    wall = (time.perf_counter() - t0) / n
    return {
        "poems_per_s": batch / wall,
        "p50_ms": 1000 * wall,
        "p99_ms": float("nan"),
        "errors": 0,
        "mean_batch": batch,
    }


def decoder_run(gen: PoemGenerator, batch: int) -> dict:
    """The decoder alone."""
    seeds = list(range(batch))
    return batches_per_s(lambda: gen.sample_seeds(seeds), batch)


def canned_server(port: int) -> None:
    """An aiohttp server that answers /v1/sample with a poem-shaped reply and does
    no model work: what HTTP and JSON cost by themselves."""
    from aiohttp import web

    poem = {
        "text": "白日依山盡黃河入海流欲窮千里目更上一層樓",
        "form": 5,
        "seed": 1,
        "latent": [0.123456] * 64,
        "display": "",
        "lines": ["白日依山盡", "黃河入海流", "欲窮千里目", "更上一層樓"],
    }

    async def sample(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response(
            {"poems": [dict(poem, seed=body.get("seed"))], "model": "canned", "options": {}},
            dumps=lambda o: json.dumps(o, ensure_ascii=False),
        )

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/v1/sample", sample)
    app.router.add_get("/healthz", health)
    web.run_app(app, host="127.0.0.1", port=port, print=None, **SERVER_OPTIONS)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def http_alone(concurrency: int = 64, requests: int = 4096) -> dict:
    """Requests/s and CPU per request, in the server and in this load generator,
    against the canned server."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--canned-server", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_healthy(port, proc)
        await load_run(url, 4, 64)
        server0, client0 = cpu_seconds(proc.pid), time.process_time()
        result = await load_run(url, concurrency, requests)
        return dict(
            result,
            server_ms=1000 * (cpu_seconds(proc.pid) - server0) / requests,
            client_ms=1000 * (time.process_time() - client0) / requests,
        )
    finally:
        stop(proc)


@torch.no_grad()
def matmuls_alone(gen: PoemGenerator, batch: int) -> dict:
    """Only the decoder's matrix products, at the shapes decoding gives them, on
    random inputs: the most any decoding loop around them could reach here."""
    m, cfg = gen.model, gen.ckpt.cfg
    T, C = cfg.positions, cfg.emb
    z, wide = torch.randn(batch, m.from_z.in_features), torch.randn(batch * T, cfg.kernel * C)
    step_in, h = torch.randn(batch, cfg.kernel * C), torch.randn(batch, C)
    out = m.ar_out.out

    def poems() -> None:
        m.from_z(z)
        for layer in m.decoder:
            layer.proj(wide)
        for _ in range(T):
            for layer in m.ar:
                layer.proj(step_in)
            out.head(h)
            for tail in out.tail:
                tail(h)

    return batches_per_s(poems, batch)


def median_rows(runs: list[dict]) -> dict:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=512, help="requests per concurrency level")
    p.add_argument("--concurrency", default="1,8,64,256")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--max-batch", type=int, default=64)
    p.add_argument("--repeat", type=int, default=3, help="runs of the whole sequence; figures are medians")
    p.add_argument("--canned-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    return p


def http_rows(args: argparse.Namespace, levels: list[int]) -> tuple[dict[str, list[dict]], list[float]]:
    """The HTTP rows' runs by row name, and the matmul rates, measured `--repeat` times."""
    runs = [(c, max(args.requests if c > 1 else args.requests // 4, c)) for c in levels]
    rows: dict[str, list[dict]] = {}
    rates = []
    for _ in range(args.repeat):
        rates.append(matmul_flops_per_s(args.threads))
        for r in asyncio.run(measure(args.max_batch, runs, args.threads)):
            rows.setdefault(f"HTTP, batched | {r['concurrency']}", []).append(r)
        for r in asyncio.run(measure(args.max_batch, runs, args.threads, forms=(5, 7))):
            rows.setdefault(f"HTTP, batched, forms 5 and 7 alternating | {r['concurrency']}", []).append(r)
        rows.setdefault("HTTP, one at a time (batch 1) | 1", []).append(
            asyncio.run(measure(1, [(1, args.requests // 8)], args.threads))[0]
        )
    return rows, rates


def in_process_rows(args: argparse.Namespace) -> dict[str, list[dict]]:
    """The rows without HTTP (the engine, the decoder, its matrix products): runs by row name."""
    torch.set_num_threads(args.threads)
    gen = PoemGenerator.from_path(shipped(5))
    rows: dict[str, list[dict]] = {}
    for _ in range(args.repeat):
        rows.setdefault("in-process engine, no HTTP | 256", []).append(
            asyncio.run(engine_run(gen, args.max_batch, args.threads, 256, args.requests))
        )
        for batch in (64, 256):
            rows.setdefault(f"decoder alone, batches of {batch} | -", []).append(decoder_run(gen, batch))
            rows.setdefault(f"its matrix products alone, batches of {batch} | -", []).append(matmuls_alone(gen, batch))
    return rows


def report(args: argparse.Namespace, levels: list[int], flops: float, rate: float, table: dict, floor: dict) -> None:
    """The header line, the table (each row against one-at-a-time and the compute bound), and HTTP alone."""
    bound = rate / flops
    single = table["HTTP, one at a time (batch 1) | 1"]["poems_per_s"]
    print(
        f"decoder: {flops / 1e6:.1f} MFLOP per poem; matmul rate {rate / 1e9:.1f} GFLOP/s on {args.threads} threads;"
        f" compute bound {bound:.0f} poems/s; medians of {args.repeat} runs; max batch {args.max_batch}"
    )
    print(
        "| mode | concurrency | poems/s | p50 ms | p99 ms | errors | mean batch | vs one-at-a-time | of compute bound |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    order = (
        ["HTTP, one at a time (batch 1) | 1"]
        + [f"HTTP, batched | {c}" for c in levels]
        + [f"HTTP, batched, forms 5 and 7 alternating | {c}" for c in levels]
        + ["in-process engine, no HTTP | 256"]
        + [f"{what}, batches of {b} | -" for what in ("decoder alone", "its matrix products alone") for b in (64, 256)]
    )
    for name in order:
        r = table[name]
        p99 = "-" if r["p99_ms"] != r["p99_ms"] else f"{r['p99_ms']:.0f}"
        print(
            f"| {name} | {r['poems_per_s']:.0f} | {r['p50_ms']:.0f} | {p99} | {r['errors']:.0f} |"
            f" {r['mean_batch']:.1f} | {r['poems_per_s'] / single:.1f}x | {r['poems_per_s'] / bound:.0%} |"
        )
    http_ms = floor["server_ms"] + floor["client_ms"]
    poem_ms = 1000 * args.threads / bound  # core-milliseconds of one poem at the bound
    ceiling = 1000 * args.threads / (http_ms + poem_ms)
    print(
        f"HTTP alone (a server that does no model work, concurrency 64): {floor['poems_per_s']:.0f} requests/s;"
        f" CPU per request {floor['server_ms']:.3f} ms in the server + {floor['client_ms']:.3f} ms in the load"
        f" generator. With a decoder at the bound ({poem_ms:.2f} core-ms a poem) this machine could serve"
        f" at most {ceiling:.0f} poems/s over HTTP ({ceiling / bound:.0%} of the bound)."
    )


def main() -> None:
    args = parser().parse_args()
    if args.canned_server:
        return canned_server(args.canned_server)
    levels = [int(c) for c in args.concurrency.split(",")]
    flops = decoder_flops_per_poem(load(shipped(5)).cfg)
    rows, rates = http_rows(args, levels)
    rows.update(in_process_rows(args))
    floor = median_rows([asyncio.run(http_alone()) for _ in range(args.repeat)])
    table = {name: median_rows(runs) for name, runs in rows.items()}
    report(args, levels, flops, statistics.median(rates), table, floor)


if __name__ == "__main__":
    main()
