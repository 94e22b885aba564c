"""Poem cards: a quatrain as a picture, set vertically and read right to left, in a
CJK serif face (Noto Serif CJK, from Debian's `fonts-noto-cjk`), with its id, form
and seed in small print. Pure Pillow; the bot renders off its event loop."""

from __future__ import annotations

import functools
import glob
import io
import logging
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

log = logging.getLogger("poembot.bot.cards")

FONT_GLOBS = (
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/**/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/**/NotoSerifCJK*.ttc",
    "/usr/local/share/fonts/**/NotoSerifCJK*.ttc",
    "/System/Library/Fonts/**/*Song*.ttc",
)
FACES = {"traditional": "TC", "simplified": "SC"}  # faces in the .ttc: JP, KR, SC, TC, HK
CELL = 64  # pixels a character
GAP = 28  # between columns
MARGIN = 56
PAPER, INK, FAINT, SEAL = (246, 240, 226), (38, 34, 30), (120, 110, 98), (166, 45, 38)


@functools.cache
def find_font(configured: str | None = None) -> Path | None:
    """The CJK serif font file (None when this machine has none: cards are then skipped)."""
    candidates = [configured] if configured else []
    for pattern in FONT_GLOBS:
        candidates += sorted(glob.glob(pattern, recursive=True))
    for path in candidates:
        if path and Path(path).is_file():
            return Path(path)
    return None


@functools.cache
def font(configured: str | None = None) -> Path | None:
    """`find_font`, saying once in the log when there is none."""
    found = find_font(configured)
    if found is None:
        log.warning(
            "no CJK serif font found (install fonts-noto-cjk, or set POEMBOT_CARD_FONT): poems are sent as text alone"
        )
    return found


def unusable(path: Path) -> str | None:
    """Why the font file at `path` cannot set a poem (None: it can): missing, not a font
    Pillow reads, or a font without Chinese characters (月 drawn as the missing-glyph box)."""
    if not path.is_file():
        return "missing"
    try:
        face = ImageFont.truetype(str(path), 32)
    except (OSError, ValueError) as e:
        return f"not a font Pillow can read ({str(e)[:80]})"
    if bytes(face.getmask("月")) == bytes(face.getmask("\ue000")):  # a private-use point: the missing glyph
        return "a font without Chinese characters"
    return None


@functools.cache
def _face(path: Path, script: str, size: int) -> ImageFont.FreeTypeFont:
    want = FACES.get(script, "TC")
    for index in range(8):
        try:
            font = ImageFont.truetype(str(path), size, index=index)
        except OSError:
            break
        if font.getname()[0].endswith(want):
            return font
    return ImageFont.truetype(str(path), size)


def card_size(form: int, lines: int = 4) -> tuple[int, int]:
    return 2 * MARGIN + lines * CELL + (lines - 1) * GAP, 2 * MARGIN + form * CELL + 40


def column_x(i: int, lines: int = 4) -> int:
    """Left edge of line i's column (line 0 is the rightmost)."""
    width = card_size(5, lines)[0]
    return width - MARGIN - (i + 1) * CELL - i * GAP


def render(lines: list[str], caption: str, script: str, font_path: Path) -> bytes:
    """A PNG of the poem: line 1 in the rightmost column, each read top to bottom."""
    form = max(len(line) for line in lines)
    width, height = card_size(form, len(lines))
    image = Image.new("RGB", (width, height), PAPER)
    draw = ImageDraw.Draw(image)
    draw.rectangle((14, 14, width - 15, height - 15), outline=(214, 203, 182), width=2)
    big, small = _face(font_path, script, int(CELL * 0.8)), _face(font_path, script, 15)
    for i, line in enumerate(lines):
        x = column_x(i, len(lines)) + CELL // 2
        for j, ch in enumerate(line):
            draw.text((x, MARGIN + j * CELL + CELL // 2), ch, font=big, fill=INK, anchor="mm")
    seal = 10
    draw.rectangle((MARGIN - 24, height - MARGIN + 2, MARGIN - 24 + seal, height - MARGIN + 2 + seal), fill=SEAL)
    draw.text((MARGIN - 24 + seal + 8, height - MARGIN + 2 + seal // 2), caption, font=small, fill=FAINT, anchor="lm")
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False, compress_level=6)
    return out.getvalue()
