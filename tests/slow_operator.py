"""A test operator that returns its frames unchanged after `--set seconds=S` a call: a video
segment then lasts long enough for the pool to hand its actor the next one while it runs. Named
`slow_operator:SPEC` on the CLI."""
from __future__ import annotations

import time
from typing import Any, Mapping

import numpy as np

from operators.spec import OperatorSpec, Option


class SlowIdentity:
    def __init__(self, options: Mapping[str, Any], device: str, storage_options: Mapping[str, Any]) -> None:
        self.seconds = float(options["seconds"])

    def __call__(self, images: np.ndarray) -> np.ndarray:
        time.sleep(self.seconds)  # a sleep holds no core: the other segment's threads run meanwhile
        return images


SPEC = OperatorSpec(name="slow", summary="identity, after a set time a call",
                    options=(Option("seconds", 0.05, "seconds each call takes"),), input_mode="RGB",
                    method="feed-forward", batch_size=4, build=SlowIdentity)
