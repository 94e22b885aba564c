"""A member's own (issue 34, "For members"): `!delete`, `!mine` and `!favs` a page at a time,
`!check` (格律), `!poem 八言`, `!blend` between favourites of two forms, `!poem 42` asked for
twice, and the slash commands' descriptions. Through the real discord.py dispatch (the local
Discord) on real SQLite files (and PostgreSQL where the storage rules are concerned), with the
fake worker: no torch."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.local import LIMITS
from bot.storage import repo
from bot.storage.models import Favourite, Poem, Rating
from tests.fake_worker import FakeWorker
from tests.helpers import poem_of, running_bot

SERVER, OTHER_SERVER, DM = 0, 1, None  # where a user speaks (`LocalDiscord.say(guild=...)`)
DENGGUANQUELOU = "白日依山盡，黃河入海流。欲窮千里目，更上一層樓。"


@pytest.fixture
async def local(sqlite_url):
    async with running_bot(sqlite_url, FakeWorker()) as loc:
        yield loc


@pytest.fixture
async def places(db_url):
    """The bot in two servers and direct messages, on SQLite and on PostgreSQL."""
    async with running_bot(db_url, FakeWorker(), guilds=2) as loc:
        yield loc


def pid_of(sent) -> int:
    return int(sent.embeds[0]["title"].removeprefix("Poem #"))


async def rows(local, model, *where) -> int:
    async with local.bot.service.sessions() as s:
        return (await s.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


# -- !delete --------------------------------------------------------------------------------------
async def test_delete_asks_first_then_deletes_the_poem_with_its_ratings_and_favourites(local):
    (poem,) = await local.say("!poem 5")
    await local.say("!rate 1 4", user_id=2)
    await local.say("!fav 1", user_id=2)
    (asked,) = await local.say("!delete 1")
    assert "This deletes poem #1 for good" in asked.content
    assert "1 rating and 1 favourite from other people" in asked.content
    assert poem_of(asked) == poem_of(poem), "the question shows which poem"
    assert asked.custom_ids == ["poem:delete:1:1"]
    assert await rows(local, Poem) == 1, "asking deletes nothing"
    (other,) = await local.click(asked.message, "poem:delete:1:1", user_id=2)
    assert "Only the person who asked" in other.content and other.ephemeral
    (done,) = await local.click(asked.message, "poem:delete:1:1", user_id=1)
    assert done.content == "Deleted poem #1, with 1 rating and 1 favourite." and done.ephemeral
    assert (await rows(local, Poem), await rows(local, Rating), await rows(local, Favourite)) == (0, 0, 0)
    assert "There is no poem #1" in (await local.say("!show 1"))[0].content
    (again,) = await local.click(asked.message, "poem:delete:1:1", user_id=1)  # pressed twice
    assert "There is no poem #1" in again.content
    assert "no favourites yet" in (await local.say("!favs", user_id=2))[0].content


async def test_delete_confirm_deletes_at_once_and_what_was_made_from_it_keeps_working(local):
    await local.say("!poem 5")  # 1
    await local.say("!poem 6", user_id=2)  # 2
    (varied,) = await local.say("!vary 1", user_id=2)  # 3: someone else's variation of 1
    await local.say("!rewrite 1 2", user_id=2)  # 4
    await local.say("!blend 1 2 3", user_id=2)  # 5: the step between
    (done,) = await local.say("!delete 1 confirm")
    assert done.content == "Deleted poem #1, with 0 ratings and 0 favourites."
    (shown,) = await local.say("!show 3", user_id=2)
    assert poem_of(shown) == poem_of(varied) and "variation of a deleted poem" in shown.text()
    assert "rewritten from a deleted poem" in (await local.say("!show 4", user_id=2))[0].text()
    assert "blend of #1 (deleted) and #2" in (await local.say("!show 5", user_id=2))[0].text()
    for command in ("!vary 3", "!rewrite 4 1", "!rate 3 5", "!fav 4", "!blend 3 2 3"):
        (reply,) = await local.say(command, user_id=2)
        assert "There is no poem" not in reply.text() and "Sorry" not in reply.text(), (command, reply.text())


async def test_delete_refuses_someone_elses_poem_and_one_not_seen_here_as_missing(places):
    (theirs,) = await places.say("!poem 5", user_id=2, guild=SERVER)
    pid = pid_of(theirs)
    (here,) = await places.say(f"!delete {pid}", user_id=3, guild=SERVER)
    assert here.content == f"Poem #{pid} is not yours: only the person who asked for it can delete it."
    assert "not yours" in (await places.say(f"!delete {pid} confirm", user_id=3, guild=SERVER))[0].content
    for guild in (OTHER_SERVER, DM):  # where it cannot be seen, it is as if it never was
        (seen,) = await places.say(f"!delete {pid}", user_id=3, guild=guild)
        (missing,) = await places.say("!delete 999", user_id=3, guild=guild)
        assert seen.text() == missing.text().replace("999", str(pid)) == f"There is no poem #{pid}."
        (forced,) = await places.say(f"!delete {pid} confirm", user_id=3, guild=guild)
        assert forced.text() == f"There is no poem #{pid}."
    assert poem_of((await places.say(f"!show {pid}", user_id=2, guild=SERVER))[0]) == poem_of(theirs)
    (own,) = await places.say(f"!delete {pid} confirm", user_id=2, guild=DM)  # its author, anywhere
    assert own.text().startswith(f"Deleted poem #{pid}")


async def test_a_delete_button_pressed_by_its_asker_elsewhere_is_checked_again(places):
    """The asker's own button on a message in a server: pressed, the poem is looked up again."""
    (poem,) = await places.say("!poem 5", user_id=2, guild=SERVER)
    (asked,) = await places.say(f"!delete {pid_of(poem)}", user_id=2, guild=SERVER)
    await places.say(f"!delete {pid_of(poem)} confirm", user_id=2, guild=SERVER)
    (late,) = await places.click(asked.message, asked.custom_ids[0], user_id=2)
    assert late.ephemeral and late.content == f"There is no poem #{pid_of(poem)}."


