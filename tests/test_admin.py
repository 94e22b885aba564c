"""A server's settings (`/config`, Manage Server) and each member's language (`!language`),
through discord.py's own dispatch in the local Discord: members with and without Manage Server,
roles, channels, real SQLite files."""

from __future__ import annotations

from datetime import date

import discord
import pytest
from sqlalchemy import func, select

from bot.local import Picked
from bot.storage import settings as servers
from bot.storage.db import create_engine, session_maker, upgrade
from bot.storage.models import Poem
from tests.fake_worker import FakeWorker
from tests.helpers import running_bot

ADMIN, MEMBER, OTHER = 1, 5, 6  # user 1 owns the local servers (every permission)


@pytest.fixture
async def local(sqlite_url):
    async with running_bot(sqlite_url, FakeWorker(), channels=2) as loc:
        yield loc


async def poems(local) -> int:
    async with local.bot.service.reads() as s:
        return await s.scalar(select(func.count(Poem.id)))


def private(sent) -> list[str]:
    return [s.text() for s in sent if s.ephemeral]


async def test_members_without_manage_server_cannot_change_the_settings_typed_or_slashed(local):
    (typed,) = await local.say("!config cap 3", user_id=MEMBER)
    assert "Manage Server" in typed.content
    (slashed,) = await local.slash("config cap", {"poems": 3}, user_id=MEMBER)
    assert slashed.ephemeral and "Manage Server" in slashed.content
    (refused,) = await local.say("!language server zh-CN", user_id=MEMBER)
    assert "Manage Server" in refused.content
    (shown,) = await local.slash("config show", user_id=ADMIN)
    assert "no limit" in shown.text() and "each member's Discord language" in shown.text()

    managers = local.add_role("managers", discord.Permissions(manage_guild=True))
    local.give_role(OTHER, managers)  # Manage Server through a role
    (done,) = await local.say("!config cap 3", user_id=OTHER)
    assert "3 poems a day" in done.content
    assert "3, from midnight (UTC)" in (await local.slash("config show", user_id=OTHER))[0].text()


async def test_outside_the_chosen_channels_typed_commands_are_ignored_and_slash_ones_told_privately(local):
    chosen = local.channel_id + 1
    (old,) = await local.say("!poem 3", user_id=MEMBER)  # a poem from before, with its buttons
    (added,) = await local.slash("config channels add", {"channel": Picked("channel", chosen)})
    assert added.ephemeral and f"<#{chosen}>" in added.content

    assert await local.say("!poem 4", user_id=MEMBER) == []  # not a word
    assert await local.say("!help", user_id=MEMBER) == []
    (told,) = await local.slash("poem", {"seed": "4"}, user_id=MEMBER)
    assert told.ephemeral and "not let me answer you in this channel" in told.content
    (pressed,) = await local.click(old.message, "poem:reroll:5", user_id=MEMBER)  # ↻ another, on the old poem
    assert pressed.ephemeral and "not let me answer you in this channel" in pressed.content
    assert await poems(local) == 1

    (typed,) = await local.say("!poem 4", user_id=MEMBER, channel=chosen)
    assert typed.embeds[0]["title"] == "Poem #2"
    assert [s for s in await local.slash("poem", {"seed": "5"}, user_id=MEMBER, channel=chosen) if s.embeds]
    assert await poems(local) == 3


async def test_admins_are_never_locked_out_of_config(local):
    chosen = local.channel_id + 1
    await local.slash("config channels add", {"channel": Picked("channel", chosen)})
    await local.slash("config roles add", {"role": Picked("role", local.add_role("poets"))})
    assert await local.say("!poem", user_id=ADMIN) == []  # the rules hold for admins too ...
    (shown,) = await local.say("!config", user_id=ADMIN)  # ... but not for /config
    assert f"<#{chosen}>" in shown.text()
    (freed,) = await local.slash("config channels all", user_id=ADMIN)
    assert "every channel" in freed.content
    assert await local.say("!poem", user_id=MEMBER) == []  # (still not a poet)
    assert (await local.say("!poem", user_id=ADMIN))[0].embeds  # admins need no role


