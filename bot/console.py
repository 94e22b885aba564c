"""The local console chat (`python -m bot --console`, or no DISCORD_TOKEN at a terminal): one
command a line, typed, slashed (`/poem seed:42`) or a button pressed by its number, sent
through a local Discord (`bot.local`: discord.py's own dispatch) and the replies printed as
Discord would show them. `bot.__main__.run_console` builds the bot and runs this chat."""

from __future__ import annotations

import asyncio
import re
import shlex
import sys
import threading
from dataclasses import dataclass

from .i18n import language_for, render, t
from .local import LocalDiscord
from .settings import Settings

CONSOLE_USER = 1  # the one person at the console (an owner of the bot: `!sync` works)
LOCALES = {"en": "en-US", "zh-TW": "zh-TW", "zh-CN": "zh-CN"}  # `--locale`: the Discord locale it stands for


async def chat(local: LocalDiscord, stdin=sys.stdin, stdout=sys.stdout) -> None:
    """Chat with the bot behind `local` until the end of input (or until cancelled), in the
    language of `local.locale`: its server's and the console user's client's."""
    if stdin.isatty():
        hello = t("poembot console: type !help, !poem 42, ... (Ctrl-D to quit)")
        print(render(hello, language_for(local.locale)), file=stdout, flush=True)
    await _chat(local, _lines(stdin), stdout)


def for_console(settings: Settings, asked: set[str]) -> Settings:
    """One local user: cooldowns guard shared servers, not a private chat (unless `asked`
    for: the settings that were set)."""
    return settings.model_copy(
        update={
            "shard_count": None,  # one local guild, no gateway: nothing to shard
            "shard_ids": None,
            "poem_cooldown_s": settings.poem_cooldown_s if "poem_cooldown_s" in asked else 0.0,
            "blend_cooldown_s": settings.blend_cooldown_s if "blend_cooldown_s" in asked else 0.0,
        }
    )


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
    language = language_for(local.locale)

    def say(words) -> None:
        print(render(words, language) + "\n", file=stdout, flush=True)

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
                say(t("There is no control {number} (1 to {n}).", number=number, n=len(controls)))
                continue
            replies = await controls[number - 1].use(local)
        elif line.startswith("/"):
            try:
                name, options = _slash(line)
            except _NotANumber as e:
                say(t("{key} takes a whole number, like {key}:5.", key=e.key))
                continue
            if not name:
                say(t("Type a slash command after the /, like /poem or /help."))
                continue
            replies = await local.slash(name, options, user_id=CONSOLE_USER, name_of_user="you", locale=local.locale)
        else:
            replies = await local.say(line, user_id=CONSOLE_USER, name="you")
        for sent in replies:
            if sent.kind in ("message", "interaction", "followup", "edit"):
                prefix = render(t("(only you can see this)"), language) + " " if sent.ephemeral else ""
                print(prefix + sent.text(), file=stdout, flush=True)
                if found := _controls_of(sent):
                    controls = found
                    listed = " ".join(f"[{i} {c.label}]" for i, c in enumerate(controls, 1))
                    how = render(t("(type a number to press)"), language)
                    print(f"{listed}  {how}", file=stdout, flush=True)
        print(file=stdout, flush=True)


@dataclass
class _Control:
    """A button, or one option of a select menu, that the console user can press by number."""

    label: str
    message: dict
    custom_id: str
    value: str | None = None  # the option, for a select menu

    async def use(self, local: LocalDiscord):
        who = {"user_id": CONSOLE_USER, "name": "you", "locale": local.locale}
        if self.value is None:
            return await local.click(self.message, self.custom_id, **who)
        return await local.choose(self.message, self.custom_id, [self.value], **who)


def _controls_of(sent) -> list[_Control]:
    found = []
    for row in sent.components:
        for c in row.get("components", []):
            if c.get("type") == 3:  # a select menu: each option is a control of its own
                found += [_Control(o["label"], sent.message, c["custom_id"], o["value"]) for o in c["options"]]
            elif "custom_id" in c:
                found.append(_Control(c.get("label") or c["custom_id"], sent.message, c["custom_id"]))
    return found


class _NotANumber(ValueError):
    """A numeric slash option given something else (Discord's client would not send it)."""

    def __init__(self, key: str):
        super().__init__(f"{key} takes a whole number, like {key}:5")
        self.key = key


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
                raise _NotANumber(key)
            options[key] = int(value) if key in NUMBER_OPTIONS else value
    return name.lower(), options


NUMBER_OPTIONS = ("steps", "n", "line")  # the slash options Discord's client takes as whole numbers
