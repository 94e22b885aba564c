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
import functools
import logging
import os
import random
import re
import signal
import subprocess
import tempfile
import time

import aiohttp

from bot.local import LocalDiscord
from bot.worker_client import HttpWorker
from harness import ask, local_bot, open_loop, print_latencies, start_worker, workers  # shared with the tests
from model.contract import SampleRequest

WORKER_ENV = {"POEMBOT_FORMS": "5", "POEMBOT_THREADS": "1"}


async def sampled(port: int) -> int:
    """Sample requests a worker has answered (its /metrics)."""
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/metrics") as r:
        found = re.search(r'poembot_requests_total\{endpoint="sample"\} (\S+)', await r.text())
    return int(float(found.group(1))) if found else 0


async def throughput(count: int, seconds: float, concurrency: int, n: int) -> float:
    done = 0
    async with workers(count, **WORKER_ENV) as (ports, _):
        client = HttpWorker(",".join(f"http://127.0.0.1:{p}" for p in ports), timeout_s=30)
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
    return done / wall


Result = tuple[float, float, bool, str]  # (sent at, seconds, ok, command)


async def command(local: LocalDiscord, rng: random.Random, t_start: float, results: list[Result], user: int) -> None:
    """One simulated user's command, 3 in 10 `!poem`, the rest `!rate`; its result appended."""
    text = f"!poem {rng.randrange(10**9)}" if rng.random() < 0.3 else f"!rate {rng.randrange(1, 6)} 4"
    at = time.perf_counter() - t_start
    t0 = time.perf_counter()
    sent = await ask(local, user, text)
    ok = sent is not None and (bool(sent.embeds) if text.startswith("!poem") else sent.content.startswith("You gave"))
    results.append((at, time.perf_counter() - t0, ok, text))


async def kill_and_restart(
    procs: list[subprocess.Popen], ports: list[int], kill_at: float, run_s: float, t_start: float
) -> tuple[float, float | None]:
    """SIGKILL the first worker `kill_at` s from `t_start`, start it again 10 s later: when
    it was healthy again, and when it first served a sample (None: not before `run_s`)."""
    await asyncio.sleep(kill_at)
    procs[0].send_signal(signal.SIGKILL)
    procs[0].wait()
    await asyncio.sleep(10)
    procs[0] = await start_worker(ports[0], **WORKER_ENV)
    back_at = time.perf_counter() - t_start
    while time.perf_counter() - t_start < run_s:
        if await sampled(ports[0]) > 0:
            return back_at, time.perf_counter() - t_start
        await asyncio.sleep(0.1)
    return back_at, None


async def failover(rate: float, run_s: float, kill_at: float) -> None:
    users = 300
    async with workers(2, **WORKER_ENV) as (ports, procs):
        with tempfile.TemporaryDirectory(prefix="poembot-scale-") as tmp:
            async with local_bot(
                f"sqlite+aiosqlite:///{tmp}/poembot.sqlite3",
                users,
                warm_poems=5,
                worker_url=",".join(f"http://127.0.0.1:{p}" for p in ports),
                max_in_flight=1000,
            ) as (local, _):
                rng = random.Random(0)
                results: list[Result] = []
                t_start = time.perf_counter()
                fault = asyncio.create_task(kill_and_restart(procs, ports, kill_at, run_s, t_start))
                one = functools.partial(command, local, rng, t_start, results)
                await open_loop(one, list(range(users)), rate, int(rate * run_s), t_start)
                back_at, served_again_at = await fault
    report_failover(results, rate, run_s, kill_at, back_at, served_again_at)


def report_failover(
    results: list[Result], rate: float, run_s: float, kill_at: float, back_at: float, served_again_at: float | None
) -> None:
    failed = [r for r in results if not r[2]]
    windows = {
        "before the kill": [r[1] for r in results if r[0] < kill_at],
        "10 s from the kill": [r[1] for r in results if kill_at <= r[0] < kill_at + 10],
        "after": [r[1] for r in results if r[0] >= kill_at + 10],
    }
    print(f"\n{len(results)} commands at {rate:.0f}/s for {run_s:.0f} s through the bot, two workers of one thread;")
    print(f"one SIGKILLed at {kill_at:.0f} s, started again 10 s later\n")
    print_latencies("window | commands", windows.items())
    print(f"\nfailed commands: {len(failed)}" + (f" (first: {failed[0][3]})" if failed else ""))
    if served_again_at is not None:
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