@pytest.mark.parametrize("typed,reply", [("!delete abc", "A poem id looks like"), ("!delete", "Something is missing")])
async def test_delete_with_a_bad_id_says_so(local, typed, reply):
    (sent,) = await local.say(typed)
    assert reply in sent.content


async def test_slash_delete_asks_privately(local):
    await local.say("!poem 5")
    replies = [s for s in await local.slash("delete", {"poem_id": "1"}) if s.content or s.embeds]
    assert replies and all(s.ephemeral for s in replies)
    assert replies[-1].custom_ids == ["poem:delete:1:1"]
    done = [s for s in await local.slash("delete", {"poem_id": "#1", "confirm": "confirm"}) if s.content]
    assert done[-1].ephemeral and done[-1].content.startswith("Deleted poem #1")


# -- !mine and !favs, a page at a time ----------------------------------------------------------------
async def test_favs_turn_pages_with_buttons_only_for_the_one_who_asked(local):
    for i in range(12):
        await local.say(f"!poem {i}")
        await local.say(f"!fav {i + 1}")
    (first,) = await local.say("!favs")
    embed = first.embeds[0]
    assert embed["title"] == "Your favourites: page 1 of 2" and "12 poems, newest first" in embed["footer"]["text"]
    assert [f["name"] for f in embed["fields"]] == [f"#{i}" for i in range(12, 2, -1)]
    assert first.custom_ids == ["list:favs:1:0:p", "list:favs:1:1:n"]
    previous, _ = first.components[0]["components"]
    assert previous["disabled"], "no page before the first"
    (other,) = await local.click(first.message, "list:favs:1:1:n", user_id=2)
    assert other.ephemeral and other.content == "These are not your pages: type `!favs` for your own."
    (second,) = await local.click(first.message, "list:favs:1:1:n", user_id=1)
    assert second.embeds[0]["title"] == "Your favourites: page 2 of 2"
    assert [f["name"] for f in second.embeds[0]["fields"]] == ["#2", "#1"]
    assert second.custom_ids == ["list:favs:1:0:p", "list:favs:1:2:n"]
    assert second.components[0]["components"][1]["disabled"], "no page after the last"
    await local.say("!unfav 1")
    await local.say("!unfav 2")
    (shrunk,) = await local.click(first.message, "list:favs:1:1:n", user_id=1)  # a page that is gone
    assert shrunk.embeds[0]["title"] == "Your favourites" and len(shrunk.embeds[0]["fields"]) == 10
    assert shrunk.custom_ids == [], "one page: no buttons"


async def test_page_buttons_work_on_a_message_from_before_a_restart(sqlite_url):
    async with running_bot(sqlite_url, FakeWorker()) as before:
        for i in range(11):
            await before.say(f"!poem {i}")
        (first,) = await before.say("!mine")
        assert first.embeds[0]["title"] == "Your poems here: page 1 of 2"
    async with running_bot(sqlite_url, FakeWorker()) as after:
        (second,) = await after.click(first.message, "list:mine:1:1:n")
        assert [f["name"] for f in second.embeds[0]["fields"]] == ["#1"]


