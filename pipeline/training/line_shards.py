"""Paired line shards for the handwriting model, written by Ray tasks to any fsspec URL, and read back.

Layout under DATA: `train/part-NNNNN.parquet`, `heldout/part-NNNNN.parquet` (columns text,
typed_font, typed, hand: the two images as PNG bytes), `dataset.json` (seed, counts, fonts) and,
when asked, `pages/page-NNN.png` typed page scans. Every shard is a pure function of (seed,
split, shard index), so the same command writes the same bytes.
"""
from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.fs
import pyarrow.parquet as pq
import ray
from PIL import Image

from operators.handwriting import LINE_HEIGHT
from pipeline.cluster import ensure_ray
from pipeline.codecs import encode_image
from pipeline.storage import filesystem, normalise, options_for, write_bytes
from pipeline.training.line_render import (
    HAND_FONT,
    TYPED_FONTS,
    font_path,
    render_page,
    render_pair,
    sample_text,
    word_list,
)

SPLITS = {"train": 0, "heldout": 1}
MAX_CHARS = 48


@dataclass
class LineDataConfig:
    """What `stylebatch handwriting-data` writes."""

    output: str
    train_lines: int = 8000
    heldout_lines: int = 400
    pages: int = 0
    seed: int = 7
    shard_lines: int = 500
    hand_font: str = HAND_FONT
    storage_options: dict[str, Any] = field(default_factory=dict)


def _png(gray: np.ndarray) -> bytes:
    return encode_image(gray[..., None], "png")


def shard_table(seed: int, split: str, index: int, count: int, hand_font: str = HAND_FONT) -> pa.Table:
    """One shard's rows, determined by (seed, split, index)."""
    rng = np.random.default_rng([seed, SPLITS[split], index])
    fonts = TYPED_FONTS[split]
    rows: dict[str, list] = {"text": [], "typed_font": [], "typed": [], "hand": []}
    for _ in range(count):
        font = fonts[int(rng.integers(len(fonts)))]
        text = sample_text(rng, split, int(rng.integers(12, MAX_CHARS + 1)))
        typed, hand = render_pair(text, font, rng, hand_font)
        rows["text"].append(text)
        rows["typed_font"].append(font)
        rows["typed"].append(_png(typed))
        rows["hand"].append(_png(hand))
    return pa.table(rows)


def write_shard(row: dict[str, Any], *, config: dict[str, Any]) -> dict[str, Any]:
    """Ray task body: render one shard and write it as Parquet."""
    table = shard_table(config["seed"], row["split"], row["index"], row["count"], config["hand_font"])
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    url = f"{config['output']}/{row['split']}/part-{row['index']:05d}.parquet"
    write_bytes(url, buffer.getvalue(), config["storage_options"])
    return {"url": url, "rows": table.num_rows}


def page_lines(rng: np.random.Generator, count: int) -> list[str]:
    """`count` held-out text lines for a page."""
    return [sample_text(rng, "heldout", int(rng.integers(30, 56))) for _ in range(count)]


def write_pages(cfg: LineDataConfig, output: str, storage_options: Mapping[str, Any]) -> list[str]:
    """Typed page scans (held-out fonts and words, slight skew) for trying the operator on."""
    urls = []
    for index in range(cfg.pages):
        rng = np.random.default_rng([cfg.seed, 2, index])
        font = TYPED_FONTS["heldout"][index % len(TYPED_FONTS["heldout"])]
        page = render_page(page_lines(rng, int(rng.integers(12, 22))), font, rng,
                           skew_degrees=float(rng.uniform(-1.5, 1.5)))
        url = f"{output}/pages/page-{index:03d}.png"
        write_bytes(url, _png(page), storage_options)
        urls.append(url)
    return urls


def generate(cfg: LineDataConfig) -> dict[str, Any]:
    """Write all shards (one Ray task each), the pages and dataset.json; returns the summary."""
    output = normalise(cfg.output).rstrip("/")
    storage_options = options_for(output, cfg.storage_options)
    for name in (cfg.hand_font, *TYPED_FONTS["train"], *TYPED_FONTS["heldout"]):
        font_path(name)  # fail fast, naming the package to install
    word_list("train")
    plan = [{"split": split, "index": i, "count": min(cfg.shard_lines, total - i * cfg.shard_lines)}
            for split, total in (("train", cfg.train_lines), ("heldout", cfg.heldout_lines))
            for i in range(-(-total // cfg.shard_lines))]
    ensure_ray()
    config = {"seed": cfg.seed, "hand_font": cfg.hand_font, "output": output, "storage_options": storage_options}
    written = ray.data.from_items(plan).map(write_shard, fn_kwargs={"config": config}, num_cpus=1).take_all()
    pages = write_pages(cfg, output, storage_options)
    summary = {**{k: v for k, v in asdict(cfg).items() if k not in ("output", "storage_options")},
               "line_height": LINE_HEIGHT, "typed_fonts": TYPED_FONTS, "shards": sorted(w["url"] for w in written),
               "pages": pages}
    write_bytes(f"{output}/dataset.json", json.dumps(summary, indent=2).encode(), storage_options)
    return summary


def decode_png(data: bytes) -> np.ndarray:
    """PNG bytes of a grey line to (H, W) uint8."""
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("L"))


def crop_pairs(batch: dict[str, np.ndarray], *, width: int) -> dict[str, np.ndarray]:
    """Decode each pair and take one random `width`-wide window (lines narrower are padded with paper)."""
    rng = np.random.default_rng()
    typed_out = np.full((len(batch["typed"]), LINE_HEIGHT, width), 255, np.uint8)
    hand_out = typed_out.copy()
    for i, (typed_png, hand_png) in enumerate(zip(batch["typed"], batch["hand"])):
        typed, hand = decode_png(typed_png), decode_png(hand_png)
        left = int(rng.integers(0, max(1, typed.shape[1] - width + 1)))
        piece = slice(left, left + width)
        typed_out[i, :, : typed[:, piece].shape[1]] = typed[:, piece]
        hand_out[i, :, : hand[:, piece].shape[1]] = hand[:, piece]
    return {"typed": typed_out, "hand": hand_out}


def training_pairs(data: str, width: int, storage_options: Mapping[str, Any]) -> ray.data.Dataset:
    """The train split as fixed-size (typed, hand) crops, for Ray Train workers."""
    fs, root = filesystem(data, storage_options)
    return (ray.data.read_parquet(f"{root}/train", filesystem=pa.fs.PyFileSystem(pa.fs.FSSpecHandler(fs)),
                                  columns=["typed", "hand"])
            .map_batches(crop_pairs, fn_kwargs={"width": width}, num_cpus=0.25))


def heldout_pairs(data: str, storage_options: Mapping[str, Any], limit: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """The held-out split as full-width (typed, hand) line pairs, read directly (it is small)."""
    fs, root = filesystem(data, storage_options)
    pairs = []
    for path in sorted(fs.glob(f"{root}/heldout/*.parquet")):
        with fs.open(path, "rb") as f:
            table = pq.read_table(f, columns=["typed", "hand"])
        for typed, hand in zip(table["typed"].to_pylist(), table["hand"].to_pylist()):
            pairs.append((decode_png(typed), decode_png(hand)))
            if limit and len(pairs) >= limit:
                return pairs
    return pairs
