"""Storage on a real SQLite file and a real PostgreSQL server."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from bot.storage import repo
from bot.storage.db import create_engine, downgrade, session_maker, upgrade
from bot.storage.models import Base

LATENT = [0.5, -1.25, 3.0]
GUILD = 10  # the server make_poem writes in


def at(user_id: int, guild_id: int | None = GUILD) -> repo.Viewer:
    """A user in the test server, or (guild_id None) in their direct messages."""
    return repo.Viewer(user_id, guild_id)


async def make_poem(sm, user_id=1, guild_id=GUILD, text="白日依山盡黃河入海流欲窮千里目更上一層樓", seed=42):
    async with sm.begin() as s:
        poem = await repo.create_poem(
            s,
            form=5,
            text=text,
            latent=LATENT,
            kind="written",
            seed=seed,
            options={"rhyme": True},
            model_version="test-1",
            user_id=user_id,
            guild_id=guild_id,
        )
        return poem.id


async def test_models_and_migrations_agree_and_both_directions_run(db_url):
    eng = create_engine(db_url)
    await upgrade(eng)
    async with eng.connect() as conn:
        diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata))
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert diff == [], f"models and migrations disagree: {diff}"
    assert {"poem", "rating", "favourite", "user_preference"} <= tables
    await downgrade(eng, "base")
    async with eng.connect() as conn:
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert tables <= {"alembic_version"}
    await upgrade(eng)  # and back up again
    await eng.dispose()


async def test_a_poem_keeps_its_latent_seed_and_blend_parents(db):
    _, sm = db
    a, b = await make_poem(sm), await make_poem(sm, seed=2**63 - 1)
    async with sm.begin() as s:
        child = await repo.create_poem(
            s,
            form=5,
            text="x" * 20,
            latent=LATENT,
            kind="blend",
            seed=0,
            options={},
            model_version="test-1",
            user_id=2,
            parent_a_id=a,
            parent_b_id=b,
            blend_position=0.5,
        )
    async with sm() as s:
        got = await repo.get_poem(s, child.id, at(2))
        assert (got.parent_a_id, got.parent_b_id, got.blend_position) == (a, b, 0.5)
        assert repo.unpack_latent(got.latent) == LATENT
        assert (await repo.get_poem(s, b, at(1))).seed == 2**63 - 1


async def test_rating_again_updates_the_one_rating(db):
    _, sm = db
    pid = await make_poem(sm)
    async with sm.begin() as s:
        await repo.rate(s, pid, at(7), 2)
    async with sm.begin() as s:
        await repo.rate(s, pid, at(7), 5)
    async with sm() as s:
        summary = await repo.rating_summary(s, pid)
        assert (summary.count, summary.mean) == (1, 5.0)


async def test_100_users_rating_10_poems_concurrently_keep_all_1000_ratings(db):
    _, sm = db
    poems = [await make_poem(sm, seed=i) for i in range(10)]

    async def user(uid: int):
        for pid in poems:
            async with sm.begin() as s:
                await repo.rate(s, pid, at(uid), 1 + (uid + pid) % 5)

    await asyncio.gather(*(user(uid) for uid in range(100)))
    async with sm() as s:
        assert await repo.count_ratings(s) == 1000
    await asyncio.gather(*(user(uid) for uid in range(100)))  # everyone rates again: updates, not rows
    async with sm() as s:
        assert await repo.count_ratings(s) == 1000
        assert (await repo.rating_summary(s, poems[0])).count == 100


async def test_everything_survives_disposing_and_reopening_the_database(db_url):
    eng = create_engine(db_url)
    await upgrade(eng)
    sm = session_maker(eng)
    pid = await make_poem(sm)
    async with sm.begin() as s:
        await repo.rate(s, pid, at(5), 4)
        await repo.add_favourite(s, at(5), pid)
        await repo.set_script(s, 5, "simplified")
    await eng.dispose()

    eng = create_engine(db_url)
    await upgrade(eng)  # a restart runs migrations again: a no-op
    sm = session_maker(eng)
    async with sm() as s:
        assert (await repo.get_poem(s, pid, at(1))).text.startswith("白日")
        assert (await repo.rating_summary(s, pid)).mean == 4.0
        assert [p.id for p in await repo.list_favourites(s, at(5))] == [pid]
        assert (await repo.preferences(s, 5))[0] == "simplified"
    await eng.dispose()


@pytest.mark.parametrize("stars", [0, 6, -1, True, 2.5])
async def test_bad_stars_are_refused_and_change_nothing(db, stars):
    _, sm = db
    pid = await make_poem(sm)
    with pytest.raises(repo.InvalidStars):
        async with sm.begin() as s:
            await repo.rate(s, pid, at(1), stars)
    async with sm() as s:
        assert await repo.count_ratings(s) == 0


async def test_unknown_poems_and_favourites_raise_clear_errors_and_change_nothing(db):
    _, sm = db
    pid = await make_poem(sm)
    for call in (
        lambda s: repo.rate(s, 999, at(1), 3),
        lambda s: repo.add_favourite(s, at(1), 999),
        lambda s: repo.get_poem(s, 999, at(1)),
        lambda s: repo.rating_summary(s, 999),
    ):
        with pytest.raises(repo.UnknownPoem, match="no poem 999"):
            async with sm.begin() as s:
                await call(s)
    with pytest.raises(repo.NotFavourite):  # a user who never favourited anything
        async with sm.begin() as s:
            await repo.remove_favourite(s, at(12345), pid)
    with pytest.raises(repo.NotEnoughFavourites, match="0 favourites, 2 needed"):
        async with sm() as s:
            await repo.latest_favourites(s, at(12345))
    async with sm.begin() as s:
        await repo.add_favourite(s, at(1), pid)
    with pytest.raises(repo.AlreadyFavourite, match="already"):
        async with sm.begin() as s:
            await repo.add_favourite(s, at(1), pid)
    with pytest.raises(repo.InvalidScript):
        async with sm.begin() as s:
            await repo.set_script(s, 1, "klingon")
    async with sm() as s:
        assert [p.id for p in await repo.list_favourites(s, at(1))] == [pid]
        assert await repo.count_ratings(s) == 0
        assert (await repo.preferences(s, 1))[0] == "traditional"


async def test_latest_two_favourites_are_the_newest_two(db):
    _, sm = db
    ids = [await make_poem(sm, seed=i) for i in range(3)]
    for pid in ids:
        async with sm.begin() as s:
            await repo.add_favourite(s, at(9), pid)
    async with sm() as s:
        assert [p.id for p in await repo.latest_favourites(s, at(9))] == ids[1:]


async def test_the_leaderboard_does_not_let_one_five_star_vote_beat_twenty_high_votes(db):
    _, sm = db
    lone, crowd, poor = [await make_poem(sm, seed=i) for i in range(3)]
    elsewhere = await make_poem(sm, guild_id=99)
    async with sm.begin() as s:
        await repo.rate(s, lone, at(1), 5)  # one 5-star vote
        for uid in range(20):  # twenty votes averaging 4.8
            await repo.rate(s, crowd, at(uid), 4 if uid < 4 else 5)
        for uid in range(3):
            await repo.rate(s, poor, at(uid), 1)
        await repo.rate(s, elsewhere, at(1), 5)
    async with sm() as s:
        top = await repo.top_poems(s, at(1))
    assert [r.poem.id for r in top] == [crowd, lone, poor]
    assert top[0].count == 20 and top[0].mean == pytest.approx(4.8)
    # the server's mean is 104 stars / 24 votes; the lone vote is pulled towards it
    m = 104 / 24
    assert top[1].score == pytest.approx((5 * m + 5) / 6)
    assert top[0].score == pytest.approx((5 * m + 96) / 25)


async def test_a_poem_whose_parent_vanished_meanwhile_is_saved_without_the_link(db):
    """`!forgetme confirm` by a poem's owner while someone's variation of it is being written."""
    _, sm = db
    parent, other = await make_poem(sm, user_id=1), await make_poem(sm, user_id=2)
    async with sm.begin() as s:
        await repo.forget_user(s, 1)
    async with sm.begin() as s:
        child = await repo.create_poem(
            s,
            form=5,
            text="白日依山盡黃河入海流欲窮千里目更上一層樓",
            latent=LATENT,
            kind="variation",
            seed=3,
            options={},
            model_version="test-1",
            user_id=2,
            parent_a_id=parent,
            parent_b_id=other,
        )
        cid = child.id
    async with sm() as s:
        saved = await repo.get_poem(s, cid, at(2))
        assert (saved.parent_a_id, saved.parent_b_id) == (None, other)


async def test_rating_or_keeping_a_poem_deleted_meanwhile_says_it_is_gone(db, db_url):
    """PostgreSQL lets !forgetme commit between a rating's check and its insert (SQLite's
    writers take turns, so the race cannot happen there)."""
    if db_url.startswith("sqlite"):
        pytest.skip("SQLite serialises writers: no such race")
    _, sm = db
    pid = await make_poem(sm, user_id=1)
    for act in (lambda s: repo.rate(s, pid, at(2), 5), lambda s: repo.add_favourite(s, at(2), pid)):
        async with sm() as s:
            async with s.begin():
                await repo.get_poem(s, pid, at(1))  # the check passes...
                async with sm.begin() as other:  # ...the owner's !forgetme commits...
                    await repo.forget_user(other, 1)
                with pytest.raises(repo.UnknownPoem):  # ...and the insert is told the poem is gone
                    await act(s)
        pid = await make_poem(sm, user_id=1)


async def test_the_leaderboard_in_direct_messages_shows_only_your_own_poems(db):
    _, sm = db
    mine = await make_poem(sm, user_id=1, guild_id=None)
    theirs = await make_poem(sm, user_id=2, guild_id=None)
    async with sm.begin() as s:
        await repo.rate(s, mine, at(1), 3)
        await repo.rate(s, theirs, at(2), 5)
    async with sm() as s:
        assert [r.poem.id for r in await repo.top_poems(s, at(1, None))] == [mine]
        assert [r.poem.id for r in await repo.top_poems(s, at(2, None))] == [theirs]
        assert await repo.top_poems(s, at(3, None)) == []
        # the board's mean is the owner's own ratings too, not every direct message's
        assert (await repo.rating_summary(s, mine)).score == pytest.approx(3.0)


async def test_forgetme_deletes_what_a_user_made_and_said_and_nothing_else(db):
    _, sm = db
    mine, theirs = await make_poem(sm, user_id=1), await make_poem(sm, user_id=2)
    async with sm.begin() as s:
        await repo.rate(s, theirs, at(1), 5)
        await repo.rate(s, mine, at(2), 4)
        await repo.rate(s, theirs, at(2), 3)
        await repo.add_favourite(s, at(1), theirs)
        await repo.add_favourite(s, at(2), theirs)
        await repo.set_script(s, 1, "simplified")
    async with sm.begin() as s:
        gone = await repo.forget_user(s, 1)
    assert (gone.poems, gone.ratings, gone.favourites) == (1, 1, 1)
    async with sm() as s:
        with pytest.raises(repo.UnknownPoem):
            await repo.get_poem(s, mine, at(1))
        assert (await repo.rating_summary(s, theirs)).count == 1
        assert [p.id for p in await repo.list_favourites(s, at(2))] == [theirs]
        assert (await repo.preferences(s, 1))[0] == "traditional"


async def test_a_deleted_poems_id_is_never_given_to_a_new_poem(db):
    # an old message's rating button carries the id: a reused id would rate someone else's poem
    _, sm = db
    first = await make_poem(sm, user_id=1)
    top = await make_poem(sm, user_id=1)
    async with sm.begin() as s:
        await repo.forget_user(s, 1)
    newer = await make_poem(sm, user_id=2)
    assert newer not in (first, top) and newer > top
    async with sm.begin() as s:
        with pytest.raises(repo.UnknownPoem):
            await repo.rate(s, top, at(3), 5)  # the old button says the poem is gone
    async with sm() as s:
        assert await repo.count_ratings(s) == 0


OLD_POEM = sa.table(  # the poem table before revision 0005 (a temperature column; no kind)
    "poem",
    *(sa.column(c) for c in ("form", "text", "seed", "temperature", "model_version", "user_id", "guild_id")),
    *(sa.column(c) for c in ("parent_a_id", "parent_b_id", "blend_position")),
    sa.column("latent", sa.LargeBinary),
    sa.column("options", sa.JSON),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


async def old_poem(
    sm, user_id: int, seed=None, options=None, parent_a_id=None, parent_b_id=None, blend_position=None
) -> int:
    """A poem as the code before revision 0005 saved it."""
    from bot.storage.models import utcnow

    async with sm.begin() as s:
        result = await s.execute(
            sa.insert(OLD_POEM).values(
                form=5,
                text="白日依山盡黃河入海流欲窮千里目更上一層樓",
                latent=repo.pack_latent(LATENT),
                seed=seed,
                temperature=0.8,
                options=options or {},
                model_version="test-1",
                user_id=user_id,
                guild_id=10,
                parent_a_id=parent_a_id,
                parent_b_id=parent_b_id,
                blend_position=blend_position,
                created_at=utcnow(),
            )
        )
        return result.lastrowid


async def test_upgrading_a_database_from_the_first_schema_keeps_every_poem_rating_and_favourite(tmp_path):
    from types import SimpleNamespace

    from sqlalchemy import text

    eng = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.sqlite3'}")
    await upgrade(eng, "0001")
    sm = session_maker(eng)
    ids = [await old_poem(sm, user_id=u, seed=u) for u in range(1, 6)]
    child = SimpleNamespace(id=await old_poem(sm, 9, None, {"blend_seed": 0}, ids[0], ids[1], 0.25))
    async with eng.begin() as conn:  # as the first schema's code saved them
        for u in range(1, 6):
            for pid in ids:
                await conn.execute(
                    sa.text(
                        "INSERT INTO rating (poem_id, user_id, stars, created_at, updated_at) "
                        "VALUES (:p, :u, :s, '2026-11-25', '2026-11-25')"
                    ),
                    {"p": pid, "u": u, "s": 1 + (u + pid) % 5},
                )
            await conn.execute(
                sa.text("INSERT INTO favourite (user_id, poem_id, created_at) VALUES (:u, :p, '2026-11-25')"),
                {"u": u, "p": ids[-1]},
            )
    await eng.dispose()

    eng = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.sqlite3'}")
    await upgrade(eng)
    sm = session_maker(eng)
    async with sm() as s:
        assert await repo.count_ratings(s) == 25
        assert [p.id for p in await repo.list_favourites(s, at(3))] == [ids[-1]]
        got = await repo.get_poem(s, child.id, at(1))
        assert (got.parent_a_id, got.parent_b_id, got.blend_position) == (ids[0], ids[1], 0.25)
        assert (await s.execute(text("PRAGMA foreign_key_check"))).all() == []
        assert (await s.execute(text("PRAGMA foreign_keys"))).scalar() == 1  # back on for the app
    async with sm.begin() as s:
        await repo.forget_user(s, 9)  # the newest poem goes; its id must not come back
        await repo.forget_user(s, 5)
    async with sm() as s:
        assert await repo.count_ratings(s) == 16  # user 5's ratings and the ratings of poem ids[4]
    assert await make_poem(sm, user_id=7) == child.id + 1
    await eng.dispose()


async def test_old_poems_learn_what_they_are_and_a_variation_of_a_deleted_poem_says_so(tmp_path):
    """Revision 0005: each poem saved before gets its kind and its kind's seed from what it
    held; afterwards the footer of a variation whose parent was deleted reads as one (it read
    "blend of a text and a text"), and no deleted poem's id comes back after the rebuild."""
    from bot.shown import show

    eng = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.sqlite3'}")
    await upgrade(eng, "0004")
    sm = session_maker(eng)
    parent = await old_poem(sm, 1, seed=5)
    other = await old_poem(sm, 2, seed=6)
    made = {
        "variation": await old_poem(sm, 3, None, {"vary_seed": 7}, parent),
        "legacy variation": await old_poem(sm, 3, None, {}, parent),
        "rewrite": await old_poem(sm, 3, None, {"rewritten_line": 2, "rewrite_seed": 9}, parent),
        "favourites": await old_poem(sm, 3, None, {"favourites_seed": 11, "t": 0.5}, parent, other, 0.5),
        "blend": await old_poem(sm, 3, None, {"blend_seed": 0}, parent, other, 0.25),
    }
    top = await old_poem(sm, 4, seed=99)
    async with eng.begin() as conn:  # the newest poem goes before the upgrade
        await conn.execute(sa.text("DELETE FROM poem WHERE user_id = 4"))
    await upgrade(eng)
    async with sm() as s:
        got = {name: await repo.get_poem(s, pid, at(1)) for name, pid in made.items()}
        first = await repo.get_poem(s, parent, at(1))
    assert (first.kind, first.seed) == ("written", 5)
    assert {n: (p.kind, p.seed) for n, p in got.items()} == {
        "variation": ("variation", 7),
        "legacy variation": ("variation", None),
        "rewrite": ("rewrite", 9),
        "favourites": ("favourites", 11),
        "blend": ("blend", 0),
    }
    assert str(show(got["variation"]).origin) == f"variation of #{parent}"
    async with sm.begin() as s:
        await repo.forget_user(s, 1)  # the parent's owner leaves
    async with sm() as s:
        origins = {n: str(show(await repo.get_poem(s, pid, at(1))).origin) for n, pid in made.items()}
    assert origins["variation"] == "variation of a deleted poem"
    assert origins["rewrite"] == "line 2 rewritten from a deleted poem"
    assert origins["favourites"] == f"from favourites #{other}, seed 11"
    assert await make_poem(sm, user_id=7) > top, "a deleted poem's id is never handed out again"
    await downgrade(eng, "0004")  # and back: the seeds go where the older code reads them
    async with eng.connect() as conn:
        rows = dict((await conn.execute(sa.text("SELECT id, options FROM poem"))).all())
    assert '"vary_seed": 7' in rows[made["variation"]]
    await eng.dispose()


