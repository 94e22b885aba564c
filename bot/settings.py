"""Settings from the environment. The Discord token is read here and nowhere else,
and is never logged (it is kept out of the dataclass repr).

A bad value is a `ConfigError` whose message names the variable and the fix;
`python -m bot` prints it as one line and exits with status 2.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from urllib.parse import urlsplit

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

ASYNC_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}


class ConfigError(Exception):
    """A setting that cannot work; the message names it and says how to fix it."""


def data_dir() -> Path:
    return Path(os.environ.get("POEMBOT_DATA_DIR", "data"))


def default_database_url() -> str:
    return f"sqlite+aiosqlite:///{data_dir() / 'poembot.sqlite3'}"


def _ids(text: str) -> frozenset[int]:
    return frozenset(int(x) for x in text.replace(",", " ").split() if x.isdigit())


def _number(env, name: str, default: float, kind=float, lo: float = 0) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = kind(raw.strip())
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value < lo:
        what = "a whole number" if kind is int else "a number of seconds" if name.endswith("_S") else "a number"
        raise ConfigError(f"{name} must be {what} of at least {lo:g} (like {default:g}), not {raw!r}")
    return value


@dataclass
class Settings:
    database_url: str = field(default_factory=default_database_url)
    worker_url: str | None = None  # None: the in-process worker
    discord_token: str | None = field(default=None, repr=False)
    owner_ids: frozenset[int] = frozenset()  # may run !sync (besides the application's owner)
    prefix: str = "!"
    poem_cooldown_s: float = 5.0  # per user, !poem and re-roll
    blend_cooldown_s: float = 15.0  # per user
    max_in_flight: int = 32  # poem jobs running at once before users are told to wait
    worker_timeout_s: float = 10.0
    migrate_on_start: bool = True

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            database_url=env.get("DATABASE_URL") or default_database_url(),
            worker_url=env.get("WORKER_URL") or None,
            discord_token=env.get("DISCORD_TOKEN") or None,
            owner_ids=_ids(env.get("POEMBOT_OWNER_IDS", "")),
            prefix=env.get("POEMBOT_PREFIX", "!"),
            poem_cooldown_s=_number(env, "POEMBOT_POEM_COOLDOWN_S", 5),
            blend_cooldown_s=_number(env, "POEMBOT_BLEND_COOLDOWN_S", 15),
            max_in_flight=_number(env, "POEMBOT_MAX_IN_FLIGHT", 32, int, lo=1),
            worker_timeout_s=_number(env, "POEMBOT_WORKER_TIMEOUT_S", 10, lo=0.1),
            migrate_on_start=env.get("POEMBOT_MIGRATE_ON_START", "1") != "0",
        ).check()

    def check(self) -> Settings:
        """Refuse what cannot work before anything starts (see `database_path` and `worker_url`)."""
        self.database_path()
        if self.worker_url is not None:
            try:
                url = urlsplit(self.worker_url.strip())
                ok = url.scheme in ("http", "https") and bool(url.hostname) and (url.port or 1) > 0
            except ValueError:  # a port that is not a number, or out of range
                ok = False
            if not ok:
                raise ConfigError(f"WORKER_URL must be the worker's http:// address, like "
                                  f"http://worker:8500, not {self.worker_url!r} (unset it for the in-process worker)")
        if not self.prefix.strip():
            raise ConfigError("POEMBOT_PREFIX must not be empty or blank (the default is !)")
        return self

    def database_path(self) -> Path | None:
        """The SQLite file (None for PostgreSQL), after checking the URL can work:
        a known async driver, a file (not an unasked-for in-memory database),
        and a directory and file this process may write."""
        try:
            url: URL = make_url(self.database_url)
        except ArgumentError:
            raise ConfigError(f"DATABASE_URL is not a database URL: {_hide_password(self.database_url)!r}; "
                              "for example sqlite+aiosqlite:///data/poembot.sqlite3") from None
        backend, driver = url.get_backend_name(), url.get_driver_name()
        if ASYNC_DRIVERS.get(backend) != driver:
            raise ConfigError(f"DATABASE_URL must use sqlite+aiosqlite:// or postgresql+asyncpg://, "
                              f"not {backend}+{driver}://")
        if backend != "sqlite":
            return None
        if not url.database:
            raise ConfigError("DATABASE_URL names no file (sqlite+aiosqlite:///), which would keep everything in "
                              "memory and lose it at exit; name a file, or write :memory: if that is what you want")
        if url.database == ":memory:":
            return None
        path = Path(url.database)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"DATABASE_URL: cannot create the directory {str(path.parent)!r} "
                              f"({e.strerror}); set POEMBOT_DATA_DIR or DATABASE_URL to a writable place") from None
        if not os.access(path.parent, os.W_OK | os.X_OK):
            raise ConfigError(f"DATABASE_URL: the directory {str(path.parent)!r} is not writable by this user; "
                              "SQLite needs to write its journal there")
        if path.exists() and not os.access(path, os.R_OK | os.W_OK):
            raise ConfigError(f"DATABASE_URL: the database file {str(path)!r} is read-only for this user; "
                              "make it writable (chmod u+w, or chown it to the user running the bot)")
        return path


def _hide_password(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url.split("@")[-1] if "@" in url else url
