"""A member's own choices, one row each (`user_preference`): the script poems are shown in
(`!script`), poem cards (`!cards`) and the language the bot answers in (`!language`). A choice
never made is None, and the server's or the bot's default holds.

Every function takes the session; the caller owns the transaction.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .dialects import insert_for
from .errors import InvalidScript
from .models import UserPreference, utcnow

SCRIPTS = ("traditional", "simplified")


async def preferences(
    session: AsyncSession, user_id: int, default_script: str = "traditional", default_cards: bool = True
) -> tuple[str, bool]:
    """The user's script (the one they chose, else `default_script`) and whether they take
    poem cards (their choice, else `default_cards`: their server's), in one read."""
    pref = await session.get(UserPreference, user_id)
    script = pref.script if pref and pref.script else default_script
    return script, (pref.cards if pref and pref.cards is not None else default_cards)


async def _choose(session: AsyncSession, user_id: int, **choice) -> None:
    """Set one of the user's choices (`script=`, `cards=`, `language=`), keeping the others."""
    now = utcnow()
    stmt = insert_for(session)(UserPreference).values(user_id=user_id, updated_at=now, **choice)
    await session.execute(stmt.on_conflict_do_update(index_elements=["user_id"], set_={**choice, "updated_at": now}))


async def set_cards(session: AsyncSession, user_id: int, on: bool) -> None:
    await _choose(session, user_id, cards=on)


async def set_script(session: AsyncSession, user_id: int, script: str) -> None:
    if script not in SCRIPTS:
        raise InvalidScript(script)
    await _choose(session, user_id, script=script)


async def member_language(session: AsyncSession, user_id: int) -> str | None:
    return await session.scalar(select(UserPreference.language).where(UserPreference.user_id == user_id))


async def set_member_language(session: AsyncSession, user_id: int, language: str | None) -> None:
    await _choose(session, user_id, language=language)
