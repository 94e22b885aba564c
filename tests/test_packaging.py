"""The project as an operator installs it: a wheel in a fresh virtual environment,
used from outside the repository; Alembic's own command line from the repository root."""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.helpers import needs_model

ROOT = Path(__file__).resolve().parents[1]


def _env(**extra: str) -> dict:
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("POEMBOT_", "DATABASE_URL", "WORKER_URL", "DISCORD_TOKEN", "PYTHONPATH"))
    }
    return {**keep, **extra}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """poembot's wheel, built as an operator builds it (from a copy of the sources: setuptools
    writes build/ and *.egg-info beside the sources it builds)."""
    where = tmp_path_factory.mktemp("wheel")
    wheels, source = where / "wheels", where / "source"
    shutil.copytree(
        ROOT, source, ignore=shutil.ignore_patterns(".*", "build", "data", "runs", "*.egg-info", "__pycache__", "tests")
    )
    # offline where this environment has a setuptools new enough (PEP 639); else pip fetches one
    offline = ["--no-build-isolation"] if _setuptools_reads_pep_639() else []
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", *offline, "-q", "-w", str(wheels), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (found,) = wheels.glob("poembot-*.whl")
    return found


def _setuptools_reads_pep_639() -> bool:
    try:
        import setuptools
    except ImportError:
        return False
    return int(setuptools.__version__.split(".")[0]) >= 77


def fresh_venv(where: Path, wheel: Path, without: tuple[str, ...] = ()) -> Path:
    """A new virtual environment holding the wheel, its dependencies taken from this
    environment (no network) less the distributions named in `without` (their import names):
    what `pip install poembot` gives, or without `without` what a bot-only install gives.
    Returns its bin/."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True, timeout=120)
    python = where / "bin" / "python"
    fresh_site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    deps = where / "deps"  # this environment's packages, one link each, poembot's own left out
    deps.mkdir()
    skip = ("poembot", "__editable__", "_virtualenv", *without)
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.startswith(skip) and not entry.name.endswith(".pth"):
            (deps / entry.name).symlink_to(entry)
    Path(fresh_site, "deps.pth").write_text(f"{deps}\n")
    subprocess.run(
        [python, "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return where / "bin"


def test_the_wheel_carries_the_code_and_the_license_but_no_model_weights(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "bot/__main__.py" in names and "model/text.py" in names and "bot/migrations/env.py" in names
    for language in ("zh_TW", "zh_CN"):  # the replies' catalogues, read with Babel at start
        assert f"bot/locale/{language}/LC_MESSAGES/poembot.po" in names
    assert not [n for n in names if n.endswith(".safetensors") or "checkpoints/" in n], "weights stay out"
    (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "License-Expression: MIT" in text and "License-File: LICENSE" in text, "PEP 639"
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert wheel.stat().st_size < 2_000_000, f"{wheel.stat().st_size} bytes: something large came in"


def test_a_bot_only_install_runs_the_bot_and_the_model_command_names_its_extra(wheel, tmp_path):
    """Without the model's packages (torch and co., the `worker` extra): the bot migrates and
    says its version; `poembot-model` says which extra it needs, in one line, not a traceback."""
    bin_ = fresh_venv(tmp_path / "venv", wheel, without=("torch", "functorch", "torchgen"))
    env = _env(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'poems.sqlite3'}")
    cwd = tmp_path
    probe = subprocess.run([bin_ / "python", "-c", "import torch"], cwd=cwd, env=env, capture_output=True)
    assert probe.returncode != 0, "(the environment really lacks torch)"
    for args in (["--help"], ["serve"]):
        run = subprocess.run([bin_ / "poembot-model", *args], cwd=cwd, env=env, capture_output=True, text=True)
        assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr[-2000:]
        assert run.stderr.strip().splitlines() == [
            "poembot-model needs the model's packages (torch is not installed): "
            "pip install 'poembot[worker]' (and 'poembot[train]' to train)"
        ]
    migrated = subprocess.run([bin_ / "poembot", "migrate"], cwd=cwd, env=env, capture_output=True, text=True)
    assert migrated.returncode == 0 and "newest schema" in migrated.stderr, migrated.stderr[-2000:]


@needs_model
def test_a_built_wheel_installs_migrates_and_writes_a_poem_from_outside_the_repo(wheel, tmp_path):
    bin_ = fresh_venv(tmp_path / "venv", wheel)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = _env(DATABASE_URL=f"sqlite+aiosqlite:///{outside / 'poems.sqlite3'}")
    where = subprocess.run(
        [bin_ / "python", "-c", "import bot, model; print(bot.__file__, model.__file__)"],
        cwd=outside,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert str(ROOT) not in where and "venv" in where, where
    migrated = subprocess.run([bin_ / "poembot", "migrate"], cwd=outside, env=env, capture_output=True, text=True)
    assert migrated.returncode == 0, migrated.stderr[-2000:]
    chat = subprocess.run(
        [bin_ / "poembot", "--console"], cwd=outside, env=env, input="!poem 42\n", capture_output=True, text=True
    )
    assert chat.returncode == 2, "no model in the wheel, and none named"
    assert "POEMBOT_CHECKPOINT_5" in chat.stderr and "Traceback" not in chat.stderr, chat.stderr[-2000:]
    # the model comes from a checkout (or the worker image), named by its path
    env["POEMBOT_CHECKPOINT_5"] = str(ROOT / "model" / "checkpoints" / "quatrain5")
    chat = subprocess.run(
        [bin_ / "poembot", "--console"],
        cwd=outside,
        env=env,
        input="!poem 42\n",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert chat.returncode == 0 and "Poem #1" in chat.stdout and "seed 42" in chat.stdout, chat.stderr[-2000:]


# -- the images' lock files (requirements/): what each image installs, every file by its hash --
REQUIREMENTS = ROOT / "requirements"


def _name(requirement: str) -> str:
    """A distribution's normalized name (PEP 503), without extras: `SQLAlchemy[asyncio]` -> `sqlalchemy`."""
    return re.sub(r"[-_.]+", "-", re.split(r"[\[=<>~! ;]", requirement, maxsplit=1)[0]).lower()


