"""Settings from the environment. The Discord token is read here and nowhere else,
and is never logged (it is kept out of the dataclass repr)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def data_dir() -> Path:
    return Path(os.environ.get("POEMBOT_DATA_DIR", "data"))


def default_database_url() -> str:
    return f"sqlite+aiosqlite:///{data_dir() / 'poembot.sqlite3'}"


def _ids(text: str) -> frozenset[int]:
    return frozenset(int(x) for x in text.replace(",", " ").split() if x.isdigit())


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
            poem_cooldown_s=float(env.get("POEMBOT_POEM_COOLDOWN_S", 5)),
            blend_cooldown_s=float(env.get("POEMBOT_BLEND_COOLDOWN_S", 15)),
            max_in_flight=int(env.get("POEMBOT_MAX_IN_FLIGHT", 32)),
            worker_timeout_s=float(env.get("POEMBOT_WORKER_TIMEOUT_S", 10)),
            migrate_on_start=env.get("POEMBOT_MIGRATE_ON_START", "1") != "0",
        )
