"""Peak resident memory of a benchmark's processes, sampled while they run."""
from __future__ import annotations

import threading
import time

import psutil


class PeakMemory:
    """Samples RSS every `interval` s: summed over every process that did not exist when sampling
    began (Ray's daemons and workers included) or is `pid`, and of that one process alone (the
    driver). Processes are told apart by pid, not by start time: psutil's start times derive from
    the boot time in whole seconds and can be a second early."""

    def __init__(self, pid: int | None = None, interval: float = 0.2) -> None:
        self.pid, self.interval = pid, interval
        self.total = 0
        self.process = 0
        self._before: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> "PeakMemory":
        self._before = set(psutil.pids()) - {self.pid}
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            total = 0
            for p in psutil.process_iter(["pid", "memory_info"]):
                info = p.info
                if info["pid"] not in self._before and info["memory_info"]:
                    total += info["memory_info"].rss
                    if info["pid"] == self.pid:
                        self.process = max(self.process, info["memory_info"].rss)
            self.total = max(self.total, total)
            time.sleep(self.interval)
