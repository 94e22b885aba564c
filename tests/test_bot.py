"""The bot through discord.py's own dispatch: messages and interactions fed as
gateway payloads, replies captured where they would leave for Discord."""

from __future__ import annotations

import asyncio

import pytest

from bot.app import APOLOGY
from bot.local import GUILD_ID
from bot.storage.repo import Viewer
from bot.storage.db import create_engine, session_maker
from bot.worker_client import HttpWorker, InProcessWorker
from tests.fake_worker import FakeWorker
from tests.helpers import free_port, needs_model, poem_of, running_bot


@pytest.fixture
async def local(sqlite_url):
    """The bot on a fake worker (tests/fake_worker.py): no model, no torch."""
    async with running_bot(sqlite_url, FakeWorker()) as loc:
        yield loc


@pytest.fixture(params=["fake", "model"])
def worker(request):
    """Each worker the bot is tried on end to end: the fake, then the tiny model's engine in
    process (skipped where the model's packages are not installed)."""
    if request.param == "fake":
        return FakeWorker()
    return InProcessWorker(request.getfixturevalue("engine"))


@pytest.fixture
async def any_local(sqlite_url, worker):
    """The bot on each worker of `worker`."""
    async with running_bot(sqlite_url, worker) as loc:
        yield loc


async def test_the_same_seed_writes_the_same_poem_with_its_id_seed_and_buttons(any_local):
    (first,) = await any_local.say("!poem 42")
    (second,) = await any_local.say("!poem 42", user_id=2)  # (the same user again: the same poem shown again)
    assert poem_of(first) == poem_of(second)
    assert len(poem_of(first)) == 4 and all(len(line) == 6 for line in poem_of(first))
    assert first.embeds[0]["title"] == "Poem #1" and second.embeds[0]["title"] == "Poem #2"
    assert "seed 42" in first.embeds[0]["footer"]["text"]
    assert first.custom_ids == [f"poem:rate:1:{s}" for s in range(1, 6)] + [
        "poem:fav:1",
        "poem:vary:1",
        "poem:reroll:5",
        "poem:rewrite:1",
    ]
    (seven,) = await any_local.say("!poem 42 7")
    assert all(len(line) == 8 for line in poem_of(seven))


async def test_slash_poem_gives_the_prefix_poem(local):
    (prefix,) = await local.say("!poem 7")
    replies = await local.slash("poem", {"seed": "7"})
    shown = [s for s in replies if s.embeds]
    assert shown and poem_of(shown[-1]) == poem_of(prefix)


async def test_slash_options_keep_their_own_meaning(local):
    seven = [s for s in await local.slash("poem", {"form": "7"}) if s.embeds][-1]
    assert all(len(line) == 8 for line in poem_of(seven)), "form:7 is the form, never seed 7"
    (prefix,) = await local.say("!poem 42 7言")
    both = [s for s in await local.slash("poem", {"seed": "42", "form": "7"}) if s.embeds][-1]
    assert poem_of(both) == poem_of(prefix)


@pytest.mark.parametrize(
    "command,reply",
    [
        ("!poem abc", "“abc” has no Chinese characters"),
        ("!poem 99999999999999999999999", "A seed is a whole number"),
        ("!poem -5", "A seed is a whole number"),
        ("!poem 42 6", "The form is 5 or 7"),
        ("!rate 99 3", "There is no poem #99"),
        ("!rate 1 9", "1 to 5 stars"),
        ("!rate abc 3", "A poem id looks like"),
        ("!rate 1 lots", "1 to 5 stars"),
        ("!rate", "Something is missing"),
        ("!fav 5", "There is no poem #5"),
        ("!unfav 5", "not one of your favourites"),
        ("!show 0", "A poem id looks like"),
        ("!vary 7", "There is no poem #7"),
        ("!vary x", "A poem id looks like"),
        ("!blend", "You need 2 favourites"),
        ("!blend 1", "Blend two poems"),
        ("!blend 1 2 50", "`steps` must be from 3 to 10 (not 50)"),
        ("!blend hello world", "not a poem I can blend"),
        ("!top 0", "`n` must be from 1 to 25"),
        ("!script klingon", "simplified or traditional"),
        ("!sync", "Only the bot's owner"),
    ],
)
async def test_every_user_mistake_gets_a_short_clear_reply_and_saves_nothing(local, command, reply):
    user = 2 if command == "!sync" else 1
    sent = await local.say(command, user_id=user)
    assert len(sent) == 1 and reply in sent[0].content, [s.content for s in sent]
    (ok,) = await local.say("!poem 1")
    assert ok.embeds[0]["title"] == "Poem #1", "a failed command must not have saved a poem"


async def test_rating_favourites_leaderboard_and_show(local):
    await local.say("!poem 1")
    await local.say("!poem 2")
    (rated,) = await local.say("!rate 1 4")
    assert "You gave poem #1 4★" in rated.content
    await local.say("!rate 1 5")  # rating again updates
    await local.say("!rate 2 2", user_id=3)
    assert "1 rating, 5.00★" in (await local.say("!rate 1 5"))[0].content
    (top,) = await local.say("!top")
    names = [f["name"] for f in top.embeds[0]["fields"]]
    assert names[0].startswith("1. #1") and names[1].startswith("2. #2")
    assert (await local.say("!fav 2"))[0].content == "Poem #2 is now one of your favourites."
    (favs,) = await local.say("!favs")
    assert [f["name"] for f in favs.embeds[0]["fields"]] == ["#2"]
    assert "no longer" in (await local.say("!unfav 2"))[0].content
    assert "no favourites yet" in (await local.say("!favs"))[0].content
    (shown,) = await local.say("!show 1")
    assert shown.embeds[0]["title"] == "Poem #1" and "5.00★ from 1" in shown.text()


async def test_blend_goes_from_the_saved_poems_and_saves_the_steps_between(any_local):
    (first,) = await any_local.say("!poem 10")
    (second,) = await any_local.say("!poem 11")
    (path,) = await any_local.say("!blend 1 #2 4")
    assert path.embeds[0]["title"] == "Blend: 4 steps from #1 to #2"
    fields = path.embeds[0]["fields"]
    assert [f["name"].split(" ")[0] for f in fields] == ["#1", "#3", "#4", "#2"]
    lines = [f["value"].replace("**", "").split("\n") for f in fields]
    assert lines[0] == poem_of(first) and lines[-1] == poem_of(second)
    assert "**" not in fields[0]["value"]
    for before, after, field in zip(lines, lines[1:], fields[1:]):  # bold marks exactly what changed
        bold = [ch for part in field["value"].split("**")[1::2] for ch in part if ch != "\n"]
        assert bold == [b for x, y in zip(before, after) for a, b in zip(x, y) if a != b]
    assert "You gave poem #4" in (await any_local.say("!rate 4 3"))[0].content
    (shown,) = await any_local.say("!show 3")
    assert "blend of #1 and #2" in shown.text()
    await any_local.say("!fav 2")
    await any_local.say("!fav 1")
    (again,) = await any_local.say("!blend 3")  # no second poem: a friendly hint, nothing written
    assert "Blend two poems" in again.content
    (again,) = await any_local.say("!blend")  # the two newest favourites, older first
    assert again.embeds[0]["title"] == "Blend: 5 steps from #2 to #1"
    assert [f["name"].split(" ")[0] for f in again.embeds[0]["fields"]] == ["#2", "#5", "#6", "#7", "#1"]


