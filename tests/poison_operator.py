"""A test operator whose worker dies (SIGKILL, as the kernel's OOM killer does) on one kind of
image: pure red. Every other image comes back inverted. Named `poison_operator:SPEC` on the CLI."""
from __future__ import annotations

import os
import signal
from typing import Any, Mapping

import numpy as np

from operators.spec import Option, OperatorSpec

POISON_RGB = (255, 0, 0)


def is_poison(image: np.ndarray) -> bool:
    return bool((image.reshape(-1, image.shape[-1]) == POISON_RGB).all())


class PoisonStylizer:
    def __init__(self, options: Mapping[str, Any], device: str, storage_options: Mapping[str, Any]) -> None:
        self.darker = int(options.get("darker", 0))

    def __call__(self, images: np.ndarray) -> np.ndarray:
        if any(is_poison(image) for image in images):
            os.kill(os.getpid(), signal.SIGKILL)
        return np.clip(255 - images.astype(int) - self.darker, 0, 255).astype(np.uint8)


SPEC = OperatorSpec(name="poison", summary="dies on pure red images",
                    options=(Option("darker", 0, "levels taken off every inverted value (variants differ by it)"),),
                    input_mode="RGB",
                    method="feed-forward", batch_size=4, build=PoisonStylizer)
