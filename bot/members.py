"""A member's own: `!mine` and `!favs` a page at a time, `!delete` one of your poems, and
`!check` (格律) a quatrain against the regulated patterns. One cog, `Yours`, with the buttons
under its replies: Previous/Next (`list:<favs|mine>:<user>:<page>:<p|n>`) and the confirmation
of a deletion (`poem:delete:<id>:<user>`), each a `discord.ui.DynamicItem` whose custom id holds
its state, so they work on messages from before a restart; the cog registers them itself.

The rules live in the service (`bot.service`: pages, deletion) and `model/metre.py` (格律);
this module lays out their answers."""

from __future__ import annotations

import time

import discord
from discord import app_commands
from discord.ext import commands

from model import metre  # torch-free
from model.text import simplified

from .cogs import asker, described, poem_ids
from .i18n import Text, Words, render, t, tn
from .parsing import parse_poem_id
from .shown import Page
from .views import (
    COLOUR,
    _answer_button,
    _count_press,
    favourites,
    poem_embed,
    presser,
    private_error,
    quatrain,
    ratings,
    use_locale,
    worded,
)

# The bot these take is bot.app.PoemBot (a `commands.Bot` with a `service`), named by its
# discord.py base as in bot.cogs.

LISTS = ("favs", "mine")


def deleted_text(poem_id: int, gone) -> Text:
    return t(
        "Deleted poem #{id}, with {ratings} and {favourites}.",
        id=poem_id,
        ratings=ratings(gone.ratings),
        favourites=favourites(gone.favourites),
    )


