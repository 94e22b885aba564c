"""A user's job on the worker, from its admission to its save: the rules around model work.

Before the worker: the user's cooldown (`Cooldowns`, kept in the database so every bot process
agrees), their server's daily cap, and the bound on jobs in flight (`admit`, `_job`); a job
that fails or is refused gives back what it took. After it: the one save path (`saving`, then
`save` a poem at a time). Every poem the bot saves goes through it, a user's or the bot's own
(the poem of the day), so what holds at a save holds for all: a job's mark ends first (a
`!forgetme` meanwhile saves nothing), and a poem is kept with who asked for it and where,
which decides who sees it (`repo.visible_to`).

`Jobs` is a part of `PoemService` (bot/service.py), which holds its state. The errors here
are the user's (`UserError`), worded for them.
"""

from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import async_sessionmaker

from model.contract import PoemsReply, WrittenPoem  # torch-free

from .i18n import Text, t, tn
from .metrics import Metrics
from .parsing import UserError
from .replies import refusal
from .settings import Settings
from .storage import repo
from .storage import settings as servers
from .storage.db import read_sessions
from .storage.models import Poem
from .storage.settings import ServerRules
from .worker_client import WorkerBadRequest, WorkerBusy

log = logging.getLogger("poembot.bot.service")  # (the service's log: a job is its part)


class OnCooldown(UserError):
    """The user's cooldown for `action` ("poem" or "blend") runs `retry_after` seconds more."""

    def __init__(self, action: str, retry_after: float):
        self.retry_after = retry_after
        s = max(1, round(retry_after))
        if action == "blend":
            super().__init__(t("Easy, poet: you can blend again in {s} s.", s=s))
        else:
            super().__init__(t("Easy, poet: you can write a poem again in {s} s.", s=s))


class DailyCap(UserError):
    """The member has asked for their server's daily cap of poems today (its day, in its time
    zone): more tomorrow."""

    def __init__(self, rules: ServerRules):
        self.cap = rules.daily_cap
        super().__init__(
            tn(
                "You have had {n} poem here today, this server's limit: more after midnight ({zone}).",
                "You have had {n} poems here today, this server's limit: more after midnight ({zone}).",
                rules.daily_cap,
                zone=rules.timezone,
            )
        )


class ForgottenMeanwhile(UserError):
    """The user's `!forgetme` came while their poem was being written: it is not saved."""

    def __init__(self):
        super().__init__(t("Your `!forgetme` came while this was being written, so it was not saved."))


class Refused(UserError):
    """The model cannot write what was asked (a character it does not know, a line it cannot
    rewrite): nothing was written, so the cooldown is given back."""


class Busy(UserError):
    """Every worker is full, or this process has as many jobs in flight as it takes: nothing
    was written, so the cooldown is given back; try again in `retry_after` seconds."""

    def __init__(self, retry_after: float):
        self.retry_after = retry_after
        super().__init__(t("I'm busy writing other poems; try again in {s} s.", s=max(1, round(retry_after))))


class Cooldowns:
    """One use of an action per `per_s` seconds per user, kept in the database and timed by
    its clock, so that it holds across every bot process (and restarts) whatever their own
    clocks say. 0 seconds: no cooldown, no database. A server with a cooldown of its own
    (`/config cooldown`) has its own row per user (`poem:<server id>`), timed by its length."""

    def __init__(self, per_s: float, action: str, sessions: async_sessionmaker):
        self.per_s, self.action, self.sessions = per_s, action, sessions
        self.reads = read_sessions(sessions)

    def rule(self, rules: ServerRules | None = None) -> tuple[float, str]:
        """The cooldown's length where the rules apply, and the action its row is kept under."""
        own = rules.cooldown(self.action) if rules is not None else None
        return (self.per_s, self.action) if own is None else (own, f"{self.action}:{rules.guild_id}")

    async def check(self, user_id: int, rules: ServerRules | None = None) -> None:
        """Raise OnCooldown if the user may not go again yet (records nothing)."""
        seconds, action = self.rule(rules)
        if seconds > 0:
            async with self.reads() as s:
                left = await repo.cooldown_left(s, user_id, action, seconds)
            if left > 0:
                raise OnCooldown(self.action, min(left, seconds))

    async def hit(self, user_id: int) -> None:
        """Start the user's cooldown, or raise OnCooldown if one is running."""
        async with self.sessions.begin() as s:
            await self.take(s, user_id)

    async def take(self, s, user_id: int, rules: ServerRules | None = None) -> None:
        """`hit`, in the caller's transaction."""
        seconds, action = self.rule(rules)
        if seconds > 0:
            left = await repo.take_cooldown(s, user_id, action, seconds)
            if left > 0:
                raise OnCooldown(self.action, min(left, seconds))

    async def refund(self, user_id: int) -> None:
        """End the user's cooldown: what they asked for was not done (the workers were busy)."""
        async with self.sessions.begin() as s:
            await self.give_back(s, user_id)

    async def give_back(self, s, user_id: int, rules: ServerRules | None = None) -> None:
        """`refund`, in the caller's transaction."""
        seconds, action = self.rule(rules)
        if seconds > 0:
            await repo.end_cooldown(s, user_id, action)


