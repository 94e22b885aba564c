"""Helpers the test modules share (fixtures live in conftest.py)."""

from __future__ import annotations

import contextlib
import importlib.util
import pytest

from bench.harness import free_port, start_worker  # noqa: F401  (shared with the benchmarks, which have no pytest)
from bot.__main__ import build
from bot.local import LocalDiscord
from bot.settings import Settings

# a test that runs the model (the in-process worker, a checkpoint): skipped where the model's
# packages are not installed (CI's Python 3.12 and 3.13 runs test the bot alone)
needs_model = pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs poembot[worker] (torch)")


@contextlib.asynccontextmanager
async def running_bot(url: str, worker, channels: int = 0, locale: str = "en-US", guilds: int = 1, **overrides):
    """The bot as `python -m bot` wires it (`bot.__main__.build`), on a real database and
    `worker`, connected to a local Discord (`guilds` servers, the first one's preferred
    `locale` given, and direct messages); cooldowns off, user 1 an owner."""
    settings = Settings(database_url=url, poem_cooldown_s=0, blend_cooldown_s=0, owner_ids=frozenset({1}))
    bot, engine, _ = await build(settings.model_copy(update=overrides), worker=worker)
    local = LocalDiscord(bot, extra_channels=channels, locale=locale, guilds=guilds)
    await local.start()
    try:
        yield local
    finally:
        await bot.close()
        await engine.dispose()


def poem_of(sent) -> list[str]:
    """A poem reply's lines, as shown."""
    return sent.embeds[0]["description"].split("\n")