async def test_only_members_of_the_chosen_roles_may_use_the_bot(local):
    poets = local.add_role("poets")
    (added,) = await local.say(f"!config roles add <@&{poets}>")
    assert f"<@&{poets}>" in added.content
    assert await local.say("!poem", user_id=MEMBER) == []
    (told,) = await local.slash("favs", user_id=MEMBER)
    assert told.ephemeral and "not let me answer you" in told.content
    local.give_role(MEMBER, poets)
    assert (await local.say("!poem", user_id=MEMBER))[0].embeds
    (direct,) = await local.say("!poem", user_id=OTHER, guild=None)  # direct messages follow no server's rules
    assert direct.embeds


async def test_a_deleted_channel_keeps_the_bot_quiet_elsewhere_and_is_shown_as_deleted(local):
    room = local.add_channel("poetry-room")
    await local.say(f"!config channels add <#{room}>")
    assert (await local.say("!poem", user_id=MEMBER, channel=room))[0].embeds
    local.delete_channel(room)
    assert await local.say("!poem", user_id=MEMBER) == []  # not everywhere again
    (shown,) = await local.say("!config")
    assert f"<#{room}> (deleted)" in shown.text()


async def test_a_channel_the_bot_cannot_post_in_is_refused(local):
    mute = local.add_channel("announcements", deny_bot=discord.Permissions(send_messages=True))
    (refused,) = await local.say(f"!config channels add <#{mute}>")
    assert "I cannot post in" in refused.content
    (refused,) = await local.slash("config daily set", {"channel": Picked("channel", mute), "hour": 9})
    assert refused.ephemeral and "I cannot post in" in refused.content
    assert "every channel" in (await local.say("!config"))[0].text()


@pytest.mark.parametrize(
    "command, reply",
    [
        ("!config daily set <#{channel}> 25", "`hour` must be from 0 to 23 (not 25)"),
        ("!config daily set <#{channel}> -1", "`hour` must be from 0 to 23"),
        ("!config daily set nowhere 9", "There is no channel or role “nowhere” here"),
        ("!config timezone Mars/Olympus_Mons", "not a time zone I know"),
        ("!config timezone ../../etc/passwd", "not a time zone I know"),
        ("!config cooldown poem 99999", "`seconds` must be from 0 to 3600"),
        ("!config cooldown lunch 5", "A cooldown is for poem or blend"),
        ("!config cap 100000", "`poems` must be from 0 to 1000"),
        ("!config cards maybe", "Cards are on or off"),
        ("!config roles add @everyone", "That role is everyone"),
        ("!language klingon", "I know these languages"),
    ],
)
async def test_hostile_settings_are_refused_and_change_nothing(local, command, reply):
    (before,) = await local.say("!config")
    (refused,) = await local.say(command.format(channel=local.channel_id))
    assert reply in refused.content, refused.content
    (after,) = await local.say("!config")
    assert after.text() == before.text()


async def test_config_in_direct_messages_says_it_is_for_servers(local):
    (said,) = await local.say("!config", user_id=ADMIN, guild=None)
    assert "for servers" in said.content


async def test_a_time_zone_is_read_in_any_case_and_shown(local):
    (said,) = await local.say("!config timezone asia/taipei")
    assert "Asia/Taipei" in said.content
    assert "Asia/Taipei" in (await local.say("!config"))[0].text()