async def test_a_variation_keeps_its_poem_as_parent_and_changes_it(any_local):
    (first,) = await any_local.say("!poem 21")
    (varied,) = await any_local.say("!vary #1", user_id=5)
    assert varied.embeds[0]["title"] == "Poem #2"
    assert "variation of #1" in varied.embeds[0]["footer"]["text"]
    assert any(b["custom_id"] == "poem:vary:2" for row in varied.components for b in row["components"])
    poems = [poem_of(first)] + [poem_of((await any_local.say("!vary 1", user_id=5))[0]) for _ in range(4)]
    assert any(p != poems[0] for p in poems[1:])  # variations are new poems
    assert len(set(map(tuple, poems[1:]))) > 1  # and differ from each other
    (shown,) = await any_local.say("!show 2")
    assert "variation of #1" in shown.text()
    (rated,) = await any_local.say("!rate 2 4", user_id=9)
    assert "You gave poem #2 4★" in rated.content


async def test_script_shows_simplified_characters(local):
    (traditional,) = await local.say("!poem 3")
    await local.say("!script simplified")
    (simplified,) = await local.say("!show 1")
    import opencc

    assert poem_of(simplified) == [opencc.OpenCC("t2s").convert(x) for x in poem_of(traditional)]


async def test_forgetme_asks_first_says_what_others_lose_then_deletes(local):
    await local.say("!poem 5")
    await local.say("!rate 1 5")
    await local.say("!rate 1 4", user_id=2)  # someone else's rating and favourite of poem 1
    await local.say("!fav 1", user_id=2)
    (asked,) = await local.say("!forgetme")
    assert "!forgetme confirm" in asked.content
    assert "1 rating and 1 favourite from other people" in asked.content
    assert "Poem #1" in (await local.say("!show 1"))[0].text()
    (done,) = await local.say("!forgetme confirm")
    assert "deleted 1 poem, 1 rating and 0 favourites" in done.content
    assert "There is no poem #1" in (await local.say("!show 1"))[0].content
    assert "no favourites yet" in (await local.say("!favs", user_id=2))[0].content


async def test_help_lists_every_command_from_its_docstring(local):
    (helped,) = await local.say("!help")
    for name in (
        "poem",
        "vary",
        "rewrite",
        "blend",
        "rate",
        "fav",
        "unfav",
        "favs",
        "top",
        "show",
        "script",
        "cards",
        "forgetme",
    ):
        assert f"  {name} " in helped.content
    (detail,) = await local.say("!help poem")
    assert "藏頭 春花秋月" in detail.content
    for name in ("poem", "vary", "blend", "rate", "fav", "top", "script", "forgetme"):  # every parameter
        (detail,) = await local.say(f"!help {name}")
        assert "No description given" not in detail.content, name


async def test_owner_can_sync_slash_commands(local):
    (synced,) = await local.say("!sync", user_id=1)
    assert f"Synced {len(local.bot.tree.get_commands())} slash commands" in synced.content
    assert len(local.bot.tree.get_commands()) >= 17


async def test_synced_slash_commands_carry_descriptions_choices_ranges_and_autocomplete(local):
    from bot.limits import MAX_SHOWN_STEPS, MIN_SHOWN_STEPS

    await local.say("!sync", user_id=1)
    commands = {c["name"]: c for c in local.commands}
    assert "help" in commands
    for name, command in commands.items():  # Chinese clients read the descriptions in Chinese
        assert set(command.get("description_localizations") or {}) == {"zh-CN", "zh-TW"}, name
    assert commands["poem"]["description_localizations"]["zh-TW"].startswith("寫一首絕句")
    assert commands["poem"]["description_localizations"]["zh-CN"].startswith("写一首绝句")
    for name, command in commands.items():  # every option's description and every choice too
        for option in command.get("options", []):
            assert set(option.get("description_localizations") or {}) == {"zh-CN", "zh-TW"}, (name, option["name"])
            for choice in option.get("choices", []):
                if not choice["name"].startswith("★"):
                    assert set(choice.get("name_localizations") or {}) == {"zh-CN", "zh-TW"}, choice
    steps = {o["name"]: o for o in commands["blend"]["options"]}["steps"]["description_localizations"]
    assert steps["zh-TW"].endswith(f"{MIN_SHOWN_STEPS} 到 {MAX_SHOWN_STEPS}")
    options = {(c["name"], o["name"]): o for c in local.commands for o in c.get("options", [])}
    assert options and all(o["description"] not in ("…", "") for o in options.values()), options
    assert [ch["value"] for ch in options["poem", "form"]["choices"]] == ["5", "7"]
    assert [ch["value"] for ch in options["rate", "stars"]["choices"]] == ["1", "2", "3", "4", "5"]
    assert {ch["value"] for ch in options["script", "script"]["choices"]} == {"simplified", "traditional"}
    assert (options["blend", "steps"]["min_value"], options["blend", "steps"]["max_value"]) == (3, 10)
    assert (options["top", "n"]["min_value"], options["top", "n"]["max_value"]) == (1, 25)
    for command in ("vary", "rate", "fav", "unfav", "show", "blend"):
        ids = [o for (c, _), o in options.items() if c == command and o["name"] in ("poem_id", "a", "b")]
        assert ids and all(o.get("autocomplete") for o in ids), command


async def test_poem_id_autocomplete_offers_the_users_favourites_and_newest_poems(local):
    for seed in range(12):
        await local.say(f"!poem {seed}", user_id=4)
    await local.say("!fav 2", user_id=4)
    offered = await local.bot.service.suggestions(Viewer(4, GUILD_ID), "1")
    assert [p.id for p in offered] == [12, 11, 10, 1]
    assert [p.id for p in await local.bot.service.suggestions(Viewer(4, GUILD_ID), "")][:2] == [
        2,
        12,
    ]  # favourite first
    assert await local.bot.service.suggestions(Viewer(5, GUILD_ID), "") == []  # only one's own


@pytest.mark.parametrize(
    "command, form, seed",
    [
        ("!poem 7言", 7, None),
        ("!poem 七言", 7, None),
        ("!poem form:7", 7, None),
        ("!poem #7", 5, 7),
        ("!poem 42 7言", 7, 42),
        ("!poem 7言 #42", 7, 42),
        ("!poem 7", 5, 7),
        ("!poem seed:9 5言", 5, 9),
    ],
)
async def test_the_common_ways_of_asking_for_a_form_or_a_seed(local, command, form, seed):
    (reply,) = await local.say(command)
    assert all(len(line) == form + 1 for line in poem_of(reply)), reply.text()
    footer = reply.embeds[0]["footer"]["text"]
    assert footer.startswith(f"seed {seed} ·") if seed is not None else "seed" in footer


