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
    env_file = compose["x-app"]["env_file"][0]
    assert env_file["path"] == ".env" and env_file["required"] is False


def test_the_image_installs_the_cpu_torch_the_project_pins():
    dockerfile = (ROOT / "Dockerfile").read_text()
    pinned = re.search(r'"torch==([0-9.]+)"', (ROOT / "pyproject.toml").read_text()).group(1)
    assert f"torch=={pinned}" in dockerfile and "/whl/cpu" in dockerfile
    for folder in ("model", "bot", "migrations"):
        assert f"COPY {folder} {folder}" in dockerfile


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
