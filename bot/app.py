"""The bot: a `commands.Bot` that receives its dependencies (the service; `make_bot`), its
help command, and one error handler for prefix and slash commands, buttons and menus.
`bot.__main__.build` wires it to the database and the worker."""

from __future__ import annotations

import logging
import re
import time

import discord
from discord.ext import commands

from .admin import Settings
from .cogs import Poems, meaning
from .daily import Clock, Daily, SystemClock
from .gate import NotHere, check as gate_check, let_in, settle
from .members import Yours
from .views import (
    FavouriteButton,
    ForgetButton,
    RateButton,
    RerollButton,
    RewriteSelect,
    StepSelect,
    VaryButton,
    private_error,
    use_locale,
    worded,
)
from .i18n import Translator, Words, help_of, render, t, tc
from .service import PoemService, UserError
from .logs import command_done
from .replies import APOLOGY as APOLOGY  # (its English: what tests compare a reply with)
from .replies import SORRY, echo, fit, normalise, storage_reply
from .storage.repo import StorageError
from .worker_client import WorkerUnavailable

log = logging.getLogger("poembot.bot")


def intents() -> discord.Intents:
    i = discord.Intents.default()
    i.message_content = True  # privileged: needed for ! commands
    return i


# the headings of `!help`'s lists (discord.py writes them from the cog's name and no_category)
HEADINGS = {
    "Poems:": t("Poems:"),
    "Yours:": t("Yours:"),
    "Settings:": t("Settings:"),
    "Other:": t("Other:"),
    "Commands:": t("Commands:"),
}


class HelpCommand(commands.DefaultHelpCommand):
    """discord.py's help, in the reader's language (every text from the catalogue), reading
    `!help "poem"` and `!help ＰＯＥＭ` as `!help poem`, and quoting an unknown name short
    and escaped."""

    def __init__(self):
        super().__init__(no_category="Other")

    async def command_callback(self, ctx, /, *, command: str | None = None):
        if command is not None:
            command = normalise(command).strip("\"'“”「」`").lower() or None
            # a category by any case (`!help poems`, as the footer offers `!help Poems`)
            command = next((name for name in ctx.bot.cogs if name.lower() == command), command)
        return await super().command_callback(ctx, command=command)

    def add_command_arguments(self, command, /) -> None:
        """Each argument with its meaning (from the one table the slash client reads too)."""
        arguments = command.clean_params.values()
        if not arguments:
            return
        self.paginator.add_line(render(t("Arguments:")))
        width = max(len(a.name) for a in arguments)
        for a in arguments:
            optional = "" if a.required else render(t(" (optional)"))
            self.paginator.add_line(f"{self.indent * ' '}{a.name:<{width}}  {render(meaning(a.name))}{optional}")

    def add_command_formatting(self, command, /) -> None:
        """discord.py's, with the help in the reader's language."""
        self.paginator.add_line(self.get_command_signature(command), empty=True)
        if command.help:
            for line in render(help_of(command)).splitlines():
                self.paginator.add_line(line)
            self.paginator.add_line()
        self.add_command_arguments(command)

    def add_indented_commands(self, commands_, /, *, heading: str, max_size: int | None = None) -> None:
        """discord.py's list of commands, each with its first help line in the reader's language."""
        if not commands_:
            return
        heading = heading.lstrip("\u200b")
        self.paginator.add_line(render(HEADINGS.get(heading, heading)))
        max_size = max_size or self.get_max_size(commands_)
        for command in commands_:
            short = render(help_of(command)).split("\n")[0] if command.help else command.short_doc
            self.paginator.add_line(self.shorten_text(f"{self.indent * ' '}{command.name:<{max_size}} {short}"))

    async def send_cog_help(self, cog, /) -> None:
        """discord.py's, with the cog's description in the reader's language."""
        if cog.description:
            self.paginator.add_line(render(tc("help", cog.description)), empty=True)
        filtered = await self.filter_commands(cog.get_commands(), sort=self.sort_commands)
        self.add_indented_commands(filtered, heading="Commands:")
        self.paginator.add_line()
        self.paginator.add_line(self.get_ending_note())
        await self.send_pages()

    def get_ending_note(self) -> str:
        typed = f"{self.context.clean_prefix}{self.invoked_with}"
        return (
            render(t("Type {help} command for more info on a command.", help=typed))
            + "\n"
            + render(t("You can also type {help} category for more info on a category.", help=typed))
        )

    async def send_pages(self) -> None:
        destination = self.get_destination()
        for page in self.paginator.pages:
            await destination.send(self.context.bot.wording(page))

    def command_not_found(self, string: str) -> str:
        # (discord.py has already broken mentions with a zero-width space; echo escapes them itself)
        name = echo(string.replace(chr(0x200B), ""))
        return self.context.bot.wording(
            t("There is no command called “{name}”.", name=name) + t("Type `!help` for the list.")
        )

    def subcommand_not_found(self, command, string: str) -> str:
        said = t("`{command}` has no part called “{name}”.", command=command.qualified_name, name=echo(string))
        return self.context.bot.wording(said)


