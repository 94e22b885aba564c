"""The poem of the day: posted in a server's chosen channel at its chosen hour (its time zone),
on the subject of the season (the 24 solar terms, 節氣) or, on Sundays, the week's best rated
poem there when there is one.

One background task per bot process (`Daily`, started when the cog loads, cancelled when the
bot closes) wakes each minute (`Clock`: tests bring a clock of their own) and posts what is
due for the servers this process is connected to. The database decides who posts: a row per
server and day is claimed before the poem is written (`storage.settings.claim_daily`), so of
every process and shard exactly one posts it, and a restart never posts it again. A process
down at the hour posts the day's poem when it comes back the same day; past days are never
caught up. The poem is written by the worker, like every other poem.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import secrets
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol

import discord
from discord.ext import commands

from model.contract import SampleRequest  # torch-free
from model.text import MAX_SEED, simplified  # torch-free

from .i18n import CHOSEN, LANGUAGE, reader_language, render, t, tn
from .shown import LOCALE_SCRIPT, script_for_locale, show
from .storage import repo
from .storage import settings as servers
from .storage.settings import ServerRules
from .views import poem_embed, poem_message, poem_view, worded
from .worker_client import WorkerBadRequest, WorkerBusy, WorkerUnavailable

log = logging.getLogger("poembot.bot.daily")

# The 24 solar terms from the March equinox, each 15° of the sun's longitude, with a subject the
# model knows (a character of many poems: model/subjects.py indexes those in 5 or more)
TERMS = (
    ("春分", "燕"),
    ("清明", "雨"),
    ("穀雨", "花"),
    ("立夏", "夏"),
    ("小滿", "麥"),
    ("芒種", "田"),
    ("夏至", "蟬"),
    ("小暑", "荷"),
    ("大暑", "暑"),
    ("立秋", "秋"),
    ("處暑", "雲"),
    ("白露", "露"),
    ("秋分", "月"),
    ("寒露", "菊"),
    ("霜降", "霜"),
    ("立冬", "冬"),
    ("小雪", "寒"),
    ("大雪", "雪"),
    ("冬至", "夜"),
    ("小寒", "梅"),
    ("大寒", "冰"),
    ("立春", "春"),
    ("雨水", "草"),
    ("驚蟄", "雷"),
)
FORM = 5  # characters a line of the poem of the day
BEST_WEEKDAY = 6  # Sunday: the week's best rated poem, when there is one
WEEK = timedelta(days=7)


def sun_longitude(moment: datetime) -> float:
    """The sun's apparent ecliptic longitude in degrees at `moment` (Meeus, Astronomical
    Algorithms, ch. 25, the low-precision method: within 0.01°, a few minutes of a term)."""
    jd = moment.timestamp() / 86400.0 + 2440587.5
    c = (jd - 2451545.0) / 36525.0  # Julian centuries from J2000
    mean = 280.46646 + 36000.76983 * c + 0.0003032 * c * c
    anomaly = math.radians(357.52911 + 35999.05029 * c - 0.0001537 * c * c)
    centre = (
        (1.914602 - 0.004817 * c - 0.000014 * c * c) * math.sin(anomaly)
        + (0.019993 - 0.000101 * c) * math.sin(2 * anomaly)
        + 0.000289 * math.sin(3 * anomaly)
    )
    omega = math.radians(125.04 - 1934.136 * c)
    return (mean + centre - 0.00569 - 0.00478 * math.sin(omega)) % 360.0


def solar_term(day: date, zone=UTC) -> tuple[str, str]:
    """The solar term in force on `day` (in time zone `zone`: one that begins during the day
    counts from that day) and its subject."""
    end = datetime.combine(day, time(23, 59, 59), tzinfo=zone)
    return TERMS[int(sun_longitude(end) // 15) % 24]


def next_daily(rules: ServerRules, now: datetime) -> datetime:
    """When the server's next poem of the day is due, from `now`."""
    local = now.astimezone(rules.zone)
    day = local.date() if local.hour < rules.daily_hour else local.date() + timedelta(days=1)
    day = max(day, rules.daily_from or day)
    return datetime.combine(day, time(rules.daily_hour), tzinfo=rules.zone)


