"""What is under a reply: the buttons and menus under a poem (rate, favourite, vary,
another, rewrite a line), under a blend (pick a step) and under `!forgetme` (confirm), the
poem's message itself (embed, card, view), and how an interaction is answered (in the reader's
language and script, privately on an error, counted in the metrics).

Every button is a `discord.ui.DynamicItem` whose custom id holds its state
(`poem:rate:<id>:<stars>`), so it works on messages from before a restart; `bot.app` registers
them. The commands that post these are in `bot.cogs`."""

from __future__ import annotations

import asyncio
import io
import time

import discord
from discord.ext import commands

from . import cards
from .gate import let_in, settle
from .parsing import parse_poem_id
from .shown import LOCALE_SCRIPT, ShownPoem, script_for_locale
from .i18n import LANGUAGE, Sentences, Text, Words, reader_language, render, t, tn
from .storage.repo import Viewer
from .logs import command_done

# The bot these take is bot.app.PoemBot (a `commands.Bot` with a `service`); app imports this
# module, so it is named here by its discord.py base, keeping the imports one way.

COLOUR = discord.Colour(0x8B2E2E)  # cinnabar


def presser(interaction: discord.Interaction) -> Viewer:
    """Who pressed a button (or picked from a menu), and where."""
    return Viewer(interaction.user.id, interaction.guild_id)


async def poem_message(bot: commands.Bot, p: ShownPoem) -> dict:
    """A new poem's message: its embed and buttons, and its card when cards are on and a
    CJK font is here (rendered on a thread: the event loop never draws). The text stays in
    the embed, for screen readers and search."""
    message = {"embed": poem_embed(p), "view": poem_view(p)}
    if p.again:  # (the same request here again: the poem saved then, not a copy)
        message["content"] = t("You have this poem already: #{id}, shown again.", id=p.id)
    settings = bot.service.settings
    if not settings.cards or not p.cards:
        return message
    font = cards.font(str(settings.card_font) if settings.card_font else None)
    if font is None:
        return message
    caption = f"#{p.id} · {'五言' if p.form == 5 else '七言'} · {render(p.origin)}"
    png = await asyncio.to_thread(cards.render, [line[:-1] for line in p.lines], caption, p.script, font)
    name = f"poem-{p.id}.png"
    message["embed"].set_image(url=f"attachment://{name}")
    message["file"] = discord.File(io.BytesIO(png), filename=name, description=" ".join(p.lines))
    return message


def quatrain(form: int) -> Text:
    """A poem's form as its footer names it (五言絕句)."""
    return t("7-character quatrain") if form == 7 else t("5-character quatrain")


def poem_embed(p: ShownPoem) -> discord.Embed:
    """A poem's embed, in the reader's language: its id, its lines, where it came from."""
    embed = discord.Embed(title=render(t("Poem #{id}", id=p.id)), description="\n".join(p.lines), colour=COLOUR)
    footer = t("{origin} · {quatrain} · {model}", origin=p.origin, quatrain=quatrain(p.form), model=p.model_version)
    embed.set_footer(text=render(footer))
    return embed


def ratings(n: int) -> Text:
    return tn("{n} rating", "{n} ratings", n)


def rated_text(poem_id: int, stars: int, summary) -> Words:
    if not summary.count:  # (its ratings went with it, a moment after: the poem was deleted)
        return t("Poem #{id} was deleted by its owner just now.", id=poem_id)
    return t("You gave poem #{id} {stars}★.", id=poem_id, stars=stars) + tn(
        "It now has {n} rating, {mean}★ on average.",
        "It now has {n} ratings, {mean}★ on average.",
        summary.count,
        mean=f"{summary.mean:.2f}",
    )


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
                label=render(t("♥ favourite")),
                style=discord.ButtonStyle.primary,
                custom_id=f"poem:fav:{poem_id}",
                row=1,
            )
        )
        self.poem_id = poem_id

    @classmethod
    async def from_custom_id(cls, interaction, item, match):
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        async def act():
            await interaction.client.service.favourite(presser(interaction), self.poem_id)
            return t("Poem #{id} is now one of your favourites.", id=self.poem_id)

        await _answer_button(interaction, act)


