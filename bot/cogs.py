"""The commands (`!poem`, `!blend`, `!rate`, ..., typed with the prefix or slashed), in one
cog, `Poems`. Each reads its arguments (`bot.parsing`), asks the service (`bot.service`) and
lays the answer out: embeds, fields, the buttons under them. The buttons and menus, and how
an interaction is answered, are in `bot.views`; errors are worded in `bot.app`. Help texts
and argument descriptions are the commands' docstrings and `ARGUMENTS`."""

from __future__ import annotations

import inspect
import logging

import discord
from discord import app_commands
from discord.ext import commands

from .i18n import Text, help_of, render, t
from .limits import MAX_SHOWN_STEPS, MAX_TOP, MIN_SHOWN_STEPS, with_limits
from .parsing import parse_poem_args, parse_poem_id, parse_stars, slash_poem_words
from .shown import ShownPoem
from .storage.repo import Viewer
from .replies import echo, fit
from .views import (
    COLOUR,
    ForgetButton,
    answered,
    blend_view,
    favourites,
    forgotten_text,
    poem_embed,
    poem_message,
    poem_view,
    presser,
    rated_text,
    ratings,
    use_locale,
)

log = logging.getLogger("poembot.bot.cogs")

# The bot these take is bot.app.PoemBot (a `commands.Bot` with a `service`); app imports this
# module, so it is named here by its discord.py base, keeping the imports one way.

