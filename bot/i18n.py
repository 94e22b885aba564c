"""Words in the reader's language: English, 繁體中文 (zh-TW) and 简体中文 (zh-CN).

Every text a reader reads (replies, embeds and their footers, buttons, menus, help pages,
slash-command descriptions) is a message of one catalogue, gettext's. A message's id is its
English source (`msgid`, with `{name}` where a value goes, and a `msgctxt` where one English
text is said two ways); bot/locale/<zh_TW|zh_CN>/LC_MESSAGES/poembot.po hold each id's
translation beside it, with plural forms. They are read with Babel when first needed, so no
compile step and no tool but Babel is needed at run time; English needs no file.

Code writes a message as `t("Poem #{id}", id=12)` (`tn` with a plural, `tc` with a context)
and gets a `Text`, worded only when it is sent (`render`, in the language of LANGUAGE): an
error raised deep in the service is worded for whoever reads it. `str(text)` is the English,
for logs. A value is put in as it is (a poem, what a user typed) unless it is a Text itself.
What discord.py holds in English (help pages, slash descriptions, options, choices) is looked
up by that English: `help_of`, `cogs.meaning`, `Translator`.

zh_CN.po is a translation of its own, in mainland terms (服务器, 私信): a message new in
the code is added to both files by `python -m bot.catalogue`, its zh_CN text first made from
the zh_TW one with OpenCC's tw2sp, then corrected by hand where needed. tests/test_language.py
fails while a message of the code has no translation, or its values differ from the English.

The reader's language is decided in one place, `reader_language` (and set for a command or a
press by `views.use_locale`).
"""

from __future__ import annotations

import contextvars
import functools
import gettext
import io
import string
from importlib import resources

import discord
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from discord import app_commands

# the reader's language for the command or press being handled: "en", "zh-TW" or "zh-CN"
LANGUAGE: contextvars.ContextVar[str] = contextvars.ContextVar("reply_language", default="en")
LANGUAGES = ("en", "zh-TW", "zh-CN")
CATALOGUES = {"zh-TW": "zh_TW", "zh-CN": "zh_CN"}  # language -> its catalogue under bot/locale
DOMAIN = "poembot"


def language_for(locale: str | None) -> str:
    """A Discord locale's reply language: zh-TW and zh-HK read 繁體, zh-CN and zh-SG 简体,
    the rest English."""
    if locale in ("zh-TW", "zh-HK"):
        return "zh-TW"
    if locale in ("zh-CN", "zh-SG"):
        return "zh-CN"
    return "en"


# The stored choices for the command or press being handled: the member's own language and their
# server's default (None: not chosen), read from the database by `bot.gate.settle` before it.
CHOSEN: contextvars.ContextVar[tuple[str | None, str | None]] = contextvars.ContextVar(
    "chosen_language", default=(None, None)
)
# why a language is in force (`language_and_reason`), from the first to the last resort
BY_MEMBER, BY_SERVER, BY_CLIENT, BY_SERVER_LOCALE, BY_DEFAULT = "member", "server", "client", "locale", "default"


def reader_language(origin) -> str:
    """The one place that decides the language of whoever a command or press is answered for
    (`origin`: a commands.Context, a discord.Interaction, or the discord.Guild a post is for);
    `language_and_reason` says the order."""
    return language_and_reason(origin)[0]


def language_and_reason(origin) -> tuple[str, str]:
    """The reader's language and why: the member's own choice (`!language`), else their
    server's default (set by its admins), else an interaction's (a slash command's, a
    button's) client language, or for a typed command its server's preferred language (only
    Community servers set one), else English. The stored choices are CHOSEN's."""
    member, server = CHOSEN.get()
    if member in LANGUAGES:
        return member, BY_MEMBER
    if server in LANGUAGES:
        return server, BY_SERVER
    interaction = origin if isinstance(origin, discord.Interaction) else getattr(origin, "interaction", None)
    if interaction is not None:
        return language_for(str(interaction.locale) if interaction.locale else None), BY_CLIENT
    guild = origin if isinstance(origin, discord.Guild) else getattr(origin, "guild", None)
    if guild is not None and guild.preferred_locale:
        return language_for(str(guild.preferred_locale)), BY_SERVER_LOCALE
    return "en", BY_DEFAULT


@functools.cache
def _catalogue(language: str) -> tuple[gettext.NullTranslations, frozenset[tuple[str | None, str]]]:
    """`language`'s catalogue, read from its .po file with Babel (and compiled in memory), and
    the (context, msgid) of the messages it translates."""
    if language not in CATALOGUES:
        return gettext.NullTranslations(), frozenset()  # English: a message's id is its English
    po = resources.files("bot") / "locale" / CATALOGUES[language] / "LC_MESSAGES" / f"{DOMAIN}.po"
    catalogue = read_po(io.StringIO(po.read_text(encoding="utf-8")), locale=CATALOGUES[language], domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalogue)  # (fuzzy entries are left out: their English is shown)
    compiled.seek(0)
    ids = frozenset(
        (m.context, m.id[0] if isinstance(m.id, tuple) else m.id)
        for m in catalogue
        if m.id and (m.string[0] if isinstance(m.string, tuple) else m.string) and not m.fuzzy
    )
    return gettext.GNUTranslations(compiled), ids


