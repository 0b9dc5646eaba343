"""The settings every model-running command shares: which operator, how it is configured, how the
actor pool is sized. The CLI flags that fill them are in `jobs/common.py`."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ModelSettings:
    """`--operator NAME`, `--set KEY=VALUE` (and `--weights URL`, the same as `--set weights=URL`)."""

    operator: str
    requested: dict[str, str] = field(default_factory=dict)  # option -> value as given, before the operator parses it


DEFAULT_MAX_RETRIES = 3
CPU_ACTORS_MAX = 8  # model actors on a GPU-less cluster: one per core up to this, so memory stays bounded on big nodes
TASK_CPUS = 0.25  # what a CPU task reserves: differs from any actor reservation, so CPU steps never fuse into the model actor


@dataclass(frozen=True)
class PoolSettings:
    """`--batch-size`, `--actors`, `--gpus-per-actor` (None lets the run choose from the cluster) and
    `--max-retries`: how often work whose worker died (killed for memory, a native crash, a lost
    node) is tried again before only its own inputs fail."""

    batch_size: int | None = None
    actors: int | None = None
    gpus_per_actor: float | None = None
    max_retries: int = DEFAULT_MAX_RETRIES


@dataclass
class RunRequest:
    """What every model-running command is asked first: where from, where to, with which model, on
    which pool, with which storage options. Each command's config adds its own flags to it."""

    input: str
    output: str
    model: ModelSettings
    pool: PoolSettings = field(default_factory=PoolSettings)
    storage_options: dict[str, Any] = field(default_factory=dict)
