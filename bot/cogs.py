"""The commands people type and the buttons they press. Thin: parse, call the
service, format the reply."""

from __future__ import annotations

import asyncio
import inspect
import io
import logging
import time

import discord
from discord import app_commands
from discord.ext import commands

from . import cards
from .parsing import (
    MAX_STEPS,
    MAX_TOP,
    MIN_STEPS,
    parse_poem_args,
    parse_poem_id,
    parse_stars,
    slash_poem_words,
    with_limits,
)
from .service import LOCALE_SCRIPT, ShownPoem, script_for_locale
from .i18n import LANGUAGE, language_for
from .storage.repo import Viewer
from .logs import command_done
from .replies import echo, fit, plural

log = logging.getLogger("poembot.bot.cogs")

# The bot these take is bot.app.PoemBot (a `commands.Bot` with a `service`); app imports this
# module, so it is named here by its discord.py base, keeping the imports one way.

COLOUR = discord.Colour(0x8B2E2E)  # cinnabar


# What each parameter means, in one place: `!help <command>` and the slash client's
# option descriptions both read it (Discord allows 100 characters).
ARGUMENTS = {
    "seed": "the same seed writes the same poem: 42 or #42; or fav for a poem between your favourites",
    "form": "characters a line: 5 or 7 (also 7言, 七言, form:7)",
    "subject": "what the poem is about: 1 to 3 Chinese words, like 月 or 秋 雁",
    "acrostic": "藏頭: four characters, one to start each line, like 春花秋月",
    "line": "which line to write anew: 1 to 4",
    "poem_id": "a poem's id: 12 or #12",
    "a": "the first poem: an id (12 or #12) or a poem's text in quotes",
    "b": "the last poem: an id or a poem's text in quotes",
    "steps": f"poems on the way, both ends included: {MIN_STEPS} to {MAX_STEPS}",
    "stars": "1 to 5 stars",
    "n": f"how many poems: 1 to {MAX_TOP}",
    "script": "simplified or traditional characters",
    "setting": "on or off",
    "confirm": "type confirm to delete everything; without it, you are asked first",
}
FORMS = [
    app_commands.Choice(name="5 characters a line (五言)", value="5"),
    app_commands.Choice(name="7 characters a line (七言)", value="7"),
]
STARS = [app_commands.Choice(name="★" * n, value=str(n)) for n in range(1, 6)]
SCRIPTS = [
    app_commands.Choice(name=f"{name} ({sample})", value=name)
    for name, sample in (("traditional", "詩"), ("simplified", "诗"))
]


def described(func):
    """Describe a command's parameters for the slash client from ARGUMENTS, and write the
    limits (`{MAX_STEPS}`, ...) into its help text: one source for every limit."""
    func.__doc__ = with_limits(func.__doc__)
    names = [name for name in inspect.signature(func).parameters if name in ARGUMENTS]
    return app_commands.describe(**{name: ARGUMENTS[name] for name in names})(func)


def asker(ctx: commands.Context) -> Viewer:
    """Who typed (or slashed) a command, and where: their server, or their direct messages."""
    return Viewer(ctx.author.id, ctx.guild.id if ctx.guild else None)


def presser(interaction: discord.Interaction) -> Viewer:
    """Who pressed a button (or picked from a menu), and where."""
    return Viewer(interaction.user.id, interaction.guild_id)