def due(rules: ServerRules, now: datetime) -> date | None:
    """The server's day whose poem is due at `now` (its hour has come; never a past day)."""
    local = now.astimezone(rules.zone)
    if local.hour < rules.daily_hour or (rules.daily_from is not None and local.date() < rules.daily_from):
        return None
    return local.date()


def seed_of(guild_id: int, day: date) -> int:
    """The day's seed for a server: its poem is the same whoever writes it, and if written again."""
    digest = hashlib.sha256(f"{guild_id}:{day.isoformat()}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % (MAX_SEED + 1)


class Clock(Protocol):
    """What time it is, and a way to wait for a time (tests bring their own)."""

    def now(self) -> datetime: ...

    async def sleep_until(self, moment: datetime) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, moment: datetime) -> None:
        await asyncio.sleep(max(0.0, (moment - self.now()).total_seconds()))


class Transient(Exception):
    """The poem could not be written now (no worker, busy): the claim is given back, and the
    next minute tries again."""


class Daily(commands.Cog):
    """The poem of the day (set with `/config daily`)."""

    def __init__(self, bot: commands.Bot):
        self.bot = bot
        self.service = bot.service
        self.clock: Clock = bot.clock
        self.ticks = 0  # minutes looked at (tests wait on it: `ticked`)
        self._ticked = asyncio.Condition()
        self._ready = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._warned: set[tuple[int, date]] = set()  # (server, day) whose channel was missing

    async def cog_load(self) -> None:
        self._task = asyncio.create_task(self._run(), name="poembot-daily")

    async def cog_unload(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        self._ready.set()

    async def _run(self) -> None:
        await self._ready.wait()  # (its guilds are known)
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("the poem of the day failed this minute")
            async with self._ticked:
                self.ticks += 1
                self._ticked.notify_all()
            now = self.clock.now()
            await self.clock.sleep_until(now.replace(second=0, microsecond=0) + timedelta(minutes=1))

    async def ticked(self, n: int) -> None:
        """Wait until the task has looked at `n` minutes (for tests: no sleeping)."""
        async with self._ticked:
            await self._ticked.wait_for(lambda: self.ticks >= n)

    async def tick(self) -> None:
        """Post the poems of the day that are due now in this process's servers."""
        now = self.clock.now()
        async with self.service.reads() as s:
            rules = await servers.daily_servers(s)
        candidates = []
        for r in rules:
            guild = self.bot.get_guild(r.guild_id)  # (a server of another process, or one that left: not ours)
            day = due(r, now)
            if guild is not None and not guild.unavailable and day is not None:
                candidates.append((r, guild, day))
        candidates = [(r, guild, day) for r, guild, day in candidates if self._postable(r, guild, day)]
        if not candidates:
            return
        async with self.service.reads() as s:
            posted = await servers.daily_posted(s, [(r.guild_id, day) for r, _, day in candidates])
        for r, guild, day in candidates:
            if (r.guild_id, day) not in posted:
                await self.post(r, guild, day)

    def _postable(self, rules: ServerRules, guild: discord.Guild, day: date) -> bool:
        """Whether the server's channel for the poem of the day is there for the bot to post in
        (if not, said once a day in the log; `/config show` tells the server's admins)."""
        channel = guild.get_channel(rules.daily_channel_id)
        me = guild.me
        if channel is not None and me is not None and channel.permissions_for(me).send_messages:
            return True
        if (rules.guild_id, day) not in self._warned:
            self._warned.add((rules.guild_id, day))
            log.warning(
                "poem of the day for server %s: cannot post in channel %s (gone, or no Send Messages)",
                rules.guild_id,
                rules.daily_channel_id,
            )
        return False

    async def post(self, rules: ServerRules, guild: discord.Guild, day: date) -> bool:
        """Claim the server's poem of `day` and post it: whether this process posted it."""
        token = secrets.token_hex(6)
        async with self.service.sessions.begin() as s:
            if not await servers.claim_daily(s, rules.guild_id, day, token):
                return False  # another process's, or posted already
        try:
            done = await self._post(rules, guild, day)
        except Transient as e:
            log.warning("poem of the day for server %s: %s; trying again in a minute", rules.guild_id, e)
            async with self.service.sessions.begin() as s:
                await servers.release_daily(s, rules.guild_id, day, token)
            return False
        except Exception:
            log.exception("poem of the day for server %s failed; not tried again today", rules.guild_id)
            done = {"kind": "failed"}
        async with self.service.sessions.begin() as s:
            await servers.finish_daily(s, rules.guild_id, day, token, **done)
        return done["kind"] != "failed"

    async def _post(self, rules: ServerRules, guild: discord.Guild, day: date) -> dict:
        if not self._postable(rules, guild, day):  # (gone since the tick looked)
            raise Transient("its channel is not there")
        channel = guild.get_channel(rules.daily_channel_id)
        CHOSEN.set((None, rules.language))  # the server's language: its default, else its preferred locale
        language = reader_language(guild)
        LANGUAGE.set(language)
        LOCALE_SCRIPT.set(script_for_locale(language))
        script = LOCALE_SCRIPT.get()
        best = await self._best(rules, day)
        if best is not None:
            poem, ranked = best
            shown = show(poem, script, cards=False)
            header = t("The week's best rated poem here, by {author}:", author=f"<@{poem.user_id}>") + tn(
                "{mean}★ from {n} rating.", "{mean}★ from {n} ratings.", ranked.count, mean=f"{ranked.mean:.2f}"
            )
            message = {"embed": poem_embed(shown), "view": poem_view(shown, reroll=False)}
            kind = "best"
        else:
            term, subject = solar_term(day, rules.zone)
            shown = await self._write(rules, channel, day, subject, term, script)
            scripted = simplified if script == "simplified" else str
            header = t(
                "Poem of the day, {day}: {term}, on {subject}.",
                day=day.isoformat(),
                term=scripted(term),
                subject=scripted(subject),
            )
            message = await poem_message(self.bot, shown)
            kind = "season"
        content = worded(self.bot, render(header), message)
        try:
            msg = await channel.send(content, **message)
        except discord.Forbidden:  # no Attach Files there: the poem's text alone
            if "file" not in message:
                raise
            message.pop("file")
            message["embed"].set_image(url=None)
            msg = await channel.send(content, **message)
        if kind == "season":  # (the week's best keeps its own message)
            await self.service.attach_message([shown.id], channel.id, msg.id)
        return {"kind": kind, "poem_id": shown.id, "channel_id": channel.id, "message_id": msg.id}

    async def _best(self, rules: ServerRules, day: date):
        if day.weekday() != BEST_WEEKDAY:
            return None
        async with self.service.reads() as s:
            since = await repo.database_now(s) - WEEK
            ranked = await repo.best_since(s, rules.guild_id, since, servers.featured())
        return (ranked.poem, ranked) if ranked is not None else None

    async def _write(self, rules: ServerRules, channel, day: date, subject: str, term: str, script: str):
        """The day's poem on `subject` (saved as the bot's, in the server), through the worker."""
        seed = seed_of(rules.guild_id, day)
        request = {"subject": [subject]}
        try:
            try:
                reply = await self.service.worker.sample(SampleRequest(seed=seed, form=FORM, **request))
            except WorkerBadRequest:  # a subject this model does not take: a poem without one
                log.warning("the model refused the subject %s of %s; writing without it", subject, term)
                request = {}
                reply = await self.service.worker.sample(SampleRequest(seed=seed, form=FORM))
        except (WorkerUnavailable, WorkerBusy) as e:
            raise Transient(e) from e
        p = reply.poems[0]
        async with self.service.saving(self.bot.user.id) as s:  # (the service's save path; the bot's poem: no job)
            poem, _ = await self.service.save(
                s,
                reply,
                p,
                {**request, "daily": term},
                form=FORM,
                kind="written",
                seed=p.seed,
                user_id=self.bot.user.id,
                guild_id=rules.guild_id,
                channel_id=channel.id,
            )
        return show(poem, script, cards=rules.cards)
