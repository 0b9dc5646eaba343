"""Connecting to Ray: the cluster named by RAY_ADDRESS (as `ray job submit` sets it), else a local instance."""
from __future__ import annotations

import contextlib
import os
import signal
import threading
import warnings
from typing import Any, Callable, Iterator, TypeVar

import ray
import ray.data
from ray.exceptions import GetTimeoutError
from ray.util.annotations import RayDeprecationWarning

from pipeline.settings import TASK_CPUS

T = TypeVar("T")
_WORKER_LOGS = {"to_driver": True}


def show_worker_logs(shown: bool) -> None:
    """Whether the workers' output is printed by the driver (else it stays in the session's log files)."""
    _WORKER_LOGS["to_driver"] = shown


def session_log_dir() -> str:
    """The log folder of the Ray session this process is connected to ("" before `ensure_ray`)."""
    node = ray._private.worker._global_node if ray.is_initialized() else None
    return os.path.join(node.get_session_dir_path(), "logs") if node else ""


def ensure_ray(dashboard: bool = False) -> None:
    """Initialise Ray once per process.

    A local instance starts without the dashboard unless asked: on a small machine its agents
    take CPU time from the model. Training asks for it: Ray Train watches its controller through
    the state API, which the dashboard serves. Set RAY_ADDRESS (or submit with `ray job submit`)
    to use a cluster.
    """
    if ray.is_initialized():
        return
    own_sigterm = signal.getsignal(signal.SIGTERM)
    _init(dashboard)
    if callable(own_sigterm) and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, own_sigterm)  # ray.init puts its own (sys.exit) in place of the command's


def _init(dashboard: bool) -> None:
    address = os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, logging_level="WARNING", log_to_driver=_WORKER_LOGS["to_driver"])
    else:
        # Ray Data's context loads its issue detectors on first use (0.3-0.7 s); a local start spends
        # seconds waiting for its daemons, so the context is made meanwhile.
        context = threading.Thread(target=ray.data.DataContext.get_current, daemon=True)
        context.start()
        ray.init(address="local", include_dashboard=dashboard, logging_level="WARNING",
                 log_to_driver=_WORKER_LOGS["to_driver"])
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


@contextlib.contextmanager
def bounded_retries() -> Iterator[None]:
    """Around a `map_batches` call given `max_retries`, `max_restarts` or `max_task_retries`: Ray 2.60
    has no named parameter for them yet and warns that the unnamed ones will go; bounded retries are
    what keeps a poison input from retrying forever, so they stay, without the warning."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="`ray_remote_args` is deprecated", category=RayDeprecationWarning)
        yield
