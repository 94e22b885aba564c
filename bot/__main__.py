"""Run the bot: `python -m bot` (Discord when DISCORD_TOKEN is set, else the
local console chat), `python -m bot --console`, or `python -m bot migrate`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

import aiohttp
import discord
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from . import cards, logs
from model.contract import version

from . import console
from .app import PoemBot, make_bot
from .console import CONSOLE_USER
from .local import LocalDiscord
from .service import PoemService
from .settings import ConfigError, Settings
from .storage.db import create_engine, revisions, schema_revision, session_maker, upgrade
from .worker_client import WorkerClient, connect

log = logging.getLogger("poembot.bot")


async def open_database(settings: Settings, migrate: bool):
    """The engine, after a first connection, the schema checked and (if `migrate`) brought
    to the newest: a database that cannot be reached or written, one at a schema revision
    this code does not know, or (without `migrate`) one not at the newest is a ConfigError."""
    path = settings.database_path()
    if not migrate and path is not None and not path.exists():
        raise ConfigError(_unmigrated(None))
    engine = create_engine(settings.database_url)
    try:
        current = await schema_revision(engine)
        known, head = revisions()
        if current is not None and current not in known:
            raise ConfigError(
                f"DATABASE_URL: the database is at schema revision {current!r}, which this "
                f"poembot does not know (a newer poembot migrated it): run that version, "
                f"or restore a backup taken before the upgrade"
            )
        if migrate:
            await upgrade(engine)
        elif current != head:
            raise ConfigError(_unmigrated(current))
    except (OSError, SQLAlchemyError) as e:
        await engine.dispose()
        reason = getattr(e, "orig", None) or e
        raise ConfigError(
            f"DATABASE_URL: cannot open the database "
            f"{make_url(settings.database_url).render_as_string(hide_password=True)!r}: "
            f"{str(reason).splitlines()[0][:200]}"
        ) from None
    except ConfigError:
        await engine.dispose()
        raise
    return engine


def _unmigrated(current: str | None) -> str:
    what = "has no poembot schema yet" if current is None else f"is at an older schema ({current})"
    return (
        f"POEMBOT_MIGRATE_ON_START=0 but the database {what}: run `python -m bot migrate` "
        f"(the compose file's migrate service) first, or set POEMBOT_MIGRATE_ON_START=1"
    )


async def build(
    settings: Settings, console: bool = False, worker: WorkerClient | None = None
) -> tuple[PoemBot, object, WorkerClient]:
    """The database (migrated), the worker client (`worker`, else the one the settings
    name) and the bot, wired together: the one place they are (the tests and the
    benchmarks build their bots here too)."""
    if settings.cards and settings.card_font is not None and (why := cards.unusable(settings.card_font)):
        raise ConfigError(
            f"POEMBOT_CARD_FONT: {str(settings.card_font)!r} is {why}; point it at a CJK "
            "serif font (.ttc/.otf), unset it for Noto Serif CJK, or set POEMBOT_CARDS=0"
        )
    engine = await open_database(settings, settings.migrate_on_start)
    worker = worker or await connect(settings.worker_url, settings.worker_timeout_s)
    service = PoemService(session_maker(engine), worker, settings)
    owners = settings.owner_ids | ({CONSOLE_USER} if console else set())
    bot = make_bot(service, settings.prefix, frozenset(owners), settings.shard_count, settings.shard_ids)
    if settings.metrics_port:  # /metrics and /healthz (connected to Discord), on a thread of their own
        try:
            service.metrics.serve(settings.metrics_port, bot)
        except OSError as e:
            raise ConfigError(
                f"POEMBOT_METRICS_PORT: cannot listen on {settings.metrics_port} ({e.strerror})"
            ) from None
        log.info("metrics on :%d/metrics, health on /healthz", settings.metrics_port)
    return bot, engine, worker


async def run_discord(settings: Settings) -> None:
    bot, engine, worker = await build(settings)
    try:
        async with bot:
            # discord.py installs no SIGTERM handler: without one `docker stop` waits, then kills
            await until_stopped(bot.start(settings.discord_token), bot.close)  # the token is never logged
    except discord.LoginFailure:
        raise ConfigError(
            "DISCORD_TOKEN was refused by Discord: copy the bot token again from the "
            "Developer Portal (Bot → Reset Token)"
        ) from None
    except discord.PrivilegedIntentsRequired:
        raise ConfigError(
            "Discord refused the Message Content intent: turn it on in the Developer Portal "
            "(Bot → Privileged Gateway Intents)"
        ) from None
    except (OSError, aiohttp.ClientError) as e:  # DNS, refused, TLS: no way to Discord
        raise ConfigError(
            f"cannot reach Discord ({e.__class__.__name__}: {str(e)[:160]}); check the network "
            "or proxy, or unset DISCORD_TOKEN to chat in the console"
        ) from None
    finally:
        await worker.close()
        await engine.dispose()


async def run_console(settings: Settings, stdin=sys.stdin, stdout=sys.stdout, locale: str = "en") -> None:
    """A chat with the bot in this terminal (`bot.console`): one command a line, replies
    printed as Discord would show them, in `locale`'s language (`--locale`). Ends at the end
    of input."""
    bot, engine, worker = await build(settings, console=True)
    local = LocalDiscord(bot, locale=console.LOCALES[locale])
    try:
        await local.start()
        chat = asyncio.ensure_future(console.chat(local, stdin, stdout))

        async def stop() -> None:  # also a command still at work: one that waits on a hung replica, say
            chat.cancel()

        await until_stopped(chat, stop)
    finally:
        await bot.close()
        await worker.close()
        await engine.dispose()


async def until_stopped(work, stop) -> None:
    """Run `work` until it ends, or until SIGTERM or SIGINT ask for `stop()` (which
    must make `work` end): a clean close at once, no traceback, exit status 0."""
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)

    def on_signal(sig: signal.Signals) -> None:
        log.info("%s: closing", sig.name)
        loop.create_task(stop())

    for sig in signals:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        await work
    except asyncio.CancelledError:
        if asyncio.current_task().cancelling():  # this task itself was cancelled, not `work` by `stop()`
            raise
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


async def run_migrations(settings: Settings) -> None:
    engine = await open_database(settings, migrate=True)
    await engine.dispose()
    url = make_url(settings.database_url).render_as_string(hide_password=True)
    print(f"poembot: the database {url} is at the newest schema", file=sys.stderr)  # said whatever the log level


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    p.add_argument("command", nargs="?", choices=["run", "migrate"], default="run")
    p.add_argument("--console", action="store_true", help="chat locally even if DISCORD_TOKEN is set")
    p.add_argument(
        "--locale",
        choices=list(console.LOCALES),
        default="en",
        help="the console chat's language: its server's and its user's (default en)",
    )
    p.add_argument("--version", action="version", version=f"poembot {version()}")
    args = p.parse_args(argv)
    try:
        return _run(args)
    except ConfigError as e:
        print(f"poembot: {e}", file=sys.stderr)
        return 2


def _run(args) -> int:
    settings = Settings.from_env()  # read once: the environment, .env and secret files
    chat = args.console or not settings.discord_token
    level = settings.log_level or ("WARNING" if chat else "INFO")
    discord.utils.setup_logging(
        level=getattr(logging, level),
        root=True,  # discord.py's handler
        formatter=logs.formatter(settings.log_format),
    )
    if chat and not settings.log_level:
        logging.getLogger("discord").setLevel(logging.ERROR)  # no voice-support chatter in a chat
    for warning in settings.warnings:  # (once logging is set up: in the log's own format)
        log.warning(warning)
    if args.command == "migrate":
        asyncio.run(run_migrations(settings))
    elif settings.discord_token and not args.console:
        asyncio.run(run_discord(settings))
    else:
        if not args.console:
            if not sys.stdin.isatty():  # a container with no token would otherwise restart forever
                raise ConfigError(
                    "DISCORD_TOKEN is not set and there is no terminal to chat in: set "
                    "DISCORD_TOKEN (in the environment or .env), or run `python -m bot --console` "
                    "to chat with commands on stdin"
                )
            print("No DISCORD_TOKEN set: starting the local console chat.", file=sys.stderr)
        asyncio.run(run_console(console.for_console(settings, settings.model_fields_set), locale=args.locale))
    return 0


if __name__ == "__main__":
    sys.exit(main())
