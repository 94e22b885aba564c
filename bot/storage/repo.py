"""What the bot stores and asks: poems, ratings, favourites, preferences.

Every function takes the session; the caller owns the transaction. Bad input
raises a `StorageError` subclass that carries the facts (the bot words them
for users), and is raised before anything is written.
"""

from __future__ import annotations

import secrets
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, extract, func, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from .models import KINDS, Cooldown, DailyUse, Favourite, Poem, Rating, UserPreference, utcnow

PRIOR_VOTES = 5  # the Bayesian average acts as if every poem had this many votes ...
DEFAULT_PRIOR_MEAN = 3.0  # ... at the server's mean rating (this one when it has none)
SCRIPTS = ("traditional", "simplified")
MAX_ID = 2**63 - 1  # a poem's id is a BIGINT (signed 64-bit)


class StorageError(ValueError):
    """A request the data cannot satisfy. It carries the facts (its message is for logs);
    the bot words it for users (`bot.replies.storage_reply`)."""


class UnknownPoem(StorageError):
    def __init__(self, poem_id):
        super().__init__(f"no poem {poem_id}")
        self.poem_id = poem_id


class InvalidStars(StorageError):
    def __init__(self, stars):
        super().__init__(f"stars out of range: {stars!r}"[:80])


class AlreadyFavourite(StorageError):
    def __init__(self, poem_id):
        super().__init__(f"poem {poem_id} is already a favourite")
        self.poem_id = poem_id


class NotFavourite(StorageError):
    def __init__(self, poem_id):
        super().__init__(f"poem {poem_id} is not a favourite")
        self.poem_id = poem_id


class NotEnoughFavourites(StorageError):
    def __init__(self, have: int, need: int):
        super().__init__(f"{have} favourites, {need} needed")
        self.have, self.need = have, need


class InvalidScript(StorageError):
    def __init__(self, script):
        super().__init__(f"unknown script {script!r}"[:80])


class NotYourPoem(StorageError):
    """A poem the viewer can see but did not ask for: only its author may delete it."""

    def __init__(self, poem_id):
        super().__init__(f"poem {poem_id} is not the viewer's")
        self.poem_id = poem_id


class FavouritesOfMixedForms(NotEnoughFavourites):
    """Favourites enough, but not `need` of one form (a blend walks between poems of one form)."""


def pack_latent(values: list[float]) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


def unpack_latent(blob: bytes) -> list[float]:
    return list(struct.unpack(f"<{len(blob) // 4}f", blob))


@dataclass(frozen=True)
class Viewer:
    """Who asks for a poem, and where: a user in a server (`guild_id`), or in their direct
    messages with the bot (`guild_id` None)."""

    user_id: int
    guild_id: int | None


def visible_to(viewer: Viewer):
    """The one rule of who can see a poem, as a condition on `Poem`: a poem can be seen and
    used where it was written (its server; a poem written in direct messages, in its
    author's), and by its author anywhere. Everywhere else it does not exist: a lookup
    answers as for an id never used, so ids leak nothing."""
    if viewer.guild_id is None:  # direct messages: the author's own poems (those written there among them)
        return Poem.user_id == viewer.user_id
    return (Poem.guild_id == viewer.guild_id) | (Poem.user_id == viewer.user_id)


