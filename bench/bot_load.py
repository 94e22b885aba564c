"""Load on the whole bot: simulated users send !poem, !blend and !rate through
discord.py's real dispatch (bot.local, as the tests do) to a bot that uses the
HTTP worker (`python -m model serve`, its own process) and a SQLite file.

Open loop: commands are started at a fixed rate whether or not earlier ones
have finished; each user has a channel of their own, and latency is from the
message's dispatch to the bot's reply in that channel.

    python bench/bot_load.py [--rate 50] [--seconds 60] [--users 200]

Cooldowns are off (each simulated user would otherwise be told to wait) and
the in-flight bound is the default, so "busy" replies count as errors.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import re
import statistics
import tempfile
import time

from sqlalchemy import select

from bot.__main__ import build
from bot.local import CHANNEL_ID, LocalDiscord
from bot.settings import Settings
from bot.storage.db import session_maker
from bot.storage.models import Rating
from harness import free_port, start_worker  # one harness for the tests and the benchmarks


async def run(rate: float, seconds: float, users: int, seed: int) -> None:
    port = free_port()
    worker_proc = await start_worker(port, POEMBOT_FORMS="5")
    db_dir = tempfile.mkdtemp(prefix="poembot-load-")
    url = f"sqlite+aiosqlite:///{db_dir}/poembot.sqlite3"
    settings = Settings(database_url=url, worker_url=f"http://127.0.0.1:{port}", poem_cooldown_s=0, blend_cooldown_s=0)
    bot, engine, worker = await build(settings)  # as `python -m bot` wires it
    local = LocalDiscord(bot, extra_channels=users)
    await local.start()
    rng = random.Random(seed)
    for i in range(10):  # poems to rate and blend from the start
        await local.say(f"!poem {i}", user_id=10_000)
    poem_count = 10
    free = list(range(users))
    rng.shuffle(free)
    latencies: dict[str, list[float]] = {"poem": [], "blend": [], "rate": []}
    errors: list[str] = []
    expected: dict[tuple[int, int], int] = {}  # (user, poem) -> stars of the last confirmed rating

    async def command(user: int) -> None:
        nonlocal poem_count
        kind = rng.choices(["poem", "blend", "rate"], weights=[3, 1, 6])[0]
        if kind == "poem":
            text = f"!poem {rng.randrange(10**9)}"
        elif kind == "blend":
            a, b = rng.sample(range(1, 11), 2)
            text = f"!blend {a} {b} 3"
        else:
            pid, stars = rng.randrange(1, poem_count + 1), rng.randrange(1, 6)
            text = f"!rate {pid} {stars}"
        t0 = time.perf_counter()
        try:
            sent = await local.first_reply(text, user_id=user + 1, channel_id=CHANNEL_ID + 1 + user, timeout=30)
        except asyncio.TimeoutError:
            errors.append(f"timeout: {text}")
            return
        finally:
            free.append(user)
        latencies[kind].append(time.perf_counter() - t0)
        ok = {
            "poem": bool(sent.embeds) and sent.embeds[0]["title"].startswith("Poem #"),
            "blend": bool(sent.embeds) and sent.embeds[0]["title"].startswith("Blend"),
            "rate": sent.content.startswith("You gave"),
        }[kind]
        if not ok:
            errors.append(f"{text} -> {sent.content[:80]}")
        elif kind == "rate":
            expected[(user + 1, pid)] = stars
        else:  # the newest id the reply shows: a poem's title, or a blend's steps (its ends are not new)
            shown = [sent.embeds[0]["title"]] + [f["name"] for f in sent.embeds[0].get("fields", [])]
            poem_count = max([poem_count] + [int(m) for t in shown for m in re.findall(r"#(\d+)", t)])

    tasks = []
    t_start = time.perf_counter()
    n = int(rate * seconds)
    for i in range(n):
        delay = t_start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if not free:
            errors.append("no free simulated user (all waiting)")
            continue
        tasks.append(asyncio.create_task(command(free.pop())))
    await asyncio.gather(*tasks)
    wall = time.perf_counter() - t_start
    async with session_maker(engine)() as s:
        stored = {(r.user_id, r.poem_id): r.stars for r in (await s.execute(select(Rating))).scalars()}
    lost = sum(1 for k, v in expected.items() if stored.get(k) != v)
    await bot.close()
    await worker.close()
    await engine.dispose()
    worker_proc.terminate()
    worker_proc.wait(timeout=30)

    report(
        f"{n} commands at {rate:.0f}/s for {seconds:.0f} s, {users} users; wall {wall:.1f} s",
        wall,
        latencies,
        errors,
        len(expected),
        lost,
    )


def report(
    title: str, wall: float, latencies: dict[str, list[float]], errors: list[str], confirmed: int, lost: int
) -> None:
    every = sorted(x for v in latencies.values() for x in v)

    def pct(values: list[float], q: float) -> float:
        values = sorted(values)
        return 1000 * values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")

    print(title)
    print("| commands | count | p50 ms | p99 ms |")
    print("|---|---|---|---|")
    for kind, values in [("all", every)] + list(latencies.items()):
        print(f"| {kind} | {len(values)} | {pct(values, 0.5):.0f} | {pct(values, 0.99):.0f} |")
    print(
        f"throughput {len(every) / wall:.1f} replies/s; errors {len(errors)}; "
        f"ratings confirmed {confirmed}, lost {lost}"
    )
    for e in errors[:5]:
        print("  error:", e)
    if every:
        print(f"mean {1000 * statistics.mean(every):.0f} ms")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rate", type=float, default=50)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--users", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("discord").setLevel(logging.ERROR)
    asyncio.run(run(args.rate, args.seconds, args.users, args.seed))


if __name__ == "__main__":
    main()
