"""Connecting to Ray: the cluster named by RAY_ADDRESS (as `ray job submit` sets it), else a local instance."""
from __future__ import annotations

import os
import threading
from typing import Any, Callable, TypeVar

import ray
import ray.data
from ray.exceptions import GetTimeoutError

from pipeline.settings import TASK_CPUS

T = TypeVar("T")


def ensure_ray(dashboard: bool = False) -> None:
    """Initialise Ray once per process.

    A local instance starts without the dashboard unless asked: on a small machine its agents
    take CPU time from the model. Training asks for it: Ray Train watches its controller through
    the state API, which the dashboard serves. Set RAY_ADDRESS (or submit with `ray job submit`)
    to use a cluster.
    """
    if ray.is_initialized():
        return
    address = os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, logging_level="WARNING")
    else:
        # Ray Data's context loads its issue detectors on first use (0.3-0.7 s); a local start spends
        # seconds waiting for its daemons, so the context is made meanwhile.
        context = threading.Thread(target=ray.data.DataContext.get_current, daemon=True)
        context.start()
        ray.init(address="local", include_dashboard=dashboard, logging_level="WARNING")
        context.join()


def run_bounded(fn: Callable[..., T], *args: Any, seconds: float) -> T:
    """`fn(*args)` in a Ray task, never in the caller's process, and never retried: for work on untrusted
    input, where a crashing parser must take only its worker. After `seconds` the task is cancelled and
    GetTimeoutError raised; its own errors (or RayError if its worker died) reach the caller."""
    ensure_ray()
    ref = ray.remote(fn).options(num_cpus=TASK_CPUS, max_retries=0).remote(*args)
    try:
        return ray.get(ref, timeout=seconds)
    except GetTimeoutError:
        ray.cancel(ref, force=True)
        raise
