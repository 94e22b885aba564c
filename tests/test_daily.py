"""The poem of the day (`bot.daily`): posted once per server and day across bot processes on
one database, never again after a restart, once on coming back the same day, never for past
days. Bots run through the local Discord with a clock the test moves: nothing sleeps."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.__main__ import build
from bot.daily import TERMS, solar_term
from bot.local import LocalDiscord, Picked
from bot.settings import Settings
from bot.storage import settings as servers
from bot.storage.models import DailyPost, Poem
from bot.worker_client import WorkerUnavailable
from tests.fake_worker import FakeWorker

MEMBER, OTHER = 5, 6
TUESDAY = datetime(2026, 9, 8, tzinfo=UTC)  # 白露 began the evening before (22:41 in Shanghai)
SHANGHAI = ZoneInfo("Asia/Shanghai")


class ManualClock:
    """A clock that moves only when the test moves it (`set`), waking whoever waits on it."""

    def __init__(self, now: datetime):
        self._now = now
        self._moved = asyncio.Condition()

    def now(self) -> datetime:
        return self._now

    async def sleep_until(self, moment: datetime) -> None:
        async with self._moved:
            await self._moved.wait_for(lambda: self._now >= moment)

    async def set(self, now: datetime) -> None:
        async with self._moved:
            self._now = now
            self._moved.notify_all()


@contextlib.asynccontextmanager
async def bot_process(url: str, clock: ManualClock, worker=None):
    """A bot process as `python -m bot` builds it, on `url`, with the test's clock, connected to a
    local Discord (one server, two channels); yields (local Discord, its Daily cog) once the cog
    has had its first look."""
    settings = Settings(database_url=url, poem_cooldown_s=0, blend_cooldown_s=0, owner_ids=frozenset({1}))
    bot, engine, _ = await build(settings, worker=worker or FakeWorker())
    bot.clock = clock
    local = LocalDiscord(bot, extra_channels=1)
    await local.start()
    daily = bot.get_cog("Daily")
    await daily.ticked(1)
    try:
        yield local, daily
    finally:
        await bot.close()
        await engine.dispose()


async def at(clock: ManualClock, moment: datetime, *dailies) -> None:
    """Move the clock to `moment` and wait until every process has looked at it."""
    counts = [d.ticks for d in dailies]
    await clock.set(moment)
    await asyncio.gather(*(d.ticked(n + 1) for d, n in zip(dailies, counts)))


def posts(*locals_) -> list:
    return [
        s for local in locals_ for s in local.sent if s.kind == "message" and s.content.startswith("Poem of the day")
    ]


def best_posts(*locals_) -> list:
    return [
        s for local in locals_ for s in local.sent if s.kind == "message" and s.content.startswith("The week's best")
    ]


async def days_posted(local) -> list[date]:
    async with local.bot.service.reads() as s:
        return list(await s.scalars(select(DailyPost.day).order_by(DailyPost.day)))


async def test_two_bot_processes_at_the_hour_post_exactly_one_poem(sqlite_url):
    clock = ManualClock(TUESDAY.replace(hour=7, minute=30))
    async with bot_process(sqlite_url, clock) as (a, da), bot_process(sqlite_url, clock) as (b, db_):
        poems = a.channel_id + 1
        (said,) = await a.say(f"!config daily set <#{poems}> 9")
        assert "A poem of the day in" in said.content and "09:00 (UTC)" in said.content
        await at(clock, TUESDAY.replace(hour=8, minute=59), da, db_)
        assert posts(a, b) == []
        await at(clock, TUESDAY.replace(hour=9), da, db_)
        (post,) = posts(a, b)
        assert post.channel_id == poems
        assert post.content == "Poem of the day, 2026-09-08: 白露, on 露."
        assert "露" in "".join(post.embeds[0]["description"]) and "seed" in post.embeds[0]["footer"]["text"]
        assert any(cid.startswith("poem:rate:") for cid in post.custom_ids)  # rated like any poem
        for minute in (1, 2, 30):
            await at(clock, TUESDAY.replace(hour=9, minute=minute), da, db_)
        assert len(posts(a, b)) == 1
        assert await days_posted(a) == [TUESDAY.date()]


async def test_the_poem_of_the_day_is_saved_as_the_bots_in_its_server_with_its_term(sqlite_url):
    clock = ManualClock(TUESDAY.replace(hour=8))
    async with bot_process(sqlite_url, clock) as (a, da):
        poems = a.channel_id + 1
        await a.say(f"!config daily set <#{poems}> 9")
        await at(clock, TUESDAY.replace(hour=9), da)
        (post,) = posts(a)
        async with a.bot.service.reads() as s:
            (poem,) = await s.scalars(select(Poem).where(Poem.channel_id == poems))
        assert (poem.user_id, poem.guild_id, poem.kind, poem.form) == (a.bot.user.id, a.guild_id, "written", 5)
        assert poem.options["daily"] == "白露" and poem.options["subject"] == ["露"] and "露" in poem.text
        assert poem.message_id == int(post.message["id"]) and post.embeds[0]["title"] == f"Poem #{poem.id}"
        await a.say("!forgetme confirm", user_id=MEMBER)  # (a member's forgetting is not the bot's poem's)
        (shown,) = await a.say(f"!show {poem.id}", user_id=OTHER)
        assert shown.embeds[0]["title"] == f"Poem #{poem.id}"


async def test_a_restart_after_posting_does_not_post_again_and_the_next_day_posts_once(sqlite_url):
    clock = ManualClock(TUESDAY.replace(hour=8))
    async with bot_process(sqlite_url, clock) as (a, da):
        await a.say(f"!config daily set <#{a.channel_id + 1}> 9")
        await at(clock, TUESDAY.replace(hour=9, minute=1), da)
        assert len(posts(a)) == 1
    clock = ManualClock(TUESDAY.replace(hour=9, minute=2))
    async with bot_process(sqlite_url, clock) as (b, db_):
        await at(clock, TUESDAY.replace(hour=12), db_)
        assert posts(b) == []
        await at(clock, TUESDAY.replace(hour=9) + timedelta(days=1), db_)
        (post,) = posts(b)
        assert post.content.startswith("Poem of the day, 2026-09-09:")


async def test_a_bot_down_at_the_hour_posts_once_when_back_the_same_day_and_never_for_past_days(sqlite_url):
    clock = ManualClock(TUESDAY.replace(hour=8))
    async with bot_process(sqlite_url, clock) as (a, da):
        await a.say(f"!config daily set <#{a.channel_id + 1}> 9")
    # down from 8:00 to 15:00
    clock = ManualClock(TUESDAY.replace(hour=15))
    async with bot_process(sqlite_url, clock) as (b, db_):
        assert len(posts(b)) == 1  # its first look, as it came back
        await at(clock, TUESDAY.replace(hour=15, minute=1), db_)
        assert len(posts(b)) == 1
    # down for two days: nothing for them, today's at its hour
    clock = ManualClock(TUESDAY.replace(hour=8) + timedelta(days=3))
    async with bot_process(sqlite_url, clock) as (c, dc):
        assert posts(c) == []
        await at(clock, TUESDAY.replace(hour=9) + timedelta(days=3), dc)
        (post,) = posts(c)
        assert post.content.startswith("Poem of the day, 2026-09-11:")
        assert await days_posted(c) == [TUESDAY.date(), TUESDAY.date() + timedelta(days=3)]


async def test_set_after_its_hour_the_first_poem_is_tomorrows(sqlite_url):
    clock = ManualClock(TUESDAY.replace(hour=10))
    async with bot_process(sqlite_url, clock) as (a, da):
        (said,) = await a.say(f"!config daily set <#{a.channel_id + 1}> 9")
        first = int(TUESDAY.replace(hour=9).timestamp()) + 86400
        assert f"<t:{first}:F>" in said.content
        await at(clock, TUESDAY.replace(hour=10, minute=1), da)
        assert posts(a) == []


async def test_the_hour_is_the_servers_time_zone_and_the_poem_in_its_language(sqlite_url):
    clock = ManualClock(TUESDAY.replace(hour=0))  # 08:00 in Shanghai
    async with bot_process(sqlite_url, clock) as (a, da):
        await a.say("!config timezone Asia/Shanghai")
        await a.say("!config language zh-CN")
        await a.say(f"!config daily set <#{a.channel_id + 1}> 9")
        await at(clock, TUESDAY.replace(hour=0, minute=59), da)
        assert posts(a) == []
        await at(clock, TUESDAY.replace(hour=1), da)  # 09:00 in Shanghai
        (post,) = [s for s in a.sent if s.kind == "message" and s.channel_id == a.channel_id + 1]
        assert post.content.startswith("每日一诗") and "白露" in post.content, post.content
        assert post.embeds[0]["title"].startswith("第")


async def test_a_deleted_channel_is_not_posted_to_and_config_says_so(sqlite_url):
    clock = ManualClock(TUESDAY.replace(hour=8))
    async with bot_process(sqlite_url, clock) as (a, da):
        room = a.add_channel("poem-of-the-day")
        await a.say(f"!config daily set <#{room}> 9")
        a.delete_channel(room)
        await at(clock, TUESDAY.replace(hour=9), da)
        await at(clock, TUESDAY.replace(hour=9, minute=1), da)
        assert posts(a) == []
        (shown,) = await a.slash("config show")
        assert "the channel is gone" in shown.text()
        await a.slash("config daily set", {"channel": Picked("channel", a.channel_id + 1), "hour": 11})
        await at(clock, TUESDAY.replace(hour=11), da)
        assert len(posts(a)) == 1  # the day's poem, in the new channel


async def test_a_worker_down_at_the_hour_is_tried_again_the_next_minute(sqlite_url):
    class Flaky(FakeWorker):
        down = True

        async def sample(self, req):
            if self.down:
                raise WorkerUnavailable("connection refused")
            return await super().sample(req)

    worker = Flaky()
    clock = ManualClock(TUESDAY.replace(hour=8))
    async with bot_process(sqlite_url, clock, worker) as (a, da):
        await a.say(f"!config daily set <#{a.channel_id + 1}> 9")
        await at(clock, TUESDAY.replace(hour=9), da)
        assert posts(a) == [] and await days_posted(a) == []  # the claim given back
        worker.down = False
        await at(clock, TUESDAY.replace(hour=9, minute=1), da)
        assert len(posts(a)) == 1


async def test_on_sunday_the_weeks_best_rated_poem_and_never_the_same_twice(sqlite_url):
    sunday = TUESDAY + timedelta(days=5)
    assert sunday.weekday() == 6
    clock = ManualClock(sunday.replace(hour=8))
    async with bot_process(sqlite_url, clock) as (a, da):
        await a.say("!poem 1", user_id=MEMBER)
        await a.say("!poem 2", user_id=MEMBER)
        for user in (MEMBER, OTHER, 7):
            await a.say("!rate 2 5", user_id=user)
        await a.say("!rate 1 2", user_id=OTHER)
        await a.say(f"!config daily set <#{a.channel_id + 1}> 9")
        await at(clock, sunday.replace(hour=9), da)
        (best,) = best_posts(a)
        assert best.content == f"The week's best rated poem here, by <@{MEMBER}>: 5.00★ from 3 ratings."
        assert best.embeds[0]["title"] == "Poem #2"
        assert "poem:reroll:5" not in best.custom_ids
        await at(clock, sunday.replace(hour=9) + timedelta(days=7), da)  # a week on: #2 was featured
        assert len(best_posts(a)) == 1 and len(posts(a)) == 1


async def test_the_scheduler_stops_when_the_bot_closes(sqlite_url):
    clock = ManualClock(TUESDAY)
    async with bot_process(sqlite_url, clock) as (a, da):
        task = da._task
        assert not task.done()
    assert task.cancelled()


async def test_a_claim_left_by_a_dead_process_is_taken_over_and_a_live_one_is_not(db):
    _, sessions = db
    day = date(2026, 9, 8)
    async with sessions.begin() as s:
        assert await servers.claim_daily(s, 10, day, "a")
        assert not await servers.claim_daily(s, 10, day, "b")  # a's, and fresh
        row = await s.get(DailyPost, (10, day))
        row.claimed_at -= timedelta(seconds=servers.CLAIM_S + 1)  # a died writing it
        await s.flush()
        assert await servers.claim_daily(s, 10, day, "b")
        await servers.finish_daily(s, 10, day, "b", "season", channel_id=1, message_id=2)
        row.claimed_at -= timedelta(days=1)
        assert not await servers.claim_daily(s, 10, day, "c")  # posted: never again
        assert await servers.daily_posted(s, [(10, day), (11, day)]) == {(10, day)}


@pytest.mark.parametrize(
    "day, zone, term",
    [
        (date(2025, 2, 3), SHANGHAI, "立春"),  # 22:10 in Beijing: a day early that year
        (date(2025, 2, 2), SHANGHAI, "大寒"),
        (date(2026, 2, 4), SHANGHAI, "立春"),
        (date(2025, 4, 4), SHANGHAI, "清明"),
        (date(2026, 12, 22), SHANGHAI, "冬至"),  # 04:50 in Beijing ...
        (date(2026, 12, 21), SHANGHAI, "大雪"),
        (date(2026, 12, 21), UTC, "冬至"),  # ... the evening before in UTC
        (date(2027, 1, 1), UTC, "冬至"),
        (date(2026, 9, 8), UTC, "白露"),
    ],
)
def test_solar_terms_begin_on_their_days_in_each_time_zone(day, zone, term):
    assert solar_term(day, zone)[0] == term


def test_every_solar_terms_subject_is_a_character_the_shipped_models_know():
    terms = {solar_term(date(2026, 1, 1) + timedelta(days=d))[0] for d in range(366)}
    assert terms == {name for name, _ in TERMS}
    for form in (5, 7):
        card = Path(__file__).parents[1] / "model" / "checkpoints" / f"quatrain{form}.json"
        vocabulary = set(json.loads(card.read_text(encoding="utf-8"))["vocab"])
        assert {subject for _, subject in TERMS} <= vocabulary