class RerollButton(discord.ui.DynamicItem[discord.ui.Button], template=r"poem:reroll:(?P<form>[57])"):
    def __init__(self, form: int):
        super().__init__(
            discord.ui.Button(
                label=render(t("↻ another")),
                style=discord.ButtonStyle.success,
                custom_id=f"poem:reroll:{form}",
                row=1,
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
                label=render(t("✎ variation")),
                style=discord.ButtonStyle.secondary,
                custom_id=f"poem:vary:{poem_id}",
                row=1,
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
        options = [discord.SelectOption(label=render(t("↺ rewrite line {n}", n=n)), value=str(n)) for n in range(1, 5)]
        super().__init__(
            discord.ui.Select(
                custom_id=f"poem:rewrite:{poem_id}",
                placeholder=render(t("↺ rewrite a line…")),
                options=options,
                row=2,
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


def use_locale(origin: commands.Context | discord.Interaction) -> None:
    """Answer this command or press in its reader's language (`i18n.reader_language`), and let
    the poems written for it default to that language's script (simplified for zh-CN; a user's
    own `!script` choice still wins)."""
    language = reader_language(origin)
    LANGUAGE.set(language)
    LOCALE_SCRIPT.set(script_for_locale(language))


def worded(bot, content, kwargs: dict):
    """`content` (words of the catalogue, or a string) in the reader's language, and it and the
    embeds in `kwargs` with their command hints in the bot's prefix."""
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
    return bot.wording(content) if isinstance(content, (str, Text, Sentences)) else content


def answered(interaction: discord.Interaction | None) -> None:
    """Note that a deferred interaction has had its public answer (see `private_error`)."""
    if interaction is not None:
        interaction.extras["answered"] = True


async def private_error(interaction: discord.Interaction, text: Words | str) -> None:
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
    if not await let_in(interaction):  # (where the server lets the bot answer: bot.gate)
        return
    use_locale(interaction)
    t0, outcome = time.perf_counter(), "ok"
    try:
        await bot.service.admit(interaction.user.id, guild_id=interaction.guild_id)
        await interaction.response.defer(thinking=True)
        poem = await write(bot.service, interaction.user.id, interaction.guild_id, interaction.channel_id)
        message = await poem_message(bot, poem)
        msg = await interaction.followup.send(worded(bot, message.pop("content", None), message), wait=True, **message)
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
    await settle(interaction)  # (the reader's stored language: bot.gate)
    use_locale(interaction)
    t0, outcome = time.perf_counter(), "ok"
    try:
        text = await act()
    except Exception as e:
        text, outcome = interaction.client.describe(e)
    await interaction.response.send_message(interaction.client.wording(text), ephemeral=True)
    _count_press(interaction, outcome, t0)


def favourites(n: int) -> Text:
    return tn("{n} favourite", "{n} favourites", n)


def forgotten_text(gone) -> Text:
    return t(
        "Done: deleted {poems}, {ratings} and {favourites}.",
        poems=tn("{n} poem", "{n} poems", gone.poems),
        ratings=ratings(gone.ratings),
        favourites=favourites(gone.favourites),
    )


class ForgetButton(discord.ui.DynamicItem[discord.ui.Button], template=r"forget:confirm:(?P<user>[0-9]{1,20})"):
    """Under `!forgetme`'s question: the user who asked confirms with a press."""

    def __init__(self, user_id: int):
        super().__init__(
            discord.ui.Button(
                label=render(t("Delete all of it")),
                style=discord.ButtonStyle.danger,
                custom_id=f"forget:confirm:{user_id}",
            )
        )
        self.user_id = user_id

    @classmethod
    async def from_custom_id(cls, interaction, item, match):
        return cls(int(match["user"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        async def act():
            if interaction.user.id != self.user_id:
                return t("Only the person who asked can confirm this.")
            return forgotten_text(await interaction.client.service.forget(interaction.user.id))

        await _answer_button(interaction, act)


class StepSelect(discord.ui.DynamicItem[discord.ui.Select], template=r"poem:steps"):
    """Under a blend: pick one of its poems to rate, keep or vary (each step its own
    poem; five star buttons for each would pass Discord's five rows)."""

    def __init__(self, path: list[ShownPoem] | None = None):
        seen: set[int] = set()  # a poem on the path twice (`!blend 1 1`) is one option: Discord refuses repeats
        options = [
            discord.SelectOption(
                label=render(t("#{id} · step {i}/{n}", id=p.id, i=i + 1, n=len(path))),
                value=str(p.id),
                description=p.lines[0][:100],
            )
            for i, p in enumerate(path or [])
            if not (p.id in seen or seen.add(p.id))
        ]
        super().__init__(
            discord.ui.Select(
                custom_id="poem:steps",
                placeholder=render(t("Rate or keep one of these poems…")),
                options=options or [discord.SelectOption(label="-")],
                row=0,
            )
        )

    @classmethod
    async def from_custom_id(cls, interaction, item, match):
        return cls()

    async def callback(self, interaction: discord.Interaction) -> None:
        await settle(interaction)
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
