"""User text inside the bot's replies, Discord's limits on a reply, and what storage's errors
(`storage_reply`) and the model's refusals (`refusal`, a table of the contract's codes) say.

Anything a user typed that a reply repeats goes through `echo`: normalised,
invisible characters named, cut short, markdown and mentions escaped, so a
reply can neither grow past Discord's limits nor post a user's masked link.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from discord.utils import escape_markdown, escape_mentions

from .i18n import Words, t, tn

SORRY = t("Sorry, something went wrong on my side. It has been logged; please try again.")  # anything unexpected
APOLOGY = str(SORRY)  # (its English)
MAX_CONTENT = 2000  # characters in a message's content
ECHO_CHARS = 40  # characters of user input a reply repeats
INVISIBLE = {"Cc", "Cf", "Co", "Cn", "Zl", "Zp"}


def normalise(text: str) -> str:
    """The one rule for reading what users type: NFKC (fullwidth ４２ is 42), trimmed."""
    return unicodedata.normalize("NFKC", text).strip()


def invisible(text: str) -> list[str]:
    """The code points in `text` a reader cannot see, as U+XXXX."""
    return [f"U+{ord(ch):04X}" for ch in text if unicodedata.category(ch) in INVISIBLE or (ch.isspace() and ch != " ")]


def echo(value: object, limit: int = ECHO_CHARS) -> str:
    """User input as a reply may quote it: at most `limit` characters (then …),
    invisible characters shown as ⟨U+200B⟩, markdown and mentions escaped.
    Not for inside a `code span`, where Discord shows the escapes."""
    text = "".join(f"⟨U+{ord(ch):04X}⟩" if invisible(ch) else ch for ch in str(value))
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return escape_mentions(DISCORD_TAG.sub(r"\\<", escape_markdown(text)))


# what Discord renders inside <...>: channel and user links, custom emoji, command links, timestamps
DISCORD_TAG = re.compile(r"<(?=[#@:/]|a:|t:)")


def fit(text: str, limit: int = MAX_CONTENT) -> str:
    """A reply cut to Discord's limit (the last resort: echoes are short already)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def storage_reply(error: Exception) -> Words:
    """What a user is told when the data cannot do what they asked."""
    from .storage import repo

    match error:
        case repo.UnknownPoem():
            return t("There is no poem #{id}.", id=error.poem_id)
        case repo.AlreadyFavourite():
            return t("Poem #{id} is already one of your favourites.", id=error.poem_id)
        case repo.NotFavourite():
            return t("Poem #{id} is not one of your favourites.", id=error.poem_id)
        case repo.NotYourPoem():
            return t("Poem #{id} is not yours: only the person who asked for it can delete it.", id=error.poem_id)
        case repo.FavouritesOfMixedForms():
            return t(
                "A blend walks between two poems of one form, and your favourites here are one 5-character and "
                "one 7-character poem."
            ) + t("Keep another 5- or 7-character poem (♥ or `!fav <id>`), or name two: `!blend <a> <b>`.")
        case repo.NotEnoughFavourites():
            return tn(
                "You need {n} favourite for that and have {have}.",
                "You need {n} favourites for that and have {have}.",
                error.need,
                have=error.have,
            ) + t("Press ♥ under a poem or type `!fav <id>` to add one.")
        case repo.InvalidStars():
            return t("A rating is 1 to 5 stars.")
        case repo.InvalidScript():
            return t("The script is simplified or traditional.")
    return t("That cannot be done with the poems saved here.")


def _chars(chars, limit: int = 20) -> str:
    """Characters a refusal names, as a reply may quote them: 𠀀、𠀁."""
    return echo("、".join(map(str, chars)) if isinstance(chars, list) else chars, limit)


def _quoted(chars) -> str:
    """Characters that are not Chinese, each quoted as Python writes it ('m', '\\u200b')."""
    return echo(", ".join(ascii(ch) if not str(ch).isprintable() else repr(ch) for ch in chars), 80)


def _not_chinese(p: dict) -> Words:
    """A subject or an acrostic with characters that are not Chinese."""
    found, n = _quoted(p["found"]), len(p["found"])
    if p.get("field") == "subject":
        return tn(
            "the subject {text} must be written in Chinese characters, and {found} is not",
            "the subject {text} must be written in Chinese characters, and {found} are not",
            n,
            text=echo(p.get("text", ""), 20),
            found=found,
        )
    return tn(
        "the acrostic must be written in Chinese characters, and {found} is not",
        "the acrostic must be written in Chinese characters, and {found} are not",
        n,
        found=found,
    )


