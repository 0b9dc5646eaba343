"""Legibility of the shipped handwriting model, read by Tesseract: held-out pages in unseen typed
faces must read nearly as well as the same text set in the hand font, and the paper stays white."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import needs_ocr

from operators.handwriting import HandwritingStylizer, shipped_checkpoint
from pipeline.training.eval_pages import eval_page
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


@needs_ocr
@pytest.mark.parametrize("kind, ratio", [("lower", 1.6), ("caps_digits", 2.0)])
def test_shipped_model_reads_nearly_as_well_as_the_hand_font(kind: str, ratio: float) -> None:
    stylizer = HandwritingStylizer({"weights": shipped_checkpoint(), "tile": 1024}, "cpu", {})
    page = eval_page(seed=1234, face="serif", kind=kind, index=0, lines=6)  # a seed the evaluation never uses
    ours = stylizer.page(page.typed)
    ours_cer = character_error_rate(page.text, read_text(ours))
    hand_cer = character_error_rate(page.text, read_text(page.hand))
    assert ours_cer <= ratio * max(hand_cer, 0.05), (ours_cer, hand_cer)
    assert grey_paper(ours) < 0.005
