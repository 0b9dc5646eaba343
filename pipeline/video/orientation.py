"""Decoded video frames as players show them: turned by the stream's display matrix.

A phone records a portrait clip as landscape pictures plus a display matrix saying how to turn
them. Encoders write no such matrix here, so the model and the output get the frames upright, as
FFmpeg's command line turns them (`-autorotate`, its default): FFmpeg reports the matrix's
rotation counter-clockwise, and players turn the picture back by it. Quarter turns only: another
angle is rounded to the nearest one; a mirroring matrix is not applied.
"""
from __future__ import annotations

import av
import cv2
import numpy as np

from pipeline.video.colour_plan import ColourPlan

TURNS = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


def clockwise_turn(frame: av.VideoFrame) -> int:
    """Degrees (0, 90, 180 or 270) to turn `frame` clockwise for display."""
    return round(-frame.rotation / 90) % 4 * 90


def displayed_rgb(frame: av.VideoFrame, colour: ColourPlan | None = None) -> np.ndarray:
    """The frame as (H, W, 3) uint8 RGB as `colour` (by default the frame's own tags, HDR
    tone-mapped) has the model see it, turned upright."""
    rgb = (colour or ColourPlan.of_frame(frame)).rgb(frame)
    turn = clockwise_turn(frame)
    return cv2.rotate(rgb, TURNS[turn]) if turn else rgb
