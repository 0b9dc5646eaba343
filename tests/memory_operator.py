"""A test operator that returns its frames unchanged and appends its process's peak RSS (KiB) to
the file named by `--set log=PATH` at every call: a test reads how much a model actor ever held.
Named `memory_operator:SPEC` on the CLI."""
from __future__ import annotations

import resource
from typing import Any, Mapping

import numpy as np

from operators.spec import OperatorSpec, Option


class PeakMemoryLogger:
    def __init__(self, options: Mapping[str, Any], device: str, storage_options: Mapping[str, Any]) -> None:
        self.log = options["log"]

    def __call__(self, images: np.ndarray) -> np.ndarray:
        with open(self.log, "a") as f:
            f.write(f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}\n")
        return images


SPEC = OperatorSpec(name="memory", summary="identity; logs the actor's peak RSS",
                    options=(Option("log", "", "file to append the peak RSS (KiB) to"),), input_mode="RGB",
                    method="feed-forward", batch_size=4, build=PeakMemoryLogger)
