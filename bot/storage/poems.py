"""Poems kept: saving one (`create_poem`), finding one as a viewer sees it (`get_poem`), the
same poem asked for again (`repeat_of`), and a member's own (`!mine`, `own_poem`).

Every function takes the session; the caller owns the transaction. A poem looked up for a
user goes through `visible_to` (`bot/storage/visibility.py`).
"""

from __future__ import annotations

import struct

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from .errors import NotYourPoem, UnknownPoem
from .models import KINDS, Poem
from .visibility import Viewer, visible_to, written_here

MAX_ID = 2**63 - 1  # a poem's id is a BIGINT (signed 64-bit)


def pack_latent(values: list[float]) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


def unpack_latent(blob: bytes) -> list[float]:
    return list(struct.unpack(f"<{len(blob) // 4}f", blob))


def check_id(value) -> int:
    """`value` if it can be a poem's id; else UnknownPoem, as for an id never used."""
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
    poem = await session.scalar(select(Poem).where(Poem.id == check_id(poem_id), visible_to(viewer)))
    if poem is None:
        raise UnknownPoem(poem_id)
    return poem


async def existing(session: AsyncSession, poem_id: int) -> Poem:
    """A poem by id whoever made it (for the bot's own bookkeeping, after a visible lookup)."""
    poem = await session.get(Poem, check_id(poem_id))
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


async def recent_poems(session: AsyncSession, user_id: int, limit: int = 25) -> list[Poem]:
    """The poems a user asked for, newest first."""
    stmt = select(Poem).where(Poem.user_id == user_id).order_by(Poem.id.desc()).limit(limit)
    return list((await session.execute(stmt)).scalars())


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


# -- a member's own poems: !mine, and the one !delete may take ----------------------------------
def _mine_here(viewer: Viewer):
    """The viewer's own poems written where they are (their server; in direct messages, those
    written there): what `!mine` lists, so no list carries a poem from one place to another."""
    return (Poem.user_id == viewer.user_id) & written_here(viewer)


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
