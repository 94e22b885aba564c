"""Alembic environment: async engines, batch mode for SQLite.

Called two ways: from `bot.storage.db.upgrade` (the bot at start and `python -m
bot migrate`), which hands over a live connection in
`config.attributes["connection"]` (no nested event loop), or from Alembic's own
command line (`alembic ...` from the repository root, with alembic.ini), which
opens its own async engine on DATABASE_URL.
"""

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from bot.storage.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    from bot.settings import Settings

    return config.get_main_option("sqlalchemy.url") or Settings.from_env().database_url


async def _run_async() -> None:
    from bot.storage.db import create_engine, run_migration

    engine = create_engine(_url())
    try:
        await run_migration(engine, _configure)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=_url().startswith("sqlite")
    )
    with context.begin_transaction():
        context.run_migrations()
elif (connection := config.attributes.get("connection")) is not None:
    _configure(connection)
else:
    asyncio.run(_run_async())