async def test_mine_lists_only_your_poems_written_here(places):
    await places.say("!poem 1", user_id=2, guild=SERVER)  # 1
    await places.say("!poem 2", user_id=3, guild=SERVER)  # 2: someone else's
    await places.say("!poem 3", user_id=2, guild=OTHER_SERVER)  # 3
    await places.say("!poem 4", user_id=2, guild=DM)  # 4
    await places.say("!poem 5", user_id=2, guild=SERVER)  # 5
    expected = {SERVER: ["#5", "#1"], OTHER_SERVER: ["#3"], DM: ["#4"]}
    for guild, ids in expected.items():
        (mine,) = await places.say("!mine", user_id=2, guild=guild)
        assert mine.embeds[0]["title"] == "Your poems here" and [f["name"] for f in mine.embeds[0]["fields"]] == ids
    (none,) = await places.say("!mine", user_id=4, guild=SERVER)
    assert none.content == "You have no poems here yet. Type `!poem` to write one."
    assert [s for s in await places.slash("mine", user_id=2, guild=SERVER) if s.embeds][-1].ephemeral


# -- !check (格律) ---------------------------------------------------------------------------------
async def test_check_reads_a_regular_quatrain_line_by_line(local):
    (checked,) = await local.say(f"!check {DENGGUANQUELOU}")
    embed = checked.embeds[0]
    assert embed["title"] == "格律 of a 5-character quatrain"
    assert "仄起 (starts oblique), 首句不入韻 (line 1 does not rhyme)." in embed["description"]
    assert "Regular: it keeps the pattern." in embed["description"]
    names = [f["name"] for f in embed["fields"]]
    assert names == ["1. 白日依山盡", "2. 黃河入海流", "3. 欲窮千里目", "4. 更上一層樓", "Rhyme (平水韻)"]
    assert embed["fields"][0]["value"] == "仄仄平平仄 (pattern 仄仄平平仄)"
    assert embed["fields"][4]["value"] == "流、樓: 下平聲十一尤"
    assert "✗" not in checked.text()


async def test_check_names_what_breaks_on_its_line(local):
    (checked,) = await local.say("!check 白日依山盡\n白河入海流\n欲窮千里目\n更上一層天")
    embed = checked.embeds[0]
    assert "2 things break the pattern." in embed["description"]
    assert "✗ 孤平: besides the rhyme foot, only 河 is level" in embed["fields"][1]["value"]
    assert "✗ 出韻: the rhyme foot 天 is in 下平聲一先, not 下平聲十一尤" in embed["fields"][3]["value"]


async def test_check_a_simplified_quatrain_for_a_simplified_reader(local):
    await local.say("!script simplified")
    (checked,) = await local.say("!check 白日依山尽 黄河入海流 欲穷千里目 更上一层楼")
    assert checked.embeds[0]["fields"][3]["name"] == "4. 更上一层楼"
    assert checked.embeds[0]["fields"][4]["value"] == "流、楼: 下平声十一尤"


async def test_slash_check_and_a_saved_poem_by_its_id(local):
    slashed = [s for s in await local.slash("check", {"poem": DENGGUANQUELOU}) if s.embeds]
    assert slashed and "Regular" in slashed[-1].embeds[0]["description"]
    (poem,) = await local.say("!poem 3")
    (checked,) = await local.say("!check #1")
    assert [f["name"][3:] for f in checked.embeds[0]["fields"][:4]] == [line[:-1] for line in poem_of(poem)]


async def test_check_of_a_poem_not_seen_here_is_as_if_missing(places):
    await places.say("!poem 3", user_id=2, guild=SERVER)
    for guild in (OTHER_SERVER, DM):
        (seen,) = await places.say("!check 1", user_id=3, guild=guild)
        assert seen.text() == "There is no poem #1."