async def test_reading_never_waits_for_a_writer_on_sqlite(sqlite_url):
    """Under WAL a reader need not wait for a writer: `!favs`, `!show` and `!top` answer
    while another command holds the write lock (they used to queue behind it)."""
    import asyncio

    from bot.service import PoemService
    from bot.settings import Settings

    eng = create_engine(sqlite_url)
    await upgrade(eng)
    sm = session_maker(eng)
    pid = await make_poem(sm, user_id=1)
    async with sm.begin() as s:
        await repo.add_favourite(s, at(1), pid)
    service = PoemService(sm, worker=None, settings=Settings(database_url=sqlite_url))
    async with sm.begin() as writer:  # a write transaction held open (the write lock taken)
        await repo.rate(writer, pid, at(2), 4)
        favs = await asyncio.wait_for(service.favourites(at(1)), 3)
        shown, summary = await asyncio.wait_for(service.get(at(1), pid), 3)
    assert [p.id for p in favs] == [pid] and shown.id == pid and summary.count == 0  # (not yet committed)
    assert (await service.get(at(1), pid))[1].count == 1
    await eng.dispose()


async def test_a_cooldown_holds_across_bot_processes_and_only_one_of_two_at_once_starts_it(db_url):
    """Two bot processes (shards) on one database: a user's cooldown started on one holds on
    the other, and when both try at the same moment exactly one starts it."""
    import asyncio

    from bot.jobs import Cooldowns, OnCooldown

    eng_a, eng_b = create_engine(db_url), create_engine(db_url)
    await upgrade(eng_a)
    a = Cooldowns(60, "poem", session_maker(eng_a))
    b = Cooldowns(60, "poem", session_maker(eng_b))
    await a.hit(1)
    with pytest.raises(OnCooldown) as told:
        await b.hit(1)
    assert 55 < told.value.retry_after <= 60
    with pytest.raises(OnCooldown):
        await b.check(1)
    await b.check(2)  # another user is free
    results = await asyncio.gather(*(c.hit(u) for u in range(10, 30) for c in (a, b)), return_exceptions=True)
    started = [r for r in results if r is None]
    assert len(started) == 20 and all(isinstance(r, OnCooldown) for r in results if r is not None)
    await a.refund(1)  # a request the workers were too busy to serve spends nothing
    await b.hit(1)
    await eng_a.dispose()
    await eng_b.dispose()


