"""Poem cards: the picture attached to a new poem."""

from __future__ import annotations

import io
import logging

import pytest
from PIL import Image

from bot import cards
from tests.fake_worker import FakeWorker
from tests.helpers import poem_of, running_bot

needs_font = pytest.mark.skipif(
    cards.find_font() is None, reason="no CJK serif font here (apt-get install fonts-noto-cjk; CI installs it)"
)


def ink_columns(png: bytes, form: int) -> list[tuple[int, int]]:
    """The x-ranges where the characters' ink lies (the caption and frame left out)."""
    image = Image.open(io.BytesIO(png)).convert("L")
    top, bottom = cards.MARGIN, cards.MARGIN + form * cards.CELL
    inked = [any(image.getpixel((x, y)) < 128 for y in range(top, bottom, 2)) for x in range(image.width)]
    runs, start = [], None
    for x, ink in enumerate(inked + [False]):
        if ink and start is None:
            start = x
        elif not ink and start is not None:
            runs.append((start, x))
            start = None
    return runs


@needs_font
async def test_a_new_poem_comes_with_a_card_whose_ink_lies_in_four_columns(sqlite_url):
    async with running_bot(sqlite_url, FakeWorker()) as local:
        (five,) = await local.say("!poem 42")
        (seven,) = await local.say("!poem 42 7言")
        rerolled = [s for s in await local.click(five.message, "poem:reroll:5") if s.files]
    for sent, form in ((five, 5), (seven, 7)):
        ((name, png),) = sent.files.items()
        assert sent.embeds[0]["image"]["url"] == f"attachment://{name}" and png.startswith(b"\x89PNG")
        assert Image.open(io.BytesIO(png)).size == cards.card_size(form)
        columns = ink_columns(png, form)
        assert len(columns) == 4, columns  # four lines, set vertically
        for i, (left, right) in enumerate(reversed(columns)):  # line 1 is the rightmost column
            assert cards.column_x(i) - 4 <= left and right <= cards.column_x(i) + cards.CELL + 4
        assert len(poem_of(sent)) == 4, "the text stays in the embed"
    assert rerolled and rerolled[0].files, "the ↻ reply has its card too"


@needs_font
async def test_without_attach_files_a_new_poem_is_posted_as_text(sqlite_url, caplog):
    """Discord refuses a whole message whose file the bot may not attach: the poem goes as text."""
    caplog.set_level(logging.WARNING, "poembot")
    async with running_bot(sqlite_url, FakeWorker()) as local:
        local.attach_files = False
        (sent,) = await local.say("!poem 42")
        (shown,) = await local.say("!show 1")
    assert not sent.files and "image" not in sent.embeds[0] and len(poem_of(sent)) == 4
    assert poem_of(shown) == poem_of(sent), "the poem was saved and shown"
    assert "Attach Files" in caplog.text


async def test_cards_off_sends_no_attachment(sqlite_url):
    async with running_bot(sqlite_url, FakeWorker(), cards=False) as local:
        (sent,) = await local.say("!poem 42")
    assert not sent.files and "image" not in sent.embeds[0] and poem_of(sent)


async def test_without_a_cjk_font_poems_go_as_text_and_the_log_says_so_once(sqlite_url, monkeypatch, caplog):
    monkeypatch.setattr(cards, "FONT_GLOBS", ())
    cards.find_font.cache_clear()
    cards.font.cache_clear()
    try:
        async with running_bot(sqlite_url, FakeWorker()) as local:
            (first,) = await local.say("!poem 1")
            (second,) = await local.say("!poem 2")
    finally:
        cards.find_font.cache_clear()
        cards.font.cache_clear()
    assert not first.files and not second.files and poem_of(second)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "fonts-noto-cjk" in r.getMessage()]
    assert len(warnings) == 1


@needs_font
async def test_a_user_can_turn_their_cards_off_and_on(sqlite_url):
    async with running_bot(sqlite_url, FakeWorker()) as local:
        assert "text alone" in (await local.say("!cards off", user_id=5))[0].content
        (plain,) = await local.say("!poem 3", user_id=5)
        (other,) = await local.say("!poem 3", user_id=6)  # someone else's setting is their own
        assert "on or off" in (await local.say("!cards maybe", user_id=5))[0].content
        assert "with a card" in (await local.say("!cards ON", user_id=5))[0].content
        (again,) = await local.say("!poem 3", user_id=5)
    assert not plain.files and other.files and again.files
