"""What the bot does, without Discord: write, blend, rate, favourite, rank, forget.

The cogs parse a command (bot/parsing.py), call `PoemService` and format what it returns
(plain data, bot/shown.py). This module holds the jobs on the worker: a poem written
(`write`), rewritten, varied, written between favourites, and a blend. Each runs inside
`async with self._job(...)` around its one worker call (`await self.worker.sample(...)`),
and saves what came back through the one save path, `saving` and `save`. The service's
other parts are rooms of their own, mixed into the class here:

- bot/jobs.py (`Jobs`): the rules around a job: cooldowns, the server's daily cap, the
  bound on work in flight, the job's mark, the save path, and the errors they raise;
- bot/library.py (`Library`): the saved poems read and kept: ratings, favourites, `!top`,
  pages, deletion, 格律, a reader's script and cards, `!forgetme`.
"""

from __future__ import annotations

import random
import secrets

from sqlalchemy.ext.asyncio import async_sessionmaker

from model.contract import (  # torch-free
    BlendRequest,
    PoemsReply,
    RewriteRequest,
    SampleRequest,
    VaryRequest,
)
from model.text import form_of  # torch-free: a poem's text rules

from .i18n import t
from .jobs import Cooldowns, Jobs
from .library import Library
from .limits import MAX_SHOWN_STEPS, MIN_SHOWN_STEPS
from .metrics import Metrics
from .parsing import POEM_REF, UserError, parse_poem_id
from .replies import normalise
from .settings import Settings
from .shown import LOCALE_SCRIPT, Blend, ShownPoem, show
from .storage import repo
from .storage import settings as servers
from .storage.db import read_sessions
from .storage.repo import Viewer
from .worker_client import WorkerClient

FAVOURITES_USED = 25  # `!poem fav` draws between the newest this many favourites


class PoemService(Jobs, Library):
    """What the bot does for a user, given their ids (user, server, channel), in plain data."""

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
        async with self.saving(user_id, job) as s:
            poem, again = await self.save(
                s,
                reply,
                reply.poems[0],
                noted,
                again=True,
                form=form,
                kind=kind,
                seed=seed,
                user_id=user_id,
                guild_id=guild_id,
                channel_id=channel_id,
                **parents,
            )
            cards = await servers.server_cards(s, guild_id) if guild_id is not None else True
            shown = show(poem, *await repo.preferences(s, user_id, LOCALE_SCRIPT.get(), cards))
            shown.again = again
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
        async with self.saving(user_id, job) as s:
            for i, p in enumerate(reply.poems):
                end_id = id_a if i == 0 else id_b if i == steps - 1 else None
                if end_id is not None:
                    path.append(await repo.get_poem(s, end_id, viewer))
                    continue
                if path and p.text == path[-1].text:  # a step that repeats the one before is that poem
                    path.append(path[-1])
                    continue
                poem, _ = await self.save(
                    s,
                    reply,
                    p,
                    {"method": reply.method, "ends": [id_a, id_b]},
                    form=form_a,
                    kind="blend",
                    seed=reply.seed,
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
