"""What the bot does, without Discord: write, blend, rate, favourite, rank, forget.

The cogs parse a command (bot/parsing.py), call this service and format its
reply; this module holds the rules (cooldowns, the bound on work in flight)
and talks to the worker and storage.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import random
import secrets
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass

import logging

import opencc
from sqlalchemy.ext.asyncio import async_sessionmaker

from model.contract import (  # torch-free
    BlendRequest,
    PoemsReply,
    RewriteRequest,
    SampleRequest,
    VaryRequest,
)
from model import metre  # torch-free: the Pingshui tables and the text rules
from model.text import form_of, punctuated, simplified, split_lines  # torch-free: a poem's text rules

from .i18n import Text, Words, t, tn
from .metrics import Metrics
from .limits import MAX_SHOWN_STEPS, MAX_TOP, MIN_SHOWN_STEPS
from .parsing import POEM_REF, UserError, parse_poem_id, parse_script, why_unreadable
from .replies import echo, normalise, refusal
from .settings import Settings
from .storage import repo
from .storage import settings as servers
from .storage.db import read_sessions
from .storage.models import Poem
from .storage.repo import Viewer
from .storage.settings import ServerRules
from .worker_client import WorkerBadRequest, WorkerBusy, WorkerClient


@functools.cache
def _to_traditional():
    """The converter for what a reader typed in simplified characters (phrase by phrase)."""
    return opencc.OpenCC("s2t")


log = logging.getLogger("poembot.bot.service")


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
    def __init__(self, retry_after: float):
        self.retry_after = retry_after
        super().__init__(t("I'm busy writing other poems; try again in {s} s.", s=max(1, round(retry_after))))


# The script a user who never chose one sees: what their Discord client's language
# suggests (set by the bot for the command or button being handled; see `script_for_locale`).
LOCALE_SCRIPT: contextvars.ContextVar[str] = contextvars.ContextVar("locale_script", default="traditional")


def script_for_locale(locale: str | None) -> str:
    """zh-CN reads simplified characters; zh-TW (and zh-HK) and everyone else traditional."""
    return "simplified" if locale in ("zh-CN", "zh-SG") else "traditional"


FAVOURITES_USED = 25  # `!poem fav` draws between the newest this many favourites


@dataclass
class ShownPoem:
    """A saved poem as a user sees it."""

    id: int
    form: int
    text: str  # as stored: traditional, unpunctuated
    lines: list[str]  # in the reader's script, with punctuation
    seed: int | None
    model_version: str
    origin: Words | None = None  # where it came from, for its footer
    script: str = "traditional"  # the reader's script, which `lines` are in
    cards: bool = True  # whether the reader takes poem cards with new poems
    again: bool = False  # asked for again: the reader's poem saved before, not a new one


PAGE = 10  # poems on a page of `!favs` and `!mine`


@dataclass
class Page:
    poems: list[ShownPoem]
    page: int  # from 0
    pages: int  # at least 1
    total: int  # poems on every page


def _ref(poem_id: int | None, was: int | None = None) -> Text:
    """A poem on a footer: `#12`; a saved poem since deleted (`was` its id, or -1 when
    not known); else a text typed in."""
    if poem_id:
        return t("#{id}", id=poem_id)
    return t("a text") if was is None else t("#{id} (deleted)", id=was) if was > 0 else t("a deleted poem")


def _as_in(text: str, word: str) -> str:
    """`word` (a subject word, in either script) as `text` (a poem, traditional) writes it: the
    same characters in the poem, else the word in traditional characters."""
    folded = simplified(word)
    for i in range(len(text) - len(word) + 1):
        if simplified(text[i : i + len(word)]) == folded:
            return text[i : i + len(word)]
    return _to_traditional().convert(word)


def _origin(poem: Poem, script: str = "traditional") -> Text:
    """Where a poem came from, for its footer: from its kind and that kind's inputs, in the
    reader's script (a subject typed 风 under a poem that shows 風 reads 風)."""
    options = poem.options or {}
    if poem.kind == "written":
        scripted = simplified if script == "simplified" else str
        if options.get("subject"):
            subject = scripted(" ".join(_as_in(poem.text, w) for w in options["subject"]))
            return t("on {subject}, seed {seed}", subject=subject, seed=poem.seed)
        if options.get("acrostic"):  # (the heads are the lines' first characters: the contract checks it)
            heads = "".join(line[0] for line in split_lines(poem.text, poem.form))
            return t("藏頭 {heads}, seed {seed}", heads=scripted(heads), seed=poem.seed)
        return t("seed {seed}", seed=poem.seed)
    if poem.kind == "rewrite":
        line, parent = options.get("rewritten_line"), _ref(poem.parent_a_id, -1)
        return t("line {line} rewritten from {parent}", line=line, parent=parent)
    if poem.kind == "variation":
        return t("variation of {parent}", parent=_ref(poem.parent_a_id, -1))
    if poem.kind == "favourites":
        between = [_ref(p) for p in dict.fromkeys((poem.parent_a_id, poem.parent_b_id)) if p]
        if len(between) == 2:
            return t("from favourites {a} and {b}, seed {seed}", a=between[0], b=between[1], seed=poem.seed)
        if between:
            return t("from favourites {a}, seed {seed}", a=between[0], seed=poem.seed)
        return t("from favourites (since deleted), seed {seed}", seed=poem.seed)
    ends = options.get("ends") or [None, None]  # a blend: which ends were saved poems
    a, b = _ref(poem.parent_a_id, ends[0]), _ref(poem.parent_b_id, ends[1])
    return t("blend of {a} and {b}", a=a, b=b)


