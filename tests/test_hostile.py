"""The bot as a hostile user meets it: long, invisible, marked-up and odd input
through discord.py's real dispatch, with a local Discord that refuses what
Discord would refuse."""

from __future__ import annotations

import logging
import random
import re

import discord
import pytest

from bot.app import APOLOGY
from bot.local import LIMITS, check_limits
from tests.fake_worker import FakeWorker
from tests.helpers import poem_of, running_bot

MARKERS = ("[l](http://e.x)", "**zz**", "@everyone", "<@123456789012345678>", "`tick`")


def raw_markup(text: str) -> list[str]:
    """The markers that appear in `text` unescaped (escaped: a backslash or zero-width space in them)."""
    return [m for m in MARKERS if re.search(r"(?<!\\)" + re.escape(m), text)]


@pytest.fixture
async def local(sqlite_url):
    async with running_bot(sqlite_url, FakeWorker()) as loc:
        yield loc


@pytest.mark.parametrize(
    "payload",
    [
        {"content": "x" * 2001},
        {"embeds": [{"description": "x" * 4097}]},
        {"embeds": [{"fields": [{"name": "n", "value": "v"}] * 26}]},
        {"embeds": [{"fields": [{"name": "n", "value": "v" * 1025}]}]},
        {
            "embeds": [
                {"title": "t" * 256, "description": "d" * 4096, "fields": [{"name": "n", "value": "v" * 1000}] * 2}
            ]
        },
        {"components": [{"type": 1, "components": []}] * 6},
        {"components": [{"type": 1, "components": [{"type": 2, "custom_id": "c", "label": "b"}] * 6}]},
    ],
)
def test_the_local_discord_refuses_what_discord_refuses(payload):
    with pytest.raises(discord.HTTPException, match="Invalid Form Body"):
        check_limits(payload)


def test_the_local_discord_passes_what_discord_passes():
    check_limits(
        {
            "content": "x" * 2000,
            "embeds": [{"title": "t" * 256, "description": "d" * 4096, "fields": [{"name": "n", "value": "v" * 1024}]}],
        }
    )


def _within_limits(sent) -> bool:
    try:
        check_limits(sent.message or sent.payload)
    except discord.HTTPException:
        return False
    return True


@pytest.mark.parametrize(
    "command",
    [
        "!script " + "x" * 5000,
        "!rate 1 " + "9" * 3000,
        "!rate " + "9" * 3000 + " 5",
        "!help " + "p" * 3000,
        "!poem " + "\u200b" * 1500,
        "!poem 1 " + "7" * 4000,
        "!show " + "#" * 4000,
        "!vary " + "\u202e" * 900,
        '!blend "' + "a" * 1900 + '" 1',
        "!top " + "1" * 3000,
    ],
)
async def test_replies_that_quote_input_stay_short(local, command):
    await local.say("!poem 1")
    sent = await local.say(command)
    assert sent and all(_within_limits(s) for s in sent)
    assert all(len(s.text()) < 400 for s in sent), [s.text()[:100] for s in sent]
    assert all(APOLOGY not in s.text() for s in sent)


@pytest.mark.parametrize("marker", MARKERS)
@pytest.mark.parametrize("command", ["!script {}", "!help {}", "!show {}", "!rate 1 {}", '!blend "{}" 1'])
async def test_user_markdown_and_mentions_are_never_echoed_raw(local, command, marker):
    await local.say("!poem 1")
    sent = await local.say(command.format(marker))
    assert sent
    for s in sent:
        assert not raw_markup(s.text()), s.text()


async def test_fullwidth_digits_mean_the_same_everywhere(local):
    (ascii_poem,) = await local.say("!poem 42 7")
    (wide_poem,) = await local.say("!poem ４２ ７", user_id=2)  # (the same user again: the same poem shown again)
    assert poem_of(wide_poem) == poem_of(ascii_poem)
    assert "You gave poem #2 5★" in (await local.say("!rate ＃２ ５"))[0].content
    assert "Poem #1" in (await local.say("!show １"))[0].text()


async def test_an_invisible_character_in_a_number_is_named(local):
    (reply,) = await local.say("!poem 4\u200b2")
    assert "A seed is a whole number" in reply.content and "U+200B" in reply.content
    (reply,) = await local.say("!rate 1 \u2066" + "5")
    assert "1 to 5 stars" in reply.content and "U+2066" in reply.content


async def test_a_blend_of_english_names_the_letters_in_the_order_typed(local):
    await local.say("!poem 1")
    (reply,) = await local.say('!blend "hello world" 1')
    assert "'h', 'e', 'l', 'o', 'w', 'r', 'd'" in reply.content


async def test_help_for_a_quoted_or_wide_command_name(local):
    for ask in ('!help "poem"', "!help ＰＯＥＭ", "!help 'poem'"):
        (helped,) = await local.say(ask)
        assert "Write a quatrain" in helped.content, helped.content


