"""Page scans: skew estimate, line finding, and the operator reassembling a page at its size (small
print: enlarged, so that it is written at a legible size)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import needs_fonts

from operators.handwriting import HandwritingStylizer, UNetGenerator
from operators.text_lines import (
    estimate_skew,
    find_lines,
    ink_mask,
    normalise_paper,
    rotate,
)
from pipeline.training.line_render import TYPED_FONTS, render_page, set_page
from pipeline.training.line_shards import page_lines

pytestmark = needs_fonts  # renders Debian fonts (see README, Handwriting)

PAGES = [  # (font, lines, font size, skew in degrees)
    (TYPED_FONTS["heldout"][0], 14, 28, 0.0),
    (TYPED_FONTS["heldout"][1], 9, 24, 1.2),
    (TYPED_FONTS["train"][0], 20, 22, -1.5),
    (TYPED_FONTS["train"][1], 6, 40, 0.6),
]


def page(font: str, count: int, size: int, skew: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return render_page(page_lines(rng, count), font, rng, font_size=size, skew_degrees=skew)


@pytest.mark.parametrize(("font", "count", "size", "skew"), PAGES)
def test_finds_every_line_of_a_generated_page(font: str, count: int, size: int, skew: float) -> None:
    paper = normalise_paper(page(font, count, size, skew))
    angle = estimate_skew(ink_mask(paper))
    assert angle == pytest.approx(-skew, abs=0.3)
    lines = find_lines(ink_mask(rotate(paper, angle)))
    assert len(lines) == count
    assert all(a.bottom <= b.top for a, b in zip(lines, lines[1:]))


def test_lines_know_their_baseline_and_type_size_whatever_their_case() -> None:
    lines = ["quickly judged the boxes", "RECIPE FOR BROWN BREAD 500 G", "small print below the rest"]
    sizes = [30, 30, 15]
    pages = [np.asarray(set_page([text], TYPED_FONTS["heldout"][0], size, size=(900, 200), margins=(40, 100)))
             for text, size in zip(lines, sizes)]
    boxes = [find_lines(ink_mask(p))[0] for p in pages]
    assert [box.baseline for box in boxes] == pytest.approx([99, 99, 99], abs=1)  # glyphs stand on row 99
    lower, caps, small = (box.ascent for box in boxes)
    assert caps == pytest.approx(lower, abs=2)  # no descenders, same size
    assert small == pytest.approx(lower / 2, abs=2)
    assert boxes[1].height < 0.85 * boxes[0].height  # while the boxes themselves differ


def test_single_line_image_is_one_line() -> None:
    strip = page(TYPED_FONTS["train"][2], 1, 30, 0.0)[110:170, 80:900]
    assert len(find_lines(ink_mask(normalise_paper(strip)))) == 1


def test_blank_page_has_no_lines() -> None:
    assert find_lines(ink_mask(normalise_paper(np.full((300, 200), 240, np.uint8)))) == []


@pytest.fixture(scope="module")
def random_generator_weights(tmp_path_factory: pytest.TempPathFactory) -> str:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("hw") / "generator.pth"
    torch.save(UNetGenerator().state_dict(), path)
    return str(path)


def test_page_keeps_size_and_margins(random_generator_weights: str) -> None:
    scan = page(TYPED_FONTS["heldout"][0], 8, 28, 0.8)
    stylize = HandwritingStylizer({"weights": random_generator_weights, "tile": 1024}, "cpu", {})
    out = stylize(scan[None, ..., None])[0][..., 0]
    assert out.shape == scan.shape and out.dtype == np.uint8
    ink_rows = np.flatnonzero((normalise_paper(scan) < 128).any(axis=1))
    # Outside the band of text lines (plus a line's height), the page stays white paper.
    margin = 60
    assert (out[: ink_rows[0] - margin] == 255).all()
    assert (out[ink_rows[-1] + margin :] == 255).all()


@pytest.mark.parametrize("min_size", [20, 0])
def test_small_print_is_written_enlarged(random_generator_weights: str, min_size: int) -> None:
    """12-px type (capitals about 9 rows high) comes out at `min_size` rows, the page enlarged as
    much; `min_size=0` keeps the page's size."""
    scan = page(TYPED_FONTS["heldout"][0], 8, 12, 0.0)
    stylize = HandwritingStylizer({"weights": random_generator_weights, "tile": 1024, "min_size": min_size}, "cpu", {})
    out = stylize(scan[None, ..., None])[0][..., 0]
    typical = float(np.median([box.ascent for box in find_lines(ink_mask(normalise_paper(scan)))]))
    scale = min_size / typical if min_size else 1.0
    assert scale > 1.8 or not min_size
    assert out.shape == (round(scan.shape[0] * scale), round(scan.shape[1] * scale))
