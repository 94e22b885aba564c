"""The worker's settings, each declared once (`WorkerSettings`), from the environment and
`.env` (the bot's own are in bot/settings.py). Torch-free: the bot reads the names here to
know every variable of the project."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, DotEnvSettingsSource

from ..text import FORMS

ENV_FILE = Path(".env")  # read from the working directory; the environment wins


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


class SettingsError(ValueError):
    """A worker setting that cannot work; one line naming the variable."""


class WorkerSettings(BaseModel):
    """Every setting the worker reads (the bot's own are in bot/settings.py). `WorkerSettings(...)`
    holds what it is given (tests); `from_env()` reads the environment and `.env`."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

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

    # form -> checkpoint path (None: the shipped one); `from_env` fills it from the variables above
    checkpoints: dict[int, Path | None] = Field(default_factory=dict)

    @field_validator("forms")
    @classmethod
    def _forms(cls, value: str | None) -> str | None:
        if value is not None and not {f.strip() for f in value.split(",") if f.strip()} <= {"5", "7"}:
            raise ValueError("the forms are 5, 7 or 5,7")
        return value

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, env_file: Path | None = ENV_FILE, checkpoints: bool = True
    ) -> WorkerSettings:
        """The settings `environ` (default: this process's environment) gives, over those of
        `env_file`, with the `checkpoints` to serve found (unless not asked: training reads
        its settings here too); an empty variable is unset. A `SettingsError` names a bad one."""
        environ = os.environ if environ is None else environ
        dotenv = (
            {}
            if env_file is None
            else DotEnvSettingsSource(BaseSettings, env_file=env_file, case_sensitive=True).env_vars
        )
        names = {info.alias for info in cls.model_fields.values() if info.alias}
        given = {k.upper(): v for source in (dotenv, environ) for k, v in source.items() if v}
        try:
            settings = cls.model_validate({k: v for k, v in given.items() if k in names})
        except ValidationError as e:
            first = e.errors()[0]
            name = str(first["loc"][0]) if first["loc"] else "a worker setting"
            detail = first["msg"].removeprefix("Value error, ")
            detail = detail[:1].lower() + detail[1:]
            raise SettingsError(f"{name}: {detail}, not {first.get('input')!r}") from None
        if checkpoints:
            settings.checkpoints = settings._checkpoints()
        return settings

    def _checkpoints(self) -> dict[int, Path | None]:
        """The forms to load (POEMBOT_FORMS; default: those shipped, else those given a
        checkpoint), each with its checkpoint (None: the shipped one)."""
        from ..checkpoint import shipped  # (torch: only a worker reads its checkpoints)

        given = {5: self.checkpoint_5, 7: self.checkpoint_7}
        shipped_forms = [f for f in FORMS if shipped(f).with_suffix(".json").exists()]
        forms = self.forms or ",".join(map(str, shipped_forms or [f for f in FORMS if given[f]]))
        if not forms:
            raise SettingsError(
                "POEMBOT_CHECKPOINT_5: this install carries no model (the wheel ships without weights): set "
                "POEMBOT_CHECKPOINT_5 or _7 to a checkpoint (its path without suffix, like a checkout's "
                "model/checkpoints/quatrain5), or run the worker image"
            )
        return {int(f): given[int(f)] for f in sorted({f.strip() for f in forms.split(",") if f.strip()})}
