"""Helpers the test modules share (fixtures live in conftest.py)."""

from __future__ import annotations

import contextlib
import socket

from bot.app import PoemBot
from bot.local import LocalDiscord
from bot.service import PoemService
from bot.settings import Settings
from bot.storage.db import create_engine, session_maker, upgrade


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.asynccontextmanager
async def running_bot(url: str, worker, channels: int = 0, **overrides):
    """The bot on a real database and `worker`, connected to a local Discord (cooldowns off)."""
    settings = Settings(database_url=url, poem_cooldown_s=0, blend_cooldown_s=0, owner_ids=frozenset({1}))
    for k, v in overrides.items():
        setattr(settings, k, v)
    engine = create_engine(url)
    await upgrade(engine)
    bot = PoemBot(service=PoemService(session_maker(engine), worker, settings), owner_ids=settings.owner_ids)
    local = LocalDiscord(bot, extra_channels=channels)
    await local.start()
    try:
        yield local
    finally:
        await bot.close()
        await engine.dispose()


def poem_of(sent) -> list[str]:
    """A poem reply's lines, as shown."""
    return sent.embeds[0]["description"].split("\n")
