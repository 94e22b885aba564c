"""Keeping the catalogue of `bot.i18n` (bot/locale/<zh_TW|zh_CN>/LC_MESSAGES/poembot.po).

`python -m bot.catalogue` finds every message of the code: Babel's extractor over bot/ (the
calls `t`, `tn` and `tc`), and the words discord.py holds in English (each command's help and
slash description, from its docstring; its options' descriptions and choices). It adds the
messages new in the code to both catalogues, and keeps those the code no longer has as
obsolete (`#~`), to come back with their translations if the code has them again. A zh_CN
message that has no translation yet is made from its zh_TW one with OpenCC's tw2sp (mainland
phrases and terms: 伺服器 -> 服务器) and the few terms written by hand below, then kept as its
own (edit it freely). It ends by listing what still lacks a translation; `--check` changes
nothing and exits 1 if the catalogues are not up to date (tests/test_language.py checks the
same).
"""

from __future__ import annotations

import argparse
import functools
import io
import sys
from datetime import datetime, timezone
from pathlib import Path

from babel.messages.catalog import Catalog
from discord import app_commands
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from model.contract import version  # torch-free

from .i18n import CATALOGUES, DOMAIN

BOT = Path(__file__).resolve().parent
LOCALE = BOT / "locale"
KEYWORDS = {"t": None, "tn": (1, 2), "tc": ((1, "c"), 2)}  # bot.i18n's functions, for Babel
# zh_CN terms that tw2sp leaves as Taiwan writes them (applied after it)
TERMS = {
    "私讯": "私信",  # a direct message
}

Key = tuple[str | None, str]  # (context, msgid)


def path(language: str) -> Path:
    """Where `language`'s catalogue lives (inside the package, so the wheel ships it)."""
    return LOCALE / CATALOGUES[language] / "LC_MESSAGES" / f"{DOMAIN}.po"


def _held() -> dict[Key, str | None]:
    """The words discord.py holds in English, read from the cog's class (no bot is built): each
    command's help page (its docstring; context "help", with the cog's description and the help
    command's own), its slash description (context "slash"), its options' descriptions and their
    choices' names."""
    from .admin import Settings
    from .app import HelpCommand
    from .cogs import Poems
    from .members import Yours

    cogs = (Poems, Yours, Settings)
    found: dict[Key, str | None] = {("help", cog.__cog_description__): None for cog in cogs}
    found[("help", HelpCommand().command_attrs["help"])] = None
    for command in [c for cog in cogs for c in list(cog.__cog_commands__) + list(cog.__cog_app_commands__)]:
        if getattr(command, "help", None) and not getattr(command, "hidden", False):
            found[("help", command.help)] = None
        slash = getattr(command, "app_command", command if isinstance(command, app_commands.Command) else None)
        if slash is None:  # (a typed-only command)
            continue
        found[("slash", slash.description)] = None
        for parameter in getattr(slash, "parameters", ()):  # (a group has none)
            found[(None, parameter.description)] = None
            found.update(((None, choice.name), None) for choice in parameter.choices if not choice.name.startswith("★"))
    return found


def code_messages() -> dict[Key, str | None]:
    """Every message of the code: (context, msgid) -> its plural msgid (None: no plural)."""
    found: dict[Key, str | None] = {}
    for _, _, message, _, context in extract_from_dir(
        str(BOT), method_map=[("**.py", "python")], keywords=KEYWORDS, comment_tags=()
    ):
        if isinstance(message, tuple):
            found[(context, message[0])] = message[1]
        else:
            found[(context, message)] = None
    found.update(_held())
    return found


@functools.cache
def _tw2sp():
    import opencc

    return opencc.OpenCC("tw2sp")


def simplify(text: str) -> str:
    """A zh_TW message in mainland Chinese: OpenCC's tw2sp, then the terms of TERMS."""
    out = _tw2sp().convert(text)
    for taiwan, mainland in TERMS.items():
        out = out.replace(taiwan, mainland)
    return out


