"""The compose file against the code: no Docker engine runs here, so this checks
that the services, their commands, environment and volumes match what the
programs read."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from bot.__main__ import main as bot_main
from model.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def env_vars_read_by_code() -> set[str]:
    """The variables the settings classes declare (the code reads no other)."""
    from bot.settings import Environment
    from model.worker.settings import WorkerEnvironment

    return {info.alias for cls in (Environment, WorkerEnvironment) for info in cls.model_fields.values()}


def test_services_and_their_commands_exist(compose):
    services = compose["services"]
    assert {"worker", "bot", "migrate", "postgres"} <= set(services)
    worker_cmd = services["worker"]["command"]
    assert worker_cmd[:4] == ["python", "-m", "model", "serve"]
    args = build_parser().parse_args(worker_cmd[3:])
    assert args.command == "serve" and args.host == "0.0.0.0"
    assert services["migrate"]["command"] == ["python", "-m", "bot", "migrate"]
    assert services["bot"]["command"] == ["python", "-m", "bot"]
    with pytest.raises(SystemExit) as stop:
        bot_main(["--help"])
    assert stop.value.code == 0


def test_the_bot_reaches_the_worker_where_it_listens_and_waits_for_it(compose):
    s = compose["services"]
    worker_port = int(s["worker"]["command"][s["worker"]["command"].index("--port") + 1])
    url = urlparse(s["bot"]["environment"]["WORKER_URL"])
    assert (url.hostname, url.port) == ("worker", worker_port)
    assert "/healthz" in " ".join(s["worker"]["healthcheck"]["test"]) and str(worker_port) in " ".join(
        s["worker"]["healthcheck"]["test"]
    )
    assert s["bot"]["depends_on"]["worker"]["condition"] == "service_healthy"
    assert s["bot"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert s["bot"]["environment"]["POEMBOT_MIGRATE_ON_START"] == "0"


def test_sqlite_lives_on_the_named_volume_and_postgres_is_a_profile(compose):
    s = compose["services"]
    for name in ("bot", "migrate"):
        url = s[name]["environment"]["DATABASE_URL"]
        default = re.search(r":-(.+)}", url).group(1)
        db_path = default.split(":///", 1)[1]
        mounts = {v.split(":")[1]: v.split(":")[0] for v in s[name]["volumes"]}
        assert any(db_path.startswith(m + "/") for m in mounts), f"{name}: {db_path} is not on a volume"
        assert mounts["/data"] in compose["volumes"]
    pg = s["postgres"]
    assert pg["profiles"] == ["postgres"] and "pg_isready" in " ".join(pg["healthcheck"]["test"])
    assert s["migrate"]["depends_on"]["postgres"]["required"] is False


def test_every_variable_the_compose_file_sets_is_one_the_code_reads(compose):
    read = env_vars_read_by_code()
    for name, service in compose["services"].items():
        if name == "postgres":
            continue
        for var in service.get("environment", {}):
            assert var in read, f"{name} sets {var}, which nothing reads"
    example = (ROOT / ".env.example").read_text()
    assert "DISCORD_TOKEN=" in example and "DISCORD_TOKEN" in read
    env_file = compose["services"]["bot"]["env_file"][0]
    assert env_file["path"] == ".env" and env_file["required"] is False
    others = [n for n, service in compose["services"].items() if "env_file" in service]
    assert others == ["bot"], "the token in .env goes to the bot alone"
    assert "poembot" not in str(compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"])


def test_the_worker_image_installs_the_cpu_torch_and_the_bot_image_none(compose):
    dockerfile = (ROOT / "Dockerfile").read_text()
    pinned = re.search(r'"torch==([0-9.]+)"', (ROOT / "pyproject.toml").read_text()).group(1)
    stages = dict(re.findall(r"^FROM \S+ AS (\w+)\n(.*?)(?=^FROM |\Z)", dockerfile, re.M | re.S))
    assert f"torch=={pinned}" in stages["worker"] and "/whl/cpu" in stages["worker"]
    assert "pip install" not in stages["bot"] and "torch" not in stages["base"]
    assert "COPY model model" in stages["worker"]
    assert "COPY bot bot" in stages["bot"] and "COPY migrations migrations" in stages["bot"]
    s = compose["services"]
    assert s["worker"]["build"]["target"] == "worker"
    assert s["bot"]["build"]["target"] == s["migrate"]["build"]["target"] == "bot"


def test_the_bot_image_holds_every_model_module_the_bot_imports():
    import subprocess
    import sys

    copied = re.search(r"^COPY (model/\S+ )+model/$", (ROOT / "Dockerfile").read_text(), re.M).group(0).split()[1:-1]
    code = (
        "import sys, bot.__main__, bot.cogs, bot.worker_client, bot.storage.db; "
        "print(' '.join(m for m in sys.modules if m == 'model' or m.startswith('model.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    imported = {m.replace(".", "/") + ".py" for m in out.split() if m != "model"} | {"model/__init__.py"}
    assert imported <= set(copied), f"the bot image lacks {imported - set(copied)}"


def test_the_compose_file_is_valid_under_the_compose_specification(compose):
    # no engine runs here: the Compose Specification's own JSON schema (compose-spec/compose-spec,
    # schema/compose-spec.json, vendored in tests/fixtures) stands in for `docker compose config`
    import json

    import jsonschema

    schema = json.loads((ROOT / "tests" / "fixtures" / "compose-spec.json").read_text("utf-8"))
    jsonschema.validate(compose, schema, cls=jsonschema.Draft7Validator)
    broken = dict(compose, services={"bot": {"image": "x", "depends_on": {"worker": {"condition": "soon"}}}})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema, cls=jsonschema.Draft7Validator)


def test_the_shards_example_splits_every_shard_between_two_bots_and_scales_workers(compose):
    import json

    import jsonschema

    shards = yaml.safe_load((ROOT / "docker-compose.shards.yml").read_text())
    schema = json.loads((ROOT / "tests" / "fixtures" / "compose-spec.json").read_text("utf-8"))
    jsonschema.validate(shards, schema, cls=jsonschema.Draft7Validator)
    bots = [settings_from(s["environment"]) for s in shards["services"].values()]
    counts = {b.shard_count for b in bots}
    ids = sorted(i for b in bots for i in b.shard_ids)
    assert len(counts) == 1 and ids == list(range(counts.pop())), "each shard run by exactly one bot"
    assert all("SHARD_IDS" not in s["environment"] for s in shards["services"].values()), "derived, not listed"
    assert shards["services"]["bot-2"]["extends"] == {"file": "docker-compose.yml", "service": "bot"}
    worker = compose["services"]["worker"]
    assert "container_name" not in worker and "ports" not in worker, "`--scale worker=3` needs no fixed name or port"


# -- the shard rule: one definition, used by compose and the Kubernetes StatefulSet -----------
def settings_from(env: dict[str, str]):
    """The bot's settings for `env` alone (no .env file; an in-memory database, so nothing is written)."""
    from bot.settings import Environment, Settings

    env = {"DATABASE_URL": "sqlite+aiosqlite:///:memory:", **env}
    return Settings.from_env(Environment(_env_file=None, **env))


