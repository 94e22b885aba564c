"""The compose file against the code: no Docker engine runs here, so this checks
that the services, their commands, environment and volumes match what the
programs read."""

from __future__ import annotations

import importlib.util
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
    from bot.settings import Settings
    from model.worker.settings import WorkerSettings

    return {info.alias for cls in (Settings, WorkerSettings) for info in cls.model_fields.values() if info.alias}


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


def test_each_image_installs_its_own_locked_packages_the_worker_the_cpu_torch(compose):
    dockerfile = (ROOT / "Dockerfile").read_text()
    pinned = re.search(r'"torch==([0-9.]+)"', (ROOT / "pyproject.toml").read_text()).group(1)
    stages = dict(re.findall(r"^FROM \S+ AS (\w+)\n(.*?)(?=^FROM |\Z)", dockerfile, re.M | re.S))
    assert f"torch=={pinned}+cpu " in (ROOT / "requirements" / "worker.txt").read_text()
    assert "/whl/cpu" in stages["worker"]
    for stage in ("worker", "bot"):
        (install,) = re.findall(r"^RUN pip install (.*)$", stages[stage], re.M)
        assert f"-r requirements/{stage}.txt" in install and "--require-hashes" in install and "--no-deps" in install
        assert f"COPY requirements/{stage}.txt requirements/" in stages[stage]
        assert "HEALTHCHECK" in stages[stage] and "/healthz" in stages[stage]
    assert "pip install" not in stages["base"] and "torch" not in stages["base"] + stages["bot"]
    assert "COPY model model" in stages["worker"]
    assert "COPY bot bot" in stages["bot"] and "COPY migrations migrations" in stages["bot"]
    s = compose["services"]
    assert s["worker"]["build"]["target"] == "worker"
    assert s["bot"]["build"]["target"] == s["migrate"]["build"]["target"] == "bot"


