"""Engines, sessions and migrations.

SQLite gets WAL, foreign keys, a busy timeout and BEGIN IMMEDIATE (a write
never fails half-way with "database is locked"); PostgreSQL needs nothing.
Migrations run from inside the running loop by sharing one connection with
Alembic (`run_sync`), never through a nested `asyncio.run`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine


def migrations_dir() -> Path:
    """Where the Alembic scripts are: bot/migrations in an installed wheel, else the
    repository's migrations/ (their one source, which the wheel packages as bot.migrations)."""
    here = Path(__file__).resolve().parents[1]  # bot/
    for candidate in (here / "migrations", here.parent / "migrations"):
        if (candidate / "env.py").exists():
            return candidate
    raise RuntimeError(f"no migrations next to {here}: reinstall poembot")


BUSY_TIMEOUT_S = 30
READ_ONLY = "poembot_read_only"  # an execution option: transactions that only read


def create_engine(url: str) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S})

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn):
        # a writer takes the write lock up front: a deferred transaction that upgrades to a
        # writer later gets SQLITE_BUSY at once instead of waiting its turn. A reader (see
        # `read_sessions`) takes none: under WAL, readers never wait for the writer
        read = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read else "BEGIN IMMEDIATE")

    return engine


def session_maker(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)


def read_sessions(sessions: async_sessionmaker) -> async_sessionmaker:
    """Sessions of the same database for transactions that only read: on SQLite they do
    not take the write lock (a write in one is a bug: it may fail with SQLITE_BUSY)."""
    bind = sessions.kw["bind"]
    return async_sessionmaker(bind.execution_options(**{READ_ONLY: True}), expire_on_commit=False)


def alembic_config(url: str | None = None) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(migrations_dir()))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _set_foreign_keys(conn: Connection, on: bool) -> None:
    # outside any transaction (SQLite ignores this PRAGMA inside one), on the
    # driver connection itself: SQLAlchemy would begin a transaction first
    conn.connection.dbapi_connection.cursor().execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


def _check_foreign_keys(conn: Connection) -> None:
    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"migration left {len(broken)} broken foreign keys, e.g. {broken[:3]}; rolled back")


async def run_migration(engine: AsyncEngine, migrate: Callable[[Connection], None]) -> None:
    """Run `migrate` in one transaction, on SQLite with foreign keys off.

    SQLite's procedure for rebuilding a table (which Alembic's batch mode
    does): foreign keys off outside the transaction, rebuild, check every
    foreign key before committing, foreign keys back on. With them on,
    dropping the old table would cascade to every row that refers to it.
    """
    async with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            await conn.run_sync(_set_foreign_keys, False)
        try:
            async with conn.begin():
                await conn.run_sync(migrate)
                if sqlite:
                    await conn.run_sync(_check_foreign_keys)
        finally:
            if sqlite:
                await conn.run_sync(_set_foreign_keys, True)


def _alembic(action: Callable, revision: str) -> Callable[[Connection], None]:
    def migrate(conn: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        action(cfg, revision)

    return migrate


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema to `revision`; safe to call at every start."""
    await run_migration(engine, _alembic(command.upgrade, revision))


def revisions() -> tuple[set[str], str]:
    """Every schema revision this code knows, and the newest (head)."""
    scripts = ScriptDirectory.from_config(alembic_config())
    return {r.revision for r in scripts.walk_revisions()}, scripts.get_current_head()


async def schema_revision(engine: AsyncEngine) -> str | None:
    """The database's schema revision (None: no schema at all, an empty database)."""
    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    await run_migration(engine, _alembic(command.downgrade, revision))
