"""格律: a quatrain held to the regulated patterns of 近體詩, from the Pingshui tables.

Torch-free (the tables are `model/prosody.py`'s; the text rules `model/text.py`'s), so the
bot's `!check` can import it. `check(text)` reads a typed quatrain (4 lines of 5 or 7
Chinese characters, punctuated or not, traditional or simplified) and returns a `Metre`:
each line's tones as read, the pattern it is held to, the rhyme group of its rhyme feet, and
what breaks (`Fault`s) or bends in an accepted way (拗救, 特拗). It returns facts (kinds,
lines, positions, characters); the bot words them.

The rules (王力《漢語詩律學》, as taught):
- The key positions 2 and 4 (and 6 in a 7-character line) alternate within a line
  (二四六分明). Lines 2 and 4 end level and rhyme in one 平水韻 group; line 3 ends
  oblique; line 1 either rhymes with them (首句入韻) or ends oblique. Positions 1 and 3 (and
  5) are free (一三五不論) unless that makes 孤平 or 三平尾.
- 粘對: line 2's second character is opposed in tone to line 1's (對), line 3's sticks to
  line 2's (粘), line 4's is opposed to line 3's; breaking one is 失對 or 失粘 (王維's
  勸君更盡一杯酒 does not stick to 客舍青青柳色新). Each line is held to the pattern its own
  second character starts, so a line that breaks the chain is one fault, not three.
- 孤平: a line of the 平平仄仄平 kind (its last five characters) with one level character
  besides its rhyme foot. 仄平平仄平 (孤平拗救) keeps two and is regular.
- 三平尾: a level-ending line whose last three characters are all level.
- Accepted: 特拗 (平平仄平仄 for 平平平仄仄), and 拗救 across a couplet (an oblique fourth
  character of the last five in a 仄仄平平仄 line, made good by a level third of the last
  five in the next line: 杜牧's 南朝四百八十寺，多少樓臺煙雨中).

A character with both readings (中) fits either tone; one the tables do not know (about 0.5%
of the corpus's, e.g. 啼) is shown as ? and not judged. Rhyming on oblique tones (仄韻,
古絕) is outside the regulated patterns and is reported as such.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from .prosody import PING, Prosody
from .text import FORMS, HAN_CHAR, LINES, PUNCTUATION, split_lines

LEVEL, OBLIQUE, EITHER, UNKNOWN = "平", "仄", "中", "?"  # a character's tone as read

# what breaks a pattern (Fault.kind)
KEY = "key"  # a key position (2, 4, 6) of the wrong tone
UNOPPOSED = "失對"  # a line whose second character is not opposed to the line before's (lines 2, 4)
UNSTUCK = "失粘"  # line 3, whose second character does not stick to line 2's
END = "end"  # a line ending on the wrong tone (lines 2 and 4 level, line 3 oblique)
RHYME = "rhyme"  # a rhyme foot outside the rhyme group (出韻)
LONE_LEVEL = "孤平"
THREE_LEVEL = "三平尾"
# what bends it in an accepted way (Fault.kind of `Metre.accepted`)
SAVED = "拗救"
SPECIAL = "特拗"


class NotAQuatrain(ValueError):
    """Text that is not 4 lines of 5 or 7 Chinese characters. `count`: its Chinese characters;
    `lengths`: the lengths of its punctuated parts (when they do not split into lines);
    `others`: the characters in it that are neither Chinese nor punctuation."""

    def __init__(self, count: int, lengths: tuple[int, ...] = (), others: tuple[str, ...] = ()):
        super().__init__(f"not a quatrain: {count} Chinese characters, parts {lengths}, others {others}")
        self.count, self.lengths, self.others = count, lengths, others


@dataclass(frozen=True)
class Fault:
    """One place where a quatrain leaves its pattern (or bends it in an accepted way)."""

    kind: str  # KEY, END, UNOPPOSED, UNSTUCK, RHYME, LONE_LEVEL, THREE_LEVEL; SAVED, SPECIAL (accepted)
    line: int  # 1 to 4
    position: int  # 1-based: the character concerned (the first of three for 三平尾)
    chars: str  # the character(s) concerned
    wants: str | None = None  # KEY, END: the tone the pattern wants there (LEVEL, OBLIQUE)
    groups: tuple[str, ...] = ()  # RHYME: the foot's own level rhyme groups
    by: tuple[int, int, str] | None = None  # SAVED: (line, position, character) that makes it good


@dataclass(frozen=True)
class Metre:
    form: int  # characters a line
    lines: tuple[str, ...]  # as typed, without punctuation
    tones: tuple[str, ...]  # each line's tones as read: 平 仄 中 (either) ? (not in the tables)
    pattern: tuple[str, ...]  # the regulated line pattern each line is held to
    level_start: bool  # 平起: line 1's second character is level (仄起 otherwise)
    first_rhymes: bool  # 首句入韻: line 1 ends on the rhyme
    rhyme: str | None  # the 平水韻 group of the rhyme feet (None: no level foot could be judged)
    faults: tuple[Fault, ...]  # what breaks the pattern, by line and position
    accepted: tuple[Fault, ...]  # where it bends in an accepted way (拗救, 特拗)
    unknown: tuple[str, ...]  # characters the tables do not know (not judged)
    oblique_rhyme: bool  # lines 2 and 4 both end oblique: a 仄韻 (old-style) quatrain

    @property
    def regular(self) -> bool:
        return not self.faults


def quatrain_lines(text: str) -> list[str]:
    """A typed quatrain's lines: its Chinese characters, 20 or 28, in lines of 5 or 7; the
    punctuation and spaces that may separate lines (`model.text.PUNCTUATION`) dropped. Where
    it is punctuated, each part must be whole lines. NotAQuatrain otherwise."""
    parts = [p for p in PUNCTUATION.split(text.strip()) if p]
    others = tuple(dict.fromkeys(ch for p in parts for ch in p if not HAN_CHAR.match(ch)))
    han = "".join(parts)
    if others:
        raise NotAQuatrain(len(han) - sum(han.count(ch) for ch in others), others=others)
    form = next((f for f in FORMS if len(han) == LINES * f), None)
    lengths = tuple(len(p) for p in parts)
    if form is None or any(n % form for n in lengths):
        raise NotAQuatrain(len(han), lengths if len(parts) > 1 else ())
    return split_lines(han, form)


def _tone(prosody: Prosody, ch: str) -> str:
    r = prosody.reading(ch)
    if r is None:
        return UNKNOWN
    return EITHER if len(r.tones) > 1 else LEVEL if PING in r.tones else OBLIQUE


def _fits(tone: str, wants: str) -> bool:
    """Whether a character read `tone` may stand where `wants` is wanted (one with both
    readings, or one not in the tables, is never held against the poem)."""
    return tone in (wants, EITHER, UNKNOWN)


CORES = {  # the 5-character line patterns, by (second character level, line ends level)
    (False, False): "仄仄平平仄",
    (True, True): "平平仄仄平",
    (True, False): "平平平仄仄",
    (False, True): "仄仄仄平平",
}


def line_pattern(form: int, second_level: bool, ends_level: bool) -> str:
    """A regulated line: a 7-character one is two characters of its second's tone before the
    5-character pattern whose second is the other tone (平平 + 仄仄平平仄)."""
    if form == 5:
        return CORES[second_level, ends_level]
    return (LEVEL if second_level else OBLIQUE) * 2 + CORES[not second_level, ends_level]


def patterns(form: int, level_start: bool, first_rhymes: bool) -> list[str]:
    """The four lines of the regulated quatrain that starts level (平起) or oblique, with line 1
    on the rhyme or not: line 2 opposed to 1, line 3 sticking to 2, line 4 opposed to 3."""
    seconds = [level_start, not level_start, not level_start, level_start]
    ends = [first_rhymes, True, False, True]
    return [line_pattern(form, s, e) for s, e in zip(seconds, ends)]


def _joins(lines: list[str], seconds: tuple[bool, ...]) -> list[Fault]:
    """失對 and 失粘: line 2 opposed to line 1, line 3 sticking to line 2, line 4 opposed to line 3,
    by the tone of the second characters their patterns start with."""
    faults = []
    for i in (1, 2, 3):
        stick = i == 2
        if (seconds[i] == seconds[i - 1]) != stick:
            faults.append(
                Fault(
                    UNSTUCK if stick else UNOPPOSED,
                    i + 1,
                    2,
                    lines[i][1],
                    LEVEL if seconds[i - 1] == stick else OBLIQUE,
                )
            )
    return faults


def key_positions(form: int) -> list[int]:
    """0-based positions a line's tone pattern fixes: 2, 4 (and 6), and its end."""
    return list(range(1, form - 1, 2)) + [form - 1]