def test_the_bot_image_holds_every_model_module_the_bot_imports():
    import subprocess
    import sys

    copied = {  # each file that lands at its own path under /app
        source
        for sources, target in re.findall(
            r"^COPY ((?:model/\S+ )+)(model/\S*)$", (ROOT / "Dockerfile").read_text(), re.M
        )
        for source in sources.split()
        if target.rstrip("/") + "/" + source.rsplit("/", 1)[1] == source
    }
    code = (
        "import sys, bot.__main__, bot.cogs, bot.worker_client, bot.storage.db; "
        "print(' '.join(m.__file__ for n, m in sys.modules.items() if n == 'model' or n.startswith('model.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    imported = {str(Path(file).relative_to(ROOT)) for file in out.split()}  # (a package: its __init__.py)
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
    from bot.settings import Settings

    return Settings.from_env({"DATABASE_URL": "sqlite+aiosqlite:///:memory:", **env}, env_file=None)


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


# -- Kubernetes: deploy/kubernetes against the code --------------------------------------------
K8S = ROOT / "deploy" / "kubernetes"
K8S_VERSIONS = ("1.30.0", "1.37.0")  # the oldest and the newest the manifests are meant for (CI: .ci/run)


def manifest_files() -> list[Path]:
    """Every manifest, the dev overlay's too; kustomization.yaml files only list them."""
    return sorted(p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml")


@pytest.fixture(scope="module")
def k8s() -> dict[tuple[str, str], dict]:
    """Every resource, by (kind, name)."""
    found = {}
    for path in manifest_files():
        for doc in yaml.safe_load_all(path.read_text("utf-8")):
            if doc:
                key = (doc["kind"], doc["metadata"]["name"])
                assert key not in found, f"{key} defined twice"
                found[key] = doc
    return found


def pod_spec(resource: dict) -> dict:
    return resource["spec"]["template"]["spec"]


def the_container(resource: dict, name: str) -> dict:
    return next(c for c in pod_spec(resource)["containers"] if c["name"] == name)


def env_of(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def port_number(container: dict, name_or_number) -> int:
    if isinstance(name_or_number, int):
        return name_or_number
    return next(p["containerPort"] for p in container["ports"] if p["name"] == name_or_number)


def test_every_manifest_is_valid_for_kubernetes_1_30_and_1_37_offline():
    kv = pytest.importorskip("kubernetes_validate")  # the dev extra; its schemas are bundled
    for path in manifest_files():
        docs = [d for d in yaml.safe_load_all(path.read_text("utf-8")) if d]
        assert docs, f"{path} holds no resource"
        for doc in docs:
            for version in K8S_VERSIONS:
                kv.validate(doc, version, strict=True)  # raises on an error, or a kind it has no schema for
    bot = yaml.safe_load((K8S / "bot.yaml").read_text("utf-8").split("\n---\n")[1])
    bot["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFileSystem"] = True
    with pytest.raises(kv.ValidationError):  # strict: a misspelt field is an error, not ignored
        kv.validate(bot, K8S_VERSIONS[-1], strict=True)


def test_kustomize_applies_every_manifest_as_it_is():
    base = yaml.safe_load((K8S / "kustomization.yaml").read_text("utf-8"))
    assert sorted(base["resources"]) == sorted(p.name for p in manifest_files() if p.parent == K8S)
    assert set(base) == {"apiVersion", "kind", "resources"}, "no patches: CI validates what kubectl applies"
    dev = yaml.safe_load((K8S / "dev" / "kustomization.yaml").read_text("utf-8"))
    assert dev["resources"] == ["../", "postgres.yaml"] and set(dev) == {"apiVersion", "kind", "resources"}


def test_the_manifests_set_only_variables_the_code_reads(k8s):
    from bot.settings import Settings
    from model.worker.settings import WorkerSettings

    reads = {
        "bot": {i.alias for i in Settings.model_fields.values()},
        "worker": {i.alias for i in WorkerSettings.model_fields.values() if i.alias},
    }
    programs = {("bot", "bot"): "bot", ("migrate", "bot"): "bot", ("worker", "model"): "worker"}
    seen = set()
    for (kind, name), resource in k8s.items():
        if "template" not in resource.get("spec", {}):
            continue
        for c in pod_spec(resource)["containers"] + pod_spec(resource).get("initContainers", []):
            if c["name"] == "postgres":  # the dev overlay's database: the postgres image's own variables
                assert set(env_of(c)) <= {"POSTGRES_USER", "POSTGRES_DB", "POSTGRES_PASSWORD", "PGDATA"}
                continue
            program = programs[(c["name"], c["command"][2])]  # python -m <bot|model> ...
            unknown = set(env_of(c)) - reads[program]
            assert not unknown, f"{kind}/{name} sets {unknown}, which the {program} does not read"
            seen.add(program)
    assert seen == {"bot", "worker"}


def test_the_bot_reaches_every_worker_replica_where_it_listens(k8s):
    worker = k8s[("Deployment", "poembot-worker")]
    c = the_container(worker, "worker")
    args = build_parser().parse_args(c["command"][3:])
    assert c["command"][:4] == ["python", "-m", "model", "serve"] and args.host == "0.0.0.0"
    assert port_number(c, "http") == args.port
    service = k8s[("Service", "poembot-worker")]
    assert service["spec"]["clusterIP"] == "None", "headless: the name resolves to every pod, the bot balances"
    assert service["spec"]["selector"] == worker["spec"]["template"]["metadata"]["labels"]
    (port,) = service["spec"]["ports"]
    assert port_number(c, port["targetPort"]) == args.port
    for statefulset in [k8s[("StatefulSet", "poembot-bot")]]:
        url = urlparse(env_of(the_container(statefulset, "bot"))["WORKER_URL"]["value"])
        assert (url.scheme, url.hostname, url.port) == ("http", "poembot-worker", port["port"])
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        get = c[probe]["httpGet"]
        assert get["path"] == "/healthz" and port_number(c, get["port"]) == args.port, probe


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs poembot[worker] (torch)")
def test_the_worker_serves_the_path_its_probes_ask_for(k8s):
    from model.worker.http import create_app
    from model.worker.settings import WorkerSettings

    routes = {r.resource.canonical for r in create_app(WorkerSettings(checkpoints={5: None})).router.routes()}
    c = the_container(k8s[("Deployment", "poembot-worker")], "worker")
    assert {c[p]["httpGet"]["path"] for p in ("startupProbe", "readinessProbe", "livenessProbe")} <= routes


def test_worker_threads_match_the_cpu_request_and_autoscaling_owns_the_count(k8s):
    worker = k8s[("Deployment", "poembot-worker")]
    c = the_container(worker, "worker")
    threads = int(env_of(c)["POEMBOT_THREADS"]["value"])
    assert threads >= 1 and str(c["resources"]["requests"]["cpu"]) == str(c["resources"]["limits"]["cpu"]) == str(
        threads
    ), "one torch thread per whole core requested (and no more cores than that to run on)"
    assert "replicas" not in worker["spec"], "the HorizontalPodAutoscaler owns the count; applying must not reset it"
    assert worker["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    hpa = k8s[("HorizontalPodAutoscaler", "poembot-worker")]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "poembot-worker"}
    assert hpa["metrics"][0]["resource"]["name"] == "cpu" and 2 <= hpa["minReplicas"] <= hpa["maxReplicas"]
    pdb = k8s[("PodDisruptionBudget", "poembot-worker")]["spec"]
    assert pdb["selector"]["matchLabels"] == worker["spec"]["template"]["metadata"]["labels"]
    assert pdb["maxUnavailable"] < hpa["minReplicas"], "a drain leaves a worker serving"


def test_a_stopping_worker_finishes_what_it_accepted_before_it_is_killed(k8s):
    from bot.settings import Settings
    from bot.replicas import RESOLVE_S

    worker = k8s[("Deployment", "poembot-worker")]
    wait = the_container(worker, "worker")["lifecycle"]["preStop"]["exec"]["command"]
    assert wait[0] == "sleep" and int(wait[1]) >= RESOLVE_S + 5, "the bots stop sending first (re-resolve + DNS TTL)"
    request_s = Settings.model_fields["worker_timeout_s"].default  # a bot gives up on a request after this
    assert pod_spec(worker)["terminationGracePeriodSeconds"] >= int(wait[1]) + request_s + 10


def test_each_bot_pod_derives_its_shards_and_together_they_run_every_shard_once(k8s):
    from bot.settings import ConfigError

    sts = k8s[("StatefulSet", "poembot-bot")]
    env = env_of(the_container(sts, "bot"))
    assert env["POEMBOT_BOT_ORDINAL"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert "SHARD_IDS" not in env and int(env["POEMBOT_BOTS"]["value"]) == sts["spec"]["replicas"]
    plain = {k: v["value"] for k, v in env.items() if "value" in v and k != "WORKER_URL"}
    name = sts["metadata"]["name"]
    ran = []
    for ordinal in range(sts["spec"]["replicas"]):
        settings = settings_from({**plain, "POEMBOT_BOT_ORDINAL": f"{name}-{ordinal}"})
        assert settings.shard_count == int(env["SHARD_COUNT"]["value"])
        ran += settings.shard_ids
    assert sorted(ran) == list(range(int(env["SHARD_COUNT"]["value"])))
    with pytest.raises(ConfigError, match="POEMBOT_BOTS"):  # `kubectl scale` without POEMBOT_BOTS: refused
        settings_from({**plain, "POEMBOT_BOT_ORDINAL": f"{name}-{sts['spec']['replicas']}"})


def test_the_bot_pods_serve_metrics_where_their_probes_look_and_keep_the_token_in_a_secret(k8s):
    sts = k8s[("StatefulSet", "poembot-bot")]
    c = the_container(sts, "bot")
    env = env_of(c)
    metrics = int(env["POEMBOT_METRICS_PORT"]["value"])
    assert port_number(c, "metrics") == metrics
    # alive while its event loop answers (/livez); ready only while connected to Discord (/healthz)
    for probe, path in (("startupProbe", "/livez"), ("readinessProbe", "/healthz"), ("livenessProbe", "/livez")):
        assert c[probe]["httpGet"]["path"] == path and port_number(c, c[probe]["httpGet"]["port"]) == metrics
    service = k8s[("Service", sts["spec"]["serviceName"])]
    assert (
        service["spec"]["clusterIP"] == "None" and service["spec"]["selector"] == sts["spec"]["selector"]["matchLabels"]
    )
    assert env["DISCORD_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "poembot", "key": "discord-token"}
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "poembot", "key": "database-url"}
    assert not any(r["kind"] == "Secret" for r in k8s.values()), "no secret in the repository"


def test_migrations_run_once_a_release_in_a_job_named_for_it(k8s):
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    (job,) = [r for (kind, _), r in k8s.items() if kind == "Job"]
    assert job["metadata"]["name"] == "poembot-migrate-" + version.replace(".", "-")
    c = the_container(job, "migrate")
    assert c["command"] == ["python", "-m", "bot", "migrate"]
    bot = the_container(k8s[("StatefulSet", "poembot-bot")], "bot")
    assert env_of(c)["DATABASE_URL"] == env_of(bot)["DATABASE_URL"] and c["image"] == bot["image"]
    assert env_of(bot)["POEMBOT_MIGRATE_ON_START"]["value"] == "0", "not every bot at once"
    assert "initContainers" not in pod_spec(k8s[("StatefulSet", "poembot-bot")])


def test_pods_run_unprivileged_with_limits_and_pinned_images(k8s):
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    for (kind, name), resource in k8s.items():
        if "template" not in resource.get("spec", {}):
            continue
        pod = pod_spec(resource)
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, f"{name} does not call the Kubernetes API"
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True, name
            assert sc["capabilities"] == {"drop": ["ALL"]}, name
            for part in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"][part]), f"{name}: {part}"
            image, _, tag = c["image"].rpartition(":")
            assert tag and tag != "latest" and "/" not in tag, f"{name}: {c['image']} is not pinned"
            if image.startswith("poembot-"):
                assert tag == version, f"{name}: our images carry the release's version"
            else:
                assert re.fullmatch(r"\d+\.\d+", tag), f"{name}: pin {image} to a minor release"


def test_the_readme_s_kubernetes_commands_name_what_the_manifests_use(k8s):
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme[readme.index("### Running on Kubernetes") :]
    section = section[: section.index("\n### ", 1)]
    env = env_of(the_container(k8s[("StatefulSet", "poembot-bot")], "bot"))
    for var in ("DISCORD_TOKEN", "DATABASE_URL"):
        ref = env[var]["valueFrom"]["secretKeyRef"]
        assert f"kubectl create secret generic {ref['name']} " in section
        assert f"--from-literal={ref['key']}=" in section, f"the README's secret lacks {ref['key']}"
    (job,) = [name for kind, name in k8s if kind == "Job"]
    assert f"job/{job} " in section, "the README waits for this release's migrate Job"
    assert "deploy/kubernetes/migrate-job.yaml" in section and (K8S / "migrate-job.yaml").exists()


def test_the_secrets_example_gives_the_bot_and_postgres_their_secrets_as_files(compose):
    """docker-compose.secrets.yml: each secret file is named like a variable the bot reads (it
    reads /run/secrets), postgres reads the same password file, and the bot's health check is
    its connection to Discord (the migrate step, which exits, has none)."""
    import json

    import jsonschema

    from bot.settings import ALIASES, SECRETS_DIR

    secrets = yaml.safe_load((ROOT / "docker-compose.secrets.yml").read_text())
    schema = json.loads((ROOT / "tests" / "fixtures" / "compose-spec.json").read_text("utf-8"))
    jsonschema.validate(secrets, schema, cls=jsonschema.Draft7Validator)
    assert {name.upper() for name in secrets["secrets"]} <= ALIASES and str(SECRETS_DIR) == "/run/secrets"
    s = secrets["services"]
    assert set(s["bot"]["secrets"]) == {"discord_token", "database_password"}
    assert s["migrate"]["secrets"] == ["database_password"] and s["postgres"]["secrets"] == ["database_password"]
    assert s["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/database_password"
    for name in ("bot", "migrate"):
        url = settings_from(
            {"DATABASE_URL": s[name]["environment"]["DATABASE_URL"], "DATABASE_PASSWORD": "pw"}
        ).database_url
        assert url.startswith("postgresql+asyncpg://poembot:pw@postgres:5432/"), url
    assert "/healthz" in " ".join(compose["services"]["bot"]["healthcheck"]["test"])
    assert compose["services"]["migrate"]["healthcheck"] == {"disable": True}