class Text:
    """Words for a reader: a catalogue message and the values that fill it in, worded in a
    language when sent (`render`). `str()` is the English."""

    __slots__ = ("msgid", "values", "plural", "n", "context")

    def __init__(self, msgid: str, values: dict, plural: str | None = None, n: int = 1, context: str | None = None):
        self.msgid, self.values, self.plural, self.n, self.context = msgid, values, plural, n, context

    def template(self, language: str) -> str:
        """The message in `language`, its values not yet filled in (its English where the
        catalogue has no translation)."""
        tr = _catalogue(language)[0]
        if self.plural is None:
            return tr.pgettext(self.context, self.msgid) if self.context else tr.gettext(self.msgid)
        if self.context:
            return tr.npgettext(self.context, self.msgid, self.plural, self.n)
        return tr.ngettext(self.msgid, self.plural, self.n)

    def render(self, language: str) -> str:
        values = {k: v.render(language) if isinstance(v, (Text, Sentences)) else v for k, v in self.values.items()}
        return self.template(language).format_map(values)

    def translated(self, language: str) -> str | None:
        """The message in `language` if the catalogue translates it, else None."""
        if (self.context, self.msgid) not in _catalogue(language)[1]:
            return None
        return self.render(language)

    def filled(self, **values) -> Text:
        """This message with more values."""
        return Text(self.msgid, {**self.values, **values}, self.plural, self.n, self.context)

    def __add__(self, other: Text | Sentences | None) -> Sentences:
        return Sentences(self, other)

    def __str__(self) -> str:
        return self.render("en")

    def __repr__(self) -> str:
        return f"Text({str(self)!r})"


class Sentences:
    """Messages one after another: with a space between them in English, none in Chinese."""

    __slots__ = ("parts",)

    def __init__(self, *parts: Text | Sentences | None):
        self.parts = [p for p in parts if p is not None]

    def render(self, language: str) -> str:
        return ("" if language.startswith("zh") else " ").join(p.render(language) for p in self.parts)

    def __add__(self, other: Text | Sentences | None) -> Sentences:
        return Sentences(*self.parts, other)

    def __str__(self) -> str:
        return self.render("en")

    def __repr__(self) -> str:
        return f"Sentences({str(self)!r})"


Words = Text | Sentences  # what a reply may hold: words from the catalogue


def t(msgid: str, /, **values) -> Text:
    """A catalogue message (its English, with `{name}` for each value)."""
    return Text(msgid, values)


def tn(singular: str, plural: str, n: int, /, **values) -> Text:
    """A message whose wording follows a number, `n` (also its value `{n}` unless given)."""
    return Text(singular, {"n": n, **values}, plural, n)


def tc(context: str, msgid: str, /, **values) -> Text:
    """A message in a context: one English said apart from the same English elsewhere."""
    return Text(msgid, values, context=context)


def help_of(command) -> Text:
    """A command's help page (its docstring, as discord.py holds it) as a catalogue message."""
    return Text(command.help or "", {}, context="help")


def render(text: Words | str | None, language: str | None = None) -> str | None:
    """Words in `language` (default: the reader's, LANGUAGE); a plain string as it is."""
    if isinstance(text, (Text, Sentences)):
        return text.render(language or LANGUAGE.get())
    return text


def fields(template: str) -> list[str]:
    """The `{name:spec}` fields of a message, in order (a translation must have the same)."""
    return sorted(f"{name}:{spec}" for _, name, spec, _ in string.Formatter().parse(template) if name is not None)


class Translator(app_commands.Translator):
    """The slash commands' descriptions, their options' descriptions and their choices' names
    for Chinese clients, from the catalogue: discord.py holds them in English (from the
    docstrings, `cogs.ARGUMENTS`, the choices) and asks here when the commands are synced."""

    async def translate(
        self, string: app_commands.locale_str, locale: discord.Locale, context: app_commands.TranslationContext
    ) -> str | None:
        language = {discord.Locale.taiwan_chinese: "zh-TW", discord.Locale.chinese: "zh-CN"}.get(locale)
        where = app_commands.TranslationContextLocation
        if language is None:
            return None
        if context.location in (where.command_description, where.group_description):
            return tc("slash", string.message).translated(language)
        if context.location in (where.parameter_description, where.choice_name):
            return Text(string.message, {}).translated(language)
        return None