def _faults(lines: list[str], tones: list[str], pattern: list[str], form: int) -> tuple[list[Fault], list[Fault]]:
    """What breaks `pattern` (but the rhyme), and what bends it in an accepted way."""
    faults, accepted = [], []
    off = form - 5  # where a line's last five characters start
    for i, (line, read, wants) in enumerate(zip(lines, tones, pattern)):
        n = i + 1
        for pos in key_positions(form):
            if _fits(read[pos], wants[pos]):
                continue
            kind = END if pos == form - 1 else KEY
            core = pos - off
            if kind == KEY and wants[off:] == CORES[True, False] and core == 3 and _fits(read[off + 2], OBLIQUE):
                # 平平仄平仄 for 平平平仄仄
                accepted.append(Fault(SPECIAL, n, pos + 1, line[off:], wants[pos]))
                continue
            if kind == KEY and wants[off:] == CORES[False, False] and core == 3 and i in (0, 2):
                saver = off + 2  # the next line (平平仄仄平) makes it good with a level third of five
                if pattern[i + 1][off:] == CORES[True, True] and _fits(tones[i + 1][saver], LEVEL):
                    by = (n + 1, saver + 1, lines[i + 1][saver])
                    accepted.append(Fault(SAVED, n, pos + 1, line[pos], wants[pos], by=by))
                    continue
            faults.append(Fault(kind, n, pos + 1, line[pos], wants[pos]))
        if wants[off:] == CORES[True, True]:  # 平平仄仄平: two level characters besides the foot
            level = [j for j in range(off, form - 1) if _fits(read[j], LEVEL)]
            if len(level) <= 1:  # (chars: the one level character, or none)
                at = level[0] if level else off
                faults.append(Fault(LONE_LEVEL, n, at + 1, line[at] if level else ""))
        if wants[-1] == LEVEL and all(tone == LEVEL for tone in read[-3:]):
            faults.append(Fault(THREE_LEVEL, n, form - 2, line[-3:]))
    return faults, accepted


