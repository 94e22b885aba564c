"""Start-up with settings that cannot work: one clear line naming the setting, exit status 2,
and nothing written. Run as a user would: `python -m bot` in a fresh process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import discord
import pytest

import bot.__main__ as cli
from bot.settings import ConfigError, Settings
from tests.helpers import needs_model

ROOT = Path(__file__).resolve().parents[1]


def start(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("POEMBOT_", "DATABASE_URL", "WORKER_URL", "DISCORD_TOKEN"))
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", "--console"],
        cwd=ROOT,
        input="",
        text=True,
        capture_output=True,
        timeout=120,
        env={**clean, "POEMBOT_DATA_DIR": str(tmp_path / "data"), **env},
    )


@pytest.mark.parametrize(
    "env, names",
    [
        ({"POEMBOT_POEM_COOLDOWN_S": "5s"}, "POEMBOT_POEM_COOLDOWN_S must be a number of seconds"),
        ({"POEMBOT_BLEND_COOLDOWN_S": "inf"}, "POEMBOT_BLEND_COOLDOWN_S"),
        ({"POEMBOT_MAX_IN_FLIGHT": "0"}, "POEMBOT_MAX_IN_FLIGHT must be a whole number"),
        ({"DATABASE_URL": "nonsense"}, "DATABASE_URL is not a database URL"),
        ({"DATABASE_URL": "sqlite+aiosqlite:///"}, "DATABASE_URL names no file"),
        ({"DATABASE_URL": "sqlite:///data/x.sqlite3"}, "must use sqlite+aiosqlite://"),
        # Heroku's and libpq's spellings: the async driver named, and the URL to write (its password hidden)
        (
            {"DATABASE_URL": "postgres://u:secret@db:5432/poems"},
            "DATABASE_URL must use postgresql+asyncpg:// (the async driver the bot has), not postgres://: "
            "write postgresql+asyncpg://u:***@db:5432/poems",
        ),
        ({"DATABASE_URL": "postgresql://u:secret@db/poems"}, "not postgresql://: write postgresql+asyncpg://"),
        ({"DATABASE_URL": "mysql+aiomysql://u:secret@db/poems"}, "not mysql+aiomysql://"),
        ({"DATABASE_URL": "postgresql+asyncpg://u:secret@127.0.0.1:1/db"}, "DATABASE_URL: cannot open the database"),
        ({"WORKER_URL": "not a url"}, "WORKER_URL must be the worker's http:// address"),
        ({"WORKER_URL": "ftp://worker"}, "WORKER_URL must be the worker's http:// address"),
        ({"WORKER_URL": "http://worker:0"}, "WORKER_URL must be the worker's http:// address"),
        ({"WORKER_URL": "http://a:8500,,http://b:8500"}, "WORKER_URL must be the worker's http:// address"),
        ({"POEMBOT_DATA_DIR": "/proc/poembot"}, "cannot create the directory '/proc/poembot'"),
        ({"DATABASE_URL": "postgresql+asyncpg://u:secret@127.0.0.1:99999/db"}, "the port must be 1 to 65535"),
        ({"DATABASE_URL": "postgresql+asyncpg://u:secret@127.0.0.1:abc/db"}, "DATABASE_URL is not a database URL"),
        (
            {"POEMBOT_CARD_FONT": str(ROOT / "README.md")},
            "POEMBOT_CARD_FONT: '" + str(ROOT / "README.md") + "' is not a font",
        ),
        ({"POEMBOT_CARD_FONT": "/nonexistent/font.ttc"}, "'/nonexistent/font.ttc' is missing"),
        ({"POEMBOT_MIGRATE_ON_START": "0"}, "POEMBOT_MIGRATE_ON_START=0 but the database has no poembot schema"),
        ({"SHARD_IDS": "0"}, "SHARD_IDS needs SHARD_COUNT"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "1,2"}, "SHARD_IDS must be shard numbers from 0 to 1"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "one"}, "SHARD_IDS must be shard numbers, comma-separated"),
        ({"SHARD_COUNT": "0"}, "SHARD_COUNT must be a whole number"),
        # numbers are ASCII digits, bounded: never a traceback, a misread digit or a MemoryError
        ({"SHARD_COUNT": "4", "SHARD_IDS": "²"}, "SHARD_IDS must be shard numbers, comma-separated"),
        ({"SHARD_COUNT": "4", "SHARD_IDS": "٣"}, "SHARD_IDS must be shard numbers, comma-separated"),
        ({"SHARD_COUNT": "4", "SHARD_IDS": "9" * 5000}, "SHARD_IDS must be shard numbers, comma-separated"),
        ({"POEMBOT_OWNER_IDS": "abc"}, "POEMBOT_OWNER_IDS must be Discord user ids"),  # not "no owners"
        ({"POEMBOT_OWNER_IDS": "²"}, "POEMBOT_OWNER_IDS must be Discord user ids"),
        ({"POEMBOT_OWNER_IDS": "123,٣"}, "POEMBOT_OWNER_IDS must be Discord user ids"),
        ({"POEMBOT_OWNER_IDS": "1" * 25}, "POEMBOT_OWNER_IDS must be Discord user ids"),
        ({"SHARD_COUNT": str(10**14)}, "SHARD_COUNT must be a whole number (at most 65536)"),
        ({"SHARD_COUNT": "3.0"}, "SHARD_COUNT must be a whole number (written in the digits 0-9)"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL must be valid"),
        ({"POEMBOT_MAX_IN_FLIGHT": "٣"}, "POEMBOT_MAX_IN_FLIGHT must be a whole number"),
        (
            {"SHARD_COUNT": "4", "POEMBOT_BOTS": "2", "POEMBOT_BOT_ORDINAL": "poembot-bot-١"},
            "POEMBOT_BOT_ORDINAL must be a number from 0",
        ),
    ],
)
def test_a_setting_that_cannot_work_is_one_line_naming_it_and_status_2(tmp_path, env, names):
    run = start(tmp_path, **env)
    assert run.returncode == 2, run.stderr[-2000:]
    lines = [line for line in run.stderr.splitlines() if line.startswith("poembot:")]
    assert len(lines) == 1 and names in lines[0], run.stderr
    assert "Traceback" not in run.stderr and "secret" not in run.stderr
    assert not (tmp_path / "data" / "poembot.sqlite3").exists()


def test_a_checkpoint_that_cannot_be_used_is_one_line_and_status_2(tmp_path, tiny_checkpoints):
    for env, says in (
        ({"POEMBOT_CHECKPOINT_5": "/nonexistent/q5"}, "/nonexistent/q5"),
        ({"POEMBOT_CHECKPOINT_5": str(tiny_checkpoints[7])}, "writes 7-character lines, not 5"),
    ):
        run = start(tmp_path, **env)
        assert run.returncode == 2, run.stderr[-2000:]
        lines = [line for line in run.stderr.splitlines() if line.startswith("poembot:")]
        assert len(lines) == 1 and says in lines[0] and "Traceback" not in run.stderr, run.stderr[-2000:]


def test_no_token_and_no_terminal_is_status_2_not_a_restart_loop(tmp_path):
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("POEMBOT_", "DATABASE_URL", "WORKER_URL", "DISCORD_TOKEN"))
    }
    run = subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,
        input="",
        text=True,
        capture_output=True,
        timeout=120,
        env={**clean, "POEMBOT_DATA_DIR": str(tmp_path / "data")},
    )
    assert run.returncode == 2
    assert "DISCORD_TOKEN is not set and there is no terminal" in run.stderr and "Traceback" not in run.stderr


def test_migrate_says_what_it_did(tmp_path):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("POEMBOT_", "DATABASE_URL", "DISCORD_TOKEN"))}
    db = tmp_path / "x.sqlite3"
    run = subprocess.run(
        [sys.executable, "-m", "bot", "migrate"],
        cwd=ROOT,
        text=True,
        capture_output=True,
        timeout=120,
        env={**clean, "DATABASE_URL": f"sqlite+aiosqlite:///{db}"},
    )
    assert run.returncode == 0 and "is at the newest schema" in run.stderr and db.exists()


@needs_model
def test_a_database_at_a_schema_this_code_does_not_know_is_refused_and_left_as_it_was(tmp_path):
    import sqlite3

    db = tmp_path / "data" / "poembot.sqlite3"
    assert start(tmp_path).returncode == 0  # created and migrated
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    for env in ({}, {"POEMBOT_MIGRATE_ON_START": "0"}):
        run = start(tmp_path, **env)
        assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr[-2000:]
        assert "schema revision '9999_from_the_future', which this poembot does not know" in run.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("9999_from_the_future",)]


@needs_model
def test_without_migrations_at_start_an_older_schema_is_refused_and_a_migrated_one_starts(tmp_path):
    import sqlite3

    db = tmp_path / "data" / "poembot.sqlite3"
    assert start(tmp_path).returncode == 0
    assert start(tmp_path, POEMBOT_MIGRATE_ON_START="0").returncode == 0
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0001'")
    run = start(tmp_path, POEMBOT_MIGRATE_ON_START="0")
    assert run.returncode == 2 and "is at an older schema (0001)" in run.stderr, run.stderr[-2000:]


def test_an_in_memory_database_is_allowed_when_asked_for_by_name():
    assert Settings(database_url="sqlite+aiosqlite:///:memory:").check().database_path() is None


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork to drop privileges")
def test_a_read_only_database_file_is_refused_at_start():
    import tempfile

    where = Path(tempfile.mkdtemp())  # in /tmp itself: an ordinary user can reach it
    where.chmod(0o777)
    db = where / "poembot.sqlite3"
    db.write_bytes(b"")
    db.chmod(0o444)
    settings = Settings(database_url=f"sqlite+aiosqlite:///{db}")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child checks as an ordinary user (root may write anything)
        try:
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            settings.database_path()
            os.write(write, b"accepted")
        except ConfigError as e:
            os.write(write, str(e).encode())
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    os.close(write)
    message = os.read(read, 1000).decode()
    shutil.rmtree(where)
    assert "is read-only for this user" in message and "DATABASE_URL" in message


@needs_model
def test_unreachable_discord_is_one_line_and_status_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(discord.http.Route, "BASE", "http://127.0.0.1:1/api/v10")  # nothing listens there
    monkeypatch.setenv("DISCORD_TOKEN", "abc.def.ghi")
    monkeypatch.setenv("POEMBOT_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("WORKER_URL", raising=False)
    assert cli.main([]) == 2
    err = capsys.readouterr().err
    assert "poembot: cannot reach Discord" in err and "Traceback" not in err and "abc.def.ghi" not in err


@needs_model
def test_sigterm_ends_the_console_chat_at_once_with_status_0_and_the_database_closed(tmp_path):
    import signal
    import time

    proc = _console(tmp_path)
    try:
        proc.stdin.write("!poem 1\n")
        proc.stdin.flush()
        for line in proc.stdout:  # written and saved: the chat now waits for the next line
            if line.startswith("(seed 1"):
                break
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        status = proc.wait(timeout=10)
        took = time.monotonic() - t0
    finally:
        proc.kill()
    err = proc.stderr.read()
    assert status == 0 and took < 2, (status, took, err[-1000:])
    assert "Traceback" not in err
    assert not (tmp_path / "poembot.sqlite3-wal").exists(), "the database was closed (WAL checkpointed)"


async def test_sigterm_closes_a_connected_bot(sqlite_url):
    import asyncio
    import signal

    from bot.__main__ import until_stopped
    from tests.fake_worker import FakeWorker
    from tests.helpers import running_bot

    async with running_bot(sqlite_url, FakeWorker()) as local:

        async def session() -> None:  # what bot.start() does: hold the gateway until bot.close()
            while not local.bot.is_closed():
                await asyncio.sleep(0.01)

        asyncio.get_running_loop().call_later(0.2, os.kill, os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(until_stopped(session(), local.bot.close), 2)
        assert local.bot.is_closed()


def test_settings_come_from_a_dot_env_file_and_the_environment_wins(tmp_path, monkeypatch):
    from bot.settings import Settings

    monkeypatch.chdir(tmp_path)
    for name in ("POEMBOT_POEM_COOLDOWN_S", "POEMBOT_PREFIX", "POEMBOT_DATA_DIR", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / ".env").write_text("POEMBOT_POEM_COOLDOWN_S=2.5\nPOEMBOT_PREFIX=?\nPOEMBOT_DATA_DIR=kept\n")
    monkeypatch.setenv("POEMBOT_PREFIX", "$")
    settings = Settings.from_env()
    assert (settings.poem_cooldown_s, settings.prefix) == (2.5, "$")
    assert settings.database_url.endswith("kept/poembot.sqlite3")


def test_the_console_chat_has_no_cooldowns_unless_the_environment_sets_them():
    from bot.console import for_console
    from bot.settings import Settings

    settings = Settings(poem_cooldown_s=5.0, blend_cooldown_s=15.0)
    quiet = for_console(settings, set())
    assert (quiet.poem_cooldown_s, quiet.blend_cooldown_s) == (0.0, 0.0)
    asked = for_console(settings, {"blend_cooldown_s"})
    assert (asked.poem_cooldown_s, asked.blend_cooldown_s) == (0.0, 15.0)
    assert settings.poem_cooldown_s == 5.0  # the operator's settings are not changed


@needs_model
def test_json_logs_have_one_line_per_command_with_its_outcome_and_no_user_id(tmp_path):
    import json

    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("POEMBOT_", "DATABASE_URL", "WORKER_URL", "DISCORD_TOKEN", "LOG_"))
    }
    run = subprocess.run(
        [sys.executable, "-m", "bot", "--console"],
        cwd=ROOT,
        text=True,
        capture_output=True,
        input="!poem 42\n!rate 99 5\n",
        timeout=180,
        env={**clean, "POEMBOT_DATA_DIR": str(tmp_path / "data"), "LOG_FORMAT": "json", "LOG_LEVEL": "INFO"},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    records = [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
    assert records and len(records) == len([line for line in run.stderr.splitlines() if line.strip()]), run.stderr
    commands = [r for r in records if "command" in r]
    assert [(r["command"], r["outcome"]) for r in commands] == [("poem", "ok"), ("rate", "refused")]
    assert all(isinstance(r["ms"], int) and len(r["user"]) == 12 and r["user"] != "1" for r in commands)


@needs_model
def test_both_command_lines_say_their_version(capsys):
    from model.cli import build_parser
    from model.contract import version

    for run in (lambda: cli.main(["--version"]), lambda: build_parser().parse_args(["--version"])):
        with pytest.raises(SystemExit) as stop:
            run()
        assert stop.value.code == 0
    out = capsys.readouterr().out
    assert f"poembot {version()}" in out and f"poembot-model {version()}" in out and version()[0].isdigit()


# -- the console with a replica down (issue 31) ------------------------------------------------------
def _console(tmp_path: Path, **env: str) -> subprocess.Popen:
    """`python -m bot --console` with its database under `tmp_path`, none of this environment's
    bot settings and `env` added (e.g. WORKER_URL: the bot alone), its stdin a pipe."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("POEMBOT_", "DATABASE_URL", "WORKER_URL", "DISCORD_TOKEN", "LOG_"))
    }
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "--console"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**clean, "POEMBOT_DATA_DIR": str(tmp_path), **env},
    )


