"""Paired line data: determinism by seed, aligned pairs, held-out words and fonts kept apart, shards."""
from __future__ import annotations

import json
import re

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import needs_fonts

from operators.handwriting import LINE_HEIGHT
from pipeline.training.line_render import TYPED_FONTS, UNITS, Jitter, render_pair, sample_text, word_list
from pipeline.training.line_shards import (
    LineDataConfig,
    crop_pairs,
    generate,
    heldout_pairs,
    shard_table,
)

pytestmark = needs_fonts  # renders Debian fonts (see README, Handwriting)


def test_same_seed_same_shard_other_seed_other_shard() -> None:
    first, again = shard_table(7, "train", 3, 5), shard_table(7, "train", 3, 5)
    assert first.equals(again)
    assert not first.equals(shard_table(8, "train", 3, 5))
    assert not first.equals(shard_table(7, "train", 4, 5))


def test_pairs_share_height_width_and_ink_positions() -> None:
    rng = np.random.default_rng(0)
    typed, hand = render_pair("Handwriting 42, please!", "LiberationSans-Regular.ttf", rng)
    assert typed.shape == hand.shape and typed.shape[0] == LINE_HEIGHT and typed.dtype == np.uint8
    typed_cols = np.flatnonzero((typed < 128).any(axis=0))
    hand_cols = np.flatnonzero((hand < 128).any(axis=0))
    # Glyph by glyph layout: the handwriting spans about the same columns as the typed text.
    assert abs(int(typed_cols[0]) - int(hand_cols[0])) < 12
    assert abs(int(typed_cols[-1]) - int(hand_cols[-1])) < 16
    assert np.abs(typed.astype(int) - hand.astype(int)).mean() > 5  # and the letterforms differ


def test_wide_hand_capitals_keep_to_their_cells_so_words_stay_apart() -> None:
    plain = Jitter(letter_spacing=0.0, word_spacing=1.0, size_scale=1.0, wobble_amplitude=0.0, wobble_period=300.0,
                   wobble_phase=0.0, glyph_shift=0.0, slant=0.0, stroke=2, ink=0, scan_blur=0.0, scan_noise=0.0,
                   scan_scale=1.0, scan_quality=90)
    words = ["MWMW", "WOMB", "MEMO", "WWW"]
    _, hand = render_pair(" ".join(words), "LiberationSans-Regular.ttf", np.random.default_rng(0), jitter=plain)
    inked = (hand < 128).any(axis=0)
    gaps = np.flatnonzero(~inked[: np.flatnonzero(inked)[-1]])
    blank = [len(g) for g in np.split(gaps, np.flatnonzero(np.diff(gaps) > 1) + 1)[1:]]  # between the first and last ink
    assert sum(width >= 8 for width in blank) == len(words) - 1  # wide gaps between words
    letter_boundaries = sum(len(word) - 1 for word in words)
    assert len(blank) - (len(words) - 1) >= letter_boundaries // 2  # and most capitals stand apart


def test_heldout_words_and_fonts_are_unseen_in_training() -> None:
    assert not set(word_list("heldout")) & set(word_list("train"))
    assert len(word_list("heldout")) > 1000
    assert not set(TYPED_FONTS["heldout"]) & set(TYPED_FONTS["train"])
    rng = np.random.default_rng(1)
    text = " ".join(sample_text(rng, "heldout", 48) for _ in range(20))
    words = {w.lower() for w in re.findall(r"[A-Za-z]{2,}", text) if w not in UNITS}  # "'s" leaves a lone s
    assert len(words) > 50
    assert not words & set(word_list("train"))


def test_generate_writes_shards_pages_and_summary(ray_cluster, s3) -> None:
    url = "s3://stylebatch-test/hw-data"
    summary = generate(LineDataConfig(output=url, train_lines=12, heldout_lines=5, pages=1, shard_lines=5, seed=3))
    assert len(summary["shards"]) == 3 + 1
    s3.invalidate_cache()
    assert json.loads(s3.cat(f"{url}/dataset.json"))["seed"] == 3
    with s3.open(f"{url}/train/part-00002.parquet") as f:
        assert pq.read_table(f).num_rows == 2
    assert s3.exists(f"{url}/pages/page-000.png")
    pairs = heldout_pairs(url, {})
    assert len(pairs) == 5 and all(t.shape == h.shape for t, h in pairs)


def test_crops_have_the_training_width() -> None:
    table = shard_table(7, "train", 0, 3)
    batch = {name: np.array(table[name].to_pylist(), dtype=object) for name in ("typed", "hand")}
    crops = crop_pairs(batch, width=96)
    assert crops["typed"].shape == crops["hand"].shape == (3, LINE_HEIGHT, 96)
    wide = crop_pairs(batch, width=4096)  # narrower lines are padded with paper
    assert (wide["typed"][:, :, -1] == 255).all()


@pytest.mark.parametrize("font", TYPED_FONTS["train"] + TYPED_FONTS["heldout"])
def test_every_font_renders_ink(font: str) -> None:
    typed, hand = render_pair("Quick test", font, np.random.default_rng(2))
    assert (typed < 100).sum() > 50 and (hand < 100).sum() > 50
