"""Run the bot: `python -m bot` (Discord when DISCORD_TOKEN is set, else the
local console chat), `python -m bot --console`, or `python -m bot migrate`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import shlex
import signal
import sys
import threading
from dataclasses import dataclass, replace

import aiohttp
import discord
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from . import cards, logs
from model.contract import version

from .app import PoemBot, make_bot
from .local import LocalDiscord
from .service import PoemService
from .settings import ConfigError, Settings, environment
from .storage.db import create_engine, revisions, schema_revision, session_maker, upgrade
from .worker_client import WorkerClient, connect

log = logging.getLogger("poembot.bot")
CONSOLE_USER = 1


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
    if settings.metrics_port:
        try:
            service.metrics.serve(settings.metrics_port)
        except OSError as e:
            raise ConfigError(
                f"POEMBOT_METRICS_PORT: cannot listen on {settings.metrics_port} ({e.strerror})"
            ) from None
        log.info("metrics on :%d/metrics", settings.metrics_port)
    owners = settings.owner_ids | ({CONSOLE_USER} if console else set())
    bot = make_bot(service, settings.prefix, frozenset(owners), settings.shard_count, settings.shard_ids)
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


async def run_console(settings: Settings, stdin=sys.stdin, stdout=sys.stdout) -> None:
    """A chat with the bot in this terminal: one command a line, replies printed
    as Discord would show them. Ends at the end of input."""
    bot, engine, worker = await build(settings, console=True)
    local = LocalDiscord(bot)
    try:
        await local.start()
        if stdin.isatty():
            print("poembot console: type !help, !poem 42, ... (Ctrl-D to quit)", file=stdout, flush=True)
        chat = asyncio.ensure_future(_chat(local, _lines(stdin), stdout))

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


def _lines(stdin) -> asyncio.Queue:
    """Lines typed (None at the end of input), read by a daemon thread: a read that never
    returns must not keep the process alive at exit. A terminal gets line editing and
    history (readline)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    tty = stdin.isatty()

    def read() -> None:
        if tty:
            import readline  # noqa: F401  (input() gains editing and history)
        while True:
            try:
                line = (input("> ") + "\n") if tty else stdin.readline()
            except (EOFError, KeyboardInterrupt):
                line = ""
            except ValueError:  # stdin closed
                line = ""
            loop.call_soon_threadsafe(queue.put_nowait, line or None)
            if not line:
                return

    threading.Thread(target=read, name="poembot-console-input", daemon=True).start()
    return queue


async def _chat(local: LocalDiscord, lines: asyncio.Queue, stdout) -> None:
    """Each line: a command, a slash command (`/poem seed:42`), or the number of a button
    (or menu option) listed under the last reply that had any. Ends at the end of input, or
    when cancelled (SIGTERM), a command at work included."""
    controls: list[_Control] = []
    while True:
        line = await lines.get()
        if line is None:
            return
        line = line.strip()
        if not line:
            continue
        if (press := re.fullmatch(r"(?:!press\s+)?(\d{1,3})", line)) and controls:
            number = int(press.group(1))
            if not 1 <= number <= len(controls):
                print(f"There is no control {number} (1 to {len(controls)}).\n", file=stdout, flush=True)
                continue
            replies = await controls[number - 1].use(local)
        elif line.startswith("/"):
            try:
                name, options = _slash(line)
            except ValueError as e:
                print(f"{e}.\n", file=stdout, flush=True)
                continue
            if not name:
                print("Type a slash command after the /, like /poem or /help.\n", file=stdout, flush=True)
                continue
            replies = await local.slash(name, options, user_id=CONSOLE_USER, name_of_user="you")
        else:
            replies = await local.say(line, user_id=CONSOLE_USER, name="you")
        for sent in replies:
            if sent.kind in ("message", "interaction", "followup", "edit"):
                prefix = "(only you can see this) " if sent.ephemeral else ""
                print(prefix + sent.text(), file=stdout, flush=True)
                if found := _controls_of(sent):
                    controls = found
                    print(
                        " ".join(f"[{i} {c.label}]" for i, c in enumerate(controls, 1)) + "  (type a number to press)",
                        file=stdout,
                        flush=True,
                    )
        print(file=stdout, flush=True)


