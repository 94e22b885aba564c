"""Each server's own rules for the bot, its members' daily counts and its poem of the day: what
`/config` sets, read before every command (with the member's language, `place`).

Every function takes the session; the caller owns the transaction. A server with no row has
the bot's defaults (`ServerRules(guild_id)`). Time zones are IANA names (`Asia/Taipei`), read
with zoneinfo; "UTC" needs no time zone database.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo

from sqlalchemy import delete, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from .dialects import database_now, insert_for
from .models import DailyPost, DailyUse, ServerChannel, ServerRole, ServerSetting, utcnow
from .preferences import member_language

MAX_ZONE = 64  # characters of a time zone's name


def zone(name: str) -> tzinfo:
    """The time zone called `name` (an IANA name, like Asia/Taipei); KeyError if there is none
    (zoneinfo's ZoneInfoNotFoundError is one), ValueError for a name that is no zone's."""
    if name == "UTC":
        return timezone.utc  # (no time zone database needed)
    if not name or len(name) > MAX_ZONE or name.startswith(("/", ".")) or ".." in name:
        raise ValueError(f"not a time zone name: {name!r}"[:100])
    return zoneinfo.ZoneInfo(name)


@dataclass(frozen=True)
class ServerRules:
    """What a server chose (None or empty: the bot's default)."""

    guild_id: int
    channels: frozenset[int] = field(default_factory=frozenset)  # where the bot answers; empty: everywhere
    roles: frozenset[int] = field(default_factory=frozenset)  # who may use it; empty: everyone
    poem_cooldown_s: float | None = None
    blend_cooldown_s: float | None = None
    daily_cap: int | None = None  # poems one member may ask for a day here
    cards: bool = True  # poem cards for members who never chose
    language: str | None = None  # the language of members who never chose
    timezone: str = "UTC"
    daily_channel_id: int | None = None  # where the poem of the day goes; None: no poem of the day
    daily_hour: int = 9  # when, in `timezone`
    daily_from: date | None = None  # the first day it is due

    def cooldown(self, action: str) -> float | None:
        """The server's own cooldown of `action` ("poem", "blend"), None for the bot's."""
        return {"poem": self.poem_cooldown_s, "blend": self.blend_cooldown_s}.get(action)

    @property
    def zone(self) -> tzinfo:
        try:
            return zone(self.timezone)
        except (KeyError, ValueError):  # (a name this machine's time zone database lacks)
            return timezone.utc

    def day(self, moment: datetime) -> date:
        """The server's day (in its time zone) at `moment`."""
        return moment.astimezone(self.zone).date()


async def server_rules(session: AsyncSession, guild_id: int) -> ServerRules:
    row = await session.get(ServerSetting, guild_id)
    channels = await session.scalars(select(ServerChannel.channel_id).where(ServerChannel.guild_id == guild_id))
    roles = await session.scalars(select(ServerRole.role_id).where(ServerRole.guild_id == guild_id))
    return _rules(guild_id, row, frozenset(channels), frozenset(roles))


def _rules(guild_id: int, row: ServerSetting | None, channels=frozenset(), roles=frozenset()) -> ServerRules:
    if row is None:
        return ServerRules(guild_id, channels, roles)
    return ServerRules(
        guild_id,
        channels,
        roles,
        poem_cooldown_s=row.poem_cooldown_s,
        blend_cooldown_s=row.blend_cooldown_s,
        daily_cap=row.daily_cap,
        cards=row.cards,
        language=row.language,
        timezone=row.timezone,
        daily_channel_id=row.daily_channel_id,
        daily_hour=row.daily_hour,
        daily_from=row.daily_from,
    )


async def server_cards(session: AsyncSession, guild_id: int) -> bool:
    """Whether the server's members who never chose get poem cards."""
    cards = await session.scalar(select(ServerSetting.cards).where(ServerSetting.guild_id == guild_id))
    return True if cards is None else cards


async def place(session: AsyncSession, user_id: int, guild_id: int | None) -> tuple[ServerRules | None, str | None]:
    """What the bot needs before answering a member: their server's rules (None in direct
    messages) and their own language (None: not chosen)."""
    rules = await server_rules(session, guild_id) if guild_id is not None else None
    return rules, await member_language(session, user_id)


FIELDS = {
    "poem_cooldown_s",
    "blend_cooldown_s",
    "daily_cap",
    "cards",
    "language",
    "timezone",
    "daily_channel_id",
    "daily_hour",
    "daily_from",
}


async def update_server(session: AsyncSession, guild_id: int, **values) -> ServerRules:
    """Set some of a server's rules (None: back to the bot's default); its rules after."""
    if unknown := set(values) - FIELDS:
        raise TypeError(f"not a server rule: {sorted(unknown)}")
    now = utcnow()
    stmt = insert_for(session)(ServerSetting).values(guild_id=guild_id, updated_at=now, **values)
    await session.execute(stmt.on_conflict_do_update(index_elements=["guild_id"], set_={**values, "updated_at": now}))
    await session.flush()
    return await server_rules(session, guild_id)


def _allowed(kind: str):
    model, column = (ServerChannel, "channel_id") if kind == "channel" else (ServerRole, "role_id")
    return model, getattr(model, column), column


async def allow(session: AsyncSession, guild_id: int, kind: str, target_id: int, on: bool) -> bool:
    """Add (`on`) or remove a channel or role ("channel", "role") a server allows; whether
    that changed anything."""
    model, column, name = _allowed(kind)
    if on:
        stmt = insert_for(session)(model).values(guild_id=guild_id, **{name: target_id})
        result = await session.execute(stmt.on_conflict_do_nothing())
    else:
        result = await session.execute(delete(model).where(model.guild_id == guild_id, column == target_id))
    return result.rowcount == 1


async def allow_all(session: AsyncSession, guild_id: int, kind: str) -> int:
    """Allow every channel (or role) again: how many a server had chosen."""
    model, _, _ = _allowed(kind)
    return (await session.execute(delete(model).where(model.guild_id == guild_id))).rowcount


# -- the daily cap -------------------------------------------------------------------------------
async def server_day(session: AsyncSession, rules: ServerRules) -> date:
    """The server's day now, by the database's clock (the one every bot process shares)."""
    return rules.day(await database_now(session))


async def poems_on(session: AsyncSession, user_id: int, guild_id: int, day: date) -> int:
    """How many poems the member asked for in the server on `day`."""
    row = await session.get(DailyUse, (user_id, guild_id, day))
    return row.poems if row is not None else 0


async def poems_today(session: AsyncSession, user_id: int, rules: ServerRules) -> int:
    """How many poems the member asked for in the server today (its day, by the database's clock)."""
    return await poems_on(session, user_id, rules.guild_id, await server_day(session, rules))


async def count_poem(session: AsyncSession, user_id: int, guild_id: int, day: date, cap: int) -> bool:
    """Count one more poem of the member's on `day`, unless they have `cap` already: whether it
    was counted. One statement (an upsert that adds only under the cap), so two requests at
    once never both pass the last place."""
    stmt = insert_for(session)(DailyUse).values(user_id=user_id, guild_id=guild_id, day=day, poems=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=["user_id", "guild_id", "day"],
        set_={"poems": DailyUse.poems + 1},
        where=DailyUse.poems < cap,
    ).returning(DailyUse.poems)
    counted = (await session.execute(stmt)).first() is not None
    if counted:  # the member's older days are no longer needed
        await session.execute(
            delete(DailyUse).where(
                DailyUse.user_id == user_id, DailyUse.guild_id == guild_id, DailyUse.day < day - timedelta(days=1)
            )
        )
    return counted


async def uncount_poem(session: AsyncSession, user_id: int, guild_id: int, day: date) -> None:
    """Give back a poem counted for a request that was not served."""
    row = await session.get(DailyUse, (user_id, guild_id, day), populate_existing=True)
    if row is not None and row.poems > 0:
        row.poems -= 1
        await session.flush()


# -- the poem of the day -------------------------------------------------------------------------
CLAIM_S = 600.0  # a claim not posted after this long was left by a process that died


async def daily_servers(session: AsyncSession) -> list[ServerRules]:
    """The servers that have a poem of the day (their channels and roles left out)."""
    rows = await session.scalars(select(ServerSetting).where(ServerSetting.daily_channel_id.is_not(None)))
    return [_rules(row.guild_id, row) for row in rows]


async def daily_posted(session: AsyncSession, days: list[tuple[int, date]]) -> set[tuple[int, date]]:
    """Of these (server, day), those whose poem of the day is posted (or given up)."""
    if not days:
        return set()
    key = tuple_(DailyPost.guild_id, DailyPost.day)
    stmt = select(DailyPost.guild_id, DailyPost.day).where(key.in_(days), DailyPost.posted_at.is_not(None))
    return {(g, d) for g, d in await session.execute(stmt)}


async def claim_daily(session: AsyncSession, guild_id: int, day: date, token: str) -> bool:
    """Claim the server's poem of `day` for the process holding `token`: whether it is this
    one's to post. One statement: an insert, or a takeover of a claim that a process which died
    left unposted for CLAIM_S (the database's clock); of two processes at once, one wins."""
    now = await database_now(session)
    stmt = insert_for(session)(DailyPost).values(guild_id=guild_id, day=day, claim=token, claimed_at=now)
    stale = DailyPost.posted_at.is_(None) & (DailyPost.claimed_at < now - timedelta(seconds=CLAIM_S))
    stmt = stmt.on_conflict_do_update(
        index_elements=["guild_id", "day"], set_={"claim": token, "claimed_at": now}, where=stale
    ).returning(DailyPost.guild_id)
    return (await session.execute(stmt)).first() is not None


async def release_daily(session: AsyncSession, guild_id: int, day: date, token: str) -> None:
    """Give up a claim (the poem could not be written now): another try may claim it."""
    await session.execute(
        delete(DailyPost).where(
            DailyPost.guild_id == guild_id,
            DailyPost.day == day,
            DailyPost.claim == token,
            DailyPost.posted_at.is_(None),
        )
    )


async def finish_daily(
    session: AsyncSession,
    guild_id: int,
    day: date,
    token: str,
    kind: str,
    poem_id: int | None = None,
    channel_id: int | None = None,
    message_id: int | None = None,
) -> None:
    """Mark the server's poem of `day` posted (or, `kind` "failed", given up for the day)."""
    row = await session.get(DailyPost, (guild_id, day), populate_existing=True)
    if row is None or row.claim != token:
        return
    row.posted_at, row.kind = await database_now(session), kind
    row.poem_id, row.channel_id, row.message_id = poem_id, channel_id, message_id
    await session.flush()


def featured():
    """The poems already posted as a poem of the day (never featured twice)."""
    return select(DailyPost.poem_id).where(DailyPost.poem_id.is_not(None))
