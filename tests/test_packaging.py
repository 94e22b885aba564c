"""The project as an operator installs it: a wheel in a fresh virtual environment,
used from outside the repository; Alembic's own command line from the repository root."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from tests.helpers import needs_model

ROOT = Path(__file__).resolve().parents[1]


def _env(**extra: str) -> dict:
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("POEMBOT_", "DATABASE_URL", "WORKER_URL", "DISCORD_TOKEN", "PYTHONPATH"))
    }
    return {**keep, **extra}


@needs_model
def test_a_built_wheel_installs_migrates_and_writes_a_poem_from_outside_the_repo(tmp_path):
    wheels, source = tmp_path / "wheels", tmp_path / "source"
    # built from a copy: setuptools writes build/ and *.egg-info beside the sources it builds
    shutil.copytree(
        ROOT, source, ignore=shutil.ignore_patterns(".*", "build", "data", "runs", "*.egg-info", "__pycache__", "tests")
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheels),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("poembot-*.whl")
    fresh = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(fresh)], check=True, timeout=120)
    python = fresh / "bin" / "python"
    # the dependencies come from this environment (no network); poembot itself only from the wheel
    fresh_site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(fresh_site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [python, "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = _env(DATABASE_URL=f"sqlite+aiosqlite:///{outside / 'poems.sqlite3'}")
    where = subprocess.run(
        [python, "-c", "import bot, model; print(bot.__file__, model.__file__)"],
        cwd=outside,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert str(ROOT) not in where and "venv" in where, where
    migrated = subprocess.run(
        [fresh / "bin" / "poembot", "migrate"], cwd=outside, env=env, capture_output=True, text=True, timeout=120
    )
    assert migrated.returncode == 0, migrated.stderr[-2000:]
    chat = subprocess.run(
        [fresh / "bin" / "poembot", "--console"],
        cwd=outside,
        env=env,
        input="!poem 42\n",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert chat.returncode == 0 and "Poem #1" in chat.stdout and "seed 42" in chat.stdout, chat.stderr[-2000:]


def test_alembic_current_and_check_work_from_the_repository_root(tmp_path):
    alembic = Path(sys.executable).parent / "alembic"
    env = _env(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'a.sqlite3'}")
    up = subprocess.run([alembic, "upgrade", "head"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert up.returncode == 0, up.stderr
    current = subprocess.run([alembic, "current"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert current.returncode == 0 and "(head)" in current.stdout, current.stdout + current.stderr
    check = subprocess.run([alembic, "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert check.returncode == 0 and "No new upgrade operations detected" in check.stdout + check.stderr


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=_env(), check=True, capture_output=True, text=True, timeout=120
    ).stdout
    return set(out.split())


@needs_model
def test_the_bot_imports_no_torch_and_the_model_no_discord():
    bot = _modules_after(
        "import bot.__main__, bot.app, bot.cogs, bot.service, bot.local, bot.storage.repo, "
        "bot.storage.db, bot.worker_client, bot.settings, bot.replies"
    )
    assert "model.contract" in bot, "the bot speaks to the worker through the contract"
    assert "torch" not in bot, "only starting the in-process worker may load torch"
    model = _modules_after("import model.cli, model.generate, model.evaluate, model.worker.http, model.train")
    assert "discord" not in model
    generate = _modules_after("import model.generate")
    assert not {"model.evaluate", "model.worker.engine", "model.worker.http", "model.train", "model.cli"} & generate