def _unknown_characters(p: dict) -> Words:
    """A subject or an acrostic with characters the model does not know."""
    chars, n = _chars(p["chars"]), len(p["chars"])
    if p.get("field") == "subject":
        return tn(
            "the model does not know the character {chars} (the subject {text})",
            "the model does not know the characters {chars} (the subject {text})",
            n,
            chars=chars,
            text=echo(p.get("text", ""), 20),
        )
    return tn(
        "the model does not know the character {chars} (the acrostic)",
        "the model does not know the characters {chars} (the acrostic)",
        n,
        chars=chars,
    )


def _poem_not_chinese(p: dict) -> Words:
    """A poem given as text with characters that are not Chinese (`more`: how many past those named)."""
    found = _quoted(p["found"])
    if p.get("more"):
        return t(
            "a poem is written in Chinese characters only; found {found} and {more} more", found=found, more=p["more"]
        )
    return t("a poem is written in Chinese characters only; found {found}", found=found)


# Each refusal code of the contract (model/contract.py REFUSALS) and its words, from its parameters.
# The English is the model's own message, so API users and the bot's readers read the same.
REFUSAL_WORDS: dict[str, Callable[[dict], Words]] = {
    "form_not_loaded": lambda p: t("form must be one of {forms}", forms=echo(p["forms"])),
    "subject_and_acrostic": lambda p: t("a poem takes a subject or an acrostic, not both"),
    "subject_words": lambda p: t("a subject is 1 to {max} words", max=p["max"]),
    "subject_word_length": lambda p: t(
        "a subject word is 1 to {max} Chinese characters; got {word}", max=p["max"], word=echo(repr(p["word"]), 24)
    ),
    "not_chinese": _not_chinese,
    "unknown_characters": _unknown_characters,
    "empty": lambda p: t("the subject is empty") if p.get("field") == "subject" else t("the acrostic is empty"),
    "subject_repeats": lambda p: t("the subject repeats a character, and a poem here never does"),
    "subject_too_long": lambda p: t("the subject is too long for a {form}-character quatrain", form=p["form"]),
    "subject_word_too_long": lambda p: t(
        "a subject word longer than a line ({form} characters) does not fit", form=p["form"]
    ),
    "subject_does_not_fit": lambda p: t(
        "the subject's words do not fit together in a {form}-character quatrain", form=p["form"]
    ),
    "acrostic_length": lambda p: t(
        "an acrostic (藏頭) is {lines} characters, one to start each line", lines=p["lines"]
    ),
    "acrostic_repeats": lambda p: t("the acrostic repeats a character, and a poem here never does"),
    "poem_empty": lambda p: t("the poem is empty"),
    "poem_too_long": lambda p: t("that is too long to be a quatrain"),
    "poem_not_chinese": _poem_not_chinese,
    "poem_length": lambda p: t(
        "a {form}-character quatrain has {expected} characters ({lines} lines of {form}); this has {got}",
        form=p["form"],
        expected=p["expected"],
        lines=p["lines"],
        got=p["got"],
    ),
    "poem_lines": lambda p: t(
        "a quatrain has 4 lines of {form} characters; got line lengths {lengths}",
        form=p["form"],
        lengths=echo(p["lengths"]),
    ),
    "poem_unknown_characters": lambda p: t(
        "the model does not know these characters: {chars}", chars=echo("".join(p["chars"]), 20)
    ),
    "line_range": lambda p: t("a quatrain's lines are numbered 1 to {lines}", lines=p["lines"]),
    "no_rewrite": lambda p: t("line {line} has no other way to be written here that keeps the rules", line=p["line"]),
}


def refusal(code: str, params: dict) -> Words:
    """What the model's refusal (the contract's code and parameters, model/contract.py REFUSALS)
    says, in the catalogue's words (`REFUSAL_WORDS`): the English is the model's own message;
    what a user typed is quoted with `echo`. A code without words here (`invalid_request`, whose
    particulars only its English names, or a newer worker's) reads as a request not taken."""
    words = REFUSAL_WORDS.get(code)
    return words(params) if words is not None else t("the request is not one the poem worker takes")
