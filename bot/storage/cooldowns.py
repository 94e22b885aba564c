"""Cooldowns and the marks of jobs in flight: rows of one table (`cooldown`), on the
database's clock, so every bot process sees the same. A job's mark is what `forget_user`
deletes, so a poem finished after a member's `!forgetme` is not saved.

Every function takes the session; the caller owns the transaction.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from .dialects import database_clock, database_now, insert_for, moment
from .models import Cooldown

# A cooldown with more than its length left (past this slack) was set on a wrong clock, before
# cooldowns kept the database's: it counts as over. (The slack: two transactions read the clock a
# moment apart, and the later reader may commit first.)
SLACK_S = 5.0


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)  # SQLite gives them back naive


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
            select(Cooldown.until_at, database_clock(session)).where(
                Cooldown.user_id == user_id, Cooldown.action == action
            )
        )
    ).first()
    return _left(row[0], moment(row[1]), seconds) if row is not None else 0.0


async def take_cooldown(session: AsyncSession, user_id: int, action: str, seconds: float) -> float:
    """Start the user's cooldown of `action` unless one is running: 0.0 when it started,
    else the seconds left of the running one. One statement (an upsert that updates only
    an expired row), so two processes can never both start it; its times are the database's."""
    now = await database_now(session)
    until = now + timedelta(seconds=seconds)
    stmt = insert_for(session)(Cooldown).values(user_id=user_id, action=action, until_at=until)
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