# What each parameter means, in one place: `!help <command>` and the slash client's
# option descriptions both read it (Discord allows 100 characters); `meaning` words it.
ARGUMENTS = {
    "seed": "the same seed writes the same poem: 42 or #42; or fav for a poem between your favourites",
    "form": "characters a line: 5 or 7 (also 7言, 七言, form:7)",
    "subject": "what the poem is about: 1 to 3 Chinese words, like 月 or 秋 雁",
    "acrostic": "藏頭: four characters, one to start each line, like 春花秋月",
    "line": "which line to write anew: 1 to 4",
    "poem_id": "a poem's id: 12 or #12",
    "a": "the first poem: an id (12 or #12) or a poem's text in quotes",
    "b": "the last poem: an id or a poem's text in quotes",
    "steps": f"poems on the way, both ends included: {MIN_SHOWN_STEPS} to {MAX_SHOWN_STEPS}",
    "stars": "1 to 5 stars",
    "n": f"how many poems: 1 to {MAX_TOP}",
    "script": "simplified or traditional characters",
    "setting": "on or off",
    "confirm": "type confirm to go ahead; without it, you are asked first",
    "poem": "a quatrain: 4 lines of 5 or 7 Chinese characters (or a saved poem's id)",
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


def meaning(name: str) -> Text:
    """What a parameter means, in the catalogue's words (its English is ARGUMENTS')."""
    return Text(ARGUMENTS.get(name, ""), {})


def described(func):
    """Describe a command's parameters for the slash client from ARGUMENTS, and write the
    limits (`{MAX_STEPS}`, ...) into its help text: one source for every limit."""
    func.__doc__ = with_limits(func.__doc__)
    names = [name for name in inspect.signature(func).parameters if name in ARGUMENTS]
    return app_commands.describe(**{name: ARGUMENTS[name] for name in names})(func)


def every_command(bot: commands.Bot) -> list[commands.Command]:
    """The typed (and hybrid) commands of every cog, cog by cog as they were added."""
    return [c for cog in bot.cogs.values() for c in cog.get_commands()]


def asker(ctx: commands.Context) -> Viewer:
    """Who typed (or slashed) a command, and where: their server, or their direct messages."""
    return Viewer(ctx.author.id, ctx.guild.id if ctx.guild else None)


async def poem_ids(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    """Autocomplete for a poem id: the user's favourites (seen here) and newest poems that match."""
    poems = await interaction.client.service.suggestions(presser(interaction), current.strip().lstrip("#＃"))
    return [app_commands.Choice(name=f"#{p.id} · {p.lines[0]}"[:100], value=str(p.id)) for p in poems]


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
        await self.service.admit(ctx.author.id, guild_id=ctx.guild.id if ctx.guild else None)
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
        await self.service.admit(ctx.author.id, guild_id=ctx.guild.id if ctx.guild else None)
        await ctx.defer()
        p = await self.service.rewrite(ctx.author.id, ctx.guild.id if ctx.guild else None, ctx.channel.id, pid, line)
        await self._post(ctx, [p], **await poem_message(self.bot, p))

    @commands.hybrid_command(name="vary")
    @app_commands.autocomplete(poem_id=poem_ids)
    @described
    async def vary(self, ctx: commands.Context, poem_id: str):
        """A variation of a saved poem: much of its wording, a few characters changed. Example: `!vary 12`."""
        pid = parse_poem_id(poem_id)
        await self.service.admit(ctx.author.id, guild_id=ctx.guild.id if ctx.guild else None)
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
        steps: commands.Range[int, MIN_SHOWN_STEPS, MAX_SHOWN_STEPS] = 5,
    ):
        """Walk from poem a to poem b through the model's latent space, writing each step.

        a and b are poem ids (12 or #12) or quoted poem texts; with nothing
        given, blends your two newest favourites. Each step is its point on the
        path between the two poems' latents, written by the model: near a it
        keeps most of a, in the middle it writes new lines, near b it becomes b.
        Steps: {MIN_STEPS} to {MAX_STEPS}. Example: `!blend 12 15 5`.
        """
        await self.service.admit(ctx.author.id, blend=True, guild_id=ctx.guild.id if ctx.guild else None)
        await ctx.defer()
        blend = await self.service.blend(
            ctx.author.id, ctx.guild.id if ctx.guild else None, ctx.channel.id, a, b, steps
        )
        path = blend.path
        title = t("Blend: {n} steps from #{a} to #{b}", n=len(path), a=path[0].id, b=path[-1].id)
        embed = discord.Embed(title=render(title), colour=COLOUR)
        for i, p in enumerate(path):
            changed = marked_lines(p.lines, path[i - 1].lines if i else None)
            name = t("#{id} · step {i}/{n}", id=p.id, i=i + 1, n=len(path))
            embed.add_field(name=render(name), value="\n".join(changed), inline=False)
        embed.set_footer(text=render(t("Bold: what each step changed.") + t("Pick one below to rate or keep it.")))
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
        await ctx.send(t("Poem #{id} is now one of your favourites.", id=pid))

    @commands.hybrid_command(name="unfav")
    @app_commands.autocomplete(poem_id=poem_ids)
    @described
    async def unfav(self, ctx: commands.Context, poem_id: str):
        """Remove a poem from your favourites. Example: `!unfav 12`."""
        pid = parse_poem_id(poem_id)
        await self.service.unfavourite(asker(ctx), pid)
        await ctx.send(t("Poem #{id} is no longer one of your favourites.", id=pid))

    @commands.hybrid_command(name="top")
    @described
    async def top(self, ctx: commands.Context, n: commands.Range[int, 1, MAX_TOP] = 5):
        """The best rated poems here (1 to {MAX_TOP}), by Bayesian average.

        In a server, its poems; in a direct message, your own poems written there.
        """
        ranked = await self.service.top(asker(ctx), n)
        if not ranked:
            await ctx.send(
                t("No poem here has a rating yet.") + t("Rate one with the stars under it or `!rate <id> <1-5>`.")
            )
            return
        title = t("Best poems here") if ctx.guild else t("Your best poems in direct messages")
        embed = discord.Embed(title=render(title), colour=COLOUR)
        for place, (p, r) in enumerate(ranked, 1):
            name = t(
                "{place}. #{id} · {mean}★ from {ratings} · score {score}",
                place=place,
                id=p.id,
                mean=f"{r.mean:.2f}",
                ratings=ratings(r.count),
                score=f"{r.score:.2f}",
            )
            embed.add_field(name=render(name), value="\n".join(p.lines), inline=False)
        await ctx.send(embed=embed)

    @commands.hybrid_command(name="show")
    @app_commands.autocomplete(poem_id=poem_ids)
    @described
    async def show(self, ctx: commands.Context, poem_id: str):
        """Show a saved poem with its rating and buttons. Example: `!show 12`."""
        p, summary = await self.service.get(asker(ctx), parse_poem_id(poem_id))
        embed = poem_embed(p)
        if summary.count:
            rated = t("{mean}★ from {ratings}", mean=f"{summary.mean:.2f}", ratings=ratings(summary.count))
            embed.add_field(name=render(t("rating")), value=render(rated))
        await ctx.send(embed=embed, view=poem_view(p))

    @commands.hybrid_command(name="script")
    @app_commands.choices(script=SCRIPTS)
    @described
    async def script(self, ctx: commands.Context, script: str):
        """Show poems to you in simplified or traditional characters. Example: `!script simplified`."""
        script = await self.service.set_script(ctx.author.id, script)
        said = (
            t("Poems will be shown to you in simplified characters.")
            if script == "simplified"
            else t("Poems will be shown to you in traditional characters.")
        )
        await ctx.send(said, ephemeral=True)

    @commands.hybrid_command(name="cards")
    @app_commands.choices(setting=[app_commands.Choice(name=v, value=v) for v in ("on", "off")])
    @described
    async def cards(self, ctx: commands.Context, setting: str):
        """Turn the picture (card) under the poems you ask for on or off. Example: `!cards off`."""
        on = await self.service.set_cards(ctx.author.id, setting)
        await ctx.send(
            t("Your poems will come with a card.") if on else t("Your poems will come as text alone."), ephemeral=True
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
            rated, kept = await self.service.others_on_my_poems(ctx.author.id)
            others = (
                t(
                    "Your poems also carry {ratings} and {favourites} from other people; they go with the poems.",
                    ratings=ratings(rated),
                    favourites=favourites(kept),
                )
                if rated or kept
                else None
            )
            view = discord.ui.View(timeout=None)
            view.add_item(ForgetButton(ctx.author.id))
            asked = (
                t("This deletes every poem you asked for, every rating and favourite you gave, and your settings.")
                + others
                + t("It cannot be undone.")
                + t("To go ahead, press the button (or type `!forgetme confirm`).")
            )
            await ctx.send(asked, view=view, ephemeral=True)
            return
        gone = await self.service.forget(ctx.author.id)
        await ctx.send(forgotten_text(gone), ephemeral=True)

    @app_commands.command(name="help", description="What this bot does, and how to ask it")
    @app_commands.describe(command="a command to explain in full")
    async def slash_help(self, interaction: discord.Interaction, command: str | None = None):
        """The slash side of `!help`: every command in one line, or one command in full, in the
        reader's language."""
        use_locale(interaction)
        shown = [c for c in every_command(self.bot) if not c.hidden]
        if command is None:
            text = "\n".join(f"`/{c.name}` {render(help_of(c)).splitlines()[0]}" for c in shown)
            text += "\n" + render(
                t("Each also works typed with the prefix (`!poem 42 7言`).") + t("`/help command:poem` explains one.")
            )
        else:
            found = next((c for c in shown if c.name == command.strip().lstrip("/!").lower()), None)
            if found is None:
                text = render(t("There is no command called “{name}”.", name=echo(command)) + t("`/help` lists them."))
            else:
                args = "\n".join(f"• `{name}`: {render(meaning(name))}" for name in found.clean_params)
                text = f"**/{found.name}**: {render(help_of(found))}" + (f"\n{args}" if args else "")
        await interaction.response.send_message(fit(interaction.client.wording(text)), ephemeral=True)

    @slash_help.autocomplete("command")
    async def _help_names(self, interaction: discord.Interaction, current: str):
        return [
            app_commands.Choice(name=c.name, value=c.name)
            for c in every_command(self.bot)
            if not c.hidden and c.name.startswith(current.strip().lstrip("/!").lower())
        ][:25]

    @commands.command(name="sync", hidden=True)
    @commands.is_owner()
    async def sync(self, ctx: commands.Context):
        """Publish the slash commands to Discord (owner only)."""
        synced = await self.bot.tree.sync()
        await ctx.send(t("Synced {n} slash commands.", n=len(synced)))
