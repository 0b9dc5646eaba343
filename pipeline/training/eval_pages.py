"""Held-out pages for the legibility figure: typed in faces the model never saw, degraded as a
phone photo or a cheap scan degrades them, and the same text set in the hand font on the same
layout (the figure the model is held to); small print photographed at its own size (x-height
5-9 pixels), held to the photo's own reading; plus a real photograph of a printed book page at
its own size.

Three kinds of line are scored apart because they fail apart: lower-case prose, capitals and
digits (headings, quantities, dates), and punctuation.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from pipeline.training.line_render import HAND_FONT, HAND_SCALE, kind_line, set_page

# Faces no training split uses (fonts-freefont-ttf): a monospace, a book serif, a grotesque sans.
EVAL_FONTS = {"mono": "FreeMono.ttf", "serif": "FreeSerif.ttf", "sans": "FreeSans.ttf"}
EVAL_KINDS = ("lower", "caps_digits", "punctuation")
# Our CER at most this many times the reference's: the hand font's on the same layout for each kind
# of line, the photo's own for the photographed page.
GOALS = {"lower": 1.15, "caps_digits": 1.3, "punctuation": 1.15, "small_print": 1.3, "photo": 1.3}
SMALL_PRINT_SIZES = (12, 14, 16, 18)  # font sizes in pixels, page after page: x-height 5.5-9 px in the three faces

# scikit-image's `data.page()`: a photograph of a printed book page with uneven light (shipped in
# the scikit-image wheel, BSD-3-Clause), and what it says.
PHOTO_TEXT = """Region-based segmentation
Let us first determine markers of the coins and the
background. These markers are pixels that we can label
unambiguously as either object or background. Here,
the markers are found at the two extreme parts of the
histogram of grey values:
>>> markers = np.zeros_like(coins)"""


def photographed(page: Image.Image, rng: np.random.Generator) -> np.ndarray:
    """A clean page as a phone photo or cheap scan gives it: uneven light, slight blur, noise, JPEG."""
    height, width = page.height, page.width
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * x / width + np.sin(angle) * y / height)
    light = 1.0 - rng.uniform(0.15, 0.35) * (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    blurred = np.asarray(page.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.8))), np.float32)
    array = (blurred * 0.92 + 12) * light + rng.normal(0.0, 4.0, blurred.shape)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(array, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=int(rng.integers(55, 80)))
    return np.asarray(Image.open(buffer).convert("L"))


@dataclass(frozen=True)
class EvalPage:
    """One held-out page: its text, the typed page as photographed, and the hand font on the same layout."""

    face: str
    kind: str
    text: str
    typed: np.ndarray
    hand: np.ndarray


def eval_page(seed: int, face: str, kind: str, index: int, lines: int = 12,
              size: tuple[int, int] = (1240, 1100)) -> EvalPage:
    """Page `index` of (`face`, `kind`), a pure function of its arguments: `lines` lines of
    30-48 characters at 29-32 px, skewed up to 1.5 degrees either way."""
    rng = np.random.default_rng([seed, 3, list(EVAL_FONTS).index(face), EVAL_KINDS.index(kind), index])
    text = [kind_line(rng, "heldout", kind, int(rng.integers(30, 49))) for _ in range(lines)]
    font_size = int(rng.integers(29, 33))
    layout = {"size": size, "pitch": round(font_size * 1.8), "margins": (100, 110),
              "skew_degrees": float(rng.uniform(-1.5, 1.5))}
    typed = photographed(set_page(text, EVAL_FONTS[face], font_size, **layout), rng)
    hand = np.asarray(set_page(text, HAND_FONT, round(font_size * HAND_SCALE), **layout))
    return EvalPage(face, kind, "\n".join(text), typed, hand)


def small_print_page(seed: int, face: str, index: int, lines: int = 10) -> EvalPage:
    """Small-print page `index` of `face`, a pure function of its arguments: `lines` lines of prose
    (30-48 characters) at the font size SMALL_PRINT_SIZES gives the index (in turn), photographed
    at that size (as a phone photographs a book page or a leaflet); `hand` is the same text set in
    the hand font at the size the operator writes at (30 px type), the reading it is held to."""
    rng = np.random.default_rng([seed, 5, list(EVAL_FONTS).index(face), index])
    text = [kind_line(rng, "heldout", "prose", int(rng.integers(30, 49))) for _ in range(lines)]
    font_size = SMALL_PRINT_SIZES[index % len(SMALL_PRINT_SIZES)]
    layout = {"size": (font_size * 34, round(font_size * (1.8 * lines + 5))), "pitch": round(font_size * 1.8),
              "margins": (font_size * 2, font_size * 3), "skew_degrees": float(rng.uniform(-1.5, 1.5))}
    typed = photographed(set_page(text, EVAL_FONTS[face], font_size, **layout), rng)
    written = {"size": (30 * 36, round(30 * (1.8 * lines + 5))), "pitch": 54, "margins": (60, 90)}
    hand = np.asarray(set_page(text, HAND_FONT, round(30 * HAND_SCALE), **written))
    return EvalPage(face, "small_print", "\n".join(text), typed, hand)


def photo_page() -> np.ndarray:
    """The real photographed page, at its own size (x-height 5-7 pixels)."""
    from skimage import data

    return data.page()
