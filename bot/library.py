"""The saved poems, read and kept, without the worker: a poem shown again, rated, kept as a
favourite or let go, ranked (`!top`), offered as its id is typed, listed a page at a time
(`!favs`, `!mine`) and deleted; 格律 of a poem (`!check`); a reader's script and cards, and
forgetting a user (`!forgetme`).

`Library` is a part of `PoemService` (bot/service.py), which sets the sessions it reads. Who
can see a poem is storage's one rule (`repo.visible_to`): every lookup here goes through it.
"""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import async_sessionmaker

from model import metre  # torch-free: the Pingshui tables and the text rules
from model.text import simplified  # torch-free: a poem's text rules

from .i18n import Words, t, tn
from .limits import MAX_TOP
from .parsing import POEM_REF, UserError, parse_poem_id, parse_script, why_unreadable
from .replies import echo, normalise
from .shown import LOCALE_SCRIPT, PAGE, Page, ShownPoem, show
from .storage import repo
from .storage.repo import Viewer


class Library:
    """Saved poems read and kept, as a part of `PoemService`, which sets its sessions."""

    sessions: async_sessionmaker  # transactions that write
    reads: async_sessionmaker  # and those that only read

    async def _script(self, s, user_id: int) -> str:
        """The reader's script: their choice, else what their client's language suggests."""
        return (await repo.preferences(s, user_id, LOCALE_SCRIPT.get()))[0]

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
