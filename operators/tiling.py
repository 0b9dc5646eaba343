"""Tiled inference: an image-to-image function run on overlapping tiles, blended without seams."""
from __future__ import annotations

from typing import Callable

import torch


def tile_starts(length: int, tile: int, overlap: int, multiple: int = 1) -> list[int]:
    """Start offsets of tiles of `tile` pixels covering `length` with at least `overlap` shared.

    Starts are multiples of `multiple` (a network's stride) where possible; the last tile ends at
    `length`. One tile when it all fits.
    """
    if length <= tile:
        return [0]
    step = max(multiple, (tile - overlap) // multiple * multiple)
    starts = list(range(0, length - tile, step))
    starts.append(length - tile)
    return starts


def ramp(length: int, start: int, tile: int, overlap: int, device: torch.device) -> torch.Tensor:
    """Blend weight along one axis of a tile: over the first `overlap` pixels zero for a quarter
    (where the tile's own padding reaches in), then rising; the mirror image over the last
    `overlap`; flat elsewhere and at the image's own borders (so weights never all vanish)."""
    weight = torch.ones(tile, device=device)
    if overlap <= 0:
        return weight
    dead = overlap // 4
    rising = overlap - dead
    edge = torch.cat([torch.zeros(dead, device=device),
                      torch.linspace(1.0 / (rising + 1), rising / (rising + 1), rising, device=device)])
    if start > 0:
        weight[:overlap] = edge
    if start + tile < length:
        weight[-overlap:] = torch.minimum(weight[-overlap:], edge.flip(0))
    return weight


def run_tiled(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, tile: int, overlap: int,
              multiple: int = 1) -> torch.Tensor:
    """`fn` over (N, C, H, W) in tiles of at most `tile` x `tile` with `overlap` pixels blended linearly.

    `fn` must map a tile to an output of the same height and width. A sum of weights where tiles
    overlap gives a seam-free result; on an image within one tile this is just `fn(x)`.
    """
    n, _, height, width = x.shape
    rows = tile_starts(height, tile, overlap, multiple)
    cols = tile_starts(width, tile, overlap, multiple)
    if len(rows) == 1 and len(cols) == 1:
        return fn(x)
    out: torch.Tensor | None = None
    total = torch.zeros(1, 1, height, width, device=x.device)
    tile_h, tile_w = min(tile, height), min(tile, width)
    for top in rows:
        wy = ramp(height, top, tile_h, overlap, x.device)
        for left in cols:
            piece = fn(x[:, :, top : top + tile_h, left : left + tile_w]).float()
            if out is None:
                out = torch.zeros(n, piece.shape[1], height, width, device=x.device)
            weight = wy[:, None] * ramp(width, left, tile_w, overlap, x.device)[None, :]
            out[:, :, top : top + tile_h, left : left + tile_w] += piece * weight
            total[:, :, top : top + tile_h, left : left + tile_w] += weight
    assert out is not None
    return (out / total).to(x.dtype)
