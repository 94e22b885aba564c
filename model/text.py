"""The rules of a poem's text, in one torch-free module that the bot and the model
both import: which characters are Chinese, how a quatrain is punctuated and split
into lines, its form, and the range of a seed."""

from __future__ import annotations

import functools
import re

MAX_SEED = 2**63 - 1  # a seed is a signed 64-bit whole number (it is stored in a BIGINT)
LINES = 4  # a quatrain
FORMS = (5, 7)  # characters a line
# CJK unified ideographs, extension A, compatibility ideographs, and the supplementary planes
HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
HAN_LINE = re.compile(f"^[{HAN}]+$")
HAN_CHAR = re.compile(f"[{HAN}]")
PUNCTUATION = re.compile(r"[\s，。？！；、：,.?!;:/|]+")  # what may separate the lines of a typed poem


def han_count(text: str) -> int:
    return len(HAN_CHAR.findall(text))


def form_of(text: str, default: int = 5) -> int:
    """The form a typed poem has: 7 for 28 Chinese characters, 5 for 20 (and `default`
    when it is neither, for the model to refuse with its own reason)."""
    n = han_count(text)
    for form in FORMS:
        if n == LINES * form:
            return form
    return default


def split_lines(text: str, form: int) -> list[str]:
    """Unpunctuated text -> its lines of `form` characters."""
    return [text[i : i + form] for i in range(0, len(text), form)]


def punctuated(lines: list[str]) -> list[str]:
    """The lines as a reader sees them: a comma after lines 1 and 3, a full stop after 2 and 4."""
    return [line + ("，" if i % 2 == 0 else "。") for i, line in enumerate(lines)]


@functools.cache
def _t2s():
    import opencc  # (made once, when first needed)

    return opencc.OpenCC("t2s")


def simplified(text: str) -> str:
    """A poem (or a word of one) in simplified characters, for a reader who reads them: OpenCC's
    t2s, except where it gives a character outside the Basic Multilingual Plane (巘 -> 𪩘,
    鑪 -> 𬬻), which most fonts lack: there the traditional character stays."""
    converted = _t2s().convert(text)
    if len(converted) != len(text):  # (t2s maps a character to one character; never seen otherwise)
        converted = "".join(_t2s().convert(ch) for ch in text)
    return "".join(ch if ord(new) > 0xFFFF and ord(ch) <= 0xFFFF else new for ch, new in zip(text, converted))