class PoemContext(commands.Context):
    """A command's context whose replies name commands with the bot's own prefix."""

    async def send(self, content=None, **kwargs):
        return await super().send(worded(self.bot, content, kwargs), **kwargs)

    async def reply(self, content=None, **kwargs):
        return await super().reply(worded(self.bot, content, kwargs), **kwargs)


async def _reader_locale(ctx: commands.Context) -> None:
    """Before every command: a reader who never chose a script gets the one their client's
    language suggests (slash commands), else the server's preferred language (typed ones)."""
    use_locale(ctx)
    ctx.started = time.perf_counter()


def _count(ctx: commands.Context, outcome: str) -> None:
    metrics = ctx.bot.service.metrics
    name = ctx.command.qualified_name if ctx.command else "unknown"
    metrics.handled.labels(name, outcome).inc()
    seconds = time.perf_counter() - ctx.started if hasattr(ctx, "started") else 0.0
    if hasattr(ctx, "started"):
        metrics.seconds.labels(name).observe(seconds)
    command_done(name, ctx.author.id if ctx.author else None, outcome, seconds)


class PoemBot(commands.Bot):
    def __init__(
        self,
        *,
        service: PoemService,
        prefix: str = "!",
        owner_ids: frozenset[int] = frozenset(),
        clock: Clock | None = None,
        **kwargs,
    ):
        super().__init__(
            command_prefix=commands.when_mentioned_or(prefix),
            intents=intents(),
            allowed_mentions=discord.AllowedMentions.none(),
            owner_ids=set(owner_ids) or None,
            help_command=HelpCommand(),
            **kwargs,
        )
        self.service = service
        self.prefix = prefix
        self.clock = clock or SystemClock()  # the time of day, for the poem of the day (tests set their own)

    async def setup_hook(self) -> None:
        self.before_invoke(_reader_locale)
        self.tree.on_error = self.on_app_command_error
        await self.tree.set_translator(Translator())
        await self.add_cog(Poems(self))
        await self.add_cog(Yours(self))  # (it registers its own buttons)
        await self.add_cog(Settings(self))
        await self.add_cog(Daily(self))  # (its task posts the poems of the day until the bot closes)
        self.add_check(gate_check)  # where a server lets the bot answer (bot.gate) ...
        self.tree.interaction_check = let_in  # ... for slash commands too
        self.add_dynamic_items(
            RateButton, FavouriteButton, VaryButton, RerollButton, StepSelect, RewriteSelect, ForgetButton
        )

    async def get_context(self, origin, /, *, cls=PoemContext):
        ctx = await super().get_context(origin, cls=cls)
        if ctx.command is not None:  # (a command: the reader's stored language and the server's rules)
            await settle(ctx)
        use_locale(ctx)  # (before the arguments are read: their errors are replies too)
        return ctx

    def wording(self, text: Words | str) -> str:
        """A reply as its reader reads it: in their language (words of the catalogue,
        `bot.i18n`, rendered in LANGUAGE's) and naming commands (`!help`) with this bot's prefix
        (POEMBOT_PREFIX)."""
        text = render(text)
        if text and self.prefix != "!":
            text = re.sub(r"`!(?=[A-Za-z\u3400-\u9fff])", lambda _: "`" + self.prefix, text)
        return text

    def describe(self, error: BaseException, parameter: str | None = None) -> tuple[str, str]:
        """The reply a user gets for an error, and the outcome counted in the metrics and the
        log: "refused" for their mistakes (and busy, or no worker), each with its own words;
        "error", with an apology and the traceback logged, for anything else. Every handler
        (commands, slash commands, buttons, menus) answers errors through this."""
        while getattr(error, "original", None) is not None:  # CommandInvokeError, HybridCommandError, ...
            error = error.original
        text = self._user_text(error, parameter)
        if text is None:
            log.error("unexpected error", exc_info=(type(error), error, error.__traceback__))
            return self.wording(SORRY), "error"
        return fit(self.wording(text)), "refused"

    @staticmethod
    def _user_text(error: BaseException, parameter: str | None) -> Words | None:
        if isinstance(error, StorageError):
            return storage_reply(error)
        if isinstance(error, (UserError, WorkerUnavailable)):
            return error.words
        if isinstance(error, commands.NotOwner):
            return t("Only the bot's owner can do that.")
        if isinstance(error, commands.MissingRequiredArgument):
            return t("Something is missing: `{p}`.", p=error.param.name) + t("See `!help`.")
        if isinstance(error, commands.RangeError):
            lo, hi, value = error.minimum, error.maximum, echo(error.value)
            if parameter:
                return t("`{p}` must be from {a} to {b} (not {v}).", p=parameter, a=lo, b=hi, v=value)
            return t("That number must be from {a} to {b} (not {v}).", a=lo, b=hi, v=value)
        if isinstance(error, (commands.ChannelNotFound, commands.RoleNotFound)):
            return t("There is no channel or role “{name}” here.", name=echo(error.argument))
        if isinstance(error, (commands.BadArgument, commands.BadUnionArgument)):
            return t("I could not read that: numbers must be whole numbers.") + t("See `!help`.")
        if isinstance(error, commands.UserInputError):
            return t("I could not read that command.") + t("See `!help`.")
        return None

    async def on_app_command_error(
        self, interaction: discord.Interaction, error: discord.app_commands.AppCommandError
    ) -> None:
        """A slash command the tree cannot run: unknown or stale (synced from an older
        version), or failing before a command's own handler: a clear answer, one log line."""
        use_locale(interaction)
        if isinstance(error, (discord.app_commands.CommandNotFound, discord.app_commands.CommandSignatureMismatch)):
            log.warning(
                "slash command %r is not this version's (%s); run !sync",
                interaction.data.get("name"),
                error.__class__.__name__,
            )
            reply = t("That slash command is out of date: the bot's owner can refresh them with `!sync`.") + t(
                "Typed commands work meanwhile: see `!help`."
            )
        else:
            reply, _ = self.describe(error)
        try:
            await private_error(interaction, reply)
        except discord.HTTPException:
            log.exception("could not send an error reply")

    async def on_command_completion(self, ctx: commands.Context) -> None:
        _count(ctx, "ok")

    async def on_command_error(self, ctx: commands.Context, error: commands.CommandError) -> None:
        if isinstance(error, commands.CommandNotFound):
            return
        if isinstance(error, NotHere) and ctx.interaction is None:
            return  # typed where the server does not let the bot answer: silence (bot.gate)
        reply, outcome = self.describe(error, ctx.current_parameter.name if ctx.current_parameter else None)
        _count(ctx, outcome)
        try:
            if ctx.interaction is not None:
                await private_error(ctx.interaction, reply)
            else:
                await ctx.reply(reply, mention_author=False)
        except discord.HTTPException:
            log.exception("could not send an error reply")


class ShardedPoemBot(PoemBot, commands.AutoShardedBot):
    """The bot running some of the shards of a bot that many guilds have added (SHARD_COUNT,
    SHARD_IDS): Discord sends it the events of guild g only if (g >> 22) % shard_count is
    one of its shard ids. Everything else is PoemBot's; state lives in the database."""


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard that receives a guild's events (Discord's formula)."""
    return (guild_id >> 22) % shard_count


def make_bot(
    service: PoemService,
    prefix: str,
    owner_ids: frozenset[int],
    shard_count: int | None = None,
    shard_ids: tuple[int, ...] | None = None,
) -> PoemBot:
    """A PoemBot, or (with shard settings) a ShardedPoemBot running `shard_ids` of `shard_count`."""
    if shard_count is None:
        return PoemBot(service=service, prefix=prefix, owner_ids=owner_ids)
    return ShardedPoemBot(
        service=service,
        prefix=prefix,
        owner_ids=owner_ids,
        shard_count=shard_count,
        shard_ids=list(shard_ids if shard_ids is not None else range(shard_count)),
    )