@pytest.mark.parametrize("bots, shard_count", [(1, 1), (1, 4), (2, 2), (2, 5), (3, 10), (4, 16), (7, 100), (16, 16)])
def test_the_bots_of_a_statefulset_run_every_shard_exactly_once(bots, shard_count):
    ran = []
    for ordinal in range(bots):
        env = {
            "SHARD_COUNT": str(shard_count),
            "POEMBOT_BOTS": str(bots),
            "POEMBOT_BOT_ORDINAL": f"poembot-bot-{ordinal}",
        }
        mine = settings_from(env).shard_ids
        assert mine, f"bot {ordinal} of {bots} runs no shard"
        assert list(mine) == list(range(mine[0], mine[-1] + 1)), "a contiguous block"
        ran += mine
    assert sorted(ran) == list(range(shard_count)) and len(ran) == len(set(ran))
    sizes = [
        len(
            settings_from(
                {"SHARD_COUNT": str(shard_count), "POEMBOT_BOTS": str(bots), "POEMBOT_BOT_ORDINAL": str(o)}
            ).shard_ids
        )
        for o in range(bots)
    ]
    assert max(sizes) - min(sizes) <= 1, "shared out evenly"


def test_the_issue_s_example_pod_2_of_4_bots_for_16_shards_runs_8_to_11():
    from bot.settings import shards_for

    assert shards_for(2, 4, 16) == (8, 9, 10, 11)
    env = {"SHARD_COUNT": "16", "POEMBOT_BOTS": "4", "POEMBOT_BOT_ORDINAL": "poembot-bot-2"}
    assert settings_from(env).shard_ids == (8, 9, 10, 11)
    assert settings_from({**env, "POEMBOT_BOT_ORDINAL": "2"}).shard_ids == (8, 9, 10, 11)
    assert settings_from({"SHARD_COUNT": "2", "SHARD_IDS": "1"}).shard_ids == (1,), "SHARD_IDS still works"


@pytest.mark.parametrize(
    "env, says",
    [
        ({"SHARD_COUNT": "4", "POEMBOT_BOTS": "2"}, "POEMBOT_BOTS and POEMBOT_BOT_ORDINAL go together"),
        ({"SHARD_COUNT": "4", "POEMBOT_BOT_ORDINAL": "poembot-bot-0"}, "go together"),
        ({"POEMBOT_BOTS": "2", "POEMBOT_BOT_ORDINAL": "0"}, "POEMBOT_BOTS needs SHARD_COUNT"),
        ({"SHARD_COUNT": "4", "POEMBOT_BOTS": "2", "POEMBOT_BOT_ORDINAL": "poembot-bot-2"}, "set POEMBOT_BOTS to"),
        ({"SHARD_COUNT": "4", "POEMBOT_BOTS": "2", "POEMBOT_BOT_ORDINAL": "poembot-bot"}, "a name ending in one"),
        ({"SHARD_COUNT": "2", "POEMBOT_BOTS": "3", "POEMBOT_BOT_ORDINAL": "0"}, "more bots than SHARD_COUNT=2"),
        ({"SHARD_COUNT": "4", "POEMBOT_BOTS": "2", "POEMBOT_BOT_ORDINAL": "1", "SHARD_IDS": "0"}, "set one"),
    ],
)
def test_a_shard_layout_that_cannot_work_is_refused_naming_the_variables(env, says):
    from bot.settings import ConfigError

    with pytest.raises(ConfigError, match=re.escape(says)):
        settings_from(env)
