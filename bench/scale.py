"""Scaling out on this machine: worker replicas behind the bot's client, and a replica
killed under load. Prints both tables of the README's "Scaling out".

    python bench/scale.py [--seconds 20] [--rate 50] [--run 60] [--kill-at 20]

1. Throughput: `--concurrency` clients ask for `--n` poems a request without pause for `--seconds`,
   through `HttpWorker` to one worker of one torch thread, then to two such workers
   (each its own process, `python -m model serve`, POEMBOT_THREADS=1).
2. Failover: the whole bot (discord.py's dispatch, a SQLite file, two workers) takes
   `--rate` commands a second (3 in 10 `!poem`, the rest `!rate`, as bench/bot_load.py) for `--run` seconds; one
   worker is SIGKILLed at `--kill-at` s and started again 10 s later. Failed commands,
   p99 latency before, during (10 s from the kill) and after, and when the replica that
   came back served again.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import re
import signal
import tempfile
import time

import aiohttp

from bot.__main__ import build
from bot.local import CHANNEL_ID, LocalDiscord
from bot.settings import Settings
from bot.worker_client import HttpWorker
from harness import free_port, start_worker  # one harness for the tests and the benchmarks
from model.contract import SampleRequest

WORKER_ENV = {"POEMBOT_FORMS": "5", "POEMBOT_THREADS": "1"}


async def sampled(port: int) -> int:
    """Sample requests a worker has answered (its /metrics)."""
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/metrics") as r:
        found = re.search(r'poembot_requests_total\{endpoint="sample"\} (\S+)', await r.text())
    return int(float(found.group(1))) if found else 0


async def throughput(workers: int, seconds: float, concurrency: int, n: int) -> float:
    ports = [free_port() for _ in range(workers)]
    procs = [await start_worker(p, **WORKER_ENV) for p in ports]
    client = HttpWorker(",".join(f"http://127.0.0.1:{p}" for p in ports), timeout_s=30)
    done = 0
    try:
        for seed in range(concurrency):  # warm-up: each worker's first batches
            await client.sample(SampleRequest(seed=seed))
        stop = time.perf_counter() + seconds

        async def user(u: int) -> None:
            nonlocal done
            rng = random.Random(u)
            while time.perf_counter() < stop:
                await client.sample(SampleRequest(seed=rng.randrange(2**31), n=n))
                done += n

        t0 = time.perf_counter()
        await asyncio.gather(*(user(u) for u in range(concurrency)))
        wall = time.perf_counter() - t0
    finally:
        await client.close()
        for p in procs:
            p.terminate()
            p.wait(timeout=30)
    return done / wall


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return 1000 * values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


async def failover(rate: float, run_s: float, kill_at: float) -> None:
    ports = [free_port(), free_port()]
    procs = [await start_worker(p, **WORKER_ENV) for p in ports]
    users = 300
    with tempfile.TemporaryDirectory(prefix="poembot-scale-") as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/poembot.sqlite3"
        settings = Settings(
            database_url=url,
            worker_url=",".join(f"http://127.0.0.1:{p}" for p in ports),
            poem_cooldown_s=0,
            blend_cooldown_s=0,
            max_in_flight=1000,
        )
        bot, engine, worker = await build(settings)
        local = LocalDiscord(bot, extra_channels=users)
        await local.start()
        for i in range(5):
            await local.say(f"!poem {i}", user_id=10_000)
        rng = random.Random(0)
        results: list[tuple[float, float, bool, str]] = []  # (sent at, seconds, ok, command)
        free = list(range(users))
        t_start = time.perf_counter()
        back_at: float | None = None
        served_again_at: float | None = None

        async def command(user: int) -> None:
            text = f"!poem {rng.randrange(10**9)}" if rng.random() < 0.3 else f"!rate {rng.randrange(1, 6)} 4"
            at = time.perf_counter() - t_start
            t0 = time.perf_counter()
            try:
                sent = await local.first_reply(text, user_id=user + 1, channel_id=CHANNEL_ID + 1 + user, timeout=30)
                ok = bool(sent.embeds) if text.startswith("!poem") else sent.content.startswith("You gave")
            except TimeoutError:
                ok = False
            finally:
                free.append(user)
            results.append((at, time.perf_counter() - t0, ok, text))

        async def fault() -> None:
            nonlocal back_at, served_again_at
            await asyncio.sleep(kill_at)
            procs[0].send_signal(signal.SIGKILL)
            procs[0].wait()
            await asyncio.sleep(10)
            procs[0] = await start_worker(ports[0], **WORKER_ENV)
            back_at = time.perf_counter() - t_start
            while time.perf_counter() - t_start < run_s:
                if await sampled(ports[0]) > 0:
                    served_again_at = time.perf_counter() - t_start
                    return
                await asyncio.sleep(0.1)

        faults = asyncio.create_task(fault())
        tasks = []
        for i in range(int(rate * run_s)):
            delay = t_start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if free:
                tasks.append(asyncio.create_task(command(free.pop())))
        await asyncio.gather(*tasks)
        await faults
        await bot.close()
        await worker.close()
        await engine.dispose()
    for p in procs:
        p.terminate()
        p.wait(timeout=30)
    failed = [r for r in results if not r[2]]
    windows = {
        "before the kill": [r[1] for r in results if r[0] < kill_at],
        "10 s from the kill": [r[1] for r in results if kill_at <= r[0] < kill_at + 10],
        "after": [r[1] for r in results if r[0] >= kill_at + 10],
    }
    print(f"\n{len(results)} commands at {rate:.0f}/s for {run_s:.0f} s through the bot, two workers of one thread;")
    print(f"one SIGKILLed at {kill_at:.0f} s, started again 10 s later\n")
    print("| window | commands | p50 ms | p99 ms |")
    print("|---|---|---|---|")
    for name, values in windows.items():
        print(f"| {name} | {len(values)} | {pct(values, 0.5):.0f} | {pct(values, 0.99):.0f} |")
    print(f"\nfailed commands: {len(failed)}" + (f" (first: {failed[0][3]})" if failed else ""))
    if back_at is not None and served_again_at is not None:
        print(
            f"the restarted worker was healthy at {back_at:.1f} s and served again "
            f"{served_again_at - back_at:.1f} s later"
        )
    else:
        print("the restarted worker did not serve again before the run ended")


async def main_async(args) -> None:
    one = await throughput(1, args.seconds, args.concurrency, args.n)
    two = await throughput(2, args.seconds, args.concurrency, args.n)
    print(
        f"throughput, {args.concurrency} clients asking {args.n} poems a request without pause, "
        f"{args.seconds:.0f} s each (poems/s):\n"
    )
    print("| workers (1 torch thread each) | poems/s | per worker |")
    print("|---|---|---|")
    print(f"| 1 | {one:.0f} | {one:.0f} |")
    print(f"| 2 | {two:.0f} | {two / 2:.0f} |")
    print(f"\nratio 2 : 1 = {two / one:.2f}x ({os.cpu_count()} cores here, the load generator on them too)")
    await failover(args.rate, args.run, args.kill_at)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--n", type=int, default=8, help="poems a request (the HTTP cost shared out)")
    p.add_argument("--rate", type=float, default=50)
    p.add_argument("--run", type=float, default=60)
    p.add_argument("--kill-at", type=float, default=20)
    args = p.parse_args()
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("discord").setLevel(logging.CRITICAL)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
