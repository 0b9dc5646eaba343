"""How legible a handwritten page is: Tesseract's character error rate (CER) against the text that
was typed, and whether the paper away from the ink stayed white.

CER is the edit distance (insertions, deletions, substitutions) between the text read and the
text written, over the length of the text written; runs of whitespace and line breaks count as one
space on both sides, so line wrapping does not count as an error.
"""
from __future__ import annotations

import re
import shutil

import numpy as np
import pytesseract
from PIL import Image
from rapidfuzz.distance import Levenshtein
from scipy.ndimage import distance_transform_edt

from operators.errors import ConfigError

INK_LEVEL = 160  # darker than this is ink
PAPER_LEVEL = 235  # paper away from the ink should be lighter than this
PAPER_REACH = 6  # pixels from the nearest ink beyond which a pixel is paper


def require_tesseract() -> None:
    """Fail with the package to install when Tesseract is missing."""
    if shutil.which("tesseract") is None:
        raise ConfigError("Tesseract is not installed: apt-get install tesseract-ocr")


def normalise_text(text: str) -> str:
    """Whitespace runs (spaces, line breaks) as one space; typographic quotes and dashes as ASCII."""
    text = text.translate(str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
                                         "\u2013": "-", "\u2014": "-"}))
    return re.sub(r"\s+", " ", text).strip()


def read_text(page: np.ndarray) -> str:
    """Tesseract's reading (English, automatic page segmentation) of an (H, W) uint8 page."""
    require_tesseract()
    return pytesseract.image_to_string(Image.fromarray(page), lang="eng")


def character_errors(written: str, read: str) -> tuple[int, int]:
    """(edits from the written text to the read text, characters written): pages are pooled by
    adding both, so a long page weighs more than a short one."""
    written, read = normalise_text(written), normalise_text(read)
    return Levenshtein.distance(written, read), len(written)


def character_error_rate(written: str, read: str) -> float:
    """Edit distance from the written text to the read text over the written text's length."""
    edits, length = character_errors(written, read)
    return edits / max(length, 1)


def grey_paper(page: np.ndarray) -> float:
    """Share of the paper (pixels over PAPER_REACH from any ink) darker than PAPER_LEVEL: 0 on a
    clean page, high where bands or haze remain between lines."""
    paper = distance_transform_edt(page >= INK_LEVEL) > PAPER_REACH
    return float((page[paper] < PAPER_LEVEL).mean()) if paper.any() else 0.0
