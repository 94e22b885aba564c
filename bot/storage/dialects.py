"""Where PostgreSQL and SQLite differ, said once: the upsert (`insert_for`) and the database's
clock (`database_now`), the one time every bot process shares however far their own clocks
drift."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import extract, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def insert_for(session: AsyncSession):
    """The session's dialect's `insert`, which has `on_conflict_do_update`/`_do_nothing`."""
    return (postgresql if session.bind.dialect.name == "postgresql" else sqlite).insert


def database_clock(session: AsyncSession):
    """The database's time now, in seconds since the epoch, as an SQL expression: one clock
    for every bot process, however far their own clocks drift (PostgreSQL's now(); SQLite's
    julianday('now'))."""
    if session.bind.dialect.name == "postgresql":
        return extract("epoch", func.now())
    return (func.julianday("now") - 2440587.5) * 86400.0  # (the Julian day of 1970-01-01T00:00Z)


def moment(seconds) -> datetime:
    """The moment `seconds` since the epoch (what `database_clock` reads)."""
    return datetime.fromtimestamp(float(seconds), UTC)


async def database_now(session: AsyncSession) -> datetime:
    """The database's time now (the process's own clock may be off: never use it for a
    rule that several processes share)."""
    return moment(await session.scalar(select(database_clock(session))))
