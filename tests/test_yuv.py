"""RGB to yuv420p for the encoders: swscale's luma, chroma filtered over each 2x2 block, PyAV's layout."""
from __future__ import annotations

import av
import numpy as np
import pytest

from pipeline.video.yuv import rgb_to_yuv420p


def swscale(rgb: np.ndarray) -> np.ndarray:
    return av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p").to_ndarray()


def chroma(yuv: np.ndarray, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    planes = yuv.reshape(-1)[h * w :].astype(int)
    return planes[: planes.size // 2].reshape(h // 2, w // 2), planes[planes.size // 2 :].reshape(h // 2, w // 2)


@pytest.mark.parametrize("h, w", [(48, 64), (6, 10), (542, 962)])  # 6 and 542 rows: planes end mid-row
def test_planes_are_swscales_in_pyavs_layout(h: int, w: int) -> None:
    """Luma equals swscale's (BT.601, limited range) within a level at every pixel; chroma too, away
    from colour edges (where the two filters differ); PyAV reads the layout back as the picture."""
    rng = np.random.default_rng(0)
    patches = rng.integers(0, 256, (-(-h // 16), -(-w // 16), 3), dtype=np.uint8)
    rgb = np.ascontiguousarray(patches.repeat(16, axis=0).repeat(16, axis=1)[:h, :w])
    ours, theirs = rgb_to_yuv420p(rgb), swscale(rgb)
    assert ours.shape == theirs.shape == (h * 3 // 2, w)
    assert np.abs(ours[:h].astype(int) - theirs[:h]).max() <= 1
    rows, cols = np.mgrid[0 : h // 2, 0 : w // 2]
    # chroma samples whose neighbours all lie in the same patch
    inside = (rows % 8 > 0) & (rows % 8 < 7) & (cols % 8 > 0) & (cols % 8 < 7)
    for mine, reference in zip(chroma(ours, h, w), chroma(theirs, h, w)):
        assert np.abs(mine - reference)[inside].max() <= 1
    back = av.VideoFrame.from_ndarray(ours, format="yuv420p").to_ndarray(format="rgb24")
    assert np.abs(back.astype(int) - rgb).mean() < 3


def test_chroma_is_the_average_of_each_block_not_one_pixel() -> None:
    """Red and blue columns alternating: every 2x2 block holds both, so its chroma is purple's, not
    red's or blue's as a point-sampling conversion (OpenCV's own I420) would give."""
    h, w = 8, 16
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[:, 0::2, 0] = 255
    rgb[:, 1::2, 2] = 255
    u, v = chroma(rgb_to_yuv420p(rgb), h, w)
    purple = np.full((2, 2, 3), (127.5, 0, 127.5))
    expected_u = -0.148 * purple[0, 0, 0] - 0.291 * purple[0, 0, 1] + 0.439 * purple[0, 0, 2] + 128
    expected_v = 0.439 * purple[0, 0, 0] - 0.368 * purple[0, 0, 1] - 0.071 * purple[0, 0, 2] + 128
    assert np.abs(u - expected_u).max() <= 1.5 and np.abs(v - expected_v).max() <= 1.5
    y = rgb_to_yuv420p(rgb)[:h].astype(int)
    assert abs(y[0, 0] - 82) <= 1 and abs(y[0, 1] - 41) <= 1  # luma stays per pixel: red's and blue's
