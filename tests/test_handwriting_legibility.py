"""Legibility of the shipped handwriting model, read by Tesseract: held-out pages in unseen typed
faces read within the goals of the same text set in the hand font (pooled over the three faces,
on pages of a seed the evaluation never uses), small print photographed at its own size too, the
paper stays white, and the photographed page at its own size stays within its goal of the photo's
own reading."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import needs_ocr

from operators.handwriting import HandwritingStylizer, shipped_checkpoint
from pipeline.training.eval_pages import (
    EVAL_FONTS,
    EVAL_KINDS,
    GOALS,
    PHOTO_TEXT,
    eval_page,
    photo_page,
    small_print_page,
)
from pipeline.training.legibility import character_error_rate, character_errors, grey_paper, read_text


def test_character_error_rate_counts_edits_over_the_written_length() -> None:
    assert character_error_rate("abc def", " abc\n\n def ") == 0.0  # line breaks and spaces are one space
    assert character_error_rate("abcd", "abed") == 0.25  # one substitution
    assert character_error_rate("it\u2019s", "it's") == 0.0  # typographic apostrophe
    assert character_errors("abc", "") == (3, 3)


def test_grey_paper_sees_bands_between_lines() -> None:
    page = np.full((200, 300), 255, np.uint8)
    page[40:50, 20:280] = 0  # a line of ink
    assert grey_paper(page) == 0.0
    page[100:110] = 200  # a faint band half way down
    assert 0.02 < grey_paper(page) < 0.1


@pytest.fixture(scope="module")
def shipped() -> HandwritingStylizer:
    return HandwritingStylizer({"weights": shipped_checkpoint(), "tile": 1024}, "cpu", {})


@pytest.mark.slow
@needs_ocr
@pytest.mark.parametrize("kind", (*EVAL_KINDS, "small_print"))
def test_shipped_model_reads_nearly_as_well_as_the_hand_font(shipped: HandwritingStylizer, kind: str) -> None:
    ours, hand = [0, 0], [0, 0]
    # a seed the evaluation never uses; small print at 16 and 18 px (x-height 7-9 px: at 12-14 px the
    # goal is not met yet, docs/handwriting-model.md)
    pages = ([small_print_page(seed=1234, face=face, index=index, lines=6) for face in EVAL_FONTS for index in (2, 3)]
             if kind == "small_print" else [eval_page(seed=1234, face=face, kind=kind, index=0, lines=6)
                                            for face in EVAL_FONTS])
    for page in pages:
        output = shipped.page(page.typed)
        # white paper away from the ink (photographed small print leaves a few faint specks)
        assert grey_paper(output) < (0.005 if kind == "small_print" else 0.001)
        for pooled, image in ((ours, output), (hand, page.hand)):
            edits, length = character_errors(page.text, read_text(image))
            pooled[0] += edits
            pooled[1] += length
    assert ours[0] / ours[1] <= GOALS[kind] * hand[0] / hand[1], (ours, hand)


@pytest.mark.slow
@needs_ocr
def test_shipped_model_keeps_a_photographed_page_legible(shipped: HandwritingStylizer) -> None:
    photo = photo_page()
    photo_cer = character_error_rate(PHOTO_TEXT, read_text(photo))
    assert character_error_rate(PHOTO_TEXT, read_text(shipped.page(photo))) <= GOALS["photo"] * photo_cer
