"""A server's settings for the bot (`/config`, for members with Manage Server) and each
member's language (`!language`), in one cog, `Settings`.

What a server chooses (its channels and roles, cooldowns, a daily cap, cards by default, its
language, time zone and poem of the day) is stored in the database (`bot.storage.settings`);
`bot.gate` applies the channels and roles before every command, the service the cooldowns and
the cap, `bot.daily` posts the poem of the day. `/config show` (or `!config`) shows it all.
This module declares the commands and carries them out; what they read and show (a language or
a time zone as typed, the settings page) is `bot/admin_words.py`'s."""

from __future__ import annotations

import zoneinfo
from datetime import timedelta

import discord
from discord import app_commands
from discord.ext import commands

from .admin_words import NAMES, cooldown_words, describe_rules, mention, parse_language, parse_zone
from .daily import next_daily
from .gate import is_admin, settle
from .i18n import BY_CLIENT, BY_MEMBER, BY_SERVER, BY_SERVER_LOCALE, CHOSEN, LANGUAGE, Words, language_and_reason, t, tn
from .parsing import UserError
from .replies import normalise
from .storage import preferences
from .storage import settings as servers
from .storage.settings import ServerRules, zone

LANGUAGE_CHOICES = [
    app_commands.Choice(name="繁體中文 (zh-TW)", value="zh-TW"),
    app_commands.Choice(name="简体中文 (zh-CN)", value="zh-CN"),
    app_commands.Choice(name="English (en)", value="en"),
    app_commands.Choice(name="auto: the server's, else your Discord's", value="auto"),
]
MAX_COOLDOWN_S = 3600
MAX_CAP = 1000


class Refusal(commands.CheckFailure, UserError):
    """A check that failed, with words for the member."""

    def __init__(self, words: Words):
        UserError.__init__(self, words)


def needs_manage_server(ctx: commands.Context) -> None:
    if ctx.guild is None:
        raise Refusal(t("That is for servers: use it in one."))
    if not is_admin(ctx.author):
        raise Refusal(t("Only members with the Manage Server permission can change the bot's settings here."))


def check_postable(ctx: commands.Context, channel: discord.TextChannel) -> None:
    """Refuse a channel of another server, or one the bot cannot post a poem in (see it, send,
    embed)."""
    if channel.guild != ctx.guild:
        raise UserError(t("That channel is not in this server."))
    me = channel.guild.me
    allowed = channel.permissions_for(me) if me is not None else discord.Permissions.none()
    if not (allowed.view_channel and allowed.send_messages and allowed.embed_links):
        raise UserError(
            t(
                "I cannot post in {channel}: let me see it, send messages and embed links there.",
                channel=channel.mention,
            )
        )


