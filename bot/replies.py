"""User text inside the bot's replies, and Discord's limits on a reply.

Anything a user typed that a reply repeats goes through `echo`: normalised,
invisible characters named, cut short, markdown and mentions escaped, so a
reply can neither grow past Discord's limits nor post a user's masked link.
"""

from __future__ import annotations

import re
import unicodedata

from discord.utils import escape_markdown, escape_mentions

APOLOGY = "Sorry, something went wrong on my side. It has been logged; please try again."
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


def storage_reply(error: Exception) -> str:
    """What a user is told when the data cannot do what they asked."""
    from .storage import repo

    match error:
        case repo.UnknownPoem():
            return f"There is no poem #{error.poem_id}."
        case repo.AlreadyFavourite():
            return f"Poem #{error.poem_id} is already one of your favourites."
        case repo.NotFavourite():
            return f"Poem #{error.poem_id} is not one of your favourites."
        case repo.NotEnoughFavourites():
            return (
                f"You need {plural(error.need, 'favourite')} for that and have {error.have}. "
                "Press ♥ under a poem or type `!fav <id>` to add one."
            )
        case repo.InvalidStars():
            return "A rating is 1 to 5 stars."
        case repo.InvalidScript():
            return "The script is simplified or traditional."
    return "That cannot be done with the poems saved here."


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