async def poem_ids(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    """Autocomplete for a poem id: the user's favourites (seen here) and newest poems that match."""
    poems = await interaction.client.service.suggestions(presser(interaction), current.strip().lstrip("#＃"))
    return [app_commands.Choice(name=f"#{p.id} · {p.lines[0]}"[:100], value=str(p.id)) for p in poems]


async def poem_message(bot: commands.Bot, p: ShownPoem) -> dict:
    """A new poem's message: its embed and buttons, and its card when cards are on and a
    CJK font is here (rendered on a thread: the event loop never draws). The text stays in
    the embed, for screen readers and search."""
    message = {"embed": poem_embed(p), "view": poem_view(p)}
    settings = bot.service.settings
    if not settings.cards or not p.cards:
        return message
    font = cards.font(str(settings.card_font) if settings.card_font else None)
    if font is None:
        return message
    caption = f"#{p.id} · {'五言' if p.form == 5 else '七言'} · {p.origin}"
    png = await asyncio.to_thread(cards.render, [line[:-1] for line in p.lines], caption, p.script, font)
    name = f"poem-{p.id}.png"
    message["embed"].set_image(url=f"attachment://{name}")
    message["file"] = discord.File(io.BytesIO(png), filename=name, description=" ".join(p.lines))
    return message


def poem_embed(p: ShownPoem, title: str | None = None) -> discord.Embed:
    embed = discord.Embed(title=title or f"Poem #{p.id}", description="\n".join(p.lines), colour=COLOUR)
    embed.set_footer(text=f"{p.origin} · {p.form}-character quatrain · {p.model_version}")
    return embed


def rated_text(poem_id: int, stars: int, summary) -> str:
    if not summary.count:  # (its ratings went with it, a moment after: the poem was deleted)
        return f"Poem #{poem_id} was deleted by its owner just now."
    return (
        f"You gave poem #{poem_id} {stars}★. It now has {plural(summary.count, 'rating')}, "
        f"{summary.mean:.2f}★ on average."
    )


def marked_lines(lines: list[str], before: list[str] | None) -> list[str]:
    """The lines with the characters that differ from `before` (the previous step
    of a blend, position by position) in bold: what this step changed."""
    if before is None:
        return list(lines)
    out = []
    for line, old in zip(lines, before):
        parts, run = [], ""
        for i, ch in enumerate(line):
            if i < len(old) and ch == old[i]:
                parts.append(f"**{run}**" if run else "")
                parts.append(ch)
                run = ""
            else:
                run += ch
        parts.append(f"**{run}**" if run else "")
        out.append("".join(parts))
    return out


class RateButton(discord.ui.DynamicItem[discord.ui.Button], template=r"poem:rate:(?P<id>[0-9]{1,19}):(?P<stars>[1-5])"):
    """One of five star buttons under a poem; the poem and stars live in the custom id,
    so the button works on messages from before a restart."""

    def __init__(self, poem_id: int, stars: int):
        super().__init__(
            discord.ui.Button(
                label="★" * stars, style=discord.ButtonStyle.secondary, custom_id=f"poem:rate:{poem_id}:{stars}", row=0
            )
        )
        self.poem_id, self.stars = poem_id, stars

    @classmethod
    async def from_custom_id(cls, interaction, item, match):
        return cls(int(match["id"]), int(match["stars"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        async def act():
            summary = await interaction.client.service.rate(presser(interaction), self.poem_id, self.stars)
            return rated_text(self.poem_id, self.stars, summary)

        await _answer_button(interaction, act)


class FavouriteButton(discord.ui.DynamicItem[discord.ui.Button], template=r"poem:fav:(?P<id>[0-9]{1,19})"):
    def __init__(self, poem_id: int):
        super().__init__(
            discord.ui.Button(
                label="♥ favourite", style=discord.ButtonStyle.primary, custom_id=f"poem:fav:{poem_id}", row=1
            )
        )
        self.poem_id = poem_id

    @classmethod
    async def from_custom_id(cls, interaction, item, match):
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        async def act():
            await interaction.client.service.favourite(presser(interaction), self.poem_id)
            return f"Poem #{self.poem_id} is now one of your favourites."

        await _answer_button(interaction, act)


class RerollButton(discord.ui.DynamicItem[discord.ui.Button], template=r"poem:reroll:(?P<form>[57])"):
    def __init__(self, form: int):
        super().__init__(
            discord.ui.Button(
                label="↻ another", style=discord.ButtonStyle.success, custom_id=f"poem:reroll:{form}", row=1
            )
        )
        self.form = form

    @classmethod
    async def from_custom_id(cls, interaction, item, match):
        return cls(int(match["form"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _post_new_poem(
            interaction, lambda service, user, guild, channel: service.write(user, guild, channel, None, self.form)
        )


class VaryButton(discord.ui.DynamicItem[discord.ui.Button], template=r"poem:vary:(?P<id>[0-9]{1,19})"):
    """A new poem near this one: same latent, a few characters changed."""

    def __init__(self, poem_id: int):
        super().__init__(
            discord.ui.Button(
                label="✎ variation", style=discord.ButtonStyle.secondary, custom_id=f"poem:vary:{poem_id}", row=1
            )
        )
        self.poem_id = poem_id

    @classmethod
    async def from_custom_id(cls, interaction, item, match):
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _post_new_poem(
            interaction, lambda service, user, guild, channel: service.vary(user, guild, channel, self.poem_id)
        )


class RewriteSelect(discord.ui.DynamicItem[discord.ui.Select], template=r"poem:rewrite:(?P<id>[0-9]{1,19})"):
    """↺ under a poem: pick a line, and the poem comes back with that line written anew."""

    def __init__(self, poem_id: int):
        options = [discord.SelectOption(label=f"↺ rewrite line {n}", value=str(n)) for n in range(1, 5)]
        super().__init__(
            discord.ui.Select(
                custom_id=f"poem:rewrite:{poem_id}", placeholder="↺ rewrite a line…", options=options, row=2
            )
        )
        self.poem_id = poem_id

    @classmethod
    async def from_custom_id(cls, interaction, item, match):
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        value = self.item.values[0] if self.item.values else ""
        line = int(value) if value.isdigit() else 0  # (the service refuses a line outside 1-4)
        await _post_new_poem(
            interaction, lambda service, user, guild, channel: service.rewrite(user, guild, channel, self.poem_id, line)
        )


def use_locale(interaction: discord.Interaction | None, guild: discord.Guild | None = None) -> None:
    """Let the poems written for this interaction (or command) default to the script the
    user's client language suggests (a user's own `!script` choice still wins)."""
    locale = interaction.locale if interaction is not None else guild.preferred_locale if guild else None
    LOCALE_SCRIPT.set(script_for_locale(str(locale) if locale else None))
    LANGUAGE.set(language_for(str(locale) if locale else None))  # the language of the replies


def worded(bot, content, kwargs: dict):
    """`content` and the embeds in `kwargs` with their command hints in the bot's prefix."""
    for embed in [kwargs.get("embed")] + list(kwargs.get("embeds") or []):
        if embed is None:
            continue
        if embed.title:
            embed.title = bot.wording(embed.title)
        if embed.description:
            embed.description = bot.wording(embed.description)
        if embed.footer and embed.footer.text:
            embed.set_footer(text=bot.wording(embed.footer.text), icon_url=embed.footer.icon_url)
        for i, f in enumerate(embed.fields):
            embed.set_field_at(i, name=bot.wording(f.name), value=bot.wording(f.value), inline=f.inline)
    return bot.wording(content) if isinstance(content, str) else content


def answered(interaction: discord.Interaction | None) -> None:
    """Note that a deferred interaction has had its public answer (see `private_error`)."""
    if interaction is not None:
        interaction.extras["answered"] = True


async def private_error(interaction: discord.Interaction, text: str) -> None:
    """Tell only the user, at any point of an interaction. After a public deferral
    Discord would make the first follow-up public (it fills in the "thinking…"
    message), so that message is deleted first unless it already holds the answer."""
    text = interaction.client.wording(text)
    if not interaction.response.is_done():
        await interaction.response.send_message(text, ephemeral=True)
        return
    if not interaction.extras.get("answered"):
        try:
            await interaction.delete_original_response()
        except discord.HTTPException:
            pass
    await interaction.followup.send(text, ephemeral=True)


async def _post_new_poem(interaction: discord.Interaction, write) -> None:
    """What a button that writes a new poem does: defer, write it with `write(service, user,
    guild, channel)`, post it under its own buttons; a failure is answered with its description."""
    bot: commands.Bot = interaction.client
    use_locale(interaction)
    t0, outcome = time.perf_counter(), "ok"
    try:
        await bot.service.admit(interaction.user.id)
        await interaction.response.defer(thinking=True)
        poem = await write(bot.service, interaction.user.id, interaction.guild_id, interaction.channel_id)
        message = await poem_message(bot, poem)
        msg = await interaction.followup.send(worded(bot, None, message), wait=True, **message)
        answered(interaction)
        await bot.service.attach_message([poem.id], interaction.channel_id, msg.id)
    except Exception as e:
        reply, outcome = bot.describe(e)
        await private_error(interaction, reply)
    _count_press(interaction, outcome, t0)


def _count_press(interaction: discord.Interaction, outcome: str, t0: float) -> None:
    """A button or menu press in the metrics, named by its custom id's kind (button:rate,
    menu:steps, ...)."""
    data = interaction.data or {}
    parts = data.get("custom_id", "").split(":")  # poem:rate:12:5 -> button:rate
    kind = f"{'menu' if data.get('component_type') == 3 else 'button'}:{parts[1] if len(parts) > 1 else '?'}"
    metrics, seconds = interaction.client.service.metrics, time.perf_counter() - t0
    metrics.handled.labels(kind, outcome).inc()
    metrics.seconds.labels(kind).observe(seconds)
    command_done(kind, interaction.user.id, outcome, seconds)


async def _answer_button(interaction: discord.Interaction, act) -> None:
    use_locale(interaction)
    t0, outcome = time.perf_counter(), "ok"
    try:
        text = await act()
    except Exception as e:
        text, outcome = interaction.client.describe(e)
    await interaction.response.send_message(interaction.client.wording(text), ephemeral=True)
    _count_press(interaction, outcome, t0)


def forgotten_text(gone) -> str:
    return (
        f"Done: deleted {plural(gone.poems, 'poem')}, {plural(gone.ratings, 'rating')} and "
        f"{plural(gone.favourites, 'favourite')}."
    )


class ForgetButton(discord.ui.DynamicItem[discord.ui.Button], template=r"forget:confirm:(?P<user>[0-9]{1,20})"):
    """Under `!forgetme`'s question: the user who asked confirms with a press."""

    def __init__(self, user_id: int):
        super().__init__(
            discord.ui.Button(
                label="Delete all of it", style=discord.ButtonStyle.danger, custom_id=f"forget:confirm:{user_id}"
            )
        )
        self.user_id = user_id

    @classmethod
    async def from_custom_id(cls, interaction, item, match):
        return cls(int(match["user"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        async def act():
            if interaction.user.id != self.user_id:
                return "Only the person who asked can confirm this."
            return forgotten_text(await interaction.client.service.forget(interaction.user.id))

        await _answer_button(interaction, act)


class StepSelect(discord.ui.DynamicItem[discord.ui.Select], template=r"poem:steps"):
    """Under a blend: pick one of its poems to rate, keep or vary (each step its own
    poem; five star buttons for each would pass Discord's five rows)."""

    def __init__(self, path: list[ShownPoem] | None = None):
        seen: set[int] = set()  # a poem on the path twice (`!blend 1 1`) is one option: Discord refuses repeats
        options = [
            discord.SelectOption(
                label=f"#{p.id} · step {i + 1}/{len(path)}", value=str(p.id), description=p.lines[0][:100]
            )
            for i, p in enumerate(path or [])
            if not (p.id in seen or seen.add(p.id))
        ]
        super().__init__(
            discord.ui.Select(
                custom_id="poem:steps",
                placeholder="Rate or keep one of these poems…",
                options=options or [discord.SelectOption(label="-")],
                row=0,
            )
        )

    @classmethod
    async def from_custom_id(cls, interaction, item, match):
        return cls()

    async def callback(self, interaction: discord.Interaction) -> None:
        use_locale(interaction)
        t0, outcome = time.perf_counter(), "ok"
        try:
            poem_id = parse_poem_id(self.item.values[0])
            p, _ = await interaction.client.service.get(presser(interaction), poem_id)
        except Exception as e:
            text, outcome = interaction.client.describe(e)  # (describe words hints in the prefix)
            await interaction.response.send_message(text, ephemeral=True)
        else:
            embed = poem_embed(p)
            worded(interaction.client, None, {"embed": embed})
            await interaction.response.send_message(embed=embed, view=poem_view(p, reroll=False), ephemeral=True)
        _count_press(interaction, outcome, t0)


def blend_view(path: list[ShownPoem]) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(StepSelect(path))
    return view


def poem_view(p: ShownPoem, reroll: bool = True) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for stars in range(1, 6):
        view.add_item(RateButton(p.id, stars))
    view.add_item(FavouriteButton(p.id))
    view.add_item(VaryButton(p.id))
    if reroll:
        view.add_item(RerollButton(p.form))
    view.add_item(RewriteSelect(p.id))
    return view


class Poems(commands.Cog):
    """Writing, blending and keeping poems."""

    def __init__(self, bot: commands.Bot):
        self.bot = bot
        self.service = bot.service

    async def _post(self, ctx: commands.Context, poems: list[ShownPoem], **kwargs) -> discord.Message:
        try:
            msg = await ctx.send(**kwargs)
        except discord.Forbidden:  # no Attach Files here: Discord refuses the whole message, so send the text
            if "file" not in kwargs:
                raise
            log.warning(
                "could not attach a poem card in channel %s (no Attach Files?); sent the text alone", ctx.channel.id
            )
            kwargs.pop("file")
            kwargs["embed"].set_image(url=None)
            msg = await ctx.send(**kwargs)
        answered(ctx.interaction)
        await self.service.attach_message([p.id for p in poems], ctx.channel.id, msg.id)
        return msg

    @commands.hybrid_command(name="poem")
    @app_commands.choices(form=FORMS)
    @described
    async def poem(
        self,
        ctx: commands.Context,
        seed: str | None = None,
        form: str | None = None,
        subject: str | None = None,
        *,
        acrostic: str | None = None,
    ):
        """Write a quatrain from a latent the seed draws; on a subject, or as an acrostic (藏頭).

        Examples: `!poem` (a 5-character poem), `!poem 7言` (7 characters a line),
        `!poem 42` or `!poem #42` (seed 42), `!poem 42 7言`, `!poem 月` (a poem
        about the moon, 月 in it), `!poem 秋 雁 7言 #42` (up to 3 words, in any
        order with a seed and form), `!poem 藏頭 春花秋月` (each line starts with
        one of the four), `!poem fav` (a poem between two of your favourites),
        `!poem fav 42` (the seed picks which two and where between them).
        """
        if ctx.interaction is None:  # typed: words in any order (`!poem 月 7言 42`, `!poem 藏頭 春花秋月`)
            ask = parse_poem_args(seed, form, subject, acrostic)
        else:  # slash: each option is its own parameter (`form:7` is never a seed), read by the same grammar
            ask = parse_poem_args(*slash_poem_words(seed, form, subject, acrostic))
        guild = ctx.guild.id if ctx.guild else None
        await self.service.admit(ctx.author.id)
        await ctx.defer()
        if ask.favourites:
            p = await self.service.from_favourites(ctx.author.id, guild, ctx.channel.id, ask.seed, ask.form)
        else:
            p = await self.service.write(
                ctx.author.id, guild, ctx.channel.id, ask.seed, ask.form or 5, ask.subject, ask.acrostic
            )
        await self._post(ctx, [p], **await poem_message(self.bot, p))

    @commands.hybrid_command(name="rewrite")
    @app_commands.autocomplete(poem_id=poem_ids)
    @described
    async def rewrite(self, ctx: commands.Context, poem_id: str, line: commands.Range[int, 1, 4]):
        """Write one line of a saved poem anew, the other three kept. Example: `!rewrite 12 3`.

        The new line keeps the rhyme and fits the lines before and after it; the
        poem is saved as a new one (also the ↺ menu under every poem).
        """
        pid = parse_poem_id(poem_id)
        await self.service.admit(ctx.author.id)
        await ctx.defer()
        p = await self.service.rewrite(ctx.author.id, ctx.guild.id if ctx.guild else None, ctx.channel.id, pid, line)
        await self._post(ctx, [p], **await poem_message(self.bot, p))

    @commands.hybrid_command(name="vary")
    @app_commands.autocomplete(poem_id=poem_ids)
    @described
    async def vary(self, ctx: commands.Context, poem_id: str):
        """A variation of a saved poem: much of its wording, a few characters changed. Example: `!vary 12`."""
        pid = parse_poem_id(poem_id)
        await self.service.admit(ctx.author.id)
        await ctx.defer()
        p = await self.service.vary(ctx.author.id, ctx.guild.id if ctx.guild else None, ctx.channel.id, pid)
        await self._post(ctx, [p], **await poem_message(self.bot, p))

    @commands.hybrid_command(name="blend")
    @app_commands.autocomplete(a=poem_ids, b=poem_ids)
    @described
    async def blend(
        self,
        ctx: commands.Context,
        a: str | None = None,
        b: str | None = None,
        steps: commands.Range[int, MIN_STEPS, MAX_STEPS] = 5,
    ):
        """Walk from poem a to poem b through the model's latent space, writing each step.

        a and b are poem ids (12 or #12) or quoted poem texts; with nothing
        given, blends your two newest favourites. Each step is its point on the
        path between the two poems' latents, written by the model: near a it
        keeps most of a, in the middle it writes new lines, near b it becomes b.
        Steps: {MIN_STEPS} to {MAX_STEPS}. Example: `!blend 12 15 5`.
        """
        await self.service.admit(ctx.author.id, blend=True)
        await ctx.defer()
        blend = await self.service.blend(
            ctx.author.id, ctx.guild.id if ctx.guild else None, ctx.channel.id, a, b, steps
        )
        path = blend.path
        embed = discord.Embed(title=f"Blend: {len(path)} steps from #{path[0].id} to #{path[-1].id}", colour=COLOUR)
        for i, p in enumerate(path):
            changed = marked_lines(p.lines, path[i - 1].lines if i else None)
            embed.add_field(name=f"#{p.id} · step {i + 1}/{len(path)}", value="\n".join(changed), inline=False)
        embed.set_footer(text="Bold: what each step changed. Pick one below to rate or keep it.")
        msg = await ctx.send(embed=embed, view=blend_view(path))
        answered(ctx.interaction)
        await self.service.attach_message(blend.created, ctx.channel.id, msg.id)  # the ends keep their own

    @commands.hybrid_command(name="rate")
    @app_commands.autocomplete(poem_id=poem_ids)
    @app_commands.choices(stars=STARS)
    @described
    async def rate(self, ctx: commands.Context, poem_id: str, stars: str):
        """Rate a poem from 1 to 5 stars; rating again changes your rating. Example: `!rate 12 5`."""
        pid, stars = parse_poem_id(poem_id), parse_stars(stars)
        summary = await self.service.rate(asker(ctx), pid, stars)
        await ctx.send(rated_text(pid, stars, summary))

    @commands.hybrid_command(name="fav")
    @app_commands.autocomplete(poem_id=poem_ids)
    @described
    async def fav(self, ctx: commands.Context, poem_id: str):
        """Keep a poem among your favourites. Example: `!fav 12`."""
        pid = parse_poem_id(poem_id)
        await self.service.favourite(asker(ctx), pid)
        await ctx.send(f"Poem #{pid} is now one of your favourites.")

    @commands.hybrid_command(name="unfav")
    @app_commands.autocomplete(poem_id=poem_ids)
    @described
    async def unfav(self, ctx: commands.Context, poem_id: str):
        """Remove a poem from your favourites. Example: `!unfav 12`."""
        pid = parse_poem_id(poem_id)
        await self.service.unfavourite(asker(ctx), pid)
        await ctx.send(f"Poem #{pid} is no longer one of your favourites.")

    @commands.hybrid_command(name="favs")
    async def favs(self, ctx: commands.Context):
        """List your favourites that can be seen here, newest first (the newest 10; `!show <id>` shows any)."""
        poems = await self.service.favourites(asker(ctx))
        if not poems:
            await ctx.send("You have no favourites yet. Press ♥ under a poem or type `!fav <id>`.", ephemeral=True)
            return
        total = await self.service.favourite_count(asker(ctx))
        title = "Your favourites" if total <= len(poems) else f"Your favourites: the newest {len(poems)} of {total}"
        embed = discord.Embed(title=title, colour=COLOUR)
        for p in poems:
            embed.add_field(name=f"#{p.id}", value="\n".join(p.lines), inline=True)
        await ctx.send(embed=embed, ephemeral=True)

    @commands.hybrid_command(name="top")
    @described
    async def top(self, ctx: commands.Context, n: commands.Range[int, 1, MAX_TOP] = 5):
        """This server's best poems by Bayesian average rating (1 to {MAX_TOP} of them); in a direct
        message, your own best poems written there."""
        ranked = await self.service.top(asker(ctx), n)
        if not ranked:
            await ctx.send("No poem here has a rating yet. Rate one with the stars under it or `!rate <id> <1-5>`.")
            return
        embed = discord.Embed(
            title="Best poems here" if ctx.guild else "Your best poems in direct messages", colour=COLOUR
        )
        for place, (p, r) in enumerate(ranked, 1):
            embed.add_field(
                name=f"{place}. #{p.id} · {r.mean:.2f}★ from {plural(r.count, 'rating')} · score {r.score:.2f}",
                value="\n".join(p.lines),
                inline=False,
            )
        await ctx.send(embed=embed)

    @commands.hybrid_command(name="show")
    @app_commands.autocomplete(poem_id=poem_ids)
    @described
    async def show(self, ctx: commands.Context, poem_id: str):
        """Show a saved poem with its rating and buttons. Example: `!show 12`."""
        p, summary = await self.service.get(asker(ctx), parse_poem_id(poem_id))
        embed = poem_embed(p)
        if summary.count:
            embed.add_field(name="rating", value=f"{summary.mean:.2f}★ from {plural(summary.count, 'rating')}")
        await ctx.send(embed=embed, view=poem_view(p))

    @commands.hybrid_command(name="script")
    @app_commands.choices(script=SCRIPTS)
    @described
    async def script(self, ctx: commands.Context, script: str):
        """Show poems to you in simplified or traditional characters. Example: `!script simplified`."""
        script = await self.service.set_script(ctx.author.id, script)
        await ctx.send(f"Poems will be shown to you in {script} characters.", ephemeral=True)

    @commands.hybrid_command(name="cards")
    @app_commands.choices(setting=[app_commands.Choice(name=v, value=v) for v in ("on", "off")])
    @described
    async def cards(self, ctx: commands.Context, setting: str):
        """Turn the picture (card) under the poems you ask for on or off. Example: `!cards off`."""
        on = await self.service.set_cards(ctx.author.id, setting)
        await ctx.send(
            "Your poems will come with a card." if on else "Your poems will come as text alone.", ephemeral=True
        )

    @commands.hybrid_command(name="forgetme")
    @described
    async def forgetme(self, ctx: commands.Context, confirm: str | None = None):
        """Delete your poems, ratings and favourites. Asks first: press the button, or `!forgetme confirm`.

        Poems other people made from yours (rewrites, variations, blends, poems from
        favourites) are theirs: they stay, without the link to yours (a rewrite keeps
        three of your four lines). A poem of yours still being written is not saved.
        """
        if confirm != "confirm":
            ratings, favourites = await self.service.others_on_my_poems(ctx.author.id)
            others = (
                f" Your poems also carry {plural(ratings, 'rating')} and {plural(favourites, 'favourite')} "
                "from other people; they go with the poems."
                if ratings or favourites
                else ""
            )
            view = discord.ui.View(timeout=None)
            view.add_item(ForgetButton(ctx.author.id))
            await ctx.send(
                "This deletes every poem you asked for, every rating and favourite you gave, "
                f"and your settings.{others} It cannot be undone. To go ahead, press the button "
                "(or type `!forgetme confirm`).",
                view=view,
                ephemeral=True,
            )
            return
        gone = await self.service.forget(ctx.author.id)
        await ctx.send(forgotten_text(gone), ephemeral=True)

    @app_commands.command(name="help", description="What this bot does, and how to ask it")
    @app_commands.describe(command="a command to explain in full")
    async def slash_help(self, interaction: discord.Interaction, command: str | None = None):
        """The slash side of `!help`: every command in one line, or one command in full."""
        shown = [c for c in self.get_commands() if not c.hidden]
        if command is None:
            text = "\n".join(f"`/{c.name}` {c.short_doc}" for c in shown)
            text += "\nEach also works typed with the prefix (`!poem 42 7言`). `/help command:poem` explains one."
        else:
            found = next((c for c in shown if c.name == command.strip().lstrip("/!").lower()), None)
            if found is None:
                text = f"There is no command called “{echo(command)}”. `/help` lists them."
            else:
                args = "\n".join(f"• `{name}`: {ARGUMENTS.get(name, '')}" for name in found.clean_params)
                text = f"**/{found.name}**: {found.help}" + (f"\n{args}" if args else "")
        await interaction.response.send_message(fit(text), ephemeral=True)

    @slash_help.autocomplete("command")
    async def _help_names(self, interaction: discord.Interaction, current: str):
        return [
            app_commands.Choice(name=c.name, value=c.name)
            for c in self.get_commands()
            if not c.hidden and c.name.startswith(current.strip().lstrip("/!").lower())
        ][:25]

    @commands.command(name="sync", hidden=True)
    @commands.is_owner()
    async def sync(self, ctx: commands.Context):
        """Publish the slash commands to Discord (owner only)."""
        synced = await self.bot.tree.sync()
        await ctx.send(f"Synced {len(synced)} slash commands.")
