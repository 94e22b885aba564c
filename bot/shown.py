"""A saved poem as a reader sees it: its lines in their script (simplified or traditional,
the reader's choice, else their client's language: LOCALE_SCRIPT), punctuated, and where it
came from for its footer (`show`); a page of `!favs` or `!mine`, and a blend's path.

Plain data, no Discord: the service returns these (bot/service.py) and bot/views.py draws them.
"""

from __future__ import annotations

import contextvars
import functools
from dataclasses import dataclass

import opencc

from model.text import punctuated, simplified, split_lines  # torch-free: a poem's text rules

from .i18n import Text, Words, t
from .storage.models import Poem

# The script a user who never chose one sees: what their Discord client's language
# suggests (set by the bot for the command or button being handled; see `script_for_locale`).
LOCALE_SCRIPT: contextvars.ContextVar[str] = contextvars.ContextVar("locale_script", default="traditional")


def script_for_locale(locale: str | None) -> str:
    """zh-CN reads simplified characters; zh-TW (and zh-HK) and everyone else traditional."""
    return "simplified" if locale in ("zh-CN", "zh-SG") else "traditional"


@functools.cache
def _to_traditional():
    """The converter for what a reader typed in simplified characters (phrase by phrase)."""
    return opencc.OpenCC("s2t")


@dataclass
class ShownPoem:
    """A saved poem as a user sees it."""

    id: int
    form: int
    text: str  # as stored: traditional, unpunctuated
    lines: list[str]  # in the reader's script, with punctuation
    seed: int | None
    model_version: str
    origin: Words | None = None  # where it came from, for its footer
    script: str = "traditional"  # the reader's script, which `lines` are in
    cards: bool = True  # whether the reader takes poem cards with new poems
    again: bool = False  # asked for again: the reader's poem saved before, not a new one


PAGE = 10  # poems on a page of `!favs` and `!mine`


@dataclass
class Page:
    """A page of poems (`!favs`, `!mine`) and where it is among the pages."""

    poems: list[ShownPoem]
    page: int  # from 0
    pages: int  # at least 1
    total: int  # poems on every page


@dataclass
class Blend:
    """A blend as a user sees it: the path's poems, and which of them the blend wrote."""

    path: list[ShownPoem]  # from a to b, both ends included
    created: list[int]  # ids of the poems written for this blend


def _ref(poem_id: int | None, was: int | None = None) -> Text:
    """A poem on a footer: `#12`; a saved poem since deleted (`was` its id, or -1 when
    not known); else a text typed in."""
    if poem_id:
        return t("#{id}", id=poem_id)
    return t("a text") if was is None else t("#{id} (deleted)", id=was) if was > 0 else t("a deleted poem")


def _as_in(text: str, word: str) -> str:
    """`word` (a subject word, in either script) as `text` (a poem, traditional) writes it: the
    same characters in the poem, else the word in traditional characters."""
    folded = simplified(word)
    for i in range(len(text) - len(word) + 1):
        if simplified(text[i : i + len(word)]) == folded:
            return text[i : i + len(word)]
    return _to_traditional().convert(word)


def _origin(poem: Poem, script: str = "traditional") -> Text:
    """Where a poem came from, for its footer: from its kind and that kind's inputs, in the
    reader's script (a subject typed 风 under a poem that shows 風 reads 風)."""
    options = poem.options or {}
    if poem.kind == "written":
        scripted = simplified if script == "simplified" else str
        if options.get("subject"):
            subject = scripted(" ".join(_as_in(poem.text, w) for w in options["subject"]))
            return t("on {subject}, seed {seed}", subject=subject, seed=poem.seed)
        if options.get("acrostic"):  # (the heads are the lines' first characters: the contract checks it)
            heads = "".join(line[0] for line in split_lines(poem.text, poem.form))
            return t("藏頭 {heads}, seed {seed}", heads=scripted(heads), seed=poem.seed)
        return t("seed {seed}", seed=poem.seed)
    if poem.kind == "rewrite":
        line, parent = options.get("rewritten_line"), _ref(poem.parent_a_id, -1)
        return t("line {line} rewritten from {parent}", line=line, parent=parent)
    if poem.kind == "variation":
        return t("variation of {parent}", parent=_ref(poem.parent_a_id, -1))
    if poem.kind == "favourites":
        between = [_ref(p) for p in dict.fromkeys((poem.parent_a_id, poem.parent_b_id)) if p]
        if len(between) == 2:
            return t("from favourites {a} and {b}, seed {seed}", a=between[0], b=between[1], seed=poem.seed)
        if between:
            return t("from favourites {a}, seed {seed}", a=between[0], seed=poem.seed)
        return t("from favourites (since deleted), seed {seed}", seed=poem.seed)
    ends = options.get("ends") or [None, None]  # a blend: which ends were saved poems
    a, b = _ref(poem.parent_a_id, ends[0]), _ref(poem.parent_b_id, ends[1])
    return t("blend of {a} and {b}", a=a, b=b)


def show(poem: Poem, script: str = "traditional", cards: bool = True) -> ShownPoem:
    """A saved poem as a reader of `script` sees it (`cards`: whether they take poem cards)."""
    text = simplified(poem.text) if script == "simplified" else poem.text
    f = poem.form
    lines = punctuated(split_lines(text, f))
    return ShownPoem(
        id=poem.id,
        form=f,
        text=poem.text,
        lines=lines,
        seed=poem.seed,
        model_version=poem.model_version,
        origin=_origin(poem, script),
        script=script,
        cards=cards,
    )