async def test_slash_help_lists_the_commands_and_explains_one(local):
    (listed,) = await local.slash("help")
    assert listed.ephemeral and "`/poem`" in listed.content and "`/blend`" in listed.content
    (one,) = await local.slash("help", {"command": "blend"})
    assert "steps" in one.content and "3 to 10" in one.content


async def test_slash_commands_rate_and_report_errors_privately(local):
    await local.say("!poem 8")
    ok = await local.slash("rate", {"poem_id": "1", "stars": 5})
    assert any("You gave poem #1 5★" in s.content for s in ok)
    bad = await local.slash("rate", {"poem_id": "1", "stars": 7})
    assert any("1 to 5 stars" in s.content and s.ephemeral for s in bad)


async def test_cooldown_on_poem_says_when_to_come_back(sqlite_url):
    async with running_bot(sqlite_url, FakeWorker(), poem_cooldown_s=60) as local:
        await local.say("!poem 1")
        (again,) = await local.say("!poem 2")
        assert "again in 60 s" in again.content or "again in 59 s" in again.content
        (other,) = await local.say("!poem 2", user_id=5)  # cooldowns are per user
        assert other.embeds


async def test_too_much_work_in_flight_gets_a_busy_reply(sqlite_url):
    async with running_bot(sqlite_url, FakeWorker(), max_in_flight=0) as local:
        (busy,) = await local.say("!poem 1")
        assert "busy" in busy.content and "try again in" in busy.content


async def test_rating_buttons_work_on_a_message_from_before_a_restart(sqlite_url):
    async with running_bot(sqlite_url, FakeWorker()) as local:
        (posted,) = await local.say("!poem 42")
    message = posted.message  # the message stays in the channel; the bot process is gone
    async with running_bot(sqlite_url, FakeWorker()) as local:
        replies = await local.click(message, "poem:rate:1:4", user_id=7)
        assert any("You gave poem #1 4★" in s.content and s.ephemeral for s in replies)
        replies = await local.click(message, "poem:fav:1", user_id=7)
        assert any("favourites" in s.content for s in replies)
        rerolled = await local.click(message, "poem:reroll:5", user_id=7)
        assert any(s.embeds and s.embeds[0]["title"] == "Poem #2" for s in rerolled)
        varied = await local.click(message, "poem:vary:1", user_id=7)
        assert any(
            s.embeds and s.embeds[0]["title"] == "Poem #3" and "variation of #1" in s.embeds[0]["footer"]["text"]
            for s in varied
        )
        (shown,) = await local.say("!show 1")
        assert "4.00★ from 1" in shown.text()


async def test_no_reply_ever_mentions_anyone(local):
    for command in ("!poem @everyone", "!rate <@&123> 5", "!show @here", "!poem 1"):
        for sent in await local.say(command):
            assert sent.allowed_mentions["parse"] == [] and not sent.allowed_mentions.get("replied_user"), sent.payload


async def test_an_unexpected_failure_is_logged_and_the_user_gets_an_apology(sqlite_url, caplog):
    class Broken:
        async def sample(self, body):
            raise RuntimeError("boom")

        async def close(self):
            pass

    async with running_bot(sqlite_url, Broken()) as local:
        (sent,) = await local.say("!poem 1")
    assert sent.content == APOLOGY
    assert any("boom" in (r.exc_text or "") or r.exc_info for r in caplog.records if r.levelname == "ERROR")


async def test_a_stopped_worker_gets_a_friendly_reply(sqlite_url):
    worker = HttpWorker(f"http://127.0.0.1:{free_port()}", timeout_s=2, retries=1, backoff_s=0.01)
    async with running_bot(sqlite_url, worker) as local:
        (sent,) = await local.say("!poem 1")
    await worker.close()
    assert "not answering right now" in sent.content