async def test_a_long_console_session_keeps_a_bounded_window(sqlite_url):
    async with running_bot(sqlite_url, FakeWorker()) as loc:
        loc.keep = 20
        for i in range(150):
            await loc.say(f"!rate {i} 9")
        assert len(loc._messages) <= 2 * loc.keep + 2 and len(loc.sent) <= 2 * loc.keep + 1
        (reply,) = await loc.say("!poem 3")  # and it still works
        assert reply.embeds[0]["title"].startswith("Poem #")


def _fuzz_command(rng: random.Random, users: int) -> tuple[str, int]:
    """One command string from a seeded generator covering the classes above."""
    names = [
        "poem",
        "vary",
        "blend",
        "rate",
        "fav",
        "unfav",
        "favs",
        "top",
        "show",
        "script",
        "forgetme",
        "help",
        "sync",
        "nope",
        "POEM",
        "rewrite",
        "cards",
    ]
    atoms = [
        "1",
        "2",
        "5",
        "7",
        "0",
        "-3",
        "42",
        "４２",
        "#3",
        "＃２",
        "9" * 25,
        "9" * rng.randrange(1, 3000),
        "\u200b",
        "4\u200b2",
        "\u202e5",
        "simplified",
        "traditional",
        "confirm",
        "白日依山盡黃河入海流欲窮千里目更上一層樓",
        "床前明月光",
        "🙂" * rng.randrange(1, 500),
        '"',
        '"unclosed',
        "'",
        "\n",
        "\\",
        "x" * rng.randrange(1, 5000),
        "\x00",
        "\ud7ff",
        "@everyone",
        "@here",
        "<@&1>",
        "1e9",
        "NaN",
        "inf",
        "0x10",
        "18446744073709551616",
        "9223372036854775808",
        "٣",
        "﷽",
        "白日依山盡，黃河入海流。欲窮千里目，更上一層樓。",
        *MARKERS,
    ]
    user = rng.randrange(1, users + 1)
    if rng.random() < 0.3:  # well-formed, so later commands find poems, ratings and favourites
        i, j = rng.randrange(1, 40), rng.randrange(1, 40)
        return rng.choice(
            [
                f"!poem {i}",
                f"!poem {i} 7",
                f"!rate {i} {1 + j % 5}",
                f"!fav {i}",
                f"!blend {i} {j}",
                f"!vary {i}",
                f"!show {i}",
                "!top",
                "!favs",
                "!blend",
            ]
        ), user
    words = [rng.choice(atoms) for _ in range(rng.randrange(0, 5))]
    prefix = rng.choice(["!", "!", "!", "! ", "!!", "<@900000000000000030> "])
    return prefix + rng.choice(names) + (" " if words else "") + " ".join(words), user


async def test_a_thousand_hostile_commands_break_nothing(local, caplog):
    caplog.set_level(logging.WARNING)
    rng = random.Random(15)
    (first,) = await local.say("!poem 42", user_id=9)  # a bystander: the fuzzed users change their settings
    bad, poems = [], 0
    for _ in range(1000):
        command, user = _fuzz_command(rng, users=4)
        for s in await local.say(command, user_id=user):
            text = s.text()
            poems += bool(s.embeds)
            mentions = s.allowed_mentions or {}
            pings = mentions.get("parse") != [] or any(mentions.get(k) for k in ("users", "roles", "replied_user"))
            if APOLOGY in text or not _within_limits(s) or raw_markup(text) or pings:
                bad.append((command[:80], text[:200]))
    assert bad == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], "no unhandled error on the way"
    assert poems >= 50, "the generator should reach the commands that work, too"
    (last,) = await local.say("!poem 42", user_id=9)
    assert poem_of(last) == poem_of(first)
    assert LIMITS["content"] == 2000


async def test_an_old_star_button_never_rates_a_newer_poem_in_a_deleted_ones_place(local):
    (old,) = await local.say("!poem 1", user_id=1)  # poem #1, the newest: its id is the one SQLite reused
    await local.say("!forgetme confirm", user_id=1)
    (newer,) = await local.say("!poem 2", user_id=2)
    assert newer.embeds[0]["title"] == "Poem #2"
    (reply,) = await local.click(old.message, "poem:rate:1:5", user_id=3)
    assert reply.ephemeral and "There is no poem #1" in reply.content
    (shown,) = await local.say("!show 2")
    assert "rating" not in shown.text(), "the other user's poem got the old button's stars"


@pytest.mark.parametrize("typed", ["<#123456789012345678>", "<:x:1>", "</poem:1>", "<t:0:R>", "<@1>", "<a:x:1>"])
def test_a_quoted_discord_tag_is_shown_as_text_not_rendered(typed):
    from bot.replies import echo

    assert echo(typed).startswith("\\<")


def test_the_console_reads_any_slash_line_without_crashing():
    from bot.console import _slash

    assert _slash("/") == ("", {})
    assert _slash("/'") == ("'", {})
    assert _slash("/poem seed:it's") == ("poem", {"seed": "it's"})
    assert _slash("/poem seed:\\") == ("poem", {"seed": "\\"})
    assert _slash('/poem seed:"fav 42"') == ("poem", {"seed": "fav 42"})
    with pytest.raises(ValueError, match="n takes a whole number"):
        _slash("/top n:abc")