async def test_a_poem_is_found_only_where_it_was_written_and_by_its_author_anywhere(db):
    """The rule `repo.visible_to` states, through every lookup by id and every list."""
    _, sm = db
    here = await make_poem(sm, user_id=1, guild_id=GUILD)
    private = await make_poem(sm, user_id=1, guild_id=None)  # written in user 1's direct messages
    for pid, viewer in ((here, at(2)), (here, at(1, 11)), (here, at(1, None)), (private, at(1, 11))):
        async with sm() as s:
            assert (await repo.get_poem(s, pid, viewer)).id == pid
    async with sm.begin() as s:
        await repo.add_favourite(s, at(2), here)
    for pid, viewer in ((here, at(2, 11)), (here, at(2, None)), (private, at(2)), (private, at(2, None))):
        for act in (
            lambda s: repo.get_poem(s, pid, viewer),
            lambda s: repo.rate(s, pid, viewer, 5),
            lambda s: repo.add_favourite(s, viewer, pid),
        ):
            with pytest.raises(repo.UnknownPoem, match=f"no poem {pid}$"):  # as for an id never used
                async with sm.begin() as s:
                    await act(s)
    with pytest.raises(repo.NotFavourite):
        async with sm.begin() as s:
            await repo.remove_favourite(s, at(2, 11), here)  # kept in another server: not here
    async with sm() as s:
        assert [p.id for p in await repo.list_favourites(s, at(2))] == [here]
        assert await repo.list_favourites(s, at(2, 11)) == [] and await repo.count_favourites(s, at(2, 11)) == 0
        assert await repo.count_favourites(s, at(2)) == 1 and await repo.count_ratings(s) == 0
    async with sm.begin() as s:
        await repo.rate(s, private, at(1, GUILD), 5)  # its author may rate it anywhere ...
    async with sm() as s:
        assert await repo.top_poems(s, at(2)) == [], "... but it never joins another place's board"
        assert [r.poem.id for r in await repo.top_poems(s, at(1, None))] == [private]