def test_the_console_chat_works_from_a_pipe(tmp_path, tiny_checkpoints):
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = dict(
        os.environ, POEMBOT_DATA_DIR=str(tmp_path), POEMBOT_FORMS="5", POEMBOT_CHECKPOINT_5=str(tiny_checkpoints[5])
    )
    env.pop("DISCORD_TOKEN", None)
    env.pop("DATABASE_URL", None)
    out = subprocess.run(
        [sys.executable, "-m", "bot", "--console"],
        input="!poem 42\n!poem 42\n!rate 1 5\n!top\n",
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert out.returncode == 0, out.stderr
    blocks = out.stdout.strip().split("\n\n")
    assert blocks[0].startswith("Poem #1")
    assert blocks[1].startswith("You have this poem already: #1, shown again.\nPoem #1")  # not saved twice
    first, second = blocks[0].splitlines()[1:5], blocks[1].splitlines()[2:6]
    assert first == second and all(len(line) == 6 for line in first)
    assert "You gave poem #1 5★" in blocks[2]
    assert blocks[3].startswith("Best poems here") and "1. #1 · 5.00★ from 1" in blocks[3]
    assert (tmp_path / "poembot.sqlite3").exists()

    # buttons pressed by number, menu options too, and slash commands typed as such
    out = subprocess.run(
        [sys.executable, "-m", "bot", "--console"],
        capture_output=True,
        text=True,
        timeout=120,
        input="!poem 7\n6\n/poem seed:7\n!blend 1 2 3\n2\n5\n99\n",
        env=env,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert out.returncode == 0, out.stderr
    blocks = out.stdout.strip().split("\n\n")
    assert "[6 ♥ favourite]" in blocks[0] and "Poem #2 is now one of your favourites" in blocks[1]
    assert blocks[2].splitlines()[2:6] == blocks[0].splitlines()[1:5]  # /poem seed:7 = !poem 7, shown again
    assert "[2 #3 · step 2/3]" in blocks[3]
    assert blocks[4].startswith("(only you can see this) Poem #3") and "You gave poem #3 5★" in blocks[5]
    assert "There is no control 99" in blocks[6]


def test_a_blend_step_shows_what_it_changed_in_bold():
    from bot.cogs import marked_lines

    assert marked_lines(["白日依山盡", "黃河入海流"], ["白月依水盡", "黃河入海流"]) == [
        "白**日**依**山**盡",
        "黃河入海流",
    ]
    assert marked_lines(["明月出天山"], ["白日依山盡"]) == ["**明月出天山**"]
    assert marked_lines(["明月出天山"], None) == ["明月出天山"]


# -- poems from favourites, blend steps that can be rated (issue 12) --------------------------
async def _parents(sqlite_url: str, poem_id: int) -> tuple:
    from bot.storage.models import Poem

    engine = create_engine(sqlite_url)
    async with session_maker(engine)() as s:
        p = await s.get(Poem, poem_id)
        found = (p.parent_a_id, p.parent_b_id, p.blend_position)
    await engine.dispose()
    return found


async def test_poem_fav_with_no_favourites_says_how_to_add_one(local):
    (reply,) = await local.say("!poem fav")
    assert "no favourites yet" in reply.content and "!fav <id>" in reply.content and "♥" in reply.content
    assert (await local.say("!poem 1"))[0].embeds[0]["title"] == "Poem #1", "nothing was saved"


async def test_poem_fav_with_one_favourite_writes_near_it_and_keeps_the_parent(local, sqlite_url):
    await local.say("!poem 3")
    await local.say("!fav 1")
    (made,) = await local.say("!poem fav 7")
    footer = made.embeds[0]["footer"]["text"]
    assert made.embeds[0]["title"] == "Poem #2" and "from favourites #1, seed 7" in footer
    assert await _parents(sqlite_url, 2) == (1, None, 0.0)
    assert made.custom_ids[:1] == ["poem:rate:2:1"]


async def test_poem_fav_between_several_repeats_under_its_seed_and_names_its_parents(local, sqlite_url):
    for seed in (3, 4, 5):
        await local.say(f"!poem {seed}")
    for pid in (1, 2, 3):
        await local.say(f"!fav {pid}")
    (first,) = await local.say("!poem fav 42")
    (again,) = await local.say("!poem ＦＡＶ 42")
    assert poem_of(first) == poem_of(again)
    a, b, t = await _parents(sqlite_url, 4)
    assert {a, b} <= {1, 2, 3} and a != b and 0 <= t <= 1
    assert f"from favourites #{a} and #{b}, seed 42" in first.embeds[0]["footer"]["text"]
    others = {tuple(poem_of((await local.say(f"!poem fav {s}"))[0])) for s in range(6)}
    assert len(others) > 1, "other seeds pick other pairs and points"
    slash = [s for s in await local.slash("poem", {"seed": "fav 42"}) if s.embeds]
    assert slash and poem_of(slash[-1]) == poem_of(first)


async def test_a_blend_of_a_poem_with_itself_is_one_poem_at_every_step(local):
    # every step decodes the poem's own latent: one poem (how close it is to poem 1 is the
    # model's reconstruction, measured by `python -m model evaluate`: 0.90 of characters)
    await local.say("!poem 8")
    (path,) = await local.say("!blend 1 1 4")
    lines = [f["value"].replace("**", "").split("\n") for f in path.embeds[0]["fields"]]
    assert len(lines) == 4 and lines[0] == lines[-1] and lines[1] == lines[2]
    assert "**" not in path.embeds[0]["fields"][2]["value"], "nothing changes between the middle steps"


async def test_every_blend_step_can_be_picked_rated_and_kept(local):
    await local.say("!poem 10")
    await local.say("!poem 11")
    (path,) = await local.say("!blend 1 2 5")
    select = path.components[0]["components"][0]
    assert select["custom_id"] == "poem:steps"
    assert [o["value"] for o in select["options"]] == ["1", "3", "4", "5", "2"]
    assert select["options"][1]["label"] == "#3 · step 2/5"
    (picked,) = await local.choose(path.message, "poem:steps", ["4"], user_id=6)
    assert picked.ephemeral and picked.embeds[0]["title"] == "Poem #4"
    assert "poem:rate:4:5" in picked.custom_ids and "poem:fav:4" in picked.custom_ids
    rated = await local.click(picked.message, "poem:rate:4:5", user_id=6)
    assert any("You gave poem #4 5★" in s.content for s in rated)
    await local.say("!forgetme confirm", user_id=1)  # the poems are gone: the menu says so
    (gone,) = await local.choose(path.message, "poem:steps", ["4"], user_id=6)
    assert gone.ephemeral and "There is no poem #4" in gone.content


async def test_varying_a_forgotten_poem_gets_a_clear_reply(local):
    await local.say("!poem 12", user_id=4)
    await local.say("!forgetme confirm", user_id=4)
    (reply,) = await local.say("!vary 1", user_id=5)
    assert "There is no poem #1" in reply.content


# -- errors only the user sees, even after a public "thinking…" (issue 13) -----------------------
def _public(sent) -> list:
    return [s for s in sent if s.kind in ("message", "interaction", "followup", "edit") and not s.ephemeral]


async def test_a_slash_error_before_the_work_is_private_and_nothing_public_is_left(sqlite_url):
    async with running_bot(sqlite_url, FakeWorker(), poem_cooldown_s=60) as local:
        await local.slash("poem", {"seed": "1"})
        again = await local.slash("poem", {"seed": "2"})
        assert [s.kind for s in again] == ["interaction"] and again[0].ephemeral
        assert "again in" in again[0].content


async def test_a_slash_error_after_the_public_deferral_is_still_private(local):
    await local.say("!poem 1")
    sent = await local.slash("blend", {"a": "1", "b": "99"})  # found out only after deferring
    assert not _public(sent), [(s.kind, s.content) for s in sent]
    errors = [s for s in sent if s.ephemeral and "There is no poem #99" in s.content]
    assert errors and any(s.kind == "delete" for s in sent), "the public thinking… message is removed"


async def test_the_local_discord_makes_the_first_follow_up_public_after_a_public_deferral(local):
    # the rule the two tests above rely on: Discord's, not the flag the bot asks for
    from discord.webhook.async_ import Route

    def route(method: str, path: str) -> Route:
        return Route(method, path, webhook_id=1, webhook_token="tok")

    await local._webhook_request(
        route("POST", "/interactions/{webhook_id}/{webhook_token}/callback"), payload={"type": 5, "data": {"flags": 0}}
    )  # a public "thinking…"
    await local._webhook_request(
        route("POST", "/webhooks/{webhook_id}/{webhook_token}"), payload={"content": "first", "flags": 64}
    )
    await local._webhook_request(
        route("POST", "/webhooks/{webhook_id}/{webhook_token}"), payload={"content": "second", "flags": 64}
    )
    first, second = local.sent[-2:]
    assert (first.content, first.ephemeral, second.content, second.ephemeral) == ("first", False, "second", True)


async def test_busy_leaves_the_cooldown_unspent(sqlite_url):
    async with running_bot(sqlite_url, FakeWorker(), poem_cooldown_s=60, max_in_flight=0) as local:
        (busy,) = await local.say("!poem 1")
        assert "busy" in busy.content
        local.bot.service.settings.max_in_flight = 32
        (written,) = await local.say("!poem 1")
        assert written.embeds, written.content


async def test_a_reader_who_never_chose_a_script_gets_the_one_their_client_language_suggests(local):
    taiwan = [s for s in await local.slash("poem", {"seed": "5"}, user_id=3, locale="zh-TW") if s.embeds][-1]
    china = [s for s in await local.slash("poem", {"seed": "5"}, user_id=4, locale="zh-CN") if s.embeds][-1]
    assert poem_of(taiwan) != poem_of(china), "zh-CN reads simplified characters"
    from model.text import simplified

    assert [simplified(line) for line in poem_of(taiwan)] == poem_of(china)
    await local.say("!script traditional", user_id=4)  # a choice wins over the client's language
    chosen = [s for s in await local.slash("poem", {"seed": "5"}, user_id=4, locale="zh-CN") if s.embeds][-1]
    assert poem_of(chosen) == poem_of(taiwan)


async def test_commands_are_counted_by_outcome_with_their_latency(local):
    metrics = local.bot.service.metrics
    await local.say("!poem 1")
    await local.say("!poem abc")
    await local.say("!rate 1 5")

    def value(name: str, **labels) -> float:
        return metrics.registry.get_sample_value(name, labels) or 0.0

    assert value("poembot_commands_total", command="poem", outcome="ok") == 1
    assert value("poembot_commands_total", command="poem", outcome="refused") == 1
    assert value("poembot_commands_total", command="rate", outcome="ok") == 1
    assert value("poembot_command_seconds_count", command="poem") == 2  # both ran, and were timed
    assert value("poembot_jobs_in_flight") == 0
    await local.click(local.sent[0].message, "poem:rate:1:4", user_id=8)
    await local.say("!forgetme confirm")  # poem 1 is gone: its button now refuses
    await local.click(local.sent[0].message, "poem:rate:1:4", user_id=8)
    assert value("poembot_commands_total", command="button:rate", outcome="ok") == 1
    assert value("poembot_commands_total", command="button:rate", outcome="refused") == 1
    assert value("process_resident_memory_bytes") > 0


@needs_model
def test_the_metrics_port_serves_prometheus_text(tmp_path):
    import os
    import subprocess
    import sys
    import time
    import urllib.request
    from pathlib import Path

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POEMBOT_", "DISCORD_TOKEN", "DATABASE_URL"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "--console"],
        stdin=subprocess.PIPE,
        text=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[1],
        env={**env, "POEMBOT_DATA_DIR": str(tmp_path), "POEMBOT_METRICS_PORT": str(port)},
    )
    try:
        proc.stdin.write("!poem 1\n")
        proc.stdin.flush()
        for _ in range(300):
            try:
                text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
                if 'poembot_commands_total{command="poem",outcome="ok"} 1.0' in text:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        assert 'poembot_commands_total{command="poem",outcome="ok"} 1.0' in text
        assert "process_cpu_seconds_total" in text
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_an_unknown_or_stale_slash_command_gets_a_clear_private_answer(local, caplog):
    replies = await local.slash("poen")
    assert replies and "out of date" in replies[-1].content and replies[-1].ephemeral
    assert "Traceback" not in caplog.text


async def test_personal_replies_are_shown_only_to_the_user_and_favs_say_how_many(local):
    for i in range(12):
        await local.say(f"!poem {i}")
        await local.say(f"!fav {i + 1}")
    for name, options in (
        ("script", {"script": "simplified"}),
        ("cards", {"setting": "off"}),
        ("favs", {}),
        ("forgetme", {}),
    ):
        replies = [s for s in await local.slash(name, options) if s.content or s.embeds]
        assert replies and all(s.ephemeral for s in replies), name
    shown = [s for s in await local.slash("favs") if s.embeds][-1]
    assert shown.embeds[0]["title"] == "Your favourites: page 1 of 2"


async def test_help_for_a_category_in_any_case(local):
    for word in ("Poems", "poems"):
        (helped,) = await local.say(f"!help {word}")
        assert "poem" in helped.content and "rewrite" in helped.content and "There is no command" not in helped.content


async def test_a_blend_saves_no_step_twice(local):
    await local.say("!poem 8")
    (path,) = await local.say("!blend 1 1 10")
    ids = [f["name"].split(" ")[0] for f in path.embeds[0]["fields"]]
    (shown,) = await local.say("!show 3")
    assert len(set(ids)) <= 2 and "There is no poem #3" in shown.content, ids


async def test_forgetme_is_confirmed_with_a_button_only_its_asker_can_press(local):
    await local.say("!poem 1", user_id=7)
    (asked,) = await local.say("!forgetme", user_id=7)
    assert asked.custom_ids == ["forget:confirm:7"]
    (other,) = await local.click(asked.message, "forget:confirm:7", user_id=8)
    assert "Only the person who asked" in other.content and other.ephemeral
    (kept,) = await local.say("!show 1")
    assert kept.embeds
    (done,) = await local.click(asked.message, "forget:confirm:7", user_id=7)
    assert "deleted 1 poem" in done.content
    (gone,) = await local.say("!show 1")
    assert "There is no poem #1" in gone.content


async def test_each_limit_reads_the_same_in_help_slash_options_and_the_service(local):
    from bot.limits import MAX_SHOWN_STEPS, MAX_TOP, MIN_SHOWN_STEPS

    steps = {p.name: p for p in local.bot.tree.get_command("blend").parameters}["steps"]
    n = {p.name: p for p in local.bot.tree.get_command("top").parameters}["n"]
    assert (steps.min_value, steps.max_value, n.max_value) == (MIN_SHOWN_STEPS, MAX_SHOWN_STEPS, MAX_TOP)
    (help_blend,) = await local.say("!help blend")
    assert f"Steps: {MIN_SHOWN_STEPS} to {MAX_SHOWN_STEPS}." in help_blend.text() and "{" not in help_blend.text()
    (too_many,) = await local.say(f"!blend 1 2 {MAX_SHOWN_STEPS + 1}")
    assert f"from {MIN_SHOWN_STEPS} to {MAX_SHOWN_STEPS}" in too_many.text()


async def test_hints_name_commands_with_the_prefix_the_server_uses(sqlite_url):
    async with running_bot(sqlite_url, FakeWorker(), prefix="?") as local:
        replies = []
        for typed in ("?help", "?help poem", "?poem fav", "?blend 1", "?rate", "?poem 藏頭 春"):
            replies += [s.text() for s in await local.say(typed)]
        (poem,) = await local.say("?poem 1")
        await local.say("?forgetme confirm")  # the poem is gone: its buttons now say so
        replies += [s.text() for s in await local.click(poem.message, "poem:fav:1")]
        assert replies and all("`!" not in text for text in replies), [t for t in replies if "`!" in t][:2]
        assert any("`?help" in text for text in replies) and any("`?fav" in text for text in replies)
        assert not await local.say("!help"), "the default prefix is not this server's"


async def test_two_shards_on_one_database_share_cooldowns_and_ratings_and_each_gets_its_own_guilds(db_url):
    """Two bot processes, shards 0 and 1 of 2 (as SHARD_COUNT=2 SHARD_IDS=0 and =1 build
    them), on one database: each is given only the guilds of its shard; a user's cooldown
    started on one holds on the other; a poem its author rates from both has one rating."""
    from bot.__main__ import build
    from bot.app import ShardedPoemBot
    from bot.local import LocalDiscord
    from bot.settings import Settings

    guilds = {0: 2 << 22, 1: 3 << 22}  # (guild_id >> 22) % 2: shards 0 and 1
    worker = FakeWorker()
    shards, engines = {}, []
    for shard in (0, 1):
        settings = Settings(database_url=db_url, poem_cooldown_s=60, shard_count=2, shard_ids=(shard,)).check()
        bot, eng, _ = await build(settings, worker=worker)
        engines.append(eng)
        assert isinstance(bot, ShardedPoemBot) and bot.shard_ids == [shard]
        with pytest.raises(ValueError, match="is on shard"):
            await LocalDiscord(bot, guild_id=guilds[1 - shard]).start()  # Discord never sends it the other's
        shards[shard] = LocalDiscord(bot, guild_id=guilds[shard])
        await shards[shard].start()
    try:
        (poem,) = await shards[0].say("!poem 42", user_id=7)
        assert poem.embeds
        (wait,) = await shards[1].say("!poem 43", user_id=7)
        assert "Easy, poet" in wait.text(), "the cooldown started on shard 0 holds on shard 1"
        pid = int(poem.embeds[0]["title"].split("#")[1].split()[0])
        await shards[0].say(f"!rate {pid} 3", user_id=7)  # its author rates it in both servers
        (both,) = await shards[1].say(f"!rate {pid} 5", user_id=7)
        assert "1 rating" in both.text() and "5.00" in both.text()
        (other,) = await shards[1].say(f"!rate {pid} 5", user_id=8)  # to anyone else, it is not there
        assert other.text() == f"There is no poem #{pid}."
    finally:
        for local in shards.values():
            await local.bot.close()
        for eng in engines:
            await eng.dispose()


async def test_replies_are_in_the_servers_language_for_typed_commands_and_the_readers_for_slash(sqlite_url):
    worker = FakeWorker()
    async with (
        running_bot(sqlite_url, worker, poem_cooldown_s=60, locale="zh-TW") as taiwan,
        running_bot(sqlite_url, worker, poem_cooldown_s=60) as english,
    ):
        (poem,) = await taiwan.say("!poem 42", user_id=5)
        assert poem.embeds[0]["title"].startswith("第 ") and "五言絕句" in poem.embeds[0]["footer"]["text"]
        assert poem_of(poem) == poem_of((await english.say("!poem 42", user_id=6))[0]), "the poem is the poem"
        (wait,) = await taiwan.say("!poem 43", user_id=5)
        assert wait.text().startswith("詩人別急："), wait.text()
        (missing,) = await taiwan.say("!rate 999 5", user_id=5)
        assert missing.text() == "沒有第 999 號詩。"
        (seed,) = await taiwan.say("!poem 99999999999999999999", user_id=7)
        assert "種子是 0 到" in seed.text() and "你寫的是「99999999999999999999」" in seed.text()
        (gone,) = await english.say("!rate 999 5", user_id=5)
        assert gone.text() == "There is no poem #999.", "an English server reads English"
        simplified = await english.slash("rate", {"poem_id": "999", "stars": "5"}, user_id=8, locale="zh-CN")
        assert any(s.text() == "没有第 999 号诗。" for s in simplified), [s.text() for s in simplified]


async def test_help_pages_read_in_the_servers_language(sqlite_url):
    async with running_bot(sqlite_url, FakeWorker(), locale="zh-TW") as taiwan:
        (page,) = await taiwan.say("!help")
        (blend,) = await taiwan.say("!help blend")
    assert "詩：" in page.text() and "把一首詩收進你的收藏" in page.text() and "輸入 !help 指令名稱" in page.text()
    from bot.limits import MAX_SHOWN_STEPS, MIN_SHOWN_STEPS

    assert "從詩甲一步步變到詩乙" in blend.text() and f"步數：{MIN_SHOWN_STEPS} 到 {MAX_SHOWN_STEPS}" in blend.text()
    assert "參數：" in blend.text() and "途中的詩數" in blend.text() and "（可省略）" in blend.text()
    async with running_bot(sqlite_url, FakeWorker()) as english:
        (page,) = await english.say("!help")
    assert "Keep a poem among your favourites" in page.text() and "詩：" not in page.text()


# -- who can see a poem: where it was written, and its author anywhere (issue 31) ----------------
SERVER, OTHER_SERVER, DM = 0, 1, None  # where a user speaks (`LocalDiscord.say(guild=...)`)
BY_ID = [  # every command that takes a poem id
    "!show {id}",
    "!rewrite {id} 2",
    "!vary {id}",
    "!fav {id}",
    "!unfav {id}",
    "!rate {id} 5",
    "!blend {id} {id} 3",
]


@pytest.fixture
async def places(db_url):
    """The bot in two servers and direct messages, on SQLite and on PostgreSQL."""
    async with running_bot(db_url, FakeWorker(), guilds=2) as loc:
        yield loc


async def _as_if_missing(local, command: str, pid: int, user_id: int, guild) -> None:
    """`command` on poem `pid` is answered exactly as on an id no poem ever had."""
    (seen,) = await local.say(command.format(id=pid), user_id=user_id, guild=guild)
    (missing,) = await local.say(command.format(id=999), user_id=user_id, guild=guild)
    assert seen.text() == missing.text().replace("999", str(pid)), (command, seen.text())


async def test_a_poem_written_in_direct_messages_does_not_exist_anywhere_else_for_anyone_else(places):
    (private,) = await places.say("!poem 77", user_id=1, guild=DM)
    pid = int(private.embeds[0]["title"].removeprefix("Poem #"))
    for command in BY_ID:
        await _as_if_missing(places, command, pid, user_id=2, guild=SERVER)
        await _as_if_missing(places, command, pid, user_id=2, guild=DM)  # another user's direct messages
    assert "There is no poem" in (await places.say("!show 999", user_id=2))[0].text(), "(what the above compares to)"
    assert not any(s.embeds for s in places.sent[1:]), "nothing was shown, written or blended"
    (shown,) = await places.say(f"!show {pid}", user_id=1, guild=OTHER_SERVER)  # its author, anywhere
    assert poem_of(shown) == poem_of(private)
    await places.say(f"!rate {pid} 5", user_id=1, guild=SERVER)
    (top,) = await places.say("!top", user_id=2, guild=SERVER)
    assert "No poem here has a rating yet" in top.text(), "a poem written elsewhere is never on a server's board"
    for button in (f"poem:rate:{pid}:5", f"poem:fav:{pid}", f"poem:vary:{pid}"):  # under the author's !show
        (pressed,) = [s for s in await places.click(shown.message, button, user_id=2) if s.content]
        assert pressed.content == f"There is no poem #{pid}." and pressed.ephemeral, button
    (picked,) = [s for s in await places.choose(shown.message, f"poem:rewrite:{pid}", ["2"], user_id=2) if s.content]
    assert picked.content == f"There is no poem #{pid}." and picked.ephemeral
    slash = await places.slash("show", {"poem_id": str(pid)}, user_id=2)
    assert [s.text() for s in slash if s.content] == [f"There is no poem #{pid}."]


async def test_a_poem_written_in_a_server_does_not_exist_in_another_or_in_direct_messages(places):
    (poem,) = await places.say("!poem 5", user_id=2, guild=SERVER)
    pid = int(poem.embeds[0]["title"].removeprefix("Poem #"))
    assert poem_of((await places.say(f"!show {pid}", user_id=3, guild=SERVER))[0]) == poem_of(poem), "seen there"
    await places.say(f"!rate {pid} 5", user_id=3, guild=SERVER)
    for command in BY_ID:
        await _as_if_missing(places, command, pid, user_id=3, guild=OTHER_SERVER)
        await _as_if_missing(places, command, pid, user_id=3, guild=DM)
    assert "No poem here has a rating yet" in (await places.say("!top", user_id=3, guild=OTHER_SERVER))[0].text()
    assert "Best poems here" in (await places.say("!top", user_id=3, guild=SERVER))[0].text()
    (own,) = await places.say(f"!show {pid}", user_id=2, guild=DM)  # its author, in their own direct messages
    assert poem_of(own) == poem_of(poem)


async def test_favourites_are_listed_and_used_only_where_they_can_be_seen(places):
    (theirs,) = await places.say("!poem 5", user_id=2, guild=SERVER)  # someone else's, in the first server
    (mine,) = await places.say("!poem 6", user_id=3, guild=SERVER)  # one's own, in the first server
    theirs_id, mine_id = (int(p.embeds[0]["title"].removeprefix("Poem #")) for p in (theirs, mine))
    await places.say(f"!fav {theirs_id}", user_id=3, guild=SERVER)
    await places.say(f"!fav {mine_id}", user_id=3, guild=SERVER)
    (there,) = await places.say("!favs", user_id=3, guild=SERVER)
    assert [f["name"] for f in there.embeds[0]["fields"]] == [f"#{mine_id}", f"#{theirs_id}"]
    for guild in (OTHER_SERVER, DM):
        (elsewhere,) = await places.say("!favs", user_id=3, guild=guild)
        assert [f["name"] for f in elsewhere.embeds[0]["fields"]] == [f"#{mine_id}"], "one's own poem, anywhere"
        assert elsewhere.embeds[0]["title"] == "Your favourites", "the count is of these too"
        (blend,) = await places.say("!blend", user_id=3, guild=guild)
        assert "You need 2 favourites for that and have 1" in blend.text()
        (near,) = await places.say("!poem fav 1", user_id=3, guild=guild)
        assert f"from favourites #{mine_id}, seed 1" in near.embeds[0]["footer"]["text"]
        offered = await places.bot.service.suggestions(Viewer(3, None if guild is DM else GUILD_ID + 1))
        assert theirs_id not in [p.id for p in offered]
        (kept,) = await places.say(f"!unfav {theirs_id}", user_id=3, guild=guild)
        assert kept.text() == f"Poem #{theirs_id} is not one of your favourites."
    assert [f["name"] for f in (await places.say("!favs", user_id=3))[0].embeds[0]["fields"]] == [
        f"#{mine_id}",
        f"#{theirs_id}",
    ], "an !unfav elsewhere took nothing away"


# -- !forgetme while a poem of yours is being written (issue 31) ------------------------------------
class HeldRewrites:
    """A worker, but each rewrite waits, once started, until `release` is set."""

    def __init__(self, worker):
        self.worker, self.started, self.release = worker, asyncio.Event(), asyncio.Event()

    def __getattr__(self, name):
        return getattr(self.worker, name)

    async def rewrite(self, req):
        self.started.set()
        await self.release.wait()
        return await self.worker.rewrite(req)


async def test_a_poem_finished_after_its_authors_forgetme_is_dropped_not_saved(db_url):
    worker = HeldRewrites(FakeWorker())
    async with running_bot(db_url, worker) as local:
        await local.say("!poem 59", user_id=4)
        rewriting = asyncio.create_task(local.say("!rewrite 1 2", user_id=4))
        await worker.started.wait()  # the rewrite is with the worker ...
        (forgotten,) = await local.say("!forgetme confirm", user_id=4)  # ... when its author leaves
        assert "deleted 1 poem" in forgotten.text()
        worker.release.set()
        (dropped,) = [s for s in await rewriting if s is not forgotten]
        assert not dropped.embeds and dropped.text() == (
            "Your `!forgetme` came while this was being written, so it was not saved."
        )
        from bot.i18n import render
        from bot.jobs import ForgottenMeanwhile

        assert (
            render(ForgottenMeanwhile().words, "zh-TW") == "這首詩還在寫的時候，你要求了 `!forgetme`，所以它沒有存下。"
        )
        assert (await local.say("!show 2", user_id=4))[0].text() == "There is no poem #2."
        assert not local.bot.service.in_flight
        (again,) = await local.say("!poem 59", user_id=4)  # a poem asked for afterwards is kept
        assert again.embeds and (await local.say("!forgetme confirm", user_id=4))[0].text().startswith(
            "Done: deleted 1 poem,"
        )


async def test_poems_others_made_from_a_forgotten_users_poem_stay_without_the_link_and_help_says_so(local):
    await local.say("!poem 12", user_id=4)
    await local.say("!vary 1", user_id=5)
    await local.say("!rewrite 1 3", user_id=5)
    await local.say("!forgetme confirm", user_id=4)
    (varied,) = await local.say("!show 2", user_id=5)
    assert "variation of a deleted poem" in varied.text()
    (rewritten,) = await local.say("!show 3", user_id=5)
    assert "line 3 rewritten from a deleted poem" in rewritten.text()
    (helped,) = await local.say("!help forgetme")
    assert "stay, without the link to yours" in helped.text() and "three of your four lines" in helped.text()
    from bot.i18n import help_of, render

    assert "不再連到你的詩" in render(help_of(local.bot.get_command("forgetme")), "zh-TW")


async def test_a_refused_subject_gives_the_cooldown_back_as_busy_does(sqlite_url, worker):
    async with running_bot(sqlite_url, worker, poem_cooldown_s=60) as local:
        (refused,) = await local.say("!poem 𠀀")
        assert refused.text().startswith("I cannot write that poem: "), refused.text()
        (written,) = await local.say("!poem 月")
        assert written.embeds, written.text()
        (wait,) = await local.say("!poem 2")
        assert "again in" in wait.text(), "a poem written spends the cooldown"


# -- cooldowns on the database's clock, whatever each process's says (issue 31) ------------------
async def test_a_cooldown_holds_across_two_bots_whose_clocks_disagree_by_an_hour(db_url, monkeypatch):
    """Two bot processes on one database, one whose clock runs an hour ahead: a cooldown
    started on either holds on the other for the cooldown's length, and no wait is shown
    longer than the cooldown."""
    import re
    from datetime import UTC, datetime, timedelta

    from bot.storage import models, preferences, ratings, settings

    ahead = {"by": timedelta(0)}  # what the process clock of the bot now handling a command is off by

    def process_clock() -> datetime:
        return datetime.now(UTC) + ahead["by"]

    for reads_the_process_clock in (models, preferences, ratings, settings):
        monkeypatch.setattr(reads_the_process_clock, "utcnow", process_clock)
    worker = FakeWorker()
    async with (
        running_bot(db_url, worker, poem_cooldown_s=60) as fast,
        running_bot(db_url, worker, poem_cooldown_s=60) as right,
    ):

        async def say(local, text: str, user_id: int):
            ahead["by"] = timedelta(hours=1) if local is fast else timedelta(0)
            try:
                (sent,) = await local.say(text, user_id=user_id)
            finally:
                ahead["by"] = timedelta(0)
            return sent

        for first, then, user in ((fast, right, 7), (right, fast, 8)):
            assert (await say(first, "!poem 1", user)).embeds
            wait = await say(then, "!poem 2", user)
            assert not wait.embeds, "the cooldown started on one bot holds on the other"
            seconds = int(re.search(r"again in (\d+) s", wait.text()).group(1))
            assert 55 <= seconds <= 60, wait.text()


# -- what !poem reads: one grammar, and what is wrong said plainly (issue 31) ----------------------
@pytest.mark.parametrize(
    "typed, says",
    [
        ("moon", "“moon” has no Chinese characters."),
        ("🌙", "“🌙” has no Chinese characters."),
        ("一二三四五六七八九", "“一二三四五六七八九” has 9 characters."),
        ("月\u200d", "“月⟨U+200D⟩” holds invisible characters (U+200D)."),
        ("月\u0301", "holds combining marks (U+0301)."),
        ("月亮moon", "holds characters that are not Chinese: m, o, n."),
    ],
)
async def test_a_subject_that_is_not_chinese_words_is_told_what_is_wrong_with_it(local, typed, says):
    typed_reply = await local.say(f"!poem {typed}")
    slashed = [s for s in await local.slash("poem", {"subject": typed}) if s.content]
    for sent in typed_reply + slashed:
        assert sent.text().startswith("A subject is") and says in sent.text(), sent.text()
        assert "seed" not in sent.text() and "found" not in sent.text()
    (chinese,) = [s for s in await local.slash("poem", {"subject": typed}, locale="zh-TW") if s.content]
    assert chinese.text().startswith("題目") and "A subject" not in chinese.text(), chinese.text()
    (simplified,) = [s for s in await local.slash("poem", {"subject": typed}, locale="zh-CN") if s.content]
    assert simplified.text().startswith("题目") and "characters" not in simplified.text(), simplified.text()
    (ok,) = await local.say("!poem 1")
    assert ok.embeds[0]["title"] == "Poem #1", "nothing was written or saved"


async def test_an_acrostic_reads_the_same_typed_or_slashed_in_one_word_or_four(local):
    poems = []
    for typed in ("!poem 藏頭 春 花 秋 月 #3", "!poem 藏頭 春花 秋月 #3", "!poem 藏頭:春 花 秋 月 seed:3"):
        (sent,) = await local.say(typed)
        assert sent.embeds, sent.text()
        poems.append(poem_of(sent))
    for heads in ("春 花 秋 月", "春花秋月"):
        slashed = [s for s in await local.slash("poem", {"seed": "3", "acrostic": heads}) if s.embeds]
        poems.append(poem_of(slashed[-1]))
    assert all(p == poems[0] for p in poems) and "".join(line[0] for line in poems[0]) == "春花秋月"
    (both,) = await local.say("!poem 藏頭 春 花 秋 月 雁")
    assert both.text() == "A poem takes a subject or an acrostic (藏頭), not both."
    (short,) = await local.say("!poem 藏頭 春 花 秋 42")
    assert "An acrostic (藏頭) is four Chinese characters" in short.text() and "you wrote 春花秋." in short.text()
    (chinese,) = [s for s in await local.slash("poem", {"acrostic": "春花秋"}, locale="zh-TW") if s.content]
    assert chinese.text() == "藏頭是四個漢字，各放在一句的開頭，例如 春花秋月；你寫的是「春花秋」。"


async def test_poem_fav_of_a_form_writes_from_favourites_of_that_form_or_says_there_are_none(local):
    (seven,) = await local.say("!poem 1 7言")
    await local.say("!fav 1")
    replies = await local.say("!poem fav 5言") + await local.slash("poem", {"seed": "fav", "form": "5"})
    told = [s for s in replies if s.content]
    assert len(told) == 2 and not any(s.embeds for s in replies), [s.text() for s in replies]
    for sent in told:
        assert sent.text() == (
            "None of your favourites here is a 5-character poem. "
            "`!poem fav` without a form writes between the ones you have."
        )
    for locale, says in (
        ("zh-TW", "你在這裡的收藏裡沒有五言詩。不指定詩體的 `!poem fav` 會在你現有的收藏之間寫詩。"),
        ("zh-CN", "你在这里的收藏里没有五言诗。不指定诗体的 `!poem fav` 会在你现有的收藏之间写诗。"),
    ):
        (chinese,) = [s for s in await local.slash("poem", {"seed": "fav", "form": "5"}, locale=locale) if s.content]
        assert chinese.text() == says
    for ask in ("!poem fav 7言", "!poem fav"):
        (near,) = await local.say(ask)
        assert all(len(line) == 8 for line in poem_of(near)) and "from favourites #1" in near.text(), near.text()
    await local.say("!poem 2")
    await local.say("!fav 4")
    (five,) = await local.say("!poem fav 5言 9")
    assert all(len(line) == 6 for line in poem_of(five)) and "from favourites #4, seed 9" in five.text()


async def test_a_footer_shows_the_subject_as_the_poem_writes_it_in_the_readers_script(local):
    (poem,) = await local.say("!poem 风 3")
    assert "風" in "".join(poem_of(poem)) and "on 風, seed 3" in poem.text(), poem.text()
    (heads,) = await local.say("!poem 藏头 东南西北 3")
    assert "藏頭 東南西北, seed 3" in heads.text(), heads.text()
    await local.say("!script simplified")
    (shown,) = await local.say("!show 1")
    assert "风" in "".join(poem_of(shown)) and "on 风, seed 3" in shown.text(), shown.text()
    (shown,) = await local.say("!show 2")
    assert "东南西北, seed 3" in shown.text(), shown.text()


async def test_the_local_discord_waits_for_commands_never_for_the_workers_own_tasks(sqlite_url, engine):
    """The in-process worker's batcher runs for good: `wait_idle` (and each `say`) waits for
    what was dispatched only."""
    async with running_bot(sqlite_url, InProcessWorker(engine)) as local:
        await _waits_for_commands_only(local)


async def _waits_for_commands_only(local) -> None:
    pending = asyncio.create_task(local.say("!poem 1"))
    await asyncio.sleep(0)  # (the message is dispatched)
    await asyncio.wait_for(local.wait_idle(), 30)
    assert pending.done() and (await pending)[0].embeds
    assert any(t.get_name().startswith("poembot-batcher") for t in asyncio.all_tasks()), "(the batcher runs)"