def show(poem: Poem, script: str = "traditional", cards: bool = True) -> ShownPoem:
    text = simplified(poem.text) if script == "simplified" else poem.text
    f = poem.form
    lines = punctuated(split_lines(text, f))
    return ShownPoem(
        id=poem.id,
        form=f,
        text=poem.text,
        lines=lines,
        seed=poem.seed,
        model_version=poem.model_version,
        origin=_origin(poem, script),
        script=script,
        cards=cards,
    )


@dataclass
class Blend:
    path: list[ShownPoem]  # from a to b, both ends included
    created: list[int]  # ids of the poems written for this blend


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


class PoemService:
    def __init__(
        self, sessions: async_sessionmaker, worker: WorkerClient, settings: Settings, metrics: Metrics | None = None
    ):
        self.metrics = metrics or Metrics()
        self.sessions = sessions  # transactions that write
        self.reads = read_sessions(sessions)  # and those that only read
        self.worker = worker
        self.settings = settings
        self.poem_cooldown = Cooldowns(settings.poem_cooldown_s, "poem", sessions)
        self.blend_cooldown = Cooldowns(settings.blend_cooldown_s, "blend", sessions)
        self.in_flight = 0
        self._recent_latency = 1.0  # seconds one job took lately, for "try again in N s"

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
        the job's work ends it first (`_keep`). A job that fails ends its mark and is not
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

    @staticmethod
    async def _keep(s, user_id: int, job: str) -> None:
        """First in the transaction that saves a job's work: end the job's mark; if it is gone,
        the user's `!forgetme` came meanwhile, and nothing is saved."""
        if not await repo.end_job(s, user_id, job):
            raise ForgottenMeanwhile()

    async def _script(self, s, user_id: int) -> str:
        """The reader's script: their choice, else what their client's language suggests."""
        return (await repo.preferences(s, user_id, LOCALE_SCRIPT.get()))[0]

    async def _save_written(
        self,
        reply: PoemsReply,
        job: str,
        user_id: int,
        guild_id: int | None,
        channel_id: int | None,
        form: int,
        kind: str,
        seed: int | None,
        noted: dict | None = None,
        **parents,
    ) -> ShownPoem:
        """Save the one poem the worker wrote for `job` (its options, and `noted` beside them)
        and show it to the user who asked, with their script and card setting."""
        p = reply.poems[0]
        async with self.sessions.begin() as s:
            await self._keep(s, user_id, job)
            fields = dict(
                form=form,
                text=p.text,
                latent=p.latent,
                kind=kind,
                seed=seed,
                options={**reply.options, **(noted or {})},
                model_version=reply.model,
                user_id=user_id,
                guild_id=guild_id,
                channel_id=channel_id,
                **parents,
            )
            again = await repo.repeat_of(s, **fields)  # asked for twice here (`!poem 42` again): shown again
            poem = again or await repo.create_poem(s, **fields)
            cards = await servers.server_cards(s, guild_id) if guild_id is not None else True
            shown = show(poem, *await repo.preferences(s, user_id, LOCALE_SCRIPT.get(), cards))
            shown.again = again is not None
            return shown

    async def write(
        self,
        user_id: int,
        guild_id: int | None,
        channel_id: int | None,
        seed: int | None = None,
        form: int = 5,
        subject: list[str] | None = None,
        acrostic: str | None = None,
    ) -> ShownPoem:
        """Write (and save) one poem, on a subject or as an acrostic if asked; the same seed,
        form and request always give the same poem."""
        request = {k: v for k, v in (("subject", subject), ("acrostic", acrostic)) if v}
        async with self._job(self.poem_cooldown, user_id, t("I cannot write that poem: {why}"), guild_id) as job:
            reply = await self.worker.sample(SampleRequest(seed=seed, form=form, **request))
        return await self._save_written(
            reply, job, user_id, guild_id, channel_id, form, "written", reply.poems[0].seed, noted=request
        )

    async def rewrite(
        self, user_id: int, guild_id: int | None, channel_id: int | None, poem_id: int, line: int
    ) -> ShownPoem:
        """Write (and save) a saved poem again with one line new, the other three kept."""
        if not 1 <= line <= 4:
            raise UserError(t("A quatrain's lines are numbered 1 to 4."))
        async with self.reads() as s:
            parent = await repo.get_poem(s, poem_id, Viewer(user_id, guild_id))
        refused = t("Line {line} of poem #{id} cannot be rewritten: {why}", line=line, id=parent.id)
        async with self._job(self.poem_cooldown, user_id, refused, guild_id) as job:
            reply = await self.worker.rewrite(RewriteRequest(text=parent.text, form=parent.form, line=line))
        return await self._save_written(
            reply,
            job,
            user_id,
            guild_id,
            channel_id,
            parent.form,
            "rewrite",
            reply.seed,
            noted={"rewritten_line": line},
            parent_a_id=parent.id,
        )

    async def from_favourites(
        self,
        user_id: int,
        guild_id: int | None,
        channel_id: int | None,
        seed: int | None = None,
        form: int | None = None,
    ) -> ShownPoem:
        """Write (and save) a poem between two of the user's favourites (of `form`, when
        asked for): a seeded choice of two (of one form) and of a point on the path between
        them, then a poem near that point. With one favourite, a poem near it. The same seed
        and the same favourites always give the same poem."""
        seed = secrets.randbelow(2**31) if seed is None else seed
        viewer = Viewer(user_id, guild_id)
        async with self.reads() as s:
            here = await repo.list_favourites(s, viewer, FAVOURITES_USED, form=form)
            others = not here and form is not None and await repo.count_favourites(s, viewer)
        favourites = sorted(here, key=lambda p: p.id)
        if others:
            none = (
                t("None of your favourites here is a 7-character poem.")
                if form == 7
                else t("None of your favourites here is a 5-character poem.")
            )
            raise UserError(none + t("`!poem fav` without a form writes between the ones you have."))
        if not favourites:
            raise UserError(
                t("You have no favourites yet.")
                + t(
                    "Press ♥ under a poem you like (or type `!fav <id>`), then `!poem fav` writes new poems "
                    "between your favourites."
                )
            )
        rng = random.Random(seed)
        a = rng.choice(favourites)
        others = [p for p in favourites if p.form == a.form and p.id != a.id]
        b = rng.choice(others) if others else a
        share = round(rng.random(), 4) if b is not a else 0.0
        refused = t("Your favourites #{a} and #{b} cannot be blended: {why}", a=a.id, b=b.id)
        async with self._job(self.poem_cooldown, user_id, refused, guild_id) as job:
            reply = await self.worker.vary(VaryRequest(text=a.text, towards=b.text, t=share, form=a.form, seed=seed))
        return await self._save_written(
            reply,
            job,
            user_id,
            guild_id,
            channel_id,
            a.form,
            "favourites",
            seed,
            noted={"t": share},
            parent_a_id=a.id,
            parent_b_id=b.id if b is not a else None,
            blend_position=share,
        )

    async def vary(self, user_id: int, guild_id: int | None, channel_id: int | None, poem_id: int) -> ShownPoem:
        """Write (and save) a poem near a saved one: its latent, a few characters changed."""
        async with self.reads() as s:
            parent = await repo.get_poem(s, poem_id, Viewer(user_id, guild_id))
        async with self._job(
            self.poem_cooldown, user_id, t("Poem #{id} cannot be varied: {why}", id=parent.id), guild_id
        ) as job:
            reply = await self.worker.vary(VaryRequest(text=parent.text, form=parent.form))
        return await self._save_written(
            reply, job, user_id, guild_id, channel_id, parent.form, "variation", reply.seed, parent_a_id=parent.id
        )

    async def _blend_end(self, s, viewer: Viewer, ref: str) -> tuple[object, int | None, int]:
        """A blend end: (poem text, saved poem's id or None, form). A saved poem is
        blended from its text (the model encodes it), not from the latent it was
        drawn with, so the path starts at the poem itself under any model version."""
        ref = normalise(ref)
        if POEM_REF.match(ref):
            poem = await repo.get_poem(s, parse_poem_id(ref), viewer)
            return poem.text, poem.id, poem.form
        return ref, None, form_of(ref)

    async def blend(
        self, user_id: int, guild_id: int | None, channel_id: int | None, a: str | None, b: str | None, steps: int = 5
    ) -> Blend:
        """The poems on the way from a to b (ids or texts; none: your two newest favourites).

        A saved poem at an end is shown as itself; every step written on the way
        (and an end given as text, as the model reads it) is saved as a new poem.
        """
        if not MIN_SHOWN_STEPS <= steps <= MAX_SHOWN_STEPS:
            raise UserError(t("A blend takes {a} to {b} steps.", a=MIN_SHOWN_STEPS, b=MAX_SHOWN_STEPS))
        if (a is None) != (b is None):
            raise UserError(t("Blend two poems: `!blend <a> <b>`, or `!blend` alone for your two newest favourites."))
        viewer = Viewer(user_id, guild_id)
        async with self.reads() as s:
            if a is None:
                fa, fb = await repo.latest_favourites(s, viewer, 2)
                a, b = str(fa.id), str(fb.id)
            end_a, id_a, form_a = await self._blend_end(s, viewer, a)
            end_b, id_b, form_b = await self._blend_end(s, viewer, b)
        if form_a != form_b:
            raise UserError(t("Both poems must have the same form (5 or 7 characters a line)."))
        async with self._job(self.blend_cooldown, user_id, t("That is not a poem I can blend: {why}"), guild_id) as job:
            reply = await self.worker.blend(BlendRequest(a=end_a, b=end_b, steps=steps, form=form_a))
        path, created = [], []
        async with self.sessions.begin() as s:
            await self._keep(s, user_id, job)
            for i, p in enumerate(reply.poems):
                end_id = id_a if i == 0 else id_b if i == steps - 1 else None
                if end_id is not None:
                    path.append(await repo.get_poem(s, end_id, viewer))
                    continue
                if path and p.text == path[-1].text:  # a step that repeats the one before is that poem
                    path.append(path[-1])
                    continue
                poem = await repo.create_poem(
                    s,
                    form=form_a,
                    text=p.text,
                    latent=p.latent,
                    kind="blend",
                    seed=reply.seed,
                    options={**reply.options, "method": reply.method, "ends": [id_a, id_b]},
                    model_version=reply.model,
                    user_id=user_id,
                    guild_id=guild_id,
                    channel_id=channel_id,
                    parent_a_id=id_a,
                    parent_b_id=id_b,
                    blend_position=i / (steps - 1),
                )
                path.append(poem)
                created.append(poem.id)
            script = await self._script(s, user_id)
        return Blend(path=[show(p, script) for p in path], created=created)

    async def attach_message(self, poem_ids: list[int], channel_id: int | None, message_id: int | None) -> None:
        async with self.sessions.begin() as s:
            await repo.set_message(s, poem_ids, channel_id, message_id)

    async def rate(self, viewer: Viewer, poem_id: int, stars: int) -> repo.RatingSummary:
        async with self.sessions.begin() as s:
            await repo.rate(s, poem_id, viewer, stars)
            return await repo.rating_summary(s, poem_id)

    async def favourite(self, viewer: Viewer, poem_id: int) -> None:
        async with self.sessions.begin() as s:
            await repo.add_favourite(s, viewer, poem_id)

    async def unfavourite(self, viewer: Viewer, poem_id: int) -> None:
        async with self.sessions.begin() as s:
            await repo.remove_favourite(s, viewer, poem_id)

    async def favourites(self, viewer: Viewer, limit: int = 10) -> list[ShownPoem]:
        """The viewer's newest favourites that can be seen where they ask (`repo.visible_to`)."""
        async with self.reads() as s:
            script = await self._script(s, viewer.user_id)
            return [show(p, script) for p in await repo.list_favourites(s, viewer, limit)]

    async def favourite_count(self, viewer: Viewer) -> int:
        async with self.reads() as s:
            return await repo.count_favourites(s, viewer)

    async def suggestions(self, viewer: Viewer, typed: str = "", limit: int = 25) -> list[ShownPoem]:
        """Poem ids to offer as a user types one: their favourites seen here, then their
        newest poems, whose id starts with what they typed."""
        async with self.reads() as s:
            script = await self._script(s, viewer.user_id)
            poems = await repo.list_favourites(s, viewer, 100) + await repo.recent_poems(s, viewer.user_id, 100)
        unique = {p.id: p for p in poems}.values()
        return [show(p, script) for p in unique if str(p.id).startswith(normalise(typed))][:limit]

    async def top(self, viewer: Viewer, n: int = 5) -> list[tuple[ShownPoem, repo.Ranked]]:
        if not 1 <= n <= MAX_TOP:
            raise UserError(t("The leaderboard shows 1 to {n} poems.", n=MAX_TOP))
        async with self.reads() as s:
            script = await self._script(s, viewer.user_id)
            return [(show(r.poem, script), r) for r in await repo.top_poems(s, viewer, n)]

    async def get(self, viewer: Viewer, poem_id: int) -> tuple[ShownPoem, repo.RatingSummary]:
        async with self.reads() as s:
            poem = await repo.get_poem(s, poem_id, viewer)
            return show(poem, await self._script(s, viewer.user_id)), await repo.rating_summary(s, poem_id)

    async def set_script(self, user_id: int, script: str) -> str:
        script = parse_script(script)
        async with self.sessions.begin() as s:
            await repo.set_script(s, user_id, script)
        return script

    async def others_on_my_poems(self, user_id: int) -> tuple[int, int]:
        async with self.reads() as s:
            return await repo.others_on_poems_of(s, user_id)

    async def set_cards(self, user_id: int, setting: str) -> bool:
        on = {"on": True, "off": False}.get(normalise(setting).lower())
        if on is None:
            raise UserError(t("Cards are on or off.") + why_unreadable(setting))
        async with self.sessions.begin() as s:
            await repo.set_cards(s, user_id, on)
        return on

    async def forget(self, user_id: int) -> repo.Forgotten:
        async with self.sessions.begin() as s:
            return await repo.forget_user(s, user_id)

    # -- a member's own: their lists a page at a time, deleting a poem, 格律 (bot/members.py) ----
    async def page(self, viewer: Viewer, what: str, page: int = 0, size: int = PAGE) -> Page:
        """Page `page` (from 0) of the viewer's favourites seen here (`what` "favs") or of their
        own poems written here ("mine"), newest first; past the last page, the last."""
        listed, counted = {
            "favs": (repo.list_favourites, repo.count_favourites),
            "mine": (repo.list_mine, repo.count_mine),
        }[what]
        async with self.reads() as s:
            total = await counted(s, viewer)
            pages = max(1, -(-total // size))
            page = min(max(page, 0), pages - 1)
            poems = await listed(s, viewer, size, offset=page * size)
            script = await self._script(s, viewer.user_id)
        return Page([show(p, script) for p in poems], page, pages, total)

    async def deletion(self, viewer: Viewer, poem_id: int) -> tuple[ShownPoem, int, int]:
        """What `!delete` asks about: the viewer's own poem (`repo.own_poem`), and the ratings and
        favourites other people gave it, which go with it."""
        async with self.reads() as s:
            poem = await repo.own_poem(s, viewer, poem_id)
            rated, kept = await repo.others_on_poem(s, poem_id, viewer.user_id)
            return show(poem, await self._script(s, viewer.user_id)), rated, kept

    async def delete(self, viewer: Viewer, poem_id: int) -> repo.Forgotten:
        """Delete one of the viewer's poems, with its ratings and favourites (`repo.delete_poem`)."""
        async with self.sessions.begin() as s:
            return await repo.delete_poem(s, viewer, poem_id)

    async def metre(self, viewer: Viewer, poem: str) -> tuple[metre.Metre, str]:
        """格律: a typed quatrain (or a saved poem the viewer can see, by its id) held to the
        regulated patterns (`model.metre`), and the reader's script."""
        typed = normalise(poem)
        async with self.reads() as s:
            script = await self._script(s, viewer.user_id)
            if POEM_REF.match(typed):  # a saved poem, shown in the reader's script
                typed = (await repo.get_poem(s, parse_poem_id(typed), viewer)).text
                typed = simplified(typed) if script == "simplified" else typed
        try:
            return await asyncio.to_thread(metre.check, typed), script  # (the tables load once: not on the loop)
        except metre.NotAQuatrain as e:
            raise UserError(_not_a_quatrain(e)) from None


def _not_a_quatrain(e: metre.NotAQuatrain) -> Words:
    """Why a text `!check` was given is not a quatrain, in words."""
    lead = t("`!check` reads a quatrain: 4 lines of 5 or 7 Chinese characters, punctuated or not.")
    if e.others:
        which = echo("、".join(e.others[:10]), 30)
        return lead + tn(
            "This has a character that is not Chinese: {which}.",
            "This has characters that are not Chinese: {which}.",
            len(e.others),
            which=which,
        )
    if 1 < len(e.lengths) <= 8:  # (a list one reads at a glance; else the count says it)
        return lead + t("Its lines have {lengths} characters.", lengths="、".join(map(str, e.lengths)))
    return lead + tn("This has {n} Chinese character.", "This has {n} Chinese characters.", e.count)
