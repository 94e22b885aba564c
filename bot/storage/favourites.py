"""Favourites: a member keeps a poem (`add_favourite`), lets it go, and lists those they can
see where they are; `latest_favourites` pairs two of one form for `!blend`.

Every function takes the session; the caller owns the transaction. A favourite is listed,
counted and used only where the viewer can see its poem (`visible_to`).
"""

from __future__ import annotations

from sqlalchemy import delete, func, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from .errors import AlreadyFavourite, FavouritesOfMixedForms, NotEnoughFavourites, NotFavourite, UnknownPoem
from .models import Favourite, Poem
from .poems import check_id, get_poem
from .visibility import Viewer, visible_to

_NEWEST = (Favourite.created_at.desc(), Favourite.id.desc())  # favourites, newest first


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
    check_id(poem_id)
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
        .order_by(*_NEWEST)
        .offset(offset)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


async def count_favourites(session: AsyncSession, viewer: Viewer) -> int:
    """How many favourites `list_favourites` has to show."""
    return (await session.execute(select(func.count(Favourite.id)).where(_favourites_here(viewer)))).scalar_one()


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