def read(language: str) -> Catalog:
    file = path(language)
    if not file.exists():
        return Catalog(locale=CATALOGUES[language], domain=DOMAIN, project="poembot")
    with file.open(encoding="utf-8") as f:
        return read_po(f, locale=CATALOGUES[language], domain=DOMAIN)


def _text(message) -> str:
    """A catalogue message's (first) translation, "" when it has none."""
    string = message.string
    return (string[0] if isinstance(string, (tuple, list)) else string) or ""


def updated(language: str, wanted: dict[Key, str | None], traditional: Catalog | None = None) -> Catalog:
    """`language`'s catalogue with the code's messages: the new ones added (zh_CN's made from
    `traditional`'s when that has one), the gone ones dropped, the rest as they were."""
    old = read(language)
    new = Catalog(
        locale=CATALOGUES[language],
        domain=DOMAIN,
        header_comment=f"# poembot's words in {CATALOGUES[language]} (bot/i18n.py), kept by `python -m bot.catalogue`.\n"
        "# Each msgid is the English the code writes; translate its msgstr, keeping every {name}.",
        project="poembot",
        version=version(),
        msgid_bugs_address="",
        copyright_holder="the poembot authors",
        last_translator="poembot",
        language_team=CATALOGUES[language],
        creation_date=old.creation_date,
        revision_date=datetime.now(timezone.utc),
        charset="utf-8",
        fuzzy=False,
    )
    gone = {(m.context, m.id[0] if isinstance(m.id, tuple) else m.id): m for m in [*old, *old.obsolete.values()]}
    for (context, msgid), plural in sorted(wanted.items(), key=lambda kv: (kv[0][0] or "", kv[0][1])):
        had = gone.pop((context, msgid), None)
        string = _text(had) if had is not None else ""
        if not string and traditional is not None:
            source = traditional.get(msgid, context=context)
            string = simplify(_text(source)) if source is not None and _text(source) else ""
        new.add((msgid, plural) if plural else msgid, (string,) if plural else string, context=context)
    for (context, msgid), message in gone.items():  # kept as obsolete (#~): back when the code is
        if msgid and _text(message):
            new.obsolete[(msgid, context) if context else msgid] = message
    return new


def untranslated(catalogue: Catalog) -> list[Key]:
    return [(m.context, m.id[0] if isinstance(m.id, tuple) else m.id) for m in catalogue if m.id and not _text(m)]


def render_po(catalogue: Catalog) -> str:
    out = io.BytesIO()
    write_po(out, catalogue, width=100, omit_header=False, sort_output=False, ignore_obsolete=False)
    return out.getvalue().decode("utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.catalogue", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 unless up to date")
    args = parser.parse_args(argv)
    wanted = code_messages()
    traditional = updated("zh-TW", wanted)
    stale = False
    for language, catalogue in (("zh-TW", traditional), ("zh-CN", updated("zh-CN", wanted, traditional))):
        text = render_po(catalogue)
        file = path(language)
        current = file.read_text(encoding="utf-8") if file.exists() else ""
        if _messages(text) != _messages(current):
            stale = True
            if not args.check:
                file.parent.mkdir(parents=True, exist_ok=True)
                file.write_text(text, encoding="utf-8")
                print(f"{file.relative_to(BOT.parent)}: updated", file=sys.stderr)
        for context, msgid in untranslated(catalogue):
            stale = True
            print(f"{language}: no translation of {msgid!r}" + (f" ({context})" if context else ""), file=sys.stderr)
    return 1 if stale and args.check else 0


def _messages(po: str) -> list:
    """A catalogue's messages, for comparing two (the header's dates left out)."""
    if not po:
        return []
    catalogue = read_po(io.StringIO(po))
    return [(m.context, m.id, m.string) for m in catalogue if m.id]


if __name__ == "__main__":
    sys.exit(main())
