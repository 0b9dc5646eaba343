"""Temporal stability of per-frame stylization: a flicker metric and motion-compensated smoothing."""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np


def flicker(frames: np.ndarray) -> float:
    """Mean absolute difference of consecutive frames (T, H, W, C), in grey levels."""
    if len(frames) < 2:
        return 0.0
    return float(np.abs(np.diff(frames.astype(np.int16), axis=0)).mean())


def relative_flicker(inputs: np.ndarray, outputs: np.ndarray) -> float:
    """Output flicker over input flicker: 1.0 means the stylization adds no frame-to-frame change."""
    base = flicker(inputs)
    return flicker(outputs) / base if base else 0.0


class FlickerMeter:
    """`flicker` of a sequence that arrives in chunks: the sum of consecutive-frame differences,
    the last frame carried over to the next chunk."""

    def __init__(self) -> None:
        self.total, self.pairs = 0.0, 0
        self.last: np.ndarray | None = None

    def add(self, frames: Sequence[np.ndarray]) -> None:
        for frame in frames:  # one pair at a time in uint8 (SIMD, no wide temporaries)
            if self.last is not None:
                self.total += cv2.norm(frame, self.last, cv2.NORM_L1) / frame.size
                self.pairs += 1
            self.last = frame

    @property
    def value(self) -> float:
        return self.total / self.pairs if self.pairs else 0.0


class Stabiliser:
    """Blend each stylized frame with the previous result warped along the input's optical flow;
    fed chunk by chunk, the previous frame carried over.

    Where the warped previous input matches the current input (no occlusion, no cut) the blend
    weight approaches `strength`; where it does not (error well above `tolerance` grey levels)
    the fresh stylized frame is kept, so moving content does not smear.
    """

    def __init__(self, strength: float = 0.7, tolerance: float = 12.0) -> None:
        self.strength, self.tolerance = strength, tolerance
        self.previous: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # input, its grey, result

    def __call__(self, inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray]) -> Sequence[np.ndarray]:
        if self.strength <= 0 or not len(outputs):
            return outputs
        result = np.array(outputs, np.float32)
        for t in range(len(outputs)):
            grey = cv2.cvtColor(inputs[t], cv2.COLOR_RGB2GRAY)
            if self.previous is not None:
                result[t] = self._blend(inputs[t], grey, result[t])
            self.previous = (inputs[t], grey, result[t])
        return np.clip(np.rint(result), 0, 255).astype(np.uint8)

    def _blend(self, frame: np.ndarray, grey: np.ndarray, fresh: np.ndarray) -> np.ndarray:
        last_input, last_grey, last_result = self.previous
        h, w = grey.shape
        grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        flow = cv2.calcOpticalFlowFarneback(grey, last_grey, None, 0.5, 3, 15, 3, 5, 1.2, 0)
        map_x, map_y = grid_x + flow[..., 0], grid_y + flow[..., 1]
        warped_out = cv2.remap(last_result, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        warped_in = cv2.remap(last_input.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
        error = np.abs(warped_in - frame.astype(np.float32)).mean(axis=-1, keepdims=True)
        weight = self.strength * np.exp(-((error / self.tolerance) ** 2))
        return weight * warped_out + (1 - weight) * fresh


def stabilise(inputs: np.ndarray, outputs: np.ndarray, strength: float = 0.7, tolerance: float = 12.0) -> np.ndarray:
    """`Stabiliser` over a whole sequence at once."""
    return Stabiliser(strength, tolerance)(inputs, outputs)
