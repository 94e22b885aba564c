"""What the settings commands (`!language`, `/config`) read and show: a language or a time zone
as a member types it (`parse_language`, `parse_zone`), and a server's settings laid out as
`/config show` shows them (`describe_rules`). The commands themselves are in `bot/admin.py`."""

from __future__ import annotations

import zoneinfo
from datetime import datetime

import discord
from discord.ext import commands

from .daily import next_daily
from .i18n import LANGUAGES, Text, Words, render, t
from .parsing import UserError
from .replies import echo, normalise
from .storage.settings import ServerRules, zone

COLOUR = discord.Colour(0x8B2E2E)  # cinnabar, as the poems' embeds
NAMES = {"en": "English", "zh-TW": "繁體中文", "zh-CN": "简体中文"}  # each language in its own words
# what a member may type for a language (lower case, after NFKC): its code, and its name
SPELLINGS = {
    **{code.lower(): code for code in LANGUAGES},
    **{code.lower().replace("-", "_"): code for code in LANGUAGES},
    "english": "en",
    "英文": "en",
    "繁體": "zh-TW",
    "繁体": "zh-TW",
    "繁體中文": "zh-TW",
    "正體": "zh-TW",
    "zh-hk": "zh-TW",
    "简体": "zh-CN",
    "簡體": "zh-CN",
    "简体中文": "zh-CN",
    "簡體中文": "zh-CN",
    "zh-sg": "zh-CN",
}
AUTO = ("auto", "default", "none", "reset")  # no choice of one's own: the server's, or one's Discord's


def parse_language(raw: str) -> str | None:
    """A language a member typed: its code, or None for `auto`."""
    word = normalise(raw).lower()
    if word in AUTO:
        return None
    if word in SPELLINGS:
        return SPELLINGS[word]
    raise UserError(
        t("I know these languages: zh-TW (繁體中文), zh-CN (简体中文) and en (English); or auto.")
        + t("You wrote “{typed}”.", typed=echo(raw))
    )


def parse_zone(raw: str) -> str:
    """A time zone a member typed (any case: asia/taipei), by its IANA name (Asia/Taipei)."""
    name = normalise(raw)
    if name.upper() in ("UTC", "GMT", "Z"):
        return "UTC"
    known = {z.lower(): z for z in zoneinfo.available_timezones()}
    name = known.get(name.lower(), name)
    try:
        zone(name)
    except (KeyError, ValueError):
        raise UserError(
            t("“{typed}” is not a time zone I know: write one like Asia/Taipei, Asia/Shanghai or UTC.", typed=echo(raw))
        ) from None
    return name


def mention(kind: str, target_id: int) -> str:
    return f"<#{target_id}>" if kind == "channel" else f"<@&{target_id}>"


def cooldown_words(value: float | None, default: float) -> Text:
    """A cooldown of `value` seconds (None: the bot's `default`), as the settings say it."""
    if value is None:
        return t("{s} s (the bot's default)", s=f"{default:g}")
    return t("{s} s", s=f"{value:g}") if value else t("none")


def describe_rules(bot: commands.Bot, guild: discord.Guild, rules: ServerRules, now: datetime) -> discord.Embed:
    """A server's settings, as `/config show` shows them."""

    def listed(kind: str, ids: frozenset[int]) -> str:
        found = guild.get_channel if kind == "channel" else guild.get_role
        return ", ".join(
            mention(kind, i) + ("" if found(i) is not None else render(t(" (deleted)"))) for i in sorted(ids)
        )

    settings = bot.service.settings
    embed = discord.Embed(title=render(t("The bot's settings in {server}", server=guild.name)), colour=COLOUR)
    fields: list[tuple[Words, Words | str]] = [
        (t("Answers in"), listed("channel", rules.channels) if rules.channels else t("every channel")),
        (
            t("Who may use it"),
            t("{roles}, and members with Manage Server", roles=listed("role", rules.roles))
            if rules.roles
            else t("everyone"),
        ),
        (t("Poem cooldown"), cooldown_words(rules.poem_cooldown_s, settings.poem_cooldown_s)),
        (t("Blend cooldown"), cooldown_words(rules.blend_cooldown_s, settings.blend_cooldown_s)),
        (
            t("Poems a day per member"),
            t("{n}, from midnight ({zone})", n=rules.daily_cap, zone=rules.timezone)
            if rules.daily_cap
            else t("no limit"),
        ),
        (
            t("Poem cards"),
            t("on, unless a member turns them off") if rules.cards else t("off, unless a member turns them on"),
        ),
        (
            t("Language"),
            t("{language}, for members who chose none", language=NAMES[rules.language])
            if rules.language
            else t("each member's Discord language (or theirs from `!language`)"),
        ),
        (t("Time zone"), rules.timezone),
        (t("Poem of the day"), _daily(guild, rules, now)),
    ]
    for name, value in fields:
        embed.add_field(name=render(name), value=render(value), inline=False)
    embed.set_footer(text=render(t("Change one with /config and its name, like /config channels add.")))
    return embed


def _daily(guild: discord.Guild, rules: ServerRules, now: datetime) -> Words:
    if rules.daily_channel_id is None:
        return t("off")
    at = f"{rules.daily_hour:02d}:00"
    if guild.get_channel(rules.daily_channel_id) is None:
        return t("the channel is gone ({channel}): choose another", channel=mention("channel", rules.daily_channel_id))
    moment = int(next_daily(rules, now).timestamp())
    return t(
        "{channel} at {at} ({zone}); the next one <t:{moment}:R>",
        channel=mention("channel", rules.daily_channel_id),
        at=at,
        zone=rules.timezone,
        moment=moment,
    )
