"""Settings as an operator meets them: typos are named, secrets come from files and never
show, log levels in any case, JSON log lines with a time zone. Run as `python -m bot` in a
fresh process where what matters is what the operator sees."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import discord
import pytest
from pydantic import BaseModel

import bot.__main__ as cli
from bot.settings import ConfigError, Settings
from tests.helpers import free_port

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "MTAxNTAx.secret-token.from-a-file"


def clean_env(**env: str) -> dict[str, str]:
    """This environment without any bot or worker setting, with `env` added."""
    drop = ("POEMBOT_", "DATABASE_", "WORKER_URL", "DISCORD_TOKEN", "LOG_", "SHARD_")
    return {**{k: v for k, v in os.environ.items() if not k.startswith(drop)}, **env}


def bot(tmp_path: Path, *args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=tmp_path,  # (no .env there)
        input=stdin,
        text=True,
        capture_output=True,
        timeout=120,
        env=clean_env(PYTHONPATH=str(ROOT), POEMBOT_DATA_DIR=str(tmp_path / "data"), **env),
    )


def test_an_unknown_poembot_variable_is_a_warning_naming_the_closest_setting(tmp_path):
    (tmp_path / ".env").write_text("POEMBOT_BLEND_COOLDOWN=3\n")
    run = bot(tmp_path, "migrate", POEMBOT_PREFX="?", POEMBOT_MAX_BATCH="8")
    assert run.returncode == 0, run.stderr
    warnings = [line for line in run.stderr.splitlines() if "reads no such variable" in line]
    assert len(warnings) == 2, run.stderr
    assert "POEMBOT_PREFX" in warnings[1] and "did you mean POEMBOT_PREFIX?" in warnings[1]
    assert "POEMBOT_BLEND_COOLDOWN" in warnings[0] and "did you mean POEMBOT_BLEND_COOLDOWN_S?" in warnings[0]
    assert "POEMBOT_MAX_BATCH" not in run.stderr, "the in-process worker's settings are known too"


@pytest.fixture
def root_logging():
    """The root logger's handlers and level as they were, after a test that runs `main()` in
    this process (each run adds a handler on the stderr of its own test)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("discord").setLevel(logging.NOTSET)


def test_a_token_from_a_file_is_used_and_never_shown(tmp_path, monkeypatch, capsys, root_logging):
    """DISCORD_TOKEN_FILE and a secrets directory (Docker's /run/secrets) both give the token: the
    bot goes to Discord with it (unreachable here: one line, status 2), and no log line, even at
    DEBUG, nor the settings' repr, holds it."""
    secret = tmp_path / "secrets"
    secret.mkdir()
    (secret / "discord_token").write_text(TOKEN + "\n")
    monkeypatch.setattr(discord.http.Route, "BASE", "http://127.0.0.1:1/api/v10")  # nothing listens there
    for name in [k for k in os.environ if k.startswith(("POEMBOT_", "DATABASE_", "DISCORD_TOKEN", "WORKER_URL"))]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("POEMBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WORKER_URL", f"http://127.0.0.1:{free_port()}")  # (the bot alone: no model needed)
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    for env in ({"DISCORD_TOKEN_FILE": str(secret / "discord_token")}, {"POEMBOT_SECRETS_DIR": str(secret)}):
        with monkeypatch.context() as m:
            for k, v in env.items():
                m.setenv(k, v)
            settings = Settings.from_env()
            assert settings.discord_token == TOKEN and TOKEN not in repr(settings) + str(settings)
            assert cli.main([]) == 2
        err = capsys.readouterr().err
        assert "poembot: cannot reach Discord" in err, err[-2000:]
        assert TOKEN not in err and "secret-token" not in err and "DEBUG" in err