@pytest.mark.parametrize(
    "typed,reply",
    [
        ("!check 白日依山盡", "This has 5 Chinese characters."),
        ("!check 床前明月光，疑是地上霜。舉頭望明月，低頭思故鄉 again", "not Chinese: a、g、i、n."),
        ("!check 白日依山，盡黃河入海流。欲窮千里目，更上一層樓。", "Its lines have 4、6、5、5 characters."),
        ("!check 🌙🌙🌙🌙🌙", "not Chinese: 🌙."),
        ("!check @everyone 白日", "not Chinese: @、e、v、r、y、o、n."),
        ("!check", "Something is missing"),
    ],
)
async def test_check_of_text_that_is_not_a_quatrain_says_what_is_wrong(local, typed, reply):
    (sent,) = await local.say(typed)
    assert reply in sent.content, sent.content
    if typed != "!check":
        assert sent.content.startswith("`!check` reads a quatrain: 4 lines of 5 or 7 Chinese characters")
    assert sent.allowed_mentions == {"parse": []} or "@everyone" not in sent.content


async def test_check_of_a_huge_text_stays_within_discords_limits(local):
    (sent,) = await local.say("!check " + "白日依山盡，" * 300)
    assert len(sent.content) <= LIMITS["content"] and "This has 1500 Chinese characters." in sent.content


async def test_check_of_a_seven_character_quatrain_with_unknown_characters(local):
    (checked,) = await local.say("!check 朝辭白帝彩雲間，千里江陵一日還。兩岸猿聲啼不住，輕舟已過萬重山。")
    embed = checked.embeds[0]
    assert embed["title"] == "格律 of a 7-character quatrain"
    assert "Not in the 平水韻 tables, so not judged: 啼." in embed["description"]
    assert "Regular" in embed["description"] and "平仄平平?中仄" not in checked.text()
    assert embed["fields"][2]["value"].startswith("仄仄平平?中仄 (pattern 仄仄平平平仄仄)")


# -- !poem 八言, !blend between favourites, !poem 42 twice -----------------------------------------------
@pytest.mark.parametrize("form", ["八言", "6言", "９言", "10char"])
async def test_a_form_that_is_not_5_or_7_says_the_forms(local, form):
    (sent,) = await local.say(f"!poem {form}")
    assert "The forms are 5 and 7 characters a line (五言, 七言)" in sent.content
    assert await rows(local, Poem) == 0


async def test_blend_alone_takes_the_newest_two_favourites_of_one_form(local):
    await local.say("!poem 1")  # 1: 5 characters
    await local.say("!poem 2 7")  # 2: 7
    await local.say("!poem 3")  # 3: 5
    await local.say("!poem 4 7")  # 4: 7
    for pid in (1, 3, 2):
        await local.say(f"!fav {pid}")
    (blend,) = await local.say("!blend")  # newest: 2 (7), then 3 (5), 1 (5): the two 5s
    assert blend.embeds[0]["title"] == "Blend: 5 steps from #1 to #3"
    await local.say("!fav 4")  # now 4 (7) and 2 (7) are the newest pair of one form
    (blend,) = await local.say("!blend")
    assert blend.embeds[0]["title"] == "Blend: 5 steps from #2 to #4"


async def test_blend_alone_with_one_favourite_of_each_form_says_why(local):
    await local.say("!poem 1")
    await local.say("!poem 2 7")
    await local.say("!fav 1")
    await local.say("!fav 2")
    (sent,) = await local.say("!blend")
    assert "one 5-character and one 7-character poem" in sent.content


async def test_the_same_poem_asked_for_twice_here_is_shown_again_not_saved_twice(places):
    (first,) = await places.say("!poem 42", user_id=2)
    (again,) = await places.say("!poem 42", user_id=2)
    assert pid_of(again) == pid_of(first) == 1 and poem_of(again) == poem_of(first)
    assert again.content == "You have this poem already: #1, shown again."
    assert again.custom_ids == first.custom_ids
    (subject,) = await places.say("!poem 42 月", user_id=2)  # another request: a new poem
    (other_user,) = await places.say("!poem 42", user_id=3)  # someone else's
    (elsewhere,) = await places.say("!poem 42", user_id=2, guild=OTHER_SERVER)  # another place
    assert [pid_of(p) for p in (subject, other_user, elsewhere)] == [2, 3, 4]
    assert await rows(places, Poem) == 4
    await places.say("!delete 1 confirm", user_id=2)
    (anew,) = await places.say("!poem 42", user_id=2)
    assert pid_of(anew) == 5 and poem_of(anew) == poem_of(first) and not anew.content


async def test_the_same_poem_asked_for_again_still_takes_the_cooldown(sqlite_url):
    """The worker wrote it again (the cooldown guards the model's work), so the cooldown holds."""
    async with running_bot(sqlite_url, FakeWorker(), poem_cooldown_s=60) as local:
        await local.say("!poem 42")
        (sent,) = await local.say("!poem 42")
        assert "you can write a poem again in" in sent.content


