"""RGB frames to the planar 4:2:0 YUV every output encoder takes.

swscale has no fast path from packed RGB to yuv420p: at 1080p its scaler takes ~14 ms a frame on
one core, about a tenth of x264's own time. OpenCV converts in under 2 ms but point-samples the
chroma (one pixel of each 2x2 block), which aliases fine colour detail. Here luma comes from
OpenCV and chroma from the 2x2 box average of the RGB frame (chroma is affine in RGB, so that is
the average of the four pixels' chroma): ~3 ms, filtered chroma, the same BT.601 limited-range
matrix swscale uses by default.
"""
from __future__ import annotations

import cv2
import numpy as np

# full-range (JPEG) Cb/Cr, as OpenCV's YCrCb gives them, to the limited range (16-240) of video
LIMITED_CHROMA_GAIN = 224 / 255
LIMITED_CHROMA_OFFSET = 128 * (1 - LIMITED_CHROMA_GAIN)


def rgb_to_yuv420p(rgb: np.ndarray) -> np.ndarray:
    """An (H, W, 3) uint8 RGB frame with even sides to PyAV's yuv420p layout: (H * 3 / 2, W) uint8,
    the Y plane then the U and V planes, each (H / 2, W / 2) stored row after row."""
    h, w = rgb.shape[:2]
    yuv = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)  # Y exact; its chroma is replaced below
    planes = yuv.reshape(-1)[h * w :]  # U then V; a plane ends mid-row of the layout when h is not a multiple of 4
    u, v = (planes[k * (h // 2) * (w // 2) : (k + 1) * (h // 2) * (w // 2)].reshape(h // 2, w // 2) for k in (0, 1))
    ycrcb = cv2.cvtColor(cv2.resize(rgb, (w // 2, h // 2), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2YCrCb)
    cv2.mixChannels([ycrcb], [u, v], [2, 0, 1, 1])  # Cb to U, Cr to V
    for plane in (u, v):
        cv2.addWeighted(plane, LIMITED_CHROMA_GAIN, plane, 0.0, LIMITED_CHROMA_OFFSET, dst=plane)
    return yuv