class Settings(commands.Cog):
    """Your language, and a server's settings for the bot (Manage Server)."""

    def __init__(self, bot: commands.Bot):
        self.bot = bot
        self.service = bot.service

    async def cog_check(self, ctx: commands.Context) -> bool:
        """`/config` and its parts are for members with Manage Server, in a server."""
        if (ctx.command.root_parent or ctx.command).name == "config":
            needs_manage_server(ctx)
        return True

    async def _rules(self, guild_id: int) -> ServerRules:
        async with self.service.reads() as s:
            return await servers.server_rules(s, guild_id)

    async def _update(self, guild_id: int, **values) -> ServerRules:
        async with self.service.sessions.begin() as s:
            return await servers.update_server(s, guild_id, **values)

    # -- !language ---------------------------------------------------------------------------------
    @commands.hybrid_command(name="language")
    @app_commands.describe(
        language="zh-TW (繁體中文), zh-CN (简体中文), en (English), or auto",
        scope="me (default), or server: the server's default (Manage Server)",
    )
    @app_commands.choices(
        language=LANGUAGE_CHOICES,
        scope=[app_commands.Choice(name="me", value="me"), app_commands.Choice(name="server", value="server")],
    )
    async def language(self, ctx: commands.Context, language: str | None = None, scope: str | None = None):
        """Choose the language I answer you in; alone, says which is in force and why.

        `!language zh-TW` (繁體中文), `!language zh-CN` (简体中文), `!language en`;
        `!language auto` follows the server's default, else your Discord's language.
        Members with Manage Server choose the server's default: `!language server zh-TW`.
        """
        words = [normalise(w) for w in (language, scope) if w and normalise(w)]
        server = any(w.lower() == "server" for w in words)
        words = [w for w in words if w.lower() not in ("server", "me")]
        if not words:
            await ctx.send(await self._language_in_force(ctx), ephemeral=True)
            return
        code = parse_language(words[0])
        if server:
            needs_manage_server(ctx)
            await self._update(ctx.guild.id, language=code)
            said = (
                t("This server's default language is now {language}.", language=NAMES[code])
                if code
                else t("This server has no default language now: each member gets their Discord's.")
            )
            await ctx.send(said + t("Members who chose their own with `!language` keep it."), ephemeral=True)
            return
        async with self.service.sessions.begin() as s:
            await preferences.set_member_language(s, ctx.author.id, code)
        CHOSEN.set((code, CHOSEN.get()[1]))  # this reply already in the new language
        LANGUAGE.set(language_and_reason(ctx)[0])
        if code:
            await ctx.send(t("I will answer you in {language}.", language=NAMES[code]), ephemeral=True)
        else:
            await ctx.send(
                t("I will answer you in {language}: the server's, or your Discord's.", language=NAMES[LANGUAGE.get()]),
                ephemeral=True,
            )

    async def _language_in_force(self, ctx: commands.Context) -> Words:
        place = await settle(ctx)
        language, why = language_and_reason(ctx)
        reason = {
            BY_MEMBER: t("you chose it (`!language auto` leaves the choice to the server)"),
            BY_SERVER: t("it is this server's default, chosen by its admins"),
            BY_CLIENT: t("it is your Discord app's language"),
            BY_SERVER_LOCALE: t("it is this server's language (its Community settings)"),
        }.get(why, t("nothing else is chosen"))
        said = t("I answer you in {language}: {why}.", language=NAMES[language], why=reason)
        if place.rules is not None and place.rules.language and why == BY_MEMBER:
            said += t("This server's default is {language}.", language=NAMES[place.rules.language])
        return said + t("Choose with `!language zh-TW`, `!language zh-CN` or `!language en`.")

    # -- /config ---------------------------------------------------------------------------------
    @commands.hybrid_group(name="config", fallback="show", invoke_without_command=True)
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    async def config(self, ctx: commands.Context):
        """The bot's settings in this server (Manage Server): `!config` shows them all.

        `/config channels add #poems` (where I answer), `/config roles add @poets` (who
        may use me), `/config cooldown poem 30`, `/config cap 10` (poems a member may ask
        for a day), `/config cards off`, `/config language zh-TW`, `/config timezone
        Asia/Taipei`, `/config daily set #poems 9` (a poem of the day at 9:00).
        """
        rules = await self._rules(ctx.guild.id)
        await ctx.send(embed=describe_rules(self.bot, ctx.guild, rules, self.bot.clock.now()), ephemeral=True)

    async def _allow(self, ctx: commands.Context, kind: str, target, on: bool) -> None:
        async with self.service.sessions.begin() as s:
            changed = await servers.allow(s, ctx.guild.id, kind, target.id, on)
            rules = await servers.server_rules(s, ctx.guild.id)
        chosen = rules.channels if kind == "channel" else rules.roles
        what = mention(kind, target.id)
        if kind == "channel":
            said = (
                t("I answer in {channel} now.", channel=what)
                if on
                else t("I no longer answer in {channel}.", channel=what)
            )
            every = t("I answer in every channel (none is chosen).")
        else:
            said = (
                t("Members with {role} may use me now.", role=what)
                if on
                else t("Members with {role} no longer may, unless another role lets them.", role=what)
            )
            every = t("Everyone may use me (no role is chosen).")
        if not changed:
            said = t("That was so already.")
        await ctx.send(said + (every if not chosen else None), ephemeral=True)

    @config.group(name="channels", invoke_without_command=True)
    async def channels(self, ctx: commands.Context):
        """Where I answer: `add` or `remove` a channel, or `all` of them (the default)."""
        await self.config(ctx)

    @channels.command(name="add")
    @app_commands.describe(channel="a channel to answer in")
    async def channels_add(self, ctx: commands.Context, channel: discord.TextChannel):
        """Answer in this channel (and no other than those added)."""
        check_postable(ctx, channel)
        await self._allow(ctx, "channel", channel, True)

    @channels.command(name="remove")
    @app_commands.describe(channel="a channel to answer in no more")
    async def channels_remove(self, ctx: commands.Context, channel: discord.TextChannel):
        """No longer answer in this channel."""
        await self._allow(ctx, "channel", channel, False)

    @channels.command(name="all")
    async def channels_all(self, ctx: commands.Context):
        """Answer in every channel again."""
        async with self.service.sessions.begin() as s:
            await servers.allow_all(s, ctx.guild.id, "channel")
        await ctx.send(t("I answer in every channel (none is chosen)."), ephemeral=True)

    @config.group(name="roles", invoke_without_command=True)
    async def roles(self, ctx: commands.Context):
        """Who may use me: `add` or `remove` a role, or `all` (everyone, the default)."""
        await self.config(ctx)

    @roles.command(name="add")
    @app_commands.describe(role="a role whose members may use me")
    async def roles_add(self, ctx: commands.Context, role: discord.Role):
        """Let members with this role use me (and only those with a role added, and admins)."""
        if role.is_default():
            raise UserError(t("That role is everyone: `/config roles all` lets everyone use me."))
        await self._allow(ctx, "role", role, True)

    @roles.command(name="remove")
    @app_commands.describe(role="a role to take off the list")
    async def roles_remove(self, ctx: commands.Context, role: discord.Role):
        """Take a role off the list of those who may use me."""
        await self._allow(ctx, "role", role, False)

    @roles.command(name="all")
    async def roles_all(self, ctx: commands.Context):
        """Let everyone use me again."""
        async with self.service.sessions.begin() as s:
            await servers.allow_all(s, ctx.guild.id, "role")
        await ctx.send(t("Everyone may use me (no role is chosen)."), ephemeral=True)

    @config.command(name="cooldown")
    @app_commands.describe(
        action="poem (also variations and rewrites) or blend",
        seconds=f"seconds between one member's requests, 0 to {MAX_COOLDOWN_S}; none: the bot's default",
    )
    @app_commands.choices(action=[app_commands.Choice(name=a, value=a) for a in ("poem", "blend")])
    async def cooldown(
        self, ctx: commands.Context, action: str, seconds: commands.Range[int, 0, MAX_COOLDOWN_S] = None
    ):
        """Seconds a member waits between poems (or blends) here; without seconds, the bot's default."""
        action = normalise(action).lower()
        if action not in ("poem", "blend"):
            raise UserError(t("A cooldown is for poem or blend."))
        await self._update(ctx.guild.id, **{f"{action}_cooldown_s": None if seconds is None else float(seconds)})
        default = getattr(self.service.settings, f"{action}_cooldown_s")
        value = cooldown_words(None if seconds is None else float(seconds), default)
        said = (
            t("Poem cooldown here: {value}.", value=value)
            if action == "poem"
            else t("Blend cooldown here: {value}.", value=value)
        )
        await ctx.send(said, ephemeral=True)

    @config.command(name="cap")
    @app_commands.describe(poems=f"poems one member may ask for a day here, 1 to {MAX_CAP}; 0: no limit")
    async def cap(self, ctx: commands.Context, poems: commands.Range[int, 0, MAX_CAP]):
        """Poems one member may ask for a day here (poems, variations, rewrites, blends); 0: no limit."""
        rules = await self._update(ctx.guild.id, daily_cap=poems or None)
        said = (
            tn(
                "Each member may ask for {n} poem a day here, the day starting at midnight ({zone}).",
                "Each member may ask for {n} poems a day here, the day starting at midnight ({zone}).",
                poems,
                zone=rules.timezone,
            )
            if poems
            else t("No limit on poems a day here.")
        )
        await ctx.send(said, ephemeral=True)

    @config.command(name="cards")
    @app_commands.describe(setting="on or off, for members who never chose with `!cards`")
    @app_commands.choices(setting=[app_commands.Choice(name=v, value=v) for v in ("on", "off")])
    async def cards(self, ctx: commands.Context, setting: str):
        """Poem cards (pictures) by default here, on or off; members may still choose with `!cards`."""
        on = {"on": True, "off": False}.get(normalise(setting).lower())
        if on is None:
            raise UserError(t("Cards are on or off."))
        await self._update(ctx.guild.id, cards=on)
        await ctx.send(
            t("Poem cards are on here, unless a member turns them off.")
            if on
            else t("Poem cards are off here, unless a member turns them on."),
            ephemeral=True,
        )

    @config.command(name="language")
    @app_commands.describe(language="the language of members who chose none; auto: their Discord's")
    @app_commands.choices(language=LANGUAGE_CHOICES)
    async def config_language(self, ctx: commands.Context, language: str):
        """The server's default language, for members who chose none (as `!language server`)."""
        await self.language(ctx, language, "server")

    @config.command(name="timezone")
    @app_commands.describe(timezone="like Asia/Taipei, Asia/Shanghai, Asia/Hong_Kong or UTC")
    async def timezone(self, ctx: commands.Context, timezone: str):
        """The server's time zone: when its day starts, and the poem of the day's hour."""
        name = parse_zone(timezone)
        await self._update(ctx.guild.id, timezone=name, **self._from_now(await self._rules(ctx.guild.id), name))
        now = self.bot.clock.now().astimezone(zone(name))
        await ctx.send(
            t("This server's time zone is {zone} (it is {time} there now).", zone=name, time=now.strftime("%H:%M")),
            ephemeral=True,
        )

    @timezone.autocomplete("timezone")
    async def _zones(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        typed = normalise(current).lower()
        names = sorted(z for z in zoneinfo.available_timezones() if typed in z.lower()) or ["UTC"]
        return [app_commands.Choice(name=z, value=z) for z in names[:25]]

    def _from_now(self, rules: ServerRules, zone_name: str | None = None, hour: int | None = None) -> dict:
        """The first day of the poem of the day when it is (re)set now: today if its hour has not
        come yet, else tomorrow (no poem at once for a day already under way)."""
        if rules.daily_channel_id is None and hour is None:
            return {}
        hour = rules.daily_hour if hour is None else hour
        local = self.bot.clock.now().astimezone(zone(zone_name or rules.timezone))
        day = local.date() if local.hour < hour else local.date() + timedelta(days=1)
        return {"daily_from": day}

    @config.group(name="daily", invoke_without_command=True)
    async def daily(self, ctx: commands.Context):
        """A poem of the day: `set` a channel and an hour, or `off`."""
        await self.config(ctx)

    @daily.command(name="set")
    @app_commands.describe(
        channel="where the poem of the day goes", hour="its hour, 0 to 23, in the server's time zone"
    )
    async def daily_set(
        self, ctx: commands.Context, channel: discord.TextChannel, hour: commands.Range[int, 0, 23] = 9
    ):
        """Post a poem of the day in a channel at an hour (the server's time zone, `/config timezone`)."""
        check_postable(ctx, channel)
        rules = await self._rules(ctx.guild.id)
        rules = await self._update(
            ctx.guild.id, daily_channel_id=channel.id, daily_hour=hour, **self._from_now(rules, hour=hour)
        )
        first = int(next_daily(rules, self.bot.clock.now()).timestamp())
        await ctx.send(
            t(
                "A poem of the day in {channel} at {at} ({zone}): on the season's subject (the 24 solar terms, 節氣), "
                "or on Sundays the week's best rated poem here. The first <t:{moment}:F>.",
                channel=channel.mention,
                at=f"{hour:02d}:00",
                zone=rules.timezone,
                moment=first,
            ),
            ephemeral=True,
        )

    @daily.command(name="off")
    async def daily_off(self, ctx: commands.Context):
        """No poem of the day."""
        await self._update(ctx.guild.id, daily_channel_id=None)
        await ctx.send(t("No poem of the day here."), ephemeral=True)
