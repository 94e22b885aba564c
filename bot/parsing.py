"""What a user types, read: the `!poem` grammar (one for typed and slash commands), seeds,
forms, poem ids, stars and scripts (the limits on a command's arguments are in `bot.limits`).
A word that cannot be read is a `UserError` saying what is wrong with it."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from model.contract import MAX_SUBJECT_WORDS, MAX_WORD  # torch-free
from model.text import FORMS, HAN, MAX_SEED  # torch-free: a poem's text rules

from .i18n import Text, Words, t
from .replies import echo, invisible, normalise
from .storage import repo

POEM_REF = re.compile(r"^#?([0-9]{1,19})$")


class UserError(Exception):
    """Something the user asked for that cannot be done; the message (words of the catalogue,
    `bot.i18n`) says why. `str()` is the English."""

    def __init__(self, words: Words):
        super().__init__(words)
        self.words = words


def why_unreadable(raw: str) -> Text | None:
    """Why a typed number could not be read, for the end of an error message."""
    hidden = invisible(raw)
    if hidden:
        return t(
            "“{typed}” holds invisible characters ({which}).", typed=echo(raw), which=", ".join(dict.fromkeys(hidden))
        )
    return t("You wrote “{typed}”.", typed=echo(raw)) if raw.strip() else None


def _whole_number(raw: str, lo: int, hi: int) -> int | None:
    """`raw` (NFKC-normalised: fullwidth digits count) as a whole number in [lo, hi], or None."""
    text = normalise(raw).removeprefix("#")
    if not text.isascii() or not text.isdigit() or len(text) > 19 or not lo <= int(text) <= hi:
        return None
    return int(text)


def parse_seed(text: str | None) -> int | None:
    if text is None or text == "":
        return None
    value = _whole_number(text, 0, MAX_SEED) if not normalise(text).startswith("#") else None
    if value is None:
        raise UserError(t("A seed is a whole number from 0 to {max}.", max=MAX_SEED) + why_unreadable(text))
    return value


def parse_form(form: int | str | None) -> int:
    if form is None:
        return 5
    value = _whole_number(str(form), min(FORMS), max(FORMS))
    if value not in FORMS:
        raise UserError(t("The form is 5 or 7 (characters a line).") + why_unreadable(str(form)))
    return value


FAV_WORDS = ("fav", "favs", "favourites", "favorites")
_FORM_WORD = re.compile(r"^(?:form[:=])?([57])(?:言|字|char|chars|-char)$|^form[:=]([57])$|^([五七])言$")
_FORM_KEY = re.compile(r"^form[:=：](.*)$")  # a form written as one, but not 5 or 7 (`form:6`)
# a form word of another length (八言, 6言, 9char): a form asked for, never a subject
_OTHER_FORM = re.compile(r"^[0-9]+(?:言|字|char|chars|-char)$|^[一二三四六八九十]言$")
_SEED_WORD = re.compile(r"^(?:seed[:=：]#?|#)(.*)$")


@dataclass
class PoemRequest:
    favourites: bool = False
    seed: int | None = None
    form: int | None = None  # characters a line; None: not asked for (5, or from favourites: any)
    subject: list[str] = field(default_factory=list)  # Chinese words the poem is about
    acrostic: str | None = None  # the characters that start its lines (藏頭)


ACROSTIC_WORDS = ("藏頭", "藏头", "acrostic")
ACROSTIC_LENGTH = 4  # one head a line
_ACROSTIC_WORD = re.compile(r"^(?:藏頭|藏头|acrostic)[:=：](.+)$")
_SUBJECT_WORD = re.compile(f"^(?:subject[:=：])?([{HAN}]+)$")
_SUBJECT_KEY = re.compile(r"^subject[:=：](.*)$")
_HAN_CHAR = re.compile(f"[{HAN}]")


def _numberish(word: str) -> bool:
    """Whether a word reads as an attempt at a number (a seed, a form): digits, perhaps with a
    sign, a point or invisible characters, but no letters and no Chinese."""
    seen = [ch for ch in normalise(word) if not invisible(ch) and not unicodedata.combining(ch)]
    return any(ch.isdigit() for ch in seen) and all(ch.isdigit() or ch in "#＃+-.,_" for ch in seen)


def _not_a_subject(word: str) -> UserError:
    """Why a word that is neither a number nor a keyword is not a subject either: what it holds
    that a subject cannot (invisible characters, combining marks, no or not only Chinese)."""
    text = normalise(word)
    if m := _SUBJECT_KEY.match(text):
        text = m.group(1)
    hidden = invisible(text)
    marks = [f"U+{ord(ch):04X}" for ch in text if unicodedata.combining(ch)]
    others = [ch for ch in text if not _HAN_CHAR.match(ch) and not invisible(ch) and not unicodedata.combining(ch)]
    typed = echo(text)
    if hidden:
        why = t("“{typed}” holds invisible characters ({which}).", typed=typed, which=", ".join(dict.fromkeys(hidden)))
    elif marks:
        why = t("“{typed}” holds combining marks ({which}).", typed=typed, which=", ".join(dict.fromkeys(marks)))
    elif not _HAN_CHAR.search(text):
        why = t("“{typed}” has no Chinese characters.", typed=typed)
    else:
        which = echo(", ".join(dict.fromkeys(others)), 20)
        why = t("“{typed}” holds characters that are not Chinese: {which}.", typed=typed, which=which)
    lead = t(
        "A subject is 1 to {max} words in Chinese characters, like `!poem 月` or `!poem 秋 雁`.", max=MAX_SUBJECT_WORDS
    )
    return UserError(lead + why)


def parse_poem_args(*words: str | None) -> PoemRequest:
    """What `!poem` was asked for: the one grammar of typed and slash commands. Words in any
    order: `fav` (from favourites), a form written as one (7言, 七言, form:7), a seed written
    as one (#42, seed:42), Chinese words (the subject), and 藏頭 with the four heads after it
    (`藏頭 春花秋月`, `藏頭 春 花 秋 月`, `藏頭:春花秋月`); a bare number is the seed, and a
    second bare number the form (`!poem 42 7`). A word that is none of these is refused
    with what is wrong with it."""
    request, bare = PoemRequest(), []
    words = [w for word in words if word is not None for w in normalise(word).split()]
    heads: list[str] | None = None  # after 藏頭: the words that give the heads so far
    for word in words:
        text = normalise(word).lower()
        keyword = text in ACROSTIC_WORDS or text in FAV_WORDS or _FORM_WORD.match(text) or _SEED_WORD.match(text)
        if heads is not None and len("".join(heads)) < ACROSTIC_LENGTH and not keyword and not _numberish(word):
            heads.append(word)  # the heads, in one word or several
            request.acrostic = "".join(heads)
        elif text in ACROSTIC_WORDS:
            heads = []
        elif m := _ACROSTIC_WORD.match(text):
            heads = [m.group(1)]
            request.acrostic = m.group(1)
        elif text in FAV_WORDS:
            request.favourites = True
        elif m := _FORM_WORD.match(text):
            request.form = 7 if "7" in m.group(0) or "七" in m.group(0) else 5
        elif m := _FORM_KEY.match(text):
            request.form = parse_form(m.group(1))
        elif m := _SEED_WORD.match(text):
            request.seed = parse_seed(m.group(1) or word)
        elif _OTHER_FORM.match(text):
            raise UserError(t("The forms are 5 and 7 characters a line (五言, 七言), not {typed}.", typed=echo(word)))
        elif m := _SUBJECT_WORD.match(word):
            request.subject.append(m.group(1))
        elif _numberish(word):
            bare.append(word)
        else:
            raise _not_a_subject(word)
    if heads == []:
        raise UserError(t("藏頭 takes the four characters that start the lines: `!poem 藏頭 春花秋月`."))
    check_request(request)
    if len(bare) > (0 if request.seed is not None else 1) + 1:
        raise UserError(t("`!poem` takes a seed, a form and a subject, like `!poem 月 7言 42`; see `!help poem`."))
    if bare and request.seed is None:
        request.seed = parse_seed(bare.pop(0))
    if bare:
        request.form = parse_form(bare.pop(0))
    return request


def check_request(request: PoemRequest) -> PoemRequest:
    """What a poem request may hold together (the model checks the characters themselves)."""
    limits = t(
        "A subject is up to {words} words of 1 to {chars} characters, like `!poem 秋 雁`.",
        words=MAX_SUBJECT_WORDS,
        chars=MAX_WORD,
    )
    if len(request.subject) > MAX_SUBJECT_WORDS:
        raise UserError(limits + t("You gave {n} words.", n=len(request.subject)))
    if long := [w for w in request.subject if len(w) > MAX_WORD]:
        raise UserError(limits + t("“{typed}” has {n} characters.", typed=echo(long[0]), n=len(long[0])))
    if request.subject and request.acrostic:
        raise UserError(t("A poem takes a subject or an acrostic (藏頭), not both."))
    if request.favourites and (request.subject or request.acrostic):
        raise UserError(t("`!poem fav` writes between your favourites; it takes no subject or acrostic."))
    if request.acrostic is not None and (
        len(request.acrostic) != ACROSTIC_LENGTH or not _SUBJECT_WORD.match(request.acrostic)
    ):
        raise UserError(
            t(
                "An acrostic (藏頭) is four Chinese characters, one to start each line, like 春花秋月; you wrote {typed}.",
                typed=echo(request.acrostic, 40),
            )
        )
    return request


def slash_poem_words(seed: str | None, form: str | None, subject: str | None, acrostic: str | None) -> list[str]:
    """The slash command's options as the typed words that mean them, for `parse_poem_args`
    (one grammar): `seed:` holds fav and a seed, never a form or a subject; `form:` a form;
    `subject:` the subject's words; `acrostic:` the heads, in one word or several."""
    words = [
        w if normalise(w).lower() in FAV_WORDS or _SEED_WORD.match(normalise(w).lower()) else f"seed:{w}"
        for w in (seed or "").split()
    ]
    words += [f"form:{form}"] if form is not None else []
    words += [f"subject:{w}" for w in normalise(subject or "").split()]
    words += [f"藏頭:{''.join(acrostic.split())}"] if acrostic and acrostic.strip() else []
    return words


def parse_poem_id(text) -> int:
    value = _whole_number(str(text), 1, repo.MAX_ID)
    if value is None:
        raise UserError(t("A poem id looks like 12 or #12.") + why_unreadable(str(text)))
    return value


def parse_stars(text) -> int:
    value = _whole_number(str(text), 1, 5)
    if value is None:
        raise UserError(t("A rating is 1 to 5 stars.") + why_unreadable(str(text)))
    return value


def parse_script(text: str) -> str:
    script = normalise(text).lower()
    if script not in repo.SCRIPTS:
        raise UserError(t("The script is simplified or traditional.") + why_unreadable(text))
    return script