class Jobs:
    """Model work for users, as a part of `PoemService`, which sets the state it reads."""

    sessions: async_sessionmaker  # transactions that write
    reads: async_sessionmaker  # and those that only read
    settings: Settings
    metrics: Metrics
    poem_cooldown: Cooldowns  # a poem's (write, rewrite, vary, from favourites)
    blend_cooldown: Cooldowns
    in_flight: int  # jobs on the worker now, in this process
    _recent_latency: float  # seconds one job took lately, for "try again in N s"

    async def admit(self, user_id: int, blend: bool = False, guild_id: int | None = None) -> None:
        """Raise now what `_job` would raise (busy, cooldown, the server's daily cap), spending
        nothing: the bot asks before it defers a slash command, so such errors stay private."""
        if self.in_flight >= self.settings.max_in_flight:
            raise Busy(self._recent_latency * 2)
        rules = None
        if guild_id is not None:
            async with self.reads() as s:
                rules = await servers.server_rules(s, guild_id)
                used = await servers.poems_today(s, user_id, rules) if rules.daily_cap is not None else 0
            if rules.daily_cap is not None and used >= rules.daily_cap:
                raise DailyCap(rules)
        await (self.blend_cooldown if blend else self.poem_cooldown).check(user_id, rules)

    @asynccontextmanager
    async def _job(self, cooldown: Cooldowns, user_id: int, refused: Text, guild_id: int | None = None):
        """One model job on the worker, around the worker's call. Bound the model work in
        flight; past the bound, say so instead of queueing. Start the user's cooldown (their
        server's, if it has its own), count the poem against the server's daily cap, and mark
        the job in flight (one transaction), and yield the mark: the transaction that saves
        the job's work ends it first (`saving`). A job that fails ends its mark and is not
        counted; a request the worker refuses is the user's error, worded by `refused` (its
        `{why}` the refusal's words), and it (or busy workers) gives the cooldown back."""
        if self.in_flight >= self.settings.max_in_flight:
            raise Busy(self._recent_latency * 2)
        async with self.sessions.begin() as s:
            rules = await servers.server_rules(s, guild_id) if guild_id is not None else None
            await cooldown.take(s, user_id, rules)
            day = None
            if rules is not None and rules.daily_cap is not None:
                day = await servers.server_day(s, rules)
                if not await servers.count_poem(s, user_id, guild_id, day, rules.daily_cap):
                    raise DailyCap(rules)
            job = await repo.start_job(s, user_id)
        self.in_flight += 1
        self.metrics.in_flight.inc()
        t0 = time.monotonic()
        try:
            yield job
        except Exception as e:
            error = e
            if isinstance(e, WorkerBadRequest):
                log.info("the worker refused a request (%s): %s", e.code, e)
                error = Refused(refused.filled(why=refusal(e.code, e.params)))
            elif isinstance(e, WorkerBusy):  # every worker is full
                error = Busy(e.retry_after)
            async with self.sessions.begin() as s:  # nothing will be saved
                await repo.end_job(s, user_id, job)
                if day is not None:
                    await servers.uncount_poem(s, user_id, guild_id, day)
                if isinstance(error, (Busy, Refused)):  # the user keeps their cooldown unspent
                    await cooldown.give_back(s, user_id, rules)
            if error is not e:
                raise error from None
            raise
        finally:
            self.in_flight -= 1
            self.metrics.in_flight.dec()
            self._recent_latency = 0.8 * self._recent_latency + 0.2 * (time.monotonic() - t0)

    # -- the one save path: every poem the bot saves -------------------------------------------
    @asynccontextmanager
    async def saving(self, user_id: int, job: str | None = None):
        """The transaction that saves what the worker wrote for `user_id`. With a job's mark
        (`_job`), it ends the mark first; if the mark is gone, the user's `!forgetme` came
        meanwhile, and nothing is saved. The bot's own poems (the poem of the day) have none."""
        async with self.sessions.begin() as s:
            if job is not None and not await repo.end_job(s, user_id, job):
                raise ForgottenMeanwhile()
            yield s

    @staticmethod
    async def save(
        s, reply: PoemsReply, p: WrittenPoem, noted: dict | None = None, *, again: bool = False, **fields
    ) -> tuple[Poem, bool]:
        """Save `p`, a poem of the worker's `reply`, in `saving`'s transaction `s`: its text and
        latent, the reply's model and options (`noted` beside them), and `fields`: what it is
        (form, kind, seed, parents) and whose, asked for where (user, server, channel: who sees
        it). With `again`, the same request's poem saved here before is that poem (`!poem 42`
        twice), not a copy. The poem, and whether it was saved before."""
        fields = dict(
            text=p.text,
            latent=p.latent,
            options={**reply.options, **(noted or {})},
            model_version=reply.model,
            **fields,
        )
        before = await repo.repeat_of(s, **fields) if again else None
        return before or await repo.create_poem(s, **fields), before is not None