def _check_id(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not (1 <= value <= MAX_ID):
        raise UnknownPoem(value)
    return value


async def create_poem(
    session: AsyncSession,
    *,
    form: int,
    text: str,
    latent: list[float],
    kind: str,
    seed: int | None,
    options: dict,
    model_version: str,
    user_id: int,
    guild_id: int | None = None,
    channel_id: int | None = None,
    message_id: int | None = None,
    parent_a_id: int | None = None,
    parent_b_id: int | None = None,
    blend_position: float | None = None,
) -> Poem:
    if kind not in KINDS:
        raise ValueError(f"a poem's kind is one of {KINDS}, not {kind!r}")

    def new(a: int | None, b: int | None) -> Poem:
        return Poem(
            form=form,
            text=text,
            latent=pack_latent(latent),
            kind=kind,
            seed=seed,
            options=options,
            model_version=model_version,
            user_id=user_id,
            guild_id=guild_id,
            channel_id=channel_id,
            message_id=message_id,
            parent_a_id=a,
            parent_b_id=b,
            blend_position=blend_position,
        )

    try:
        async with session.begin_nested():
            poem = new(parent_a_id, parent_b_id)
            session.add(poem)
            await session.flush()
        return poem
    except IntegrityError:
        if parent_a_id is None and parent_b_id is None:
            raise
    # a parent was deleted while this poem was being written (its owner's !forgetme): the poem
    # the user asked for is saved without the link, rather than lost
    alive = [
        p if p is not None and await session.get(Poem, p, populate_existing=True) is not None else None
        for p in (parent_a_id, parent_b_id)
    ]
    poem = new(*alive)
    session.add(poem)
    await session.flush()
    return poem


async def get_poem(session: AsyncSession, poem_id: int, viewer: Viewer) -> Poem:
    """The poem `viewer` asks for by id; UnknownPoem if there is none they can see."""
    poem = await session.scalar(select(Poem).where(Poem.id == _check_id(poem_id), visible_to(viewer)))
    if poem is None:
        raise UnknownPoem(poem_id)
    return poem


async def _existing(session: AsyncSession, poem_id: int) -> Poem:
    """A poem by id whoever made it (for the bot's own bookkeeping, after a visible lookup)."""
    poem = await session.get(Poem, _check_id(poem_id))
    if poem is None:
        raise UnknownPoem(poem_id)
    return poem


async def set_message(
    session: AsyncSession, poem_ids: list[int], channel_id: int | None, message_id: int | None
) -> None:
    """Remember the message that shows these poems."""
    await session.execute(
        update(Poem).where(Poem.id.in_(poem_ids)).values(channel_id=channel_id, message_id=message_id)
    )


def _insert(session: AsyncSession):
    return (postgresql if session.bind.dialect.name == "postgresql" else sqlite).insert


async def rate(session: AsyncSession, poem_id: int, viewer: Viewer, stars: int) -> None:
    """The viewer rates a poem they can see; rating it again replaces the earlier stars."""
    if isinstance(stars, bool) or not isinstance(stars, int) or not 1 <= stars <= 5:
        raise InvalidStars(stars)
    await get_poem(session, poem_id, viewer)
    now = utcnow()
    stmt = _insert(session)(Rating).values(
        poem_id=poem_id, user_id=viewer.user_id, stars=stars, created_at=now, updated_at=now
    )
    stmt = stmt.on_conflict_do_update(index_elements=["poem_id", "user_id"], set_={"stars": stars, "updated_at": now})
    try:
        async with session.begin_nested():
            await session.execute(stmt)
    except IntegrityError:  # the poem was deleted meanwhile (its owner's !forgetme)
        raise UnknownPoem(poem_id) from None


@dataclass
class RatingSummary:
    count: int
    mean: float | None
    score: float  # the Bayesian average that orders the leaderboard


def _board(viewer: Viewer):
    """Which poems a leaderboard pools: those written in the viewer's server, or in direct
    messages the viewer's own written there, so no poem reaches a board of another place
    (narrower than `visible_to`: an author's poems from elsewhere stay off the board)."""
    if viewer.guild_id is not None:
        return Poem.guild_id == viewer.guild_id
    return (Poem.guild_id.is_(None)) & (Poem.user_id == viewer.user_id)


async def _prior_mean(session: AsyncSession, viewer: Viewer) -> float:
    stmt = select(func.avg(Rating.stars)).join(Poem, Poem.id == Rating.poem_id).where(_board(viewer))
    mean = (await session.execute(stmt)).scalar()
    return float(mean) if mean is not None else DEFAULT_PRIOR_MEAN


def bayesian(count, total, prior_mean: float, prior_votes: int = PRIOR_VOTES):
    """(C * m + sum of stars) / (C + n): few votes stay near the server's mean m. On numbers,
    or on SQL expressions (the leaderboard orders by it in the query)."""
    return (prior_votes * prior_mean + total) / (prior_votes + count)


async def rating_summary(session: AsyncSession, poem_id: int) -> RatingSummary:
    """A poem's ratings, its score on the board of the place it was written (the caller has
    looked it up as its viewer)."""
    poem = await _existing(session, poem_id)
    count, total = (
        await session.execute(
            select(func.count(Rating.id), func.coalesce(func.sum(Rating.stars), 0)).where(Rating.poem_id == poem_id)
        )
    ).one()
    prior = await _prior_mean(session, Viewer(poem.user_id, poem.guild_id))
    return RatingSummary(count, (total / count) if count else None, bayesian(count, total, prior))


@dataclass(kw_only=True)
class Ranked(RatingSummary):
    poem: Poem


async def top_poems(session: AsyncSession, viewer: Viewer, limit: int = 10) -> list[Ranked]:
    """The best rated poems of the viewer's server by Bayesian average (ties: more votes, then
    older); in direct messages, the viewer's own written there."""
    prior = await _prior_mean(session, viewer)
    count = func.count(Rating.id)
    total = func.sum(Rating.stars)
    score = bayesian(count, total, prior)
    stmt = (
        select(Poem, count, total, score)
        .join(Rating, Rating.poem_id == Poem.id)
        .where(_board(viewer))
        .group_by(Poem.id)
        .order_by(score.desc(), count.desc(), Poem.id)
        .limit(limit)
    )
    rows = (await session.execute(stmt)).all()
    return [Ranked(count=n, mean=t / n, score=float(s), poem=p) for p, n, t, s in rows]


async def best_since(session: AsyncSession, guild_id: int, since: datetime, leave_out) -> Ranked | None:
    """The server's best rated poem written since `since` (by its Bayesian average, as the
    leaderboard ranks), of those rated 4 stars or more on average and not in `leave_out` (a
    select of poem ids); None if there is none."""
    viewer = Viewer(0, guild_id)
    prior = await _prior_mean(session, viewer)
    count, total = func.count(Rating.id), func.sum(Rating.stars)
    score = bayesian(count, total, prior)
    stmt = (
        select(Poem, count, total, score)
        .join(Rating, Rating.poem_id == Poem.id)
        .where(_board(viewer), Poem.created_at >= since, Poem.id.not_in(leave_out))
        .group_by(Poem.id)
        .having(total >= 4 * count)
        .order_by(score.desc(), count.desc(), Poem.id)
        .limit(1)
    )
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    p, n, t, s = row
    return Ranked(count=n, mean=t / n, score=float(s), poem=p)


async def add_favourite(session: AsyncSession, viewer: Viewer, poem_id: int) -> Favourite:
    """The viewer keeps a poem they can see among their favourites."""
    await get_poem(session, poem_id, viewer)
    fav = Favourite(user_id=viewer.user_id, poem_id=poem_id)
    try:
        async with session.begin_nested():
            session.add(fav)
    except IntegrityError:  # already a favourite, or the poem was deleted meanwhile
        if await session.get(Poem, poem_id, populate_existing=True) is None:
            raise UnknownPoem(poem_id) from None
        raise AlreadyFavourite(poem_id) from None
    return fav


def _favourites_here(viewer: Viewer):
    """The viewer's favourites that they can see where they are."""
    visible = select(Poem.id).where(visible_to(viewer))
    return (Favourite.user_id == viewer.user_id) & Favourite.poem_id.in_(visible)


async def remove_favourite(session: AsyncSession, viewer: Viewer, poem_id: int) -> None:
    """Remove a favourite the viewer can see here (one they cannot see is not theirs here)."""
    _check_id(poem_id)
    result = await session.execute(delete(Favourite).where(_favourites_here(viewer), Favourite.poem_id == poem_id))
    if result.rowcount == 0:
        raise NotFavourite(poem_id)


async def list_favourites(
    session: AsyncSession, viewer: Viewer, limit: int = 25, form: int | None = None, offset: int = 0
) -> list[Poem]:
    """The viewer's favourites that they can see where they are (of `form` only, if given),
    newest first (from the `offset`-th): a favourite kept in one server is not listed, nor
    used, in another (unless the viewer wrote it)."""
    stmt = (
        select(Poem)
        .join(Favourite, Favourite.poem_id == Poem.id)
        .where(Favourite.user_id == viewer.user_id, visible_to(viewer))
        .where(Poem.form == form if form is not None else true())
        .order_by(Favourite.created_at.desc(), Favourite.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


async def count_favourites(session: AsyncSession, viewer: Viewer) -> int:
    """How many favourites `list_favourites` has to show."""
    return (await session.execute(select(func.count(Favourite.id)).where(_favourites_here(viewer)))).scalar_one()


async def recent_poems(session: AsyncSession, user_id: int, limit: int = 25) -> list[Poem]:
    """The poems a user asked for, newest first."""
    stmt = select(Poem).where(Poem.user_id == user_id).order_by(Poem.id.desc()).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def latest_favourites(session: AsyncSession, viewer: Viewer, n: int = 2) -> list[Poem]:
    """The viewer's n newest favourites of one form seen here, oldest of them first (for !blend
    with no arguments, which walks between two poems of one form): of the form whose n-th
    newest favourite is the newest, as `!poem fav` pairs a favourite with one of its form."""
    newest = await list_favourites(session, viewer, n)
    if len(newest) < n:
        raise NotEnoughFavourites(len(newest), n)
    if len({p.form for p in newest}) == 1:
        return newest[::-1]
    kept = select(Favourite.created_at, Favourite.id).join(Poem, Poem.id == Favourite.poem_id)
    kept = kept.where(_favourites_here(viewer))
    best = None
    for form in {p.form for p in newest}:  # (at most the two forms)
        when = (await session.execute(kept.where(Poem.form == form).order_by(*_NEWEST).offset(n - 1).limit(1))).first()
        if when is not None and (best is None or tuple(when) > best[0]):
            best = (tuple(when), form)
    if best is None:
        raise FavouritesOfMixedForms(len(newest), n)
    return (await list_favourites(session, viewer, n, form=best[1]))[::-1]


_NEWEST = (Favourite.created_at.desc(), Favourite.id.desc())  # favourites, newest first


async def preferences(
    session: AsyncSession, user_id: int, default_script: str = "traditional", default_cards: bool = True
) -> tuple[str, bool]:
    """The user's script (the one they chose, else `default_script`) and whether they take
    poem cards (their choice, else `default_cards`: their server's), in one read."""
    pref = await session.get(UserPreference, user_id)
    script = pref.script if pref and pref.script else default_script
    return script, (pref.cards if pref and pref.cards is not None else default_cards)


async def set_cards(session: AsyncSession, user_id: int, on: bool) -> None:
    stmt = _insert(session)(UserPreference).values(user_id=user_id, cards=on, updated_at=utcnow())
    stmt = stmt.on_conflict_do_update(index_elements=["user_id"], set_={"cards": on, "updated_at": utcnow()})
    await session.execute(stmt)


async def set_script(session: AsyncSession, user_id: int, script: str) -> None:
    if script not in SCRIPTS:
        raise InvalidScript(script)
    stmt = _insert(session)(UserPreference).values(user_id=user_id, script=script, updated_at=utcnow())
    stmt = stmt.on_conflict_do_update(index_elements=["user_id"], set_={"script": script, "updated_at": utcnow()})
    await session.execute(stmt)


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


# -- a member's own poems: !mine, !delete, a poem asked for again -------------------------------------
def _mine_here(viewer: Viewer):
    """The viewer's own poems written where they are (their server; in direct messages, those
    written there): what `!mine` lists, so no list carries a poem from one place to another."""
    return (Poem.user_id == viewer.user_id) & _board(viewer)


async def list_mine(session: AsyncSession, viewer: Viewer, limit: int = 10, offset: int = 0) -> list[Poem]:
    """The viewer's own poems written here, newest first (from the `offset`-th)."""
    stmt = select(Poem).where(_mine_here(viewer)).order_by(Poem.id.desc()).offset(offset).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def count_mine(session: AsyncSession, viewer: Viewer) -> int:
    """How many poems `list_mine` has to show."""
    return (await session.execute(select(func.count(Poem.id)).where(_mine_here(viewer)))).scalar_one()


async def own_poem(session: AsyncSession, viewer: Viewer, poem_id: int) -> Poem:
    """A poem of the viewer's, looked up as they see it: UnknownPoem where they cannot see it
    (as for an id never used), NotYourPoem where they can but someone else asked for it."""
    poem = await get_poem(session, poem_id, viewer)
    if poem.user_id != viewer.user_id:
        raise NotYourPoem(poem_id)
    return poem


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


async def repeat_of(
    session: AsyncSession,
    *,
    user_id: int,
    guild_id: int | None,
    kind: str,
    form: int,
    text: str,
    seed: int | None,
    options: dict,
    model_version: str,
    parent_a_id: int | None = None,
    parent_b_id: int | None = None,
    blend_position: float | None = None,
    **_,
) -> Poem | None:
    """The poem the user already has in the same place that is this one (`create_poem`'s
    arguments) in every respect: kind, text, seed, request, parents and model. Asked for again
    (`!poem 42` twice), the saved poem is shown again rather than saved twice."""
    same = {"seed": seed, "parent_a_id": parent_a_id, "parent_b_id": parent_b_id, "blend_position": blend_position}
    stmt = select(Poem).where(
        Poem.user_id == user_id,
        Poem.guild_id.is_(None) if guild_id is None else Poem.guild_id == guild_id,
        Poem.kind == kind,
        Poem.form == form,
        Poem.text == text,
        Poem.model_version == model_version,
        *(getattr(Poem, k).is_(None) if v is None else getattr(Poem, k) == v for k, v in same.items()),
    )
    found = [p for p in (await session.execute(stmt.order_by(Poem.id))).scalars() if p.options == options]
    return found[0] if found else None


async def count_ratings(session: AsyncSession) -> int:
    return (await session.execute(select(func.count(Rating.id)))).scalar_one()


# -- cooldowns: in the database, on its clock, so every bot process sees the same ------------------
def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite gives them back naive


def _database_clock(session: AsyncSession):
    """The database's time now, in seconds since the epoch: one clock for every bot process,
    however far their own clocks drift (PostgreSQL's now(); SQLite's julianday('now'))."""
    if session.bind.dialect.name == "postgresql":
        return extract("epoch", func.now())
    return (func.julianday("now") - 2440587.5) * 86400.0  # (the Julian day of 1970-01-01T00:00Z)


def _moment(seconds) -> datetime:
    return datetime.fromtimestamp(float(seconds), UTC)


async def database_now(session: AsyncSession) -> datetime:
    """The database's time now (the process's own clock may be off: never use it for a
    rule that several processes share)."""
    return _moment(await session.scalar(select(_database_clock(session))))


# A cooldown with more than its length left (past this slack) was set on a wrong clock, before
# cooldowns kept the database's: it counts as over. (The slack: two transactions read the clock a
# moment apart, and the later reader may commit first.)
SLACK_S = 5.0


def _left(until: datetime, now: datetime, seconds: float | None) -> float:
    """Seconds left of a cooldown of `seconds` that ends at `until`: never more than `seconds`;
    0 when it is over, or when it could not have been set by this clock."""
    left = (_aware(until) - now).total_seconds()
    if left <= 0 or (seconds is not None and left > seconds + SLACK_S):
        return 0.0
    return left if seconds is None else min(left, seconds)


async def cooldown_left(session: AsyncSession, user_id: int, action: str, seconds: float | None = None) -> float:
    """Seconds before the user may do `action` again (0: now), by the database's clock;
    never more than `seconds`, the cooldown's length."""
    row = (
        await session.execute(
            select(Cooldown.until_at, _database_clock(session)).where(
                Cooldown.user_id == user_id, Cooldown.action == action
            )
        )
    ).first()
    return _left(row[0], _moment(row[1]), seconds) if row is not None else 0.0


async def take_cooldown(session: AsyncSession, user_id: int, action: str, seconds: float) -> float:
    """Start the user's cooldown of `action` unless one is running: 0.0 when it started,
    else the seconds left of the running one. One statement (an upsert that updates only
    an expired row), so two processes can never both start it; its times are the database's."""
    now = await database_now(session)
    until = now + timedelta(seconds=seconds)
    stmt = _insert(session)(Cooldown).values(user_id=user_id, action=action, until_at=until)
    over = (Cooldown.until_at <= now) | (Cooldown.until_at > until + timedelta(seconds=SLACK_S))  # (see _left)
    stmt = stmt.on_conflict_do_update(
        index_elements=["user_id", "action"], set_={"until_at": until}, where=over
    ).returning(Cooldown.user_id)
    if (await session.execute(stmt)).first() is not None:
        return 0.0
    return max(0.001, await cooldown_left(session, user_id, action, seconds))


async def end_cooldown(session: AsyncSession, user_id: int, action: str) -> None:
    """The user may do `action` again at once (their request was never served)."""
    await session.execute(delete(Cooldown).where(Cooldown.user_id == user_id, Cooldown.action == action))


# -- jobs in flight: a mark `forget_user` deletes, so a poem finished after it is not saved ------
JOB = "job:"  # a cooldown row whose action starts so marks one job of the user's in flight
JOB_MARK_S = 3600.0  # a mark older than this was left by a process that died mid-job


async def start_job(session: AsyncSession, user_id: int) -> str:
    """Mark a job of the user's as in flight; its token, for `end_job`. (Also clears the
    user's marks that dead processes left.)"""
    now = await database_now(session)
    stale = (Cooldown.user_id == user_id) & Cooldown.action.startswith(JOB) & (Cooldown.until_at < now)
    await session.execute(delete(Cooldown).where(stale))
    token = JOB + secrets.token_hex(6)
    session.add(Cooldown(user_id=user_id, action=token, until_at=now + timedelta(seconds=JOB_MARK_S)))
    await session.flush()
    return token


async def end_job(session: AsyncSession, user_id: int, token: str) -> bool:
    """End a job's mark: False when it was already gone, because the user was forgotten
    meanwhile (`forget_user`): then what the job wrote must not be saved. The transaction
    that saves the job's work calls this first."""
    result = await session.execute(delete(Cooldown).where(Cooldown.user_id == user_id, Cooldown.action == token))
    return result.rowcount == 1