class DeleteButton(
    discord.ui.DynamicItem[discord.ui.Button], template=r"poem:delete:(?P<id>[0-9]{1,19}):(?P<user>[0-9]{1,20})"
):
    """Under `!delete`'s question: the member who asked confirms with a press (checked again
    where it is pressed: their own poem, seen there)."""

    def __init__(self, poem_id: int, user_id: int):
        super().__init__(
            discord.ui.Button(
                label=render(t("Delete poem #{id}", id=poem_id)),
                style=discord.ButtonStyle.danger,
                custom_id=f"poem:delete:{poem_id}:{user_id}",
            )
        )
        self.poem_id, self.user_id = poem_id, user_id

    @classmethod
    async def from_custom_id(cls, interaction, item, match):
        return cls(int(match["id"]), int(match["user"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        async def act():
            if interaction.user.id != self.user_id:
                return t("Only the person who asked can confirm this.")
            return deleted_text(
                self.poem_id, await interaction.client.service.delete(presser(interaction), self.poem_id)
            )

        await _answer_button(interaction, act)


class PageButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"list:(?P<what>favs|mine):(?P<user>[0-9]{1,20}):(?P<page>[0-9]{1,9}):(?P<way>[pn])",
):
    """Previous or Next under a list: the list, its reader and the page it turns to live in the
    custom id; only that reader may turn it (the list is read again, where it is pressed)."""

    def __init__(self, what: str, user_id: int, page: int, way: str, disabled: bool = False):
        label = t("◀ Previous") if way == "p" else t("Next ▶")
        super().__init__(
            discord.ui.Button(
                label=render(label),
                style=discord.ButtonStyle.secondary,
                custom_id=f"list:{what}:{user_id}:{page}:{way}",
                disabled=disabled,
            )
        )
        self.what, self.user_id, self.page = what, user_id, page

    @classmethod
    async def from_custom_id(cls, interaction, item, match):
        return cls(match["what"], int(match["user"]), int(match["page"]), match["way"])

    async def callback(self, interaction: discord.Interaction) -> None:
        use_locale(interaction)
        bot, t0, outcome = interaction.client, time.perf_counter(), "ok"
        try:
            if interaction.user.id != self.user_id:
                outcome = "refused"
                mine = "`!favs`" if self.what == "favs" else "`!mine`"
                await private_error(
                    interaction, t("These are not your pages: type {command} for your own.", command=mine)
                )
            else:
                page = await bot.service.page(presser(interaction), self.what, self.page)
                message = list_message(self.what, self.user_id, page)
                worded(bot, None, message)
                await interaction.response.edit_message(**message)
        except Exception as e:
            text, outcome = bot.describe(e)
            await private_error(interaction, text)
        _count_press(interaction, outcome, t0)


def list_message(what: str, user_id: int, page: Page) -> dict:
    """A page of `!favs` or `!mine`: an embed of its poems (newest first) and, when there is more
    than one page, Previous and Next."""
    if what == "favs":
        title = t("Your favourites") if page.pages == 1 else t("Your favourites: page {page} of {pages}")
    else:
        title = t("Your poems here") if page.pages == 1 else t("Your poems here: page {page} of {pages}")
    embed = discord.Embed(title=render(title.filled(page=page.page + 1, pages=page.pages)), colour=COLOUR)
    for p in page.poems:
        embed.add_field(name=f"#{p.id}", value="\n".join(p.lines), inline=True)
    embed.set_footer(text=render(tn("{n} poem, newest first", "{n} poems, newest first", page.total)))
    message = {"embed": embed}
    if page.pages > 1:
        view = discord.ui.View(timeout=None)
        view.add_item(PageButton(what, user_id, max(page.page - 1, 0), "p", disabled=page.page == 0))
        view.add_item(PageButton(what, user_id, page.page + 1, "n", disabled=page.page + 1 >= page.pages))
        message["view"] = view
    return message


# -- 格律 -------------------------------------------------------------------------------------------
TONES = {metre.LEVEL: t("level (平)"), metre.OBLIQUE: t("oblique (仄)")}
OTHER = {metre.LEVEL: metre.OBLIQUE, metre.OBLIQUE: metre.LEVEL}


def fault_text(f: metre.Fault, rhyme: str | None, scripted) -> Words:
    """What breaks (or bends, accepted) at one place of a quatrain, in words."""
    wants = TONES.get(f.wants)
    match f.kind:
        case metre.KEY:
            return t(
                "character {pos}, {char}, is {tone}; the pattern wants {wants}",
                pos=f.position,
                char=f.chars,
                tone=TONES[OTHER[f.wants]],
                wants=wants,
            )
        case metre.END:
            return t(
                "it ends on {char}, {tone}; this line ends {wants}",
                char=f.chars,
                tone=TONES[OTHER[f.wants]],
                wants=wants,
            )
        case metre.UNOPPOSED:
            return t(
                "失對: its second character, {char}, should be {wants}, opposed to the line before",
                char=f.chars,
                wants=wants,
            )
        case metre.UNSTUCK:
            return t("失粘: its second character, {char}, should be {wants}, like line 2's", char=f.chars, wants=wants)
        case metre.RHYME:
            return t(
                "出韻: the rhyme foot {char} is in {groups}, not {rhyme}",
                char=f.chars,
                groups=scripted("、".join(f.groups)),
                rhyme=scripted(rhyme or ""),
            )
        case metre.LONE_LEVEL if f.chars:
            return t("孤平: besides the rhyme foot, only {char} is level", char=f.chars)
        case metre.LONE_LEVEL:
            return t("孤平: besides the rhyme foot, no character is level")
        case metre.THREE_LEVEL:
            return t("三平尾: it ends on three level characters, {chars}", chars=f.chars)
        case metre.SAVED:
            line, pos, char = f.by
            return t(
                "拗救: {char} is oblique where the pattern wants level, made good by {saver} (line {line}, character {pos})",
                char=f.chars,
                saver=char,
                line=line,
                pos=pos,
            )
        case metre.SPECIAL:
            return t("特拗: {chars} reads 平平仄平仄, an accepted form of 平平平仄仄", chars=f.chars)
    return t("{kind} at character {pos}", kind=f.kind, pos=f.position)


def metre_embed(m: metre.Metre, script: str) -> discord.Embed:
    """格律 of a quatrain: the verdict, each line's tones against its pattern with what breaks
    there, the rhyme, and a legend; within Discord's limits (a field per line, 1,024 each)."""
    scripted = simplified if script == "simplified" else str
    start = t("平起 (starts level)") if m.level_start else t("仄起 (starts oblique)")
    first = t("首句入韻 (line 1 rhymes)") if m.first_rhymes else t("首句不入韻 (line 1 does not rhyme)")
    verdict = (
        t("Regular: it keeps the pattern.")
        if m.regular
        else tn("{n} thing breaks the pattern.", "{n} things break the pattern.", len(m.faults))
    )
    notes = [t("{start}, {first}.", start=start, first=first), verdict]
    if m.oblique_rhyme:
        notes.append(
            t(
                "Lines 2 and 4 end on oblique tones: regulated verse rhymes on level ones (this reads as an old-style 古絕)."
            )
        )
    if m.unknown:
        notes.append(t("Not in the 平水韻 tables, so not judged: {chars}.", chars="、".join(m.unknown)))
    title = t("格律 of a {quatrain}", quatrain=quatrain(m.form))
    embed = discord.Embed(title=render(title), description="\n".join(render(n) for n in notes), colour=COLOUR)
    for i, (line, tones, pattern) in enumerate(zip(m.lines, m.tones, m.pattern), 1):
        rows = [render(t("{tones} (pattern {pattern})", tones=tones, pattern=pattern))]
        rows += ["✗ " + render(fault_text(f, m.rhyme, scripted)) for f in m.faults if f.line == i]
        rows += ["✓ " + render(fault_text(f, m.rhyme, scripted)) for f in m.accepted if f.line == i]
        embed.add_field(name=f"{i}. {line}", value="\n".join(rows)[:1024], inline=False)
    feet = "、".join(m.lines[i][-1] for i in ((0, 1, 3) if m.first_rhymes else (1, 3)))
    rhyme = (
        t("{feet}: {group}", feet=feet, group=scripted(m.rhyme)) if m.rhyme else t("{feet}: no level rhyme", feet=feet)
    )
    embed.add_field(name=render(t("Rhyme (平水韻)")), value=render(rhyme), inline=False)
    legend = t(
        "平 level · 仄 oblique · 中 either reading · ? not in the tables. Characters 1 and 3 (and 5) are free, "
        "unless that makes 孤平 or 三平尾."
    )
    embed.set_footer(text=render(legend))
    return embed


class Yours(commands.Cog):
    """Your own poems and favourites, a page at a time; deleting a poem; 格律 of a quatrain."""

    def __init__(self, bot: commands.Bot):
        self.bot = bot
        self.service = bot.service

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(DeleteButton, PageButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(DeleteButton, PageButton)

    async def _list(self, ctx: commands.Context, what: str) -> None:
        page = await self.service.page(asker(ctx), what)
        if not page.total:
            if what == "favs":
                none = t("You have no favourites yet.") + t("Press ♥ under a poem or type `!fav <id>`.")
            else:
                none = t("You have no poems here yet.") + t("Type `!poem` to write one.")
            await ctx.send(none, ephemeral=True)
            return
        await ctx.send(**list_message(what, ctx.author.id, page), ephemeral=True)

    @commands.hybrid_command(name="favs")
    async def favs(self, ctx: commands.Context):
        """Your favourites that can be seen here, newest first, a page at a time."""
        await self._list(ctx, "favs")

    @commands.hybrid_command(name="mine")
    async def mine(self, ctx: commands.Context):
        """Your own poems written here (this server, or our direct messages), newest first."""
        await self._list(ctx, "mine")

    @commands.hybrid_command(name="delete")
    @app_commands.autocomplete(poem_id=poem_ids)
    @described
    async def delete(self, ctx: commands.Context, poem_id: str, confirm: str | None = None):
        """Delete one of your poems, with its ratings and favourites. Asks first: press the button.

        Or type `!delete 12 confirm`. Poems made from it (rewrites, variations,
        blends) stay, without the link to it, as after `!forgetme`.
        """
        pid = parse_poem_id(poem_id)
        viewer = asker(ctx)
        if confirm != "confirm":
            p, rated, kept = await self.service.deletion(viewer, pid)
            others = (
                t(
                    "It also carries {ratings} and {favourites} from other people; they go with it.",
                    ratings=ratings(rated),
                    favourites=favourites(kept),
                )
                if rated or kept
                else None
            )
            asked = (
                t("This deletes poem #{id} for good.", id=pid)
                + others
                + t("To go ahead, press the button (or type `!delete {id} confirm`).", id=pid)
            )
            view = discord.ui.View(timeout=None)
            view.add_item(DeleteButton(pid, ctx.author.id))
            await ctx.send(asked, embed=poem_embed(p), view=view, ephemeral=True)
            return
        gone = await self.service.delete(viewer, pid)
        await ctx.send(deleted_text(pid, gone), ephemeral=True)

    @commands.hybrid_command(name="check")
    @described
    async def check(self, ctx: commands.Context, *, poem: str):
        """格律: a quatrain's tones (平仄) against the regulated patterns, its rhyme, what breaks.

        Give 4 lines of 5 or 7 characters, punctuated or not, traditional or
        simplified (or a saved poem's id). Example:
        `!check 白日依山盡，黃河入海流。欲窮千里目，更上一層樓。`
        """
        m, script = await self.service.metre(asker(ctx), poem)
        await ctx.send(embed=metre_embed(m, script))
