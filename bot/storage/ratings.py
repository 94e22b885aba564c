"""Ratings and what they rank: a member's stars on a poem (`rate`), a poem's summary, and the
leaderboard of a place by Bayesian average (`top_poems`, and `best_since` for the poem of the
week).

Every function takes the session; the caller owns the transaction. A board pools the poems
`written_here` (`bot/storage/visibility.py`), so no poem reaches a board of another place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from .dialects import insert_for
from .errors import InvalidStars, UnknownPoem
from .models import Poem, Rating, utcnow
from .poems import existing, get_poem
from .visibility import Viewer, written_here

PRIOR_VOTES = 5  # the Bayesian average acts as if every poem had this many votes ...
DEFAULT_PRIOR_MEAN = 3.0  # ... at the server's mean rating (this one when it has none)


async def rate(session: AsyncSession, poem_id: int, viewer: Viewer, stars: int) -> None:
    """The viewer rates a poem they can see; rating it again replaces the earlier stars."""
    if isinstance(stars, bool) or not isinstance(stars, int) or not 1 <= stars <= 5:
        raise InvalidStars(stars)
    await get_poem(session, poem_id, viewer)
    now = utcnow()
    stmt = insert_for(session)(Rating).values(
        poem_id=poem_id, user_id=viewer.user_id, stars=stars, created_at=now, updated_at=now
    )
    stmt = stmt.on_conflict_do_update(index_elements=["poem_id", "user_id"], set_={"stars": stars, "updated_at": now})
    try:
        async with session.begin_nested():
            await session.execute(stmt)
    except IntegrityError:  # the poem was deleted meanwhile (its owner's !forgetme)
        raise UnknownPoem(poem_id) from None


async def count_ratings(session: AsyncSession) -> int:
    return (await session.execute(select(func.count(Rating.id)))).scalar_one()


@dataclass
class RatingSummary:
    count: int
    mean: float | None
    score: float  # the Bayesian average that orders the leaderboard


@dataclass(kw_only=True)
class Ranked(RatingSummary):
    poem: Poem


async def _prior_mean(session: AsyncSession, viewer: Viewer) -> float:
    stmt = select(func.avg(Rating.stars)).join(Poem, Poem.id == Rating.poem_id).where(written_here(viewer))
    mean = (await session.execute(stmt)).scalar()
    return float(mean) if mean is not None else DEFAULT_PRIOR_MEAN


def bayesian(count, total, prior_mean: float, prior_votes: int = PRIOR_VOTES):
    """(C * m + sum of stars) / (C + n): few votes stay near the server's mean m. On numbers,
    or on SQL expressions (the leaderboard orders by it in the query)."""
    return (prior_votes * prior_mean + total) / (prior_votes + count)


async def rating_summary(session: AsyncSession, poem_id: int) -> RatingSummary:
    """A poem's ratings, its score on the board of the place it was written (the caller has
    looked it up as its viewer)."""
    poem = await existing(session, poem_id)
    count, total = (
        await session.execute(
            select(func.count(Rating.id), func.coalesce(func.sum(Rating.stars), 0)).where(Rating.poem_id == poem_id)
        )
    ).one()
    prior = await _prior_mean(session, Viewer(poem.user_id, poem.guild_id))
    return RatingSummary(count, (total / count) if count else None, bayesian(count, total, prior))


def _ranking(prior: float, *where):
    """The rated poems that meet `where`, each with its votes' count, their sum and its score,
    best first (ties: more votes, then older); with the count and sum, to hold them to more."""
    count, total = func.count(Rating.id), func.sum(Rating.stars)
    score = bayesian(count, total, prior)
    stmt = select(Poem, count, total, score).join(Rating, Rating.poem_id == Poem.id).where(*where)
    return stmt.group_by(Poem.id).order_by(score.desc(), count.desc(), Poem.id), count, total


def _ranked(row) -> Ranked:
    poem, count, total, score = row
    return Ranked(count=count, mean=total / count, score=float(score), poem=poem)


async def top_poems(session: AsyncSession, viewer: Viewer, limit: int = 10) -> list[Ranked]:
    """The best rated poems of the viewer's server by Bayesian average (ties: more votes, then
    older); in direct messages, the viewer's own written there."""
    stmt, _, _ = _ranking(await _prior_mean(session, viewer), written_here(viewer))
    return [_ranked(row) for row in (await session.execute(stmt.limit(limit))).all()]


async def best_since(session: AsyncSession, guild_id: int, since: datetime, leave_out) -> Ranked | None:
    """The server's best rated poem written since `since` (by its Bayesian average, as the
    leaderboard ranks), of those rated 4 stars or more on average and not in `leave_out` (a
    select of poem ids); None if there is none."""
    viewer = Viewer(0, guild_id)
    where = (written_here(viewer), Poem.created_at >= since, Poem.id.not_in(leave_out))
    stmt, count, total = _ranking(await _prior_mean(session, viewer), *where)
    row = (await session.execute(stmt.having(total >= 4 * count).limit(1))).first()
    return None if row is None else _ranked(row)
