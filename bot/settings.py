"""The bot's settings, each declared once (`Settings`: its variable, type, default and
meaning). `Settings(...)` holds what it is given and nothing else (tests, benchmarks);
`Settings.from_env()` reads the environment, then `.env`, then secret files (bot/sources.py).
The Discord token and the database password are read here and nowhere else, and are never
logged (they are kept out of every repr).

A bad value is a `ConfigError` whose message names the variable and the fix; `python -m bot`
prints it as one line and exits with status 2. A `POEMBOT_*` variable that nothing reads
(a typo, most likely) is a warning naming the setting closest to it. (Over 450 lines for one
idea: each variable beside every rule its value must keep, so that one file answers "what
does this setting do, and why was it refused".)
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, get_args
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from model.worker.settings import WorkerSettings  # the in-process worker's variables are this process's too

from . import sources

ASYNC_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}
ENV_FILE = Path(".env")  # read from the working directory, as docker compose does; the environment wins
SECRETS_DIR = Path("/run/secrets")  # where Docker (and most Kubernetes set-ups) mount secrets: read when it exists
MAX_SHARDS = 65536  # far past Discord's largest bots; a bound, so that a typo is an error, not a MemoryError
MAX_DISCORD_ID = 2**64 - 1  # Discord's ids (snowflakes) are unsigned 64-bit
DIGITS = re.compile(r"[0-9]+")  # a number in a setting: ASCII digits only (not ², not Arabic-Indic ٣)


class ConfigError(Exception):
    """A setting that cannot work; the message names it and says how to fix it."""


class Settings(BaseModel):
    """Every setting the bot reads: its variable, type, default and meaning, in one place
    (docs/operators.md's table lists the same; tests/test_settings.py keeps them equal)."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    discord_token: str | None = Field(
        None, alias="DISCORD_TOKEN", repr=False, description="connect to Discord; unset: the console chat"
    )
    database_url: str = Field(
        "",
        alias="DATABASE_URL",
        description=(
            "an async SQLAlchemy URL: `sqlite+aiosqlite:///path` or `postgresql+asyncpg://user:pw@host/db`; "
            "default: `poembot.sqlite3` in `POEMBOT_DATA_DIR`"
        ),
    )
    worker_url: str | None = Field(
        None,
        alias="WORKER_URL",
        description=(
            "the HTTP worker (`poembot-model serve`), like `http://worker:8500`, or several, comma-separated "
            "(requests go to the least busy; a failing one is retried elsewhere); unset: the in-process worker"
        ),
    )
    data_dir: Path = Field(Path("data"), alias="POEMBOT_DATA_DIR", description="where the SQLite file lives")
    owner_ids: frozenset[int] = Field(
        frozenset(), alias="POEMBOT_OWNER_IDS", description="user ids allowed to `!sync`, comma-separated"
    )
    prefix: str = Field("!", alias="POEMBOT_PREFIX", min_length=1, description="the prefix of typed commands")
    poem_cooldown_s: float = Field(
        5.0,
        alias="POEMBOT_POEM_COOLDOWN_S",
        ge=0,
        allow_inf_nan=False,
        description="seconds between one user's poems (0 in the console chat)",
    )
    blend_cooldown_s: float = Field(
        15.0,
        alias="POEMBOT_BLEND_COOLDOWN_S",
        ge=0,
        allow_inf_nan=False,
        description="seconds between one user's blends (0 in the console chat)",
    )
    max_in_flight: int = Field(
        32, alias="POEMBOT_MAX_IN_FLIGHT", ge=1, description="poem jobs at once before users are told the bot is busy"
    )
    worker_timeout_s: float = Field(
        10.0,
        alias="POEMBOT_WORKER_TIMEOUT_S",
        gt=0,
        allow_inf_nan=False,
        description="seconds to wait for the HTTP worker",
    )
    migrate_on_start: bool = Field(
        True,
        alias="POEMBOT_MIGRATE_ON_START",
        description="run migrations at start (0 when a separate `poembot migrate` step does it)",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] | None = Field(
        None,
        alias="LOG_LEVEL",
        description="DEBUG, INFO, WARNING or ERROR (any case); default: INFO on Discord, WARNING in the console chat",
    )
    shard_count: int | None = Field(
        None,
        alias="SHARD_COUNT",
        ge=1,
        le=MAX_SHARDS,
        description="the bot's shards in all (Discord requires sharding past 2,500 guilds); unset: one process, no shards",
    )
    shard_ids: tuple[int, ...] | None = Field(
        None,
        alias="SHARD_IDS",
        description="the shards this process runs, comma-separated (like `0,1`); unset: all of SHARD_COUNT",
    )
    bots: int | None = Field(
        None,
        alias="POEMBOT_BOTS",
        ge=1,
        le=MAX_SHARDS,
        description=(
            "bot processes splitting SHARD_COUNT (a StatefulSet's replicas); with `POEMBOT_BOT_ORDINAL`, "
            "each runs its own block of shards instead of SHARD_IDS"
        ),
    )
    bot_ordinal: str = Field(
        "",
        alias="POEMBOT_BOT_ORDINAL",
        description=(
            "this process's place among POEMBOT_BOTS, from 0, or a name ending in it (a StatefulSet pod's, "
            "like `poembot-bot-2`: of 4 bots for 16 shards, it runs 8-11)"
        ),
    )
    log_format: Literal["text", "json"] = Field(
        "text",
        alias="LOG_FORMAT",
        description=(
            "text, or json: one JSON object a line (time in ISO 8601 with its offset, level, logger, message; "
            "a command's line adds command, user (hashed), outcome, ms)"
        ),
    )
    metrics_port: int = Field(
        0,
        alias="POEMBOT_METRICS_PORT",
        ge=0,
        le=65535,
        description=(
            "serve the bot's Prometheus metrics (`/metrics`) and health (`/healthz`: connected to Discord) "
            "on this port; 0: off"
        ),
    )
    cards: bool = Field(
        True, alias="POEMBOT_CARDS", description="attach a picture of the poem (a card) to new poems; 0: text only"
    )
    card_font: Path | None = Field(
        None,
        alias="POEMBOT_CARD_FONT",
        description="the CJK serif font for cards; default: Noto Serif CJK from `fonts-noto-cjk`",
    )
    database_password: str | None = Field(
        None,
        alias="DATABASE_PASSWORD",
        repr=False,
        description=(
            "the database's password, when DATABASE_URL names none (the URL in plain configuration, "
            "the password in a secret file)"
        ),
    )
    secrets_dir: Path | None = Field(
        None,
        alias="POEMBOT_SECRETS_DIR",
        description=(
            "a directory of files named like the variables (`discord_token`, `database_password`), read after "
            "the environment and `.env`; default: `/run/secrets` when it exists"
        ),
    )

    _warnings: list[str] = PrivateAttr(default_factory=list)

    @field_validator("max_in_flight", "shard_count", "bots", "metrics_port", mode="before")
    @classmethod
    def _ascii_digits(cls, value):
        """A whole number is written in the digits 0-9 (pydantic alone would read `3.0`, `+3`, `1_000`)."""
        if isinstance(value, str) and not DIGITS.fullmatch(value.strip()):
            raise ValueError("written in the digits 0-9")
        return value

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _any_case(cls, value):
        """`LOG_LEVEL=debug` as `DEBUG`, `LOG_FORMAT=JSON` as `json`."""
        if isinstance(value, str):
            value = value.strip()
            return value.lower() if value.lower() in ("text", "json") else value.upper()
        return value

    @field_validator("owner_ids", mode="before")
    @classmethod
    def _owner_list(cls, value):
        return _ids(value) if isinstance(value, str) else value

    @field_validator("shard_ids", mode="before")
    @classmethod
    def _shard_list(cls, value):
        return _shard_ids(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _derived(self) -> Settings:
        """What follows from other settings: the default database, its password, this bot's shards."""
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{self.data_dir / 'poembot.sqlite3'}"
        if self.database_password:
            self.database_url = _with_password(self.database_url, self.database_password)
        if self.bots is not None or self.bot_ordinal.strip():  # this bot's place among several
            self.shard_ids = _derived_shard_ids(self)
        return self

    def __repr_args__(self):
        """The repr (what a log would show): no token or password, the database URL without its password."""
        for name, value in super().__repr_args__():
            yield name, _hide_password(value) if name == "database_url" else value

    @property
    def warnings(self) -> list[str]:
        """What `from_env` found odd but harmless (a variable nothing reads), to log once logging is set up."""
        return list(self._warnings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, env_file: Path | None = ENV_FILE) -> Settings:
        """The settings `environ` (default: this process's environment) gives, over those of
        `env_file`, over those of the secrets directory (bot/sources.py); checked (see
        `check`). A variable `NAME_FILE` gives NAME the content of that file; an empty
        variable is unset. A `POEMBOT_*` name nothing reads is kept as a warning."""
        try:
            given = sources.variables(os.environ if environ is None else environ, "the environment", ALIASES)
            dotenv = sources.variables(sources.env_file(env_file), str(env_file), ALIASES) if env_file else {}
            folder = given.get("POEMBOT_SECRETS_DIR") or dotenv.get("POEMBOT_SECRETS_DIR")
            secrets = sources.secret_files(Path(folder) if folder else SECRETS_DIR, ALIASES, asked=bool(folder))
        except sources.SourceError as e:
            raise ConfigError(str(e)) from None
        values = {name: v for name, v in {**secrets, **dotenv, **given}.items() if name in ALIASES and v}
        try:
            settings = cls.model_validate(values)
        except ValidationError as e:
            raise config_error(e, cls) from None
        settings._warnings = sources.unknown({*given, *dotenv}, "POEMBOT_", KNOWN)
        return settings.check()

    def check(self) -> Settings:
        """Refuse what cannot work before anything starts (see `database_path` and `worker_url`)."""
        self.database_path()
        if self.worker_url is not None:
            for one in self.worker_urls():
                try:
                    url = urlsplit(one)
                    ok = url.scheme in ("http", "https") and bool(url.hostname) and (url.port is None or url.port > 0)
                except ValueError:  # a port that is not a number, or out of range
                    ok = False
                if not ok:
                    raise ConfigError(
                        f"WORKER_URL must be the worker's http:// address, like http://worker:8500 "
                        f"(or several, comma-separated), not {self.worker_url!r} "
                        f"(unset it for the in-process worker)"
                    )
        if self.shard_ids is not None:
            if self.shard_count is None:
                raise ConfigError("SHARD_IDS needs SHARD_COUNT (the shards in all), like SHARD_COUNT=4 SHARD_IDS=0,1")
            if not self.shard_ids or not all(0 <= i < self.shard_count for i in self.shard_ids):
                raise ConfigError(
                    f"SHARD_IDS must be shard numbers from 0 to {self.shard_count - 1} "
                    f"(SHARD_COUNT={self.shard_count}), not {','.join(map(str, self.shard_ids))}"
                )
        if not self.prefix.strip():
            raise ConfigError("POEMBOT_PREFIX must not be empty or blank (the default is !)")
        return self

    def worker_urls(self) -> list[str]:
        """The HTTP workers WORKER_URL names (comma-separated); an empty entry counts as a bad one."""
        return [u.strip() for u in (self.worker_url or "").split(",")] if self.worker_url else []

    def database_path(self) -> Path | None:
        """The SQLite file (None for PostgreSQL), after checking the URL can work:
        a known async driver, a file (not an unasked-for in-memory database),
        and a directory and file this process may write."""
        try:
            url: URL = make_url(self.database_url)
        except (ArgumentError, ValueError):  # ValueError: a port that is not a number
            raise ConfigError(
                f"DATABASE_URL is not a database URL: {_hide_password(self.database_url)!r}; "
                "for example sqlite+aiosqlite:///data/poembot.sqlite3"
            ) from None
        backend, _, driver = url.drivername.partition("+")  # (no dialect loaded: `postgres` names none)
        if backend == "postgres":
            backend = "postgresql"  # Heroku's and libpq's spelling
        if ASYNC_DRIVERS.get(backend) != driver:
            if backend not in ASYNC_DRIVERS:
                raise ConfigError(
                    f"DATABASE_URL must use sqlite+aiosqlite:// or postgresql+asyncpg://, not {url.drivername}://"
                )
            fixed = url.set(drivername=f"{backend}+{ASYNC_DRIVERS[backend]}").render_as_string(hide_password=True)
            raise ConfigError(
                f"DATABASE_URL must use {backend}+{ASYNC_DRIVERS[backend]}:// (the async driver the bot has), "
                f"not {url.drivername}://: write {fixed}"
            )
        if backend != "sqlite":
            if url.port is not None and not 1 <= url.port <= 65535:
                raise ConfigError(f"DATABASE_URL: the port must be 1 to 65535 (PostgreSQL's is 5432), not {url.port}")
            return None
        if not url.database:
            raise ConfigError(
                "DATABASE_URL names no file (sqlite+aiosqlite:///), which would keep everything in "
                "memory and lose it at exit; name a file, or write :memory: if that is what you want"
            )
        if url.database == ":memory:":
            return None
        path = Path(url.database)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigError(
                f"DATABASE_URL: cannot create the directory {str(path.parent)!r} "
                f"({e.strerror}); set POEMBOT_DATA_DIR or DATABASE_URL to a writable place"
            ) from None
        if not os.access(path.parent, os.W_OK | os.X_OK):
            raise ConfigError(
                f"DATABASE_URL: the directory {str(path.parent)!r} is not writable by this user; "
                "SQLite needs to write its journal there"
            )
        if path.exists() and not os.access(path, os.R_OK | os.W_OK):
            raise ConfigError(
                f"DATABASE_URL: the database file {str(path)!r} is read-only for this user; "
                "make it writable (chmod u+w, or chown it to the user running the bot)"
            )
        return path


ALIASES = frozenset(info.alias for info in Settings.model_fields.values())  # the bot's variables
KNOWN = ALIASES | {info.alias for info in WorkerSettings.model_fields.values() if info.alias}  # and its worker's


def _with_password(url: str, password: str) -> str:
    """DATABASE_URL with DATABASE_PASSWORD put in (the URL must not carry one of its own)."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return url  # `check` says what is wrong with it
    if parsed.password:
        raise ConfigError("DATABASE_URL names a password and DATABASE_PASSWORD is set too: set one")
    return parsed.set(password=password).render_as_string(hide_password=False)


def config_error(error: ValidationError, model: type[BaseModel]) -> ConfigError:
    """One line for the first bad variable: its name, what it must be, what it was (unless secret)."""
    first = error.errors()[0]
    name = str(first["loc"][0]) if first["loc"] else "a setting"
    field_name = next((f for f, info in model.model_fields.items() if info.alias == name), None)
    info = model.model_fields[field_name] if field_name else None
    kind = info.annotation if info else None
    if len(inner := [a for a in get_args(kind) if a is not type(None)]) == 1:  # int | None -> int
        kind = inner[0]
    what = {
        float: "a number of seconds" if name.endswith("_S") else "a number",
        int: "a whole number",
        bool: "0 or 1",
    }.get(kind, "valid")
    detail = first["msg"].removeprefix("Value error, ")
    if first["type"] == "less_than_equal":
        detail = f"at most {first['ctx']['le']}"
    detail = detail[:1].lower() + detail[1:]
    shown = "" if info is not None and not info.repr else f", not {first.get('input')!r}"
    return ConfigError(f"{name} must be {what} ({detail}){shown}")


def _numbers(text: str, most: int) -> list[int] | None:
    """The whole numbers (0 to `most`, ASCII digits) in a comma- or space-separated list, or
    None if any word is not one."""
    words = text.replace(",", " ").split()
    if not all(DIGITS.fullmatch(w) and len(w) <= len(str(most)) and int(w) <= most for w in words):
        return None
    return [int(w) for w in words]


def _ids(text: str) -> frozenset[int]:
    ids = _numbers(text, MAX_DISCORD_ID)
    if ids is None or 0 in ids:
        raise ConfigError(
            f"POEMBOT_OWNER_IDS must be Discord user ids (whole numbers, digits 0-9), comma-separated, "
            f"not {text[:80]!r}"
        )
    return frozenset(ids)


def _shard_ids(text: str) -> tuple[int, ...] | None:
    if not text.replace(",", " ").split():
        return None
    numbers = _numbers(text, MAX_SHARDS - 1)
    if numbers is None:
        raise ConfigError(
            f"SHARD_IDS must be shard numbers, comma-separated (like 0,1; digits 0-9, below SHARD_COUNT), "
            f"not {text[:80]!r}"
        )
    return tuple(sorted(set(numbers)))


def shards_for(ordinal: int, bots: int, shard_count: int) -> tuple[int, ...]:
    """The shards bot number `ordinal` (from 0) of `bots` runs, of `shard_count` in all: a
    contiguous block, the first `shard_count % bots` bots taking one more, so that every
    shard is run by exactly one bot (4 bots, 16 shards: bot 2 runs 8-11). The one rule
    for compose's shard example and the Kubernetes StatefulSet alike."""
    if not 1 <= bots <= shard_count:
        raise ValueError(f"{bots} bots cannot split {shard_count} shards (1 to {shard_count} bots can)")
    if not 0 <= ordinal < bots:
        raise ValueError(f"bot {ordinal} is not one of {bots} (0 to {bots - 1})")
    each, extra = divmod(shard_count, bots)
    start = ordinal * each + min(ordinal, extra)
    return tuple(range(start, start + each + (ordinal < extra)))


def _derived_shard_ids(settings: Settings) -> tuple[int, ...]:
    """SHARD_IDS from POEMBOT_BOTS and POEMBOT_BOT_ORDINAL (see `shards_for`)."""
    if settings.shard_ids is not None:
        raise ConfigError(
            "SHARD_IDS and POEMBOT_BOTS/POEMBOT_BOT_ORDINAL both say which shards to run: set one "
            "(the shards listed, or this bot's place among the bots)"
        )
    if settings.bots is None or not settings.bot_ordinal.strip():
        raise ConfigError(
            "POEMBOT_BOTS and POEMBOT_BOT_ORDINAL go together (the bots in all, and this one's place "
            "among them, like POEMBOT_BOTS=4 POEMBOT_BOT_ORDINAL=poembot-bot-2)"
        )
    if settings.shard_count is None:
        raise ConfigError(
            f"POEMBOT_BOTS needs SHARD_COUNT (the shards the {settings.bots} bots split), like SHARD_COUNT=16"
        )
    found = re.fullmatch(r"(?:.*-)?([0-9]{1,6})", settings.bot_ordinal.strip())
    if found is None:
        raise ConfigError(
            f"POEMBOT_BOT_ORDINAL must be a number from 0, or a name ending in one (like poembot-bot-2), "
            f"not {settings.bot_ordinal!r}"
        )
    ordinal = int(found.group(1))
    if settings.bots > settings.shard_count:
        raise ConfigError(
            f"POEMBOT_BOTS={settings.bots} is more bots than SHARD_COUNT={settings.shard_count} shards: some would "
            "run none; raise SHARD_COUNT or run fewer bots"
        )
    if ordinal >= settings.bots:
        raise ConfigError(
            f"POEMBOT_BOT_ORDINAL {settings.bot_ordinal!r} is bot {ordinal}, but POEMBOT_BOTS={settings.bots} "
            f"(bots 0 to {settings.bots - 1}): set POEMBOT_BOTS to the StatefulSet's replicas"
        )
    return shards_for(ordinal, settings.bots, settings.shard_count)


def _hide_password(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return url.split("@")[-1] if "@" in url else url