# -- the slash commands as Discord shows them -----------------------------------------------------------
async def test_every_slash_description_fits_discord_and_ends_cleanly(local):
    """Discord refuses descriptions past 100 characters, and discord.py makes a command's from
    the first line of its help, cut there with …: that line must be the help's whole first
    paragraph (`/top`'s once read "...in a direct"). Every language's text is held to the limit."""
    for command in local.bot.commands:
        if command.help and not command.hidden:
            first = command.help.split("\n\n")[0]
            assert "\n" not in first and len(first) <= 100, (command.name, first)
    (synced,) = await local.say("!sync")
    assert "Synced" in synced.content and local.commands
    texts = []
    for command in local.commands:
        texts += [(command["name"], command["description"])]
        texts += [(command["name"], d) for d in (command.get("description_localizations") or {}).values()]
        for option in command.get("options", []):
            texts += [(f"{command['name']}.{option['name']}", option["description"])]
            texts += [(option["name"], d) for d in (option.get("description_localizations") or {}).values()]
    assert len(texts) > 40
    for where, text in texts:
        assert 0 < len(text) <= 100 and not text.endswith("…"), (where, text)
    top = next(c for c in local.commands if c["name"] == "top")
    assert top["description"] == "The best rated poems here (1 to 25), by Bayesian average."


# -- storage -----------------------------------------------------------------------------------------
async def _poem(sm, user_id=1, guild_id=10, form=5, seed=1, **more) -> int:
    async with sm.begin() as s:
        poem = await repo.create_poem(
            s,
            form=form,
            text="白日依山盡黃河入海流欲窮千里目更上一層樓"
            if form == 5
            else "朝辭白帝彩雲間千里江陵一日還兩岸猿聲啼不住輕舟已過萬重山",
            latent=[0.0],
            kind="written",
            seed=seed,
            options={"t": 0.8},
            model_version="m",
            user_id=user_id,
            guild_id=guild_id,
            **more,
        )
        return poem.id


async def test_deleting_a_poem_leaves_its_children_unlinked_and_others_untouched(db):
    _, sm = db
    a, b = await _poem(sm), await _poem(sm, seed=2)
    child = await _poem(sm, user_id=2, parent_a_id=a, parent_b_id=b)
    async with sm.begin() as s:
        await repo.rate(s, a, repo.Viewer(2, 10), 5)
        await repo.rate(s, b, repo.Viewer(2, 10), 4)
        await repo.add_favourite(s, repo.Viewer(2, 10), a)
    async with sm.begin() as s:
        with pytest.raises(repo.NotYourPoem):
            await repo.delete_poem(s, repo.Viewer(2, 10), a)
        with pytest.raises(repo.UnknownPoem):
            await repo.delete_poem(s, repo.Viewer(2, 11), a)  # not seen in another server
        gone = await repo.delete_poem(s, repo.Viewer(1, None), a)  # its author, anywhere
    assert (gone.poems, gone.ratings, gone.favourites) == (1, 1, 1)
    async with sm() as s:
        kept = await repo.get_poem(s, child, repo.Viewer(2, 10))
        assert (kept.parent_a_id, kept.parent_b_id) == (None, b)
        assert (await repo.rating_summary(s, b)).count == 1
    async with sm.begin() as s:
        with pytest.raises(repo.UnknownPoem):
            await repo.delete_poem(s, repo.Viewer(1, 10), a)


async def test_the_newest_favourites_of_one_form_and_pages_of_lists(db):
    _, sm = db
    five = [await _poem(sm, seed=i) for i in range(3)]
    seven = [await _poem(sm, form=7, seed=i) for i in range(2)]
    me = repo.Viewer(5, 10)
    for pid in (five[0], seven[0], five[1], seven[1]):
        async with sm.begin() as s:
            await repo.add_favourite(s, me, pid)
    async with sm() as s:
        assert [p.id for p in await repo.latest_favourites(s, me)] == seven  # 7s: the newer pair
        assert [p.id for p in await repo.list_favourites(s, me, 2, offset=1)] == [five[1], seven[0]]
        assert [p.id for p in await repo.list_mine(s, repo.Viewer(1, 10), 2, offset=3)] == [five[1], five[0]]
        assert await repo.count_mine(s, repo.Viewer(1, 10)) == 5 and await repo.count_mine(s, repo.Viewer(1, 11)) == 0