async def test_a_job_whose_user_is_forgotten_meanwhile_is_told_so_and_others_are_not(db):
    """`!forgetme` ends the user's jobs in flight: the save of what such a job wrote is told
    to drop it (`end_job` is False); other users' jobs, and the user's later ones, end as usual."""
    _, sm = db
    async with sm.begin() as s:
        mine, theirs = await repo.start_job(s, 1), await repo.start_job(s, 2)
    async with sm.begin() as s:
        await repo.forget_user(s, 1)
    async with sm.begin() as s:
        assert not await repo.end_job(s, 1, mine)
        assert await repo.end_job(s, 2, theirs)
        later = await repo.start_job(s, 1)
    async with sm.begin() as s:
        assert await repo.end_job(s, 1, later)
        assert not await repo.end_job(s, 1, later), "a mark ends once"
        assert await repo.cooldown_left(s, 1, "poem") == 0, "a mark is no cooldown"


async def test_a_cooldown_is_timed_by_the_databases_clock_and_never_longer_than_itself(db_url, monkeypatch):
    """A process whose clock runs an hour ahead neither stretches a user's cooldown for the
    others (every time is the database's) nor is cut short by them; and a row that one left
    before this rule (ending an hour from now) neither shows a wait past the cooldown nor
    holds the user back."""
    from datetime import UTC, datetime, timedelta

    from bot.jobs import Cooldowns, OnCooldown
    from bot.storage import models, preferences, ratings
    from bot.storage import settings as servers

    eng = create_engine(db_url)
    await upgrade(eng)
    sm = session_maker(eng)
    cooldowns = Cooldowns(60, "poem", sm)
    for patched in (models, preferences, ratings, servers):  # every reader of the process's clock
        monkeypatch.setattr(patched, "utcnow", lambda: datetime.now(UTC) + timedelta(hours=1))
    await cooldowns.hit(1)  # taken by the process an hour ahead ...
    monkeypatch.undo()
    with pytest.raises(OnCooldown) as told:  # ... holds for a minute on the right one
        await cooldowns.check(1)
    assert 55 < told.value.retry_after <= 60
    async with sm.begin() as s:
        now = await repo.database_now(s)
        assert abs((now - datetime.now(UTC)).total_seconds()) < 5, "(this machine's clock is right)"
        s.add(models.Cooldown(user_id=2, action="poem", until_at=now + timedelta(hours=1)))
    await cooldowns.check(2)  # a cooldown of 60 s cannot have an hour left
    await cooldowns.hit(2)
    with pytest.raises(OnCooldown) as told:
        await cooldowns.hit(2)
    assert 55 < told.value.retry_after <= 60
    await eng.dispose()
