"""Before every command and press: the server's rules, and the reader's stored language.

`settle` reads them from the database once for a command or a press (the server's rules from
`/config`, `bot.storage.settings`, and the member's own `!language`) and sets `i18n.CHOSEN`,
so that `i18n.reader_language` puts the member's choice first, then their server's.

`allowed` is the one rule of where and for whom the bot answers: in the channels a server
chose (all if none; a thread by its channel), for members of the roles it chose (all if none)
and for members with Manage Server, who can also use `/config` anywhere. Elsewhere, typed
commands are ignored without a word (the bot's global check raises `NotHere`, which the error
handler keeps silent); slash commands and the buttons that write are told so privately
(`let_in`, the command tree's interaction check)."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass

import discord
from discord.ext import commands

from .i18n import CHOSEN, reader_language, render, t
from .parsing import UserError
from .storage import settings as servers
from .storage.settings import ServerRules

ADMIN_COMMANDS = {"config"}  # what members with Manage Server may use in any channel


@dataclass(frozen=True)
class Place:
    """What the database says about a command's place and reader."""

    rules: ServerRules | None  # the server's (None: direct messages)
    language: str | None  # the member's own choice (None: none)


class NotHere(commands.CheckFailure, UserError):
    """This server does not let the bot answer this member here."""

    def __init__(self):
        UserError.__init__(self, t("This server does not let me answer you in this channel."))


# the place read for the command or press being handled, with its origin's id
_PLACE: contextvars.ContextVar[tuple[int, Place] | None] = contextvars.ContextVar("place", default=None)


def _parts(origin: commands.Context | discord.Interaction):
    """(bot, origin id, user, guild id, channel) of a command or press."""
    if isinstance(origin, discord.Interaction):
        return origin.client, origin.id, origin.user, origin.guild_id, origin.channel
    key = origin.interaction.id if origin.interaction is not None else origin.message.id
    return origin.bot, key, origin.author, origin.guild.id if origin.guild else None, origin.channel


async def settle(origin: commands.Context | discord.Interaction) -> Place:
    """Read the place of a command or press (once: a slash command is settled by the tree's
    check, then by its context), and make its reader's stored choices the ones in force."""
    bot, key, user, guild_id, _ = _parts(origin)
    cached = _PLACE.get()
    if cached is not None and cached[0] == key:
        place = cached[1]
    else:
        async with bot.service.reads() as s:
            place = Place(*await servers.place(s, user.id, guild_id))
        _PLACE.set((key, place))
    CHOSEN.set((place.language, place.rules.language if place.rules is not None else None))
    return place


def is_admin(member) -> bool:
    """Whether a server member has Manage Server (a server's owner and administrators do)."""
    return isinstance(member, discord.Member) and member.guild_permissions.manage_guild


def allowed(rules: ServerRules | None, channel, member, command: str | None = None) -> bool:
    """Whether the bot answers `member` in `channel` under the server's `rules` (for `command`,
    the name of a typed or slash command's root; None for a press)."""
    if rules is None:  # direct messages
        return True
    admin = is_admin(member)
    if admin and command in ADMIN_COMMANDS:
        return True
    if rules.channels:
        parent = getattr(channel, "parent_id", None) if isinstance(channel, discord.Thread) else None
        if getattr(channel, "id", None) not in rules.channels and parent not in rules.channels:
            return False
    if rules.roles and not admin:
        return any(role.id in rules.roles for role in getattr(member, "roles", ()))
    return True


def _root(origin: commands.Context | discord.Interaction) -> str | None:
    if isinstance(origin, discord.Interaction):
        data = origin.data or {}
        return data.get("name") if origin.type is not discord.InteractionType.component else None
    return origin.command.root_parent.name if origin.command.root_parent else origin.command.name


async def check(ctx: commands.Context) -> bool:
    """The bot's global check: a command is run only where the server lets the bot answer."""
    place = await settle(ctx)
    if not allowed(place.rules, ctx.channel, ctx.author, _root(ctx)):
        raise NotHere()
    return True


async def let_in(interaction: discord.Interaction) -> bool:
    """Whether to go on with a slash command or a press: where the server does not let the bot
    answer, the member is told so privately (an autocomplete gets no suggestions)."""
    place = await settle(interaction)
    if allowed(place.rules, interaction.channel, interaction.user, _root(interaction)):
        return True
    if interaction.type is discord.InteractionType.autocomplete:
        await interaction.response.autocomplete([])
    elif not interaction.response.is_done():
        text = NotHere().words + t("An admin can change that with `/config channels` or `/config roles`.")
        await interaction.response.send_message(render(text, reader_language(interaction)), ephemeral=True)
    return False