def test_a_secret_and_its_file_both_set_or_a_file_that_cannot_be_read_is_one_line(tmp_path):
    run = bot(tmp_path, "migrate", DISCORD_TOKEN="x", DISCORD_TOKEN_FILE=str(tmp_path / "t"))
    assert run.returncode == 2 and "DISCORD_TOKEN and DISCORD_TOKEN_FILE are both set" in run.stderr
    run = bot(tmp_path, "migrate", DISCORD_TOKEN_FILE=str(tmp_path / "missing"))
    assert run.returncode == 2 and run.stderr.strip().splitlines() == [
        f"poembot: DISCORD_TOKEN_FILE: cannot read '{tmp_path / 'missing'}' (No such file or directory)"
    ]
    run = bot(tmp_path, "migrate", POEMBOT_SECRETS_DIR=str(tmp_path / "nowhere"))
    assert run.returncode == 2 and "POEMBOT_SECRETS_DIR" in run.stderr and "Traceback" not in run.stderr


def test_the_database_password_comes_from_a_secret_file_and_stays_out_of_sight(tmp_path):
    secret = tmp_path / "secrets"
    secret.mkdir()
    (secret / "database_password").write_text("hunter2\n")
    environ = {"DATABASE_URL": "postgresql+asyncpg://poembot@db:5432/poembot", "POEMBOT_SECRETS_DIR": str(secret)}
    settings = Settings.from_env(environ, env_file=None)
    assert settings.database_url == "postgresql+asyncpg://poembot:hunter2@db:5432/poembot"
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings)
    with pytest.raises(ConfigError, match="names a password and DATABASE_PASSWORD is set too"):
        Settings.from_env({**environ, "DATABASE_URL": "postgresql+asyncpg://u:pw@db/poembot"}, env_file=None)


def test_the_environment_wins_over_dot_env_which_wins_over_secret_files(tmp_path):
    secret = tmp_path / "secrets"
    secret.mkdir()
    for name in ("POEMBOT_PREFIX", "POEMBOT_POEM_COOLDOWN_S", "POEMBOT_BLEND_COOLDOWN_S"):
        (secret / name.lower()).write_text("9")
    (tmp_path / ".env").write_text("POEMBOT_POEM_COOLDOWN_S=2\nPOEMBOT_BLEND_COOLDOWN_S=2\n")
    environ = {"POEMBOT_SECRETS_DIR": str(secret), "POEMBOT_BLEND_COOLDOWN_S": "1"}
    settings = Settings.from_env(environ, env_file=tmp_path / ".env")
    assert (settings.prefix, settings.poem_cooldown_s, settings.blend_cooldown_s) == ("9", 2.0, 1.0)


def test_log_level_in_any_case_and_json_log_lines_carry_a_time_zone(tmp_path):
    run = bot(
        tmp_path,
        "--console",
        stdin="!help\n",
        LOG_LEVEL="debug",
        LOG_FORMAT="JSON",
        WORKER_URL=f"http://127.0.0.1:{free_port()}",  # the bot alone: no model needed for !help
    )
    assert run.returncode == 0, run.stderr[-2000:]
    records = [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
    assert {"DEBUG", "INFO"} <= {r["level"] for r in records}, "LOG_LEVEL=debug is DEBUG"
    assert [(r["command"], r["outcome"]) for r in records if "command" in r] == [("help", "ok")]
    for record in records:
        when = datetime.fromisoformat(record["time"])
        assert when.tzinfo is not None and when.utcoffset() is not None, record["time"]
        assert "T" in record["time"] and record["time"].endswith("+00:00"), record["time"]


def markdown_rows(settings_class: type[BaseModel]) -> list[str]:
    """docs/operators.md's settings table, one row a variable, from the class itself."""
    rows = []
    for info in settings_class.model_fields.values():
        if info.alias is None:  # not read from the environment
            continue
        default = info.default
        if default is None or (not default and isinstance(default, str | frozenset | tuple)):
            default = "unset"
        else:
            default = f"`{int(default)}`" if isinstance(default, bool) else f"`{default}`"
        rows.append(f"| `{info.alias}` | {default} | {info.description} |")
    return rows


def test_the_operators_guide_lists_every_setting_as_the_code_declares_it():
    from model.worker.settings import WorkerSettings

    guide = (ROOT / "docs" / "operators.md").read_text("utf-8")
    for row in markdown_rows(Settings) + markdown_rows(WorkerSettings):
        assert row in guide, f"docs/operators.md's settings table lacks or differs from: {row}"
