"""The shipped handwriting model: its quality on unseen pairs, and `convert` over page scans in S3."""
from __future__ import annotations

import io

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import BUCKET, needs_fonts
from PIL import Image

from jobs import cli
from operators.handwriting import LineConverter, UNetGenerator, shipped_checkpoint
from operators.weights import load_into, load_state_dict
from pipeline.codecs import encode_image
from pipeline.training.handwriting import heldout_l1
from pipeline.training.line_render import TYPED_FONTS, render_page
from pipeline.training.line_shards import decode_png, page_lines, shard_table

pytestmark = needs_fonts  # renders Debian fonts (see README, Handwriting)


def test_shipped_model_beats_the_identity_baseline_by_40_percent_on_unseen_pairs() -> None:
    url = shipped_checkpoint()
    net = UNetGenerator()
    load_into(net, load_state_dict(url), url)
    table = shard_table(seed=1234, split="heldout", index=0, count=40)  # a seed the shipped model never saw
    pairs = [(decode_png(t), decode_png(h)) for t, h in zip(table["typed"].to_pylist(), table["hand"].to_pylist())]
    figures = heldout_l1(LineConverter(net, "cpu"), pairs)
    assert figures["gain_over_identity"] >= 0.40, figures
    assert figures["l1_model"] < 0.8 * figures["l1_blank"], figures  # it writes, not just erases


def _png(gray: np.ndarray) -> bytes:
    return encode_image(gray[..., None], "png")


@pytest.mark.slow
def test_convert_page_scans_on_s3(ray_cluster, s3) -> None:
    rng = np.random.default_rng(4)
    scans = {
        "scans/letter.png": render_page(page_lines(rng, 10), TYPED_FONTS["heldout"][0], rng, size=(900, 1000),
                                        skew_degrees=1.0),
        "scans/memo/page-2.png": render_page(page_lines(rng, 6), TYPED_FONTS["heldout"][1], rng, size=(800, 700),
                                             font_size=24),
    }
    colour = render_page(page_lines(rng, 1), TYPED_FONTS["train"][0], rng, size=(700, 220))
    for key, page in scans.items():
        s3.pipe(f"{BUCKET}/hw/{key}", _png(page))
    buffer = io.BytesIO()
    Image.fromarray(np.stack([colour] * 3, -1)).save(buffer, "JPEG")
    s3.pipe(f"{BUCKET}/hw/scans/line.jpg", buffer.getvalue())  # one colour line
    s3.pipe(f"{BUCKET}/hw/scans/torn.png", b"\x89PNG\r\n\x1a\n broken")
    code = cli.main(["convert", f"s3://{BUCKET}/hw/scans", f"s3://{BUCKET}/hw/out", "--operator", "handwriting"])
    assert code == 1  # the torn file failed; the others are written
    s3.invalidate_cache()
    manifests = [p for p in s3.find(f"{BUCKET}/hw/out/_manifest") if p.endswith(".parquet") and "/_parts/" not in p]
    rows = {r["input"].rsplit("/scans/", 1)[1]: r for r in pq.read_table(s3.open(manifests[0])).to_pylist()}
    assert {k: r["status"] for k, r in rows.items()} == {
        "letter.png": "converted", "memo/page-2.png": "converted", "line.jpg": "converted", "torn.png": "failed"}
    assert "not a recognised image" in rows["torn.png"]["error"]
    for key, page in scans.items():
        out = np.asarray(Image.open(io.BytesIO(s3.cat(f"{BUCKET}/hw/out/{key.removeprefix('scans/')}"))))
        assert out.shape == page.shape
        typed_rows = (page < 128).any(axis=1)
        hand_rows = (out < 128).any(axis=1)
        assert hand_rows[typed_rows].mean() > 0.8  # handwriting where the typed lines were
        assert np.abs(out.astype(int) - page.astype(int)).mean() > 3  # and it is not the scan
    line = np.asarray(Image.open(io.BytesIO(s3.cat(f"{BUCKET}/hw/out/line.png"))))
    assert line.shape == colour.shape and (line < 128).sum() > 200