@dataclass
class _Control:
    """A button, or one option of a select menu, that the console user can press by number."""

    label: str
    message: dict
    custom_id: str
    value: str | None = None  # the option, for a select menu

    async def use(self, local: LocalDiscord):
        if self.value is None:
            return await local.click(self.message, self.custom_id, user_id=CONSOLE_USER, name="you")
        return await local.choose(self.message, self.custom_id, [self.value], user_id=CONSOLE_USER, name="you")


def _controls_of(sent) -> list[_Control]:
    found = []
    for row in sent.components:
        for c in row.get("components", []):
            if c.get("type") == 3:  # a select menu: each option is a control of its own
                found += [_Control(o["label"], sent.message, c["custom_id"], o["value"]) for o in c["options"]]
            elif "custom_id" in c:
                found.append(_Control(c.get("label") or c["custom_id"], sent.message, c["custom_id"]))
    return found


def _slash(line: str) -> tuple[str, dict]:
    """`/poem seed:42 form:7` -> ("poem", {"seed": "42", "form": "7"}); numbers for the numeric options.
    Quotes group words (`seed:"fav 42"`); a line shlex cannot read (`/poem seed:it's`) is split on spaces."""
    try:
        words = shlex.split(line[1:])
    except ValueError:  # an unclosed quote, a trailing backslash
        words = line[1:].split()
    if not words:
        return "", {}
    name, *rest = words
    options = {}
    for part in rest:
        key, sep, value = part.partition(":")
        if sep:
            if key in NUMBER_OPTIONS and not value.isdigit():  # Discord's client takes only numbers there
                raise ValueError(f"{key} takes a whole number, like {key}:5")
            options[key] = int(value) if key in NUMBER_OPTIONS else value
    return name.lower(), options


NUMBER_OPTIONS = ("steps", "n", "line")  # the slash options Discord's client takes as whole numbers


async def run_migrations(settings: Settings) -> None:
    engine = await open_database(settings, migrate=True)
    await engine.dispose()
    url = make_url(settings.database_url).render_as_string(hide_password=True)
    print(f"poembot: the database {url} is at the newest schema", file=sys.stderr)  # said whatever the log level


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    p.add_argument("command", nargs="?", choices=["run", "migrate"], default="run")
    p.add_argument("--console", action="store_true", help="chat locally even if DISCORD_TOKEN is set")
    p.add_argument("--version", action="version", version=f"poembot {version()}")
    args = p.parse_args(argv)
    try:
        return _run(args)
    except ConfigError as e:
        print(f"poembot: {e}", file=sys.stderr)
        return 2


def _run(args) -> int:
    env = environment()  # read once: the environment and .env
    settings = Settings.from_env(env)
    chat = args.console or not settings.discord_token
    level = env.log_level or ("WARNING" if chat else "INFO")
    discord.utils.setup_logging(
        level=getattr(logging, level),
        root=True,  # discord.py's handler
        formatter=logs.formatter(env.log_format),
    )
    if chat and not env.log_level:
        logging.getLogger("discord").setLevel(logging.ERROR)  # no voice-support chatter in a chat
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
        asyncio.run(run_console(for_console(settings, env.model_fields_set)))
    return 0


def for_console(settings: Settings, asked: set[str]) -> Settings:
    """One local user: cooldowns guard shared servers, not a private chat (unless `asked`
    for: the environment's fields that were set)."""
    return replace(
        settings,
        shard_count=None,  # one local guild, no gateway: nothing to shard
        shard_ids=None,
        poem_cooldown_s=settings.poem_cooldown_s if "poem_cooldown_s" in asked else 0.0,
        blend_cooldown_s=settings.blend_cooldown_s if "blend_cooldown_s" in asked else 0.0,
    )


if __name__ == "__main__":
    sys.exit(main())