async def test_a_servers_own_cooldown_holds_there_and_not_in_another_server(sqlite_url):
    async with running_bot(sqlite_url, FakeWorker(), guilds=2) as local:
        (set_,) = await local.slash("config cooldown", {"action": "poem", "seconds": 600})
        assert "600 s" in set_.content
        assert (await local.say("!poem", user_id=MEMBER))[0].embeds
        (waiting,) = await local.say("!poem", user_id=MEMBER)
        assert "Easy, poet" in waiting.content
        (told,) = await local.slash("poem", user_id=MEMBER)
        assert told.ephemeral and "Easy, poet" in told.content
        assert (await local.say("!poem", user_id=MEMBER, guild=1))[0].embeds  # the other server: the bot's (none)
        assert (await local.say("!poem", user_id=OTHER))[0].embeds  # another member
        await local.slash("config cooldown", {"action": "poem"})  # back to the bot's default (none here)
        assert (await local.say("!poem", user_id=MEMBER))[0].embeds


async def test_the_daily_cap_counts_a_members_poems_in_that_server(sqlite_url):
    async with running_bot(sqlite_url, FakeWorker(), guilds=2) as local:
        await local.say("!config cap 2")
        assert (await local.say("!poem 1", user_id=MEMBER))[0].embeds
        (refused,) = await local.say("!poem 月亮湖", user_id=MEMBER)  # the model refuses it: not counted
        assert "cannot write that poem" in refused.content
        assert [s for s in await local.slash("vary", {"poem_id": "1"}, user_id=MEMBER) if s.embeds]
        (capped,) = await local.say("!poem 3", user_id=MEMBER)
        assert "You have had 2 poems here today, this server's limit" in capped.content
        (told,) = await local.slash("poem", user_id=MEMBER)
        assert told.ephemeral and "this server's limit" in told.content
        (blend,) = await local.say("!blend 1 2", user_id=MEMBER)
        assert "this server's limit" in blend.content
        assert (await local.say("!poem 3", user_id=OTHER))[0].embeds  # another member
        assert (await local.say("!poem 3", user_id=MEMBER, guild=1))[0].embeds  # another server
        assert (await local.say("!poem 3", user_id=MEMBER, guild=None))[0].embeds  # direct messages
        await local.say("!forgetme confirm", user_id=MEMBER)  # their counts go with them
        assert (await local.say("!poem 3", user_id=MEMBER))[0].embeds


async def test_the_cap_is_counted_per_day_and_never_past_it_at_once(db):
    _, sessions = db
    async with sessions.begin() as s:
        assert [await servers.count_poem(s, MEMBER, 10, date(2026, 3, 1), 2) for _ in range(3)] == [True, True, False]
        assert await servers.count_poem(s, MEMBER, 10, date(2026, 3, 2), 2)  # a new day
        assert await servers.count_poem(s, MEMBER, 11, date(2026, 3, 2), 2)  # another server
        await servers.uncount_poem(s, MEMBER, 10, date(2026, 3, 2))
        assert await servers.poems_on(s, MEMBER, 10, date(2026, 3, 2)) == 0
        assert await servers.poems_on(s, MEMBER, 10, date(2026, 2, 28)) == 0


async def test_cards_follow_the_servers_default_unless_the_member_chose(local):
    (card,) = await local.say("!poem 1", user_id=MEMBER)
    if not card.files:
        pytest.skip("no CJK font here: poems come without cards")
    await local.say("!config cards off")
    (plain,) = await local.say("!poem 2", user_id=MEMBER)
    assert not plain.files
    await local.say("!cards on", user_id=MEMBER)
    assert (await local.say("!poem 3", user_id=MEMBER))[0].files


# -- languages -----------------------------------------------------------------------------------
async def test_a_members_language_beats_the_servers_default(local):
    (said,) = await local.say("!language server zh-CN", user_id=ADMIN)
    assert "简体中文" in said.text()
    (zh,) = await local.say("!rate 99 3", user_id=MEMBER)
    assert "没有" in zh.content and "There is no poem" not in zh.content
    await local.say("!language en", user_id=MEMBER)
    (en,) = await local.say("!rate 99 3", user_id=MEMBER)
    assert en.content == "There is no poem #99."
    (why,) = await local.say("!language", user_id=MEMBER)
    assert "English: you chose it" in why.content and "default is 简体中文" in why.content
    (why,) = await local.say("!language", user_id=OTHER)
    assert "服务器" in why.content  # the server's default, said in it


