"""Waiting for something a background thread or process does, without a fixed sleep that a loaded
machine can outlast."""
from __future__ import annotations

import time
from typing import Callable


def wait_until(settled: Callable[[], bool], seconds: float) -> bool:
    """Whether `settled` comes true within `seconds` (asked every 0.1 s)."""
    deadline = time.monotonic() + seconds
    while not settled():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True
