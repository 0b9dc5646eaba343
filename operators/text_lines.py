"""Typed page scans cut into text lines and put back: deskew, projection profile, line boxes.

Pure NumPy/PIL, no model: the handwriting operator converts each line box at model height and
pastes the result where the line was, so the page keeps its size and margins.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

SKEW_RANGE = 5.0  # degrees searched either way
SKEW_STEP = 0.25


FRAGMENT_SHARE = 0.3  # a band under this share of the median band is part of a line (dots, descenders), not one
BASELINE_SHARE = 0.3  # rows below the baseline (descenders, commas) carry less ink than this share of the busiest row


@dataclass(frozen=True)
class LineBox:
    """Rows [top, bottom) and columns [left, right) of one text line on the deskewed page, and the
    row its letters stand on."""

    top: int
    bottom: int
    left: int
    right: int
    baseline: int

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def ascent(self) -> int:
        """Rows from the tops of capitals and ascenders down to the baseline: the line's type size,
        whatever its case (an all-capitals line has no descenders, a lower-case one has)."""
        return self.baseline + 1 - self.top


def baseline_row(rows: np.ndarray) -> int:
    """The last row of a line's ink profile (ink pixels per row) carrying at least BASELINE_SHARE
    of its busiest row: letter bodies end on the baseline, below it only descenders and commas."""
    return int(np.flatnonzero(rows >= BASELINE_SHARE * rows.max())[-1])


def paper_level(gray: np.ndarray) -> np.ndarray:
    """The paper's brightness at every pixel (uneven lighting, shadows, yellowing): a grey-level
    closing (max filter over about 1/20 of the page, on a reduced copy) smoothed and enlarged back."""
    height, width = gray.shape
    step = max(1, min(height, width) // 200)
    small = Image.fromarray(gray[::step, ::step])
    reach = max(3, (max(small.size) // 20) | 1)
    closed = small.filter(ImageFilter.MaxFilter(min(reach, 31))).filter(ImageFilter.GaussianBlur(reach / 2))
    return np.asarray(closed.resize((width, height), Image.BILINEAR), np.float32)


def normalise_paper(gray: np.ndarray) -> np.ndarray:
    """Levels flattened so the paper is white (255) everywhere and the darkest ink black: float32 in [0, 255]."""
    flat = gray.astype(np.float32) / np.maximum(paper_level(gray), 1.0) * 255.0
    paper = float(np.percentile(flat, 90))
    ink = float(np.percentile(flat, 0.5))
    if paper - ink < 16:  # a few lines of small print on a large page: the darkest 0.05% is their ink
        ink = float(np.percentile(flat, 0.05))
    if paper - ink < 16:  # a blank page or a flat image: nothing to stretch
        return np.full(gray.shape, 255.0, np.float32) if paper > 128 else flat
    return np.clip((flat - ink) * (255.0 / (paper - ink)), 0, 255)


def ink_mask(gray: np.ndarray) -> np.ndarray:
    """Boolean ink pixels of a paper-normalised page (darker than half way to white)."""
    return gray < 128


def _profile_sharpness(mask: np.ndarray, degrees: float) -> float:
    rotated = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).rotate(degrees, resample=Image.NEAREST))
    profile = rotated.sum(axis=1, dtype=np.float64)
    return float(np.square(np.diff(profile)).sum())


def estimate_skew(mask: np.ndarray) -> float:
    """The rotation (degrees, PIL's counter-clockwise sign) that makes text rows horizontal.

    Searched on a reduced page: the angle whose horizontal projection profile changes most
    sharply between rows (text lines and gaps line up).
    """
    scale = max(1, max(mask.shape) // 800)
    small = mask[::scale, ::scale]
    if small.sum() < 50:
        return 0.0
    angles = np.arange(-SKEW_RANGE, SKEW_RANGE + 1e-9, SKEW_STEP)
    scores = [_profile_sharpness(small, float(a)) for a in angles]
    return float(angles[int(np.argmax(scores))])


def find_lines(mask: np.ndarray, min_height: int = 4) -> list[LineBox]:
    """Text lines of a deskewed ink mask, top to bottom, from its horizontal projection profile.

    Rows with ink form bands; a band thinner than `min_height`, or than FRAGMENT_SHARE of the
    median band (specks, dots, descenders cut off by a faint row), joins its nearest neighbour if
    close, else is dropped; bands taller than twice the median line are
    split at their weakest row (touching lines).
    """
    rows = mask.sum(axis=1)
    threshold = max(1, int(0.002 * mask.shape[1]))
    inked = rows >= threshold
    bands: list[list[int]] = []
    start = None
    for y, on in enumerate(np.append(inked, False)):
        if on and start is None:
            start = y
        elif not on and start is not None:
            bands.append([start, y])
            start = None
    bands = _merge_thin(bands, min_height)
    if not bands:
        return []
    typical = float(np.median([b - a for a, b in bands]))
    # at large sizes a descender or a quote can leave a band of its own thicker than `min_height`
    bands = _merge_thin(bands, max(min_height, round(FRAGMENT_SHARE * typical)))
    typical = float(np.median([b - a for a, b in bands]))
    bands = [part for band in bands for part in _split_tall(band, rows, typical)]
    boxes = []
    for top, bottom in bands:
        columns = np.flatnonzero(mask[top:bottom].any(axis=0))
        if columns.size:
            boxes.append(LineBox(top, bottom, int(columns[0]), int(columns[-1]) + 1, top + baseline_row(rows[top:bottom])))
    return boxes


def _merge_thin(bands: list[list[int]], min_height: int) -> list[list[int]]:
    """Thin bands (dots over i and j, accents, commas) join the nearer neighbour within reach."""
    bands = [list(b) for b in bands]
    while True:
        thin = [i for i, (a, b) in enumerate(bands) if b - a < min_height]
        if not thin:
            return bands
        i = thin[0]
        gap_above = bands[i][0] - bands[i - 1][1] if i > 0 else np.inf
        gap_below = bands[i + 1][0] - bands[i][1] if i + 1 < len(bands) else np.inf
        if min(gap_above, gap_below) > 2 * min_height:
            del bands[i]
        elif gap_below <= gap_above:
            bands[i + 1][0] = bands[i][0]
            del bands[i]
        else:
            bands[i - 1][1] = bands[i][1]
            del bands[i]


def _split_tall(band: list[int], rows: np.ndarray, typical: float) -> list[list[int]]:
    top, bottom = band
    count = int(round((bottom - top) / max(typical, 1.0)))
    if count < 2:
        return [band]
    cuts = [top]
    for k in range(1, count):
        centre = top + round(k * (bottom - top) / count)
        reach = max(1, int(typical / 3))
        window = rows[centre - reach : centre + reach]
        cuts.append(centre - reach + int(np.argmin(window)))
    cuts.append(bottom)
    return [[a, b] for a, b in zip(cuts, cuts[1:]) if b > a]


def rotate(gray: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate a float or uint8 grey page about its centre, keeping its size, filling with white."""
    if not degrees:
        return gray
    image = Image.fromarray(gray.astype(np.float32), "F")
    return np.asarray(image.rotate(degrees, resample=Image.BILINEAR, fillcolor=255.0), np.float32)