def _console_on(tmp_path: Path, worker_url: str) -> subprocess.Popen:
    """The console on `worker_url` with no model, waiting long on it, without cards."""
    return _console(tmp_path, WORKER_URL=worker_url, POEMBOT_WORKER_TIMEOUT_S="300", POEMBOT_CARDS="0")


def test_the_console_with_dead_replicas_answers_each_command_and_ends_at_the_end_of_input(tmp_path):
    """Replicas that are down are probed in the background until they are back: the console
    waits for each command's own work, never for those probes."""
    from tests.helpers import free_port

    dead = ",".join(f"http://127.0.0.1:{free_port()}" for _ in range(2))
    proc = _console_on(tmp_path, dead)
    try:
        out, err = proc.communicate("!poem 1\n!poem 2\n!help rate\n", timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the console hung with a replica down: " + proc.communicate()[1][-1000:])
    assert proc.returncode == 0 and "Traceback" not in err, err[-2000:]
    assert out.count("not answering right now") == 2 and "Rate a poem" in out, out


def test_sigterm_ends_the_console_while_a_command_waits_on_a_hung_replica(tmp_path):
    """A replica that takes the request and never answers (with another down beside it): the
    command waits on it, and SIGTERM ends the chat at once all the same, status 0."""
    import signal
    import socket
    import time

    from tests.helpers import free_port

    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen()
        hung.settimeout(60)
        proc = _console_on(tmp_path, f"http://127.0.0.1:{free_port()},http://127.0.0.1:{hung.getsockname()[1]}")
        try:
            proc.stdin.write("!poem 1\n")
            proc.stdin.flush()
            connection, _ = hung.accept()  # the command is with the hung replica now ...
            with connection:
                t0 = time.monotonic()
                proc.send_signal(signal.SIGTERM)  # ... when the console is told to stop
                try:
                    status = proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    pytest.fail("SIGTERM did not end a console whose command waits on a hung replica")
                took = time.monotonic() - t0
        finally:
            proc.kill()
    err = proc.stderr.read()
    assert status == 0 and took < 5 and "Traceback" not in err, (status, took, err[-2000:])