# -- in the reader's language ---------------------------------------------------------------------------
@pytest.mark.parametrize("locale", ["zh-TW", "zh-CN"])
async def test_a_chinese_reader_reads_these_commands_in_chinese(sqlite_url, locale):
    from tests.test_language import ENGLISH, _english, _prose, _texts

    async with running_bot(sqlite_url, FakeWorker(), locale=locale) as local:
        sent = []
        for i in range(11):
            sent += await local.say(f"!poem {i}")
            sent += await local.say(f"!fav {i + 1}")
        sent += await local.say("!poem 12 7")  # 12
        for user, typed in [
            (1, "!poem 0"),
            (1, "!poem 八言"),
            (1, f"!check {DENGGUANQUELOU}"),
            (1, "!check 白日依山盡 白河入海流 欲窮千里人 更上高層天"),
            (1, "!check 朝辭白帝彩雲間，千里江陵一日還。兩岸猿聲啼不住，輕舟已過萬重山。"),
            (1, "!check 千山鳥飛絕，萬徑人蹤滅。孤舟蓑笠翁，獨釣寒江雪。"),
            (1, "!check 渭城朝雨浥輕塵，客舍青青柳色新。勸君更盡一杯酒，西出陽關無故人。"),
            (1, "!check 南朝四百八十寺多少樓臺煙雨中千里鶯啼綠映紅水村山郭酒旗風"),
            (1, "!check hello"),
            (1, "!check 白日依山，盡黃河入海流。欲窮千里目，更上一層樓。"),
            (1, "!check 白日依山盡"),
            (1, "!mine"),
            (2, "!mine"),
            (1, "!favs"),
            (2, "!delete 1"),
            (1, "!delete 999"),
            (1, "!delete 12"),
            (1, "!help delete"),
            (1, "!help Yours"),
            (1, "!help"),
        ]:
            replies = await local.say(typed, user_id=user)
            assert replies, typed
            sent += replies
        favs = next(s for s in sent if s.custom_ids[:1] == ["list:favs:1:0:p"])
        asked = next(s for s in sent if s.custom_ids == ["poem:delete:12:1"])
        press = {"locale": locale}
        sent += await local.click(favs.message, "list:favs:1:1:n", user_id=2, **press)
        sent += await local.click(favs.message, "list:favs:1:1:n", **press)
        sent += await local.click(asked.message, "poem:delete:12:1", user_id=2, **press)
        sent += await local.click(asked.message, "poem:delete:12:1", **press)
        (seven,) = await local.say("!poem 30 7", user_id=5)
        await local.say("!fav 1", user_id=5)
        await local.say(f"!fav {seven.embeds[0]['title'].split()[1]}", user_id=5)  # (第 13 號詩)
        for name, options in (("check", {"poem": "白日"}), ("mine", {}), ("delete", {"poem_id": "2"}), ("blend", {})):
            sent += await local.slash(name, options, user_id=5 if name == "blend" else 1, locale=locale)
        descriptions = [e.get("description", "") for s in sent for e in s.embeds]
        assert not _english(sent), _english(sent)
        assert not [d for d in descriptions if ENGLISH.search(_prose(d))]
        chinese = "".join(text for s in sent for text in _texts(s)) + "".join(descriptions)
        tw = locale == "zh-TW"
        for said in (
            "五言絕句格律" if tw else "五言绝句格律",
            "仄起，首句不入韻。" if tw else "仄起，首句不入韵。",
            "孤平：除韻腳外只有「河」一個平聲字" if tw else "孤平：除韵脚外只有“河”一个平声字",
            "失粘" if tw else "失粘",
            "拗救" if tw else "拗救",
            "下一頁 ▶" if tw else "下一页 ▶",
            "這首詩你已經有了" if tw else "这首诗你已经有了",
            "詩體只有五言和七言" if tw else "诗体只有五言和七言",
            "已刪除第 12 號詩" if tw else "已删除第 12 号诗",
            "一首五言、一首七言" if tw else "一首五言、一首七言",
        ):
            assert said in chinese, said


@pytest.mark.parametrize("locale", ["en-US", "zh-TW"])
async def test_slash_help_lists_these_commands_too_within_discords_limit(local, locale):
    (listed,) = [s for s in await local.slash("help", locale=locale) if s.content]
    assert len(listed.content) <= LIMITS["content"] and not listed.content.endswith("…")
    for name in ("poem", "delete", "check", "mine", "favs"):
        assert f"`/{name}`" in listed.content, name
    (one,) = [s for s in await local.slash("help", {"command": "check"}, locale=locale) if s.content]
    assert "`poem`" in one.content and "!check 白日依山盡" in one.content
