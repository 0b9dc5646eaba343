"""Mutated image files of every input format through a real run: each ends converted or failed with
a reason; no worker crash, no hang; decoding has a time limit; style images obey --max-pixels."""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from images import encoded, photo

from operators.errors import ConfigError
from operators.images import limit_pixels, load_rgb
from pipeline.codecs import DecodeError, decode_image
from pipeline.run import ConvertConfig, convert
from pipeline.settings import ModelSettings

FORMATS = {"png": "PNG", "jpg": "JPEG", "webp": "WEBP", "tif": "TIFF", "gif": "GIF", "bmp": "BMP"}
PER_FORMAT = 36


def mutants(data: bytes, rng: np.random.Generator) -> list[bytes]:
    """Bit flips, truncations and header edits (sizes, counts and offsets made huge or zero)."""
    out = []
    for i in range(PER_FORMAT):
        blob = bytearray(data)
        kind = i % 3
        if kind == 0:
            for _ in range(rng.integers(1, 9)):
                position = rng.integers(0, len(blob))
                blob[position] ^= 1 << int(rng.integers(0, 8))
        elif kind == 1:
            blob = blob[: rng.integers(1, len(blob))]
        else:
            position = int(rng.integers(0, min(64, len(blob) - 4)))
            blob[position : position + 4] = struct.pack(">I", int(rng.choice([0, 1, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF])))
        out.append(bytes(blob))
    return out


@pytest.mark.slow
def test_mutated_files_each_end_converted_or_failed_with_a_reason(ray_cluster, tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    rng = np.random.default_rng(2026)
    for extension, fmt in FORMATS.items():
        seed = encoded(photo(24, 16, seed=1), fmt, mode="P" if fmt == "GIF" else None)
        for i, blob in enumerate(mutants(seed, rng)):
            (source / f"{extension}-{i:02d}.{extension}").write_bytes(blob)
    count = len(FORMATS) * PER_FORMAT
    result = convert(ConvertConfig(str(source), str(tmp_path / "out"), ModelSettings("poison_operator:SPEC", {}),
                                   max_decode_seconds=20))
    rows = pq.read_table(result.manifest).to_pylist()
    assert len(rows) == len({r["input"] for r in rows}) == count
    assert {r["status"] for r in rows} <= {"converted", "failed"}
    assert all(r["error"] for r in rows if r["status"] == "failed")
    assert not any("worker died" in r["error"] for r in rows)  # no decoder crashed its process
    assert 0 < result.totals.failed < count and not result.totals.aborted


def test_decoding_stops_at_its_time_limit() -> None:
    noisy = encoded(np.random.default_rng(0).integers(0, 255, (3000, 3000, 3), np.uint8))
    with pytest.raises(DecodeError, match="longer than 0.001 s"):
        decode_image(noisy, max_seconds=0.001)
    assert decode_image(noisy).shape == (3000, 3000, 3)


def test_style_images_obey_the_pixel_limit() -> None:
    style = encoded(photo(300, 200))
    limit_pixels(50_000)
    try:
        with pytest.raises(ConfigError, match="300x200 = 60,000 pixels is over the limit of 50,000"):
            load_rgb(style)
    finally:
        limit_pixels(40_000_000)
    assert load_rgb(style).shape == (200, 300, 3)