async def test_direct_messages_follow_the_members_language(local):
    await local.say("!language zh-TW", user_id=MEMBER)
    (typed,) = await local.say("!rate 99 3", user_id=MEMBER, guild=None)
    assert "沒有" in typed.content
    (slashed,) = await local.slash("rate", {"poem_id": "99", "stars": "3"}, user_id=MEMBER, guild=None)
    assert "沒有" in slashed.content  # their choice beats their client's (en-US)
    await local.say("!language auto", user_id=MEMBER)
    (auto,) = await local.say("!rate 99 3", user_id=MEMBER, guild=None)
    assert auto.content == "There is no poem #99."


async def test_without_a_choice_a_slash_command_follows_the_client_and_a_typed_one_the_server(sqlite_url):
    async with running_bot(sqlite_url, FakeWorker(), locale="zh-TW") as local:
        (typed,) = await local.say("!rate 99 3", user_id=MEMBER)
        assert "沒有" in typed.content
        (slashed,) = await local.slash("rate", {"poem_id": "99", "stars": "3"}, user_id=MEMBER, locale="zh-CN")
        assert "没有" in slashed.content
        (why,) = await local.say("!language", user_id=MEMBER)
        assert "繁體中文" in why.content


async def test_forgetme_forgets_a_members_language(local):
    await local.say("!language zh-TW", user_id=MEMBER)
    await local.say("!forgetme confirm", user_id=MEMBER)
    (en,) = await local.say("!rate 99 3", user_id=MEMBER)
    assert en.content == "There is no poem #99."


async def test_settings_survive_a_restart(sqlite_url):
    async with running_bot(sqlite_url, FakeWorker(), channels=1) as local:
        await local.say("!language zh-TW", user_id=MEMBER)
        await local.say(f"!config channels add <#{local.channel_id + 1}>")
    async with running_bot(sqlite_url, FakeWorker(), channels=1) as local:
        assert await local.say("!poem", user_id=MEMBER) == []
        (zh,) = await local.say("!rate 99 3", user_id=MEMBER, channel=local.channel_id + 1)
        assert "沒有" in zh.content


async def test_upgrading_keeps_who_turned_cards_off_and_lets_the_rest_follow_their_server(tmp_path):
    """Migration 0007: a member's cards setting becomes None unless they had turned cards off."""
    from sqlalchemy import text

    from bot.storage import repo
    from bot.storage.db import downgrade

    eng = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.sqlite3'}")
    await upgrade(eng, "0006")
    async with eng.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO user_preference (user_id, script, cards, updated_at) VALUES (1, 'simplified', 1, '2026-01-01'), (2, NULL, 0, '2026-01-01')"
            )
        )
    await upgrade(eng)
    sessions = session_maker(eng)
    async with sessions() as s:
        assert await repo.preferences(s, 1, default_cards=False) == ("simplified", False)  # the server's
        assert await repo.preferences(s, 2, default_cards=True) == ("traditional", False)  # their own
    await downgrade(eng, "0006")
    await upgrade(eng)
    await eng.dispose()


async def test_slash_language_sets_the_members_and_an_admins_server_default(local):
    (said,) = await local.slash("language", {"language": "zh-CN"}, user_id=MEMBER)
    assert said.ephemeral and said.content.startswith("之后我会用简体中文")  # (said in it already)
    (refused,) = await local.slash("language", {"language": "zh-TW", "scope": "server"}, user_id=OTHER)
    assert refused.ephemeral and "Manage Server" in refused.content
    (done,) = await local.slash("language", {"language": "zh-TW", "scope": "server"}, user_id=ADMIN)
    assert done.ephemeral and "繁體中文" in done.content
    (zh,) = await local.say("!rate 99 3", user_id=OTHER)
    assert "沒有" in zh.content
