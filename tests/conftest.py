"""Shared fixtures: a tiny trained checkpoint, real SQLite files, a real PostgreSQL
server when one can be started (from Debian's packages), and worker engines."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.helpers import free_port

FIXTURES = Path(__file__).parent / "fixtures"
CORPUS = FIXTURES / "corpus"

try:
    import torch  # noqa: F401

    MODEL = True
except ModuleNotFoundError:  # the bot alone: CI's Python 3.12 and 3.13 runs (no CPU torch wheel there)
    MODEL = False
# without the model's packages, the modules that import the model are not collected and the
# tests that need a checkpoint skip: the bot, storage and contract are still tested
collect_ignore = (
    []
    if MODEL
    else [
        f"test_{name}.py"
        for name in (
            "deploy",
            "endings",
            "generate",
            "latent",
            "model",
            "ranking",
            "requests",
            "sampler",
            "script",
            "two_level",
            "worker",
        )
    ]
)


# -- the model --------------------------------------------------------------------------------
def train_tiny(out: Path, form: int = 5, **overrides):
    """A tiny model of `form`, trained for a few seconds (2 epochs, seed 0) on the fixture
    corpus and saved at `out` (a checkpoint path without suffix); `overrides` change its
    Config (a two-level code, a null rate). Returns the checkpoint."""
    from model.train import TrainArgs, train

    args = TrainArgs(
        form=form,
        config="tiny",
        data_dir=CORPUS,
        out=out,
        epochs=2,
        batch_size=32,
        seed=0,
        threads=1,
        kl_anneal_steps=10,
        overrides=overrides,
    )
    return train(args, argv=["train", "--config", "tiny"])


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory) -> dict[int, Path]:
    """A tiny model per form, trained for a few seconds on the fixture corpus."""
    if not MODEL:
        pytest.skip("the model's packages (poembot[worker]) are not installed")
    out = tmp_path_factory.mktemp("ckpt")
    for form in (5, 7):
        train_tiny(out / f"tiny{form}", form)
    return {form: out / f"tiny{form}" for form in (5, 7)}


@pytest.fixture(scope="session")
def generator(tiny_checkpoints):
    from model.generate import PoemGenerator

    return PoemGenerator.from_path(tiny_checkpoints[5])


@pytest.fixture(scope="session")
def worker_settings(tiny_checkpoints):
    from model.worker.settings import WorkerSettings

    return WorkerSettings(checkpoints=dict(tiny_checkpoints), max_batch=64, max_wait_ms=5, threads=1)


@pytest.fixture
async def engine(worker_settings):
    from model.worker.engine import Engine

    eng = Engine.from_settings(worker_settings)
    await eng.start()
    yield eng
    await eng.close()


# -- databases --------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def postgres_url():
    """A throwaway PostgreSQL server on a loopback port, or a skip that says why."""
    if url := os.environ.get("POEMBOT_TEST_POSTGRES_URL"):
        yield url
        return
    initdbs = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not initdbs:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql); its tests are skipped")
    bindir = Path(initdbs[-1]).parent
    root = Path(tempfile.mkdtemp(prefix="poembot-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL")
        shutil.chown(root, "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", free_port()
    try:
        subprocess.run(
            run_as + [str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            run_as
            + [
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(root / "log"),
                "-w",
                "-o",
                f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off",
                "start",
            ],
            check=True,
            capture_output=True,
        )
    except subprocess.CalledProcessError as e:
        pytest.skip(f"PostgreSQL could not be started: {e.stderr.decode()[-300:]}")
    yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
    subprocess.run(run_as + [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
    shutil.rmtree(root, ignore_errors=True)


async def _reset_postgres(url: str) -> None:
    from sqlalchemy import text

    from bot.storage.db import create_engine

    eng = create_engine(url)
    async with eng.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await eng.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request, tmp_path):
    """An empty database: a real SQLite file, then a real PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'poembot.sqlite3'}"
        return
    url = request.getfixturevalue("postgres_url")
    await _reset_postgres(url)
    yield url


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'poembot.sqlite3'}"


@pytest.fixture
async def db(db_url):
    """A migrated database: (engine, session maker)."""
    from bot.storage.db import create_engine, session_maker, upgrade

    eng = create_engine(db_url)
    await upgrade(eng)
    yield eng, session_maker(eng)
    await eng.dispose()
