"""Connecting to Ray: the cluster named by RAY_ADDRESS (as `ray job submit` sets it), else a local instance."""
from __future__ import annotations

import os

import ray


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
        ray.init(address="local", include_dashboard=dashboard, logging_level="WARNING")
