"""Taking back: one poem deleted (`!delete`), or a member forgotten (`!forgetme`), with what
goes with them (the ratings and favourites others gave their poems). The one place that knows
every table a member's data lives in.

Every function takes the session; the caller owns the transaction. The poems made from a
deleted poem stay, without the link (the database sets it to NULL).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .errors import UnknownPoem
from .models import Cooldown, DailyUse, Favourite, Poem, Rating, UserPreference
from .poems import own_poem
from .visibility import Viewer


@dataclass
class Forgotten:
    poems: int
    ratings: int
    favourites: int


async def others_on_poems_of(session: AsyncSession, user_id: int) -> tuple[int, int]:
    """(ratings, favourites) that other users gave this user's poems: they go with the poems."""

    async def count(model) -> int:
        stmt = (
            select(func.count(model.id))
            .join(Poem, Poem.id == model.poem_id)
            .where(Poem.user_id == user_id, model.user_id != user_id)
        )
        return (await session.execute(stmt)).scalar_one()

    return await count(Rating), await count(Favourite)


async def forget_user(session: AsyncSession, user_id: int) -> Forgotten:
    """Delete everything a user made or said: their poems (with the ratings and
    favourites others gave them), ratings, favourites and preferences; and end their
    jobs in flight, so that nothing they finish is saved (`end_job`)."""
    # the jobs' marks first: a job saving now holds its mark's row, so on PostgreSQL this
    # waits for that save to commit, and the poem it saved is among those deleted below
    await session.execute(delete(Cooldown).where(Cooldown.user_id == user_id))
    ratings = (await session.execute(delete(Rating).where(Rating.user_id == user_id))).rowcount
    favourites = (await session.execute(delete(Favourite).where(Favourite.user_id == user_id))).rowcount
    poems = (await session.execute(delete(Poem).where(Poem.user_id == user_id))).rowcount
    await session.execute(delete(UserPreference).where(UserPreference.user_id == user_id))
    await session.execute(delete(DailyUse).where(DailyUse.user_id == user_id))
    return Forgotten(poems=poems, ratings=ratings, favourites=favourites)


async def others_on_poem(session: AsyncSession, poem_id: int, user_id: int) -> tuple[int, int]:
    """(ratings, favourites) that users other than `user_id` gave a poem: they go with it."""

    async def count(model) -> int:
        stmt = select(func.count(model.id)).where(model.poem_id == poem_id, model.user_id != user_id)
        return (await session.execute(stmt)).scalar_one()

    return await count(Rating), await count(Favourite)


async def delete_poem(session: AsyncSession, viewer: Viewer, poem_id: int) -> Forgotten:
    """Delete one of the viewer's poems (`own_poem`), with its ratings and favourites. The
    poems made from it (rewrites, variations, blends, poems from favourites) stay, without
    the link (the database sets it to NULL), as after `forget_user`; one being made from it
    now is saved without the link (`create_poem`)."""
    await own_poem(session, viewer, poem_id)
    ratings = (await session.execute(delete(Rating).where(Rating.poem_id == poem_id))).rowcount
    favourites = (await session.execute(delete(Favourite).where(Favourite.poem_id == poem_id))).rowcount
    gone = await session.execute(delete(Poem).where(Poem.id == poem_id, Poem.user_id == viewer.user_id))
    if gone.rowcount == 0:  # deleted meanwhile (a second !delete, or !forgetme)
        raise UnknownPoem(poem_id)
    return Forgotten(poems=1, ratings=ratings, favourites=favourites)
