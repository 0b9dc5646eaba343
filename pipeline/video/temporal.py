"""Temporal stability of per-frame stylization: a flicker metric and motion-compensated smoothing."""
from __future__ import annotations

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


def stabilise(inputs: np.ndarray, outputs: np.ndarray, strength: float = 0.7, tolerance: float = 12.0) -> np.ndarray:
    """Blend each stylized frame with the previous result warped along the input's optical flow.

    Where the warped previous input matches the current input (no occlusion, no cut) the blend
    weight approaches `strength`; where it does not (error well above `tolerance` grey levels)
    the fresh stylized frame is kept, so moving content does not smear.
    """
    if strength <= 0 or len(outputs) < 2:
        return outputs
    result = outputs.astype(np.float32).copy()
    grey = [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in inputs]
    h, w = grey[0].shape
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    for t in range(1, len(outputs)):
        flow = cv2.calcOpticalFlowFarneback(grey[t], grey[t - 1], None, 0.5, 3, 15, 3, 5, 1.2, 0)
        map_x, map_y = grid_x + flow[..., 0], grid_y + flow[..., 1]
        warped_out = cv2.remap(result[t - 1], map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        warped_in = cv2.remap(inputs[t - 1].astype(np.float32), map_x, map_y, cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
        error = np.abs(warped_in - inputs[t].astype(np.float32)).mean(axis=-1, keepdims=True)
        weight = strength * np.exp(-((error / tolerance) ** 2))
        result[t] = weight * warped_out + (1 - weight) * result[t]
    return np.clip(np.rint(result), 0, 255).astype(np.uint8)