def _rhyme(prosody: Prosody, lines: list[str], feet: list[int]) -> tuple[str | None, list[Fault]]:
    """The rhyme group the feet of `feet` (line indexes) share most (line 2's, then line 4's,
    when they tie), and a RHYME fault for each level foot outside it."""
    readings = {i: prosody.reading(lines[i][-1]) for i in feet}
    level = {i: r for i, r in readings.items() if r is not None and PING in r.tones}
    if not level:
        return None, []
    candidates = sorted({g for r in level.values() for g in r.groups})
    preferred = [g for i in (1, 3, 0) if i in level for g in sorted(level[i].groups)]

    def support(group: str) -> tuple[int, int]:
        return sum(group in r.groups for r in level.values()), -preferred.index(group)

    group = max(candidates, key=support)
    faults = [
        Fault(RHYME, i + 1, len(lines[i]), lines[i][-1], groups=tuple(sorted(r.groups)))
        for i, r in sorted(level.items())
        if group not in r.groups
    ]
    return group, faults


def check(text: str, prosody: Prosody | None = None) -> Metre:
    """`text`, a typed quatrain, held to the regulated pattern it fits best (of the four: 平起
    or 仄起, line 1 on the rhyme or not). NotAQuatrain if it is not 4 lines of 5 or 7."""
    prosody = prosody or Prosody.default()
    lines = quatrain_lines(text)
    form = len(lines[0])
    tones = ["".join(_tone(prosody, ch) for ch in line) for line in lines]
    best = None
    for seconds in itertools.product((True, False), repeat=LINES):  # each line's second character level?
        for first_rhymes in (True, False):
            ends = [first_rhymes, True, False, True]
            pattern = [line_pattern(form, s, e) for s, e in zip(seconds, ends)]
            faults, accepted = _faults(lines, tones, pattern, form)
            rhyme, off = _rhyme(prosody, lines, [0, 1, 3] if first_rhymes else [1, 3])
            faults += _joins(lines, seconds) + off
            # fewest faults; on a tie, a broken chain (失粘) named rather than a wrong second
            # character, line 1 on the rhyme where it ends level, and the start its second reads
            rank = (
                len(faults),
                sum(f.kind == KEY for f in faults),
                first_rhymes != _fits(tones[0][-1], LEVEL),
                seconds[0] != (tones[0][1] == LEVEL),
            )
            if best is None or rank < best[0]:
                best = (rank, pattern, seconds[0], first_rhymes, rhyme, faults, accepted)
    _, pattern, level_start, first_rhymes, rhyme, faults, accepted = best
    return Metre(
        form=form,
        lines=tuple(lines),
        tones=tuple(tones),
        pattern=tuple(pattern),
        level_start=level_start,
        first_rhymes=first_rhymes,
        rhyme=rhyme,
        faults=tuple(sorted(faults, key=lambda f: (f.line, f.position))),
        accepted=tuple(accepted),
        unknown=tuple(
            dict.fromkeys(ch for line, read in zip(lines, tones) for ch, r in zip(line, read) if r == UNKNOWN)
        ),
        oblique_rhyme=all(tones[i][-1] == OBLIQUE for i in (1, 3)),
    )