def _pins(requirements: list[str]) -> dict[str, str]:
    return {_name(r): r.split("==", 1)[1].split(";")[0].strip() for r in requirements if "==" in r}


def locked(path: Path) -> dict[str, str]:
    """A lock file's pins, each checked to carry at least one sha256."""
    pins, text = {}, path.read_text()
    for entry in re.split(r"\n(?=\S)", text):
        if found := re.match(r"([A-Za-z0-9._-]+)==(\S+)", entry):
            assert "--hash=sha256:" in entry, f"{path.name}: {found.group(0)} has no hash"
            pins[_name(found.group(1))] = found.group(2)
    return pins


def test_the_image_lock_files_pin_what_pyproject_pins_every_file_by_its_hash():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    bot_pins = _pins(project["dependencies"])
    worker_pins = _pins(project["optional-dependencies"]["worker"])
    bot_lock, worker_lock = locked(REQUIREMENTS / "bot.txt"), locked(REQUIREMENTS / "worker.txt")
    assert {n: bot_lock.get(n) for n in bot_pins} == bot_pins, "requirements/bot.txt is stale: make lock"
    worker_in = _pins([line for line in (REQUIREMENTS / "worker.in").read_text().splitlines() if "==" in line])
    assert set(worker_pins) <= set(worker_in), "the worker image installs the whole worker extra"
    for name, version in worker_in.items():  # torch as its CPU build (2.13.0+cpu for pyproject's 2.13.0)
        assert {**bot_pins, **worker_pins}.get(name) == version.split("+")[0], f"worker.in's {name}: pyproject's pin"
        assert worker_lock.get(name) == version, "requirements/worker.txt is stale: make lock"
    assert worker_lock["torch"].endswith("+cpu") and "torch" not in bot_lock
    bot_only = {"discord-py", "sqlalchemy", "alembic", "asyncpg", "aiosqlite", "pillow"}
    assert not bot_only & set(worker_lock), "the worker image carries none of the bot's own packages"


def venv_of(where: Path, lock: Path) -> Path:
    """A virtual environment holding only the distributions `lock` names, linked from this
    environment (no network): what an image installs from it, without poembot itself."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True, timeout=120)
    python = where / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    deps = where / "deps"
    deps.mkdir()
    for name in locked(lock):
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:  # only in the lock: nothing this environment can lend
            continue
        for top in {f.parts[0] for f in dist.files or () if f.parts[0] != ".."}:
            if not (deps / top).exists() and Path(dist.locate_file(top)).exists():
                (deps / top).symlink_to(dist.locate_file(top))
    Path(site, "deps.pth").write_text(f"{deps}\n")
    return python


# the images run Python 3.11, and their lock files are resolved for it (3.13 needs audioop-lts, say)
image_python = pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="the images' lock files are for Python 3.11")


@image_python
def test_the_bot_runs_on_the_bot_image_s_packages_alone(tmp_path):
    python = venv_of(tmp_path / "venv", REQUIREMENTS / "bot.txt")
    env = _env(PYTHONPATH=str(ROOT), DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'poems.sqlite3'}")
    code = "import bot.__main__, bot.app, bot.cogs, bot.service, bot.metrics, bot.storage.repo, bot.worker_client"
    imported = subprocess.run([python, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert imported.returncode == 0, imported.stderr[-2000:]
    migrated = subprocess.run([python, "-m", "bot", "migrate"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert migrated.returncode == 0, migrated.stderr[-2000:]


@needs_model
@image_python
async def test_the_worker_serves_on_the_worker_image_s_packages_alone(tmp_path):
    """requirements/worker.txt, and nothing of the bot's: `python -m model serve` loads the
    shipped model and answers /healthz, as the worker image's health check asks."""
    import aiohttp

    from tests.helpers import free_port

    python = venv_of(tmp_path / "venv", REQUIREMENTS / "worker.txt")
    port = free_port()
    env = _env(PYTHONPATH=str(ROOT), POEMBOT_FORMS="5", POEMBOT_THREADS="1")
    proc = subprocess.Popen(
        [python, "-m", "model", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        async with aiohttp.ClientSession() as s:
            for _ in range(1200):  # (importing torch and loading the model: seconds)
                assert proc.poll() is None, proc.stderr.read()[-2000:]
                try:
                    async with s.get(f"http://127.0.0.1:{port}/healthz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
            else:
                pytest.fail("the worker never answered /healthz")
        modules = subprocess.run(
            [python, "-c", "import sys, model.cli, model.worker.http; print(' '.join(sys.modules))"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
        ).stdout.split()
        assert not {"discord", "sqlalchemy", "alembic", "PIL"} & set(modules)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


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
