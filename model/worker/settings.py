"""The worker's settings, from the environment and `.env` (the bot's own are in
bot/settings.py)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .. import corpus
from ..checkpoint import shipped


def available_cpus() -> int:
    """The cores this process may use: its CPU affinity, and a container's CPU quota
    (cgroup v2 cpu.max, as `docker run --cpus` sets it), not the host's count."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cpus)


@dataclass
class WorkerSettings:
    checkpoints: dict[int, Path | None]  # form -> checkpoint path (None = shipped)
    max_batch: int = 64  # poems in one forward pass
    max_wait_ms: float = 5.0  # how long a batch may wait for the poems likely to come soon
    threads: int = 0  # torch intra-op threads (0 = one per core this process may use)
    max_queue: int = 512  # poems waiting (and other jobs) past which requests get 429, busy

    @classmethod
    def from_env(cls, env: WorkerEnvironment | None = None) -> WorkerSettings:
        env = worker_environment() if env is None else env
        shipped_forms = ",".join(str(f) for f in corpus.FORMS if shipped(f).with_suffix(".json").exists())
        forms = sorted({int(f) for f in (env.forms or shipped_forms or "5").split(",") if f.strip()})
        paths = {5: env.checkpoint_5, 7: env.checkpoint_7}
        return cls(
            checkpoints={f: paths[f] for f in forms},
            max_batch=env.max_batch,
            max_wait_ms=env.max_wait_ms,
            threads=env.threads,
            max_queue=env.max_queue,
        )


class SettingsError(ValueError):
    """A worker setting that cannot work; one line naming the variable."""


class WorkerEnvironment(BaseSettings):
    """Every setting the worker reads (the bot's own are in bot/settings.py), from the
    environment and `.env`."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True)

    forms: str | None = Field(
        None,
        alias="POEMBOT_FORMS",
        description="the forms the worker loads: `5`, `7` or `5,7`; default: the shipped ones",
    )
    checkpoint_5: Path | None = Field(
        None, alias="POEMBOT_CHECKPOINT_5", description="a checkpoint (path without suffix) for 5-character poems"
    )
    checkpoint_7: Path | None = Field(
        None, alias="POEMBOT_CHECKPOINT_7", description="a checkpoint (path without suffix) for 7-character poems"
    )
    max_batch: int = Field(64, alias="POEMBOT_MAX_BATCH", ge=1, le=1024, description="poems in one forward pass")
    max_queue: int = Field(
        512,
        alias="POEMBOT_MAX_QUEUE",
        ge=1,
        description="poems waiting (and other jobs) past which a request is refused: 429 busy, with Retry-After",
    )
    max_wait_ms: float = Field(
        5.0,
        alias="POEMBOT_MAX_WAIT_MS",
        ge=0,
        le=1000,
        allow_inf_nan=False,
        description="how long a batch may wait for the poems likely to come soon",
    )
    threads: int = Field(
        0, alias="POEMBOT_THREADS", ge=0, description="torch threads; 0: the cores this process may use"
    )
    host: str = Field(
        "127.0.0.1",
        alias="POEMBOT_WORKER_HOST",
        description="where `poembot-model serve` listens (`0.0.0.0` in a container)",
    )
    port: int = Field(8500, alias="POEMBOT_WORKER_PORT", ge=1, le=65535, description="the port it listens on")
    progress: bool = Field(
        False, alias="POEMBOT_PROGRESS", description="1: show training progress bars even when stderr is not a terminal"
    )

    @field_validator("forms")
    @classmethod
    def _forms(cls, value: str | None) -> str | None:
        if value is not None and not {f.strip() for f in value.split(",") if f.strip()} <= {"5", "7"}:
            raise ValueError("the forms are 5, 7 or 5,7")
        return value


def worker_environment() -> WorkerEnvironment:
    try:
        return WorkerEnvironment()
    except ValidationError as e:
        first = e.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "a worker setting"
        detail = first["msg"].removeprefix("Value error, ")
        detail = detail[:1].lower() + detail[1:]
        raise SettingsError(f"{name}: {detail}, not {first.get('input')!r}") from None
