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
import functools
import logging
import random
import re
import statistics
import tempfile
import time

from sqlalchemy import select

from bot.local import LocalDiscord
from bot.storage.db import session_maker
from bot.storage.models import Rating
from harness import ask, local_bot, open_loop, print_latencies, workers  # one harness for the tests and the benchmarks


FIRST_POEMS = 10  # written before the load starts: !blend picks two of them, !rate any poem so far


class Traffic:
    """The simulated users' commands, 3 in 10 `!poem`, 1 `!blend` and 6 `!rate`, and what
    came back: latencies by kind, errors, and the ratings the bot confirmed."""

    def __init__(self, local: LocalDiscord, rng: random.Random):
        self.local, self.rng = local, rng
        self.poem_count = FIRST_POEMS  # the newest poem id a reply has shown
        self.latencies: dict[str, list[float]] = {"poem": [], "blend": [], "rate": []}
        self.errors: list[str] = []
        self.expected: dict[tuple[int, int], int] = {}  # (user, poem) -> stars of the last confirmed rating

    def pick(self) -> tuple[str, str, tuple[int, int] | None]:
        """(kind, command text, (poem, stars) for a rating)."""
        kind = self.rng.choices(["poem", "blend", "rate"], weights=[3, 1, 6])[0]
        if kind == "poem":
            return kind, f"!poem {self.rng.randrange(10**9)}", None
        if kind == "blend":
            a, b = self.rng.sample(range(1, FIRST_POEMS + 1), 2)
            return kind, f"!blend {a} {b} 3", None
        pid, stars = self.rng.randrange(1, self.poem_count + 1), self.rng.randrange(1, 6)
        return kind, f"!rate {pid} {stars}", (pid, stars)

    async def command(self, user: int) -> None:
        kind, text, rating = self.pick()
        t0 = time.perf_counter()
        sent = await ask(self.local, user, text)
        if sent is None:
            self.errors.append(f"timeout: {text}")
            return
        self.latencies[kind].append(time.perf_counter() - t0)
        ok = {
            "poem": bool(sent.embeds) and sent.embeds[0]["title"].startswith("Poem #"),
            "blend": bool(sent.embeds) and sent.embeds[0]["title"].startswith("Blend"),
            "rate": sent.content.startswith("You gave"),
        }[kind]
        if not ok:
            self.errors.append(f"{text} -> {sent.content[:80]}")
        elif kind == "rate":
            self.expected[(user + 1, rating[0])] = rating[1]
        else:  # the newest id the reply shows: a poem's title, or a blend's steps (its ends are not new)
            shown = [sent.embeds[0]["title"]] + [f["name"] for f in sent.embeds[0].get("fields", [])]
            self.poem_count = max([self.poem_count] + [int(m) for t in shown for m in re.findall(r"#(\d+)", t)])


async def lost_ratings(engine, expected: dict[tuple[int, int], int]) -> int:
    """Confirmed ratings the database does not hold as the bot confirmed them."""
    async with session_maker(engine)() as s:
        stored = {(r.user_id, r.poem_id): r.stars for r in (await s.execute(select(Rating))).scalars()}
    return sum(1 for k, v in expected.items() if stored.get(k) != v)


async def run(rate: float, seconds: float, users: int, seed: int) -> None:
    async with workers(1, POEMBOT_FORMS="5") as ([port], _):
        db_dir = tempfile.mkdtemp(prefix="poembot-load-")
        url = f"sqlite+aiosqlite:///{db_dir}/poembot.sqlite3"
        async with local_bot(url, users, FIRST_POEMS, worker_url=f"http://127.0.0.1:{port}") as (local, engine):
            rng = random.Random(seed)
            traffic = Traffic(local, rng)
            free = list(range(users))
            rng.shuffle(free)
            t_start = time.perf_counter()
            n = int(rate * seconds)
            busy = functools.partial(traffic.errors.append, "no free simulated user (all waiting)")
            await open_loop(traffic.command, free, rate, n, t_start, no_user=busy)
            wall = time.perf_counter() - t_start
            lost = await lost_ratings(engine, traffic.expected)
    report(
        f"{n} commands at {rate:.0f}/s for {seconds:.0f} s, {users} users; wall {wall:.1f} s",
        wall,
        traffic.latencies,
        traffic.errors,
        len(traffic.expected),
        lost,
    )


def report(
    title: str, wall: float, latencies: dict[str, list[float]], errors: list[str], confirmed: int, lost: int
) -> None:
    every = sorted(x for v in latencies.values() for x in v)
    print(title)
    print_latencies("commands | count", [("all", every)] + list(latencies.items()))
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
