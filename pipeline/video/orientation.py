"""Decoded video frames as players show them: turned by the stream's display matrix.

A phone records a portrait clip as landscape pictures plus a display matrix saying how to turn
them. Encoders write no such matrix here, so the model and the output get the frames upright, as
FFmpeg's command line turns them (`-autorotate`, its default): FFmpeg reports the matrix's
rotation counter-clockwise, and players turn the picture back by it. Quarter turns only: another
angle is rounded to the nearest one; a mirroring matrix is not applied.
"""
from __future__ import annotations

import av
import numpy as np

from pipeline.video.colour_plan import ColourPlan


def clockwise_turn(frame: av.VideoFrame) -> int:
    """Degrees (0, 90, 180 or 270) to turn `frame` clockwise for display."""
    return round(-frame.rotation / 90) % 4 * 90


def displayed_rgb(frame: av.VideoFrame) -> np.ndarray:
    """The frame as (H, W, 3) uint8 RGB through its own tags (HDR tone-mapped), turned upright."""
    return upright(ColourPlan.of_frame(frame).rgb(frame), clockwise_turn(frame))


def upright(picture: np.ndarray, turn: int) -> np.ndarray:
    """A picture (any dtype) turned `turn` degrees clockwise."""
    return picture if not turn else np.ascontiguousarray(np.rot90(picture, k=-turn // 90))
