"""Connecting to Ray: the cluster named by RAY_ADDRESS (as `ray job submit` sets it), else a local instance."""
from __future__ import annotations

import os

import ray


def ensure_ray() -> None:
    """Initialise Ray once per process.

    A local instance starts without the dashboard: on a small machine its agents take CPU time
    from the model. Set RAY_ADDRESS (or submit with `ray job submit`) to use a cluster.
    """
    if ray.is_initialized():
        return
    address = os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, logging_level="WARNING")
    else:
        ray.init(address="local", include_dashboard=False, logging_level="WARNING")
