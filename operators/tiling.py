"""Tiled inference: an image-to-image function run on overlapping tiles, blended without seams."""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


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


NORMS = (nn.GroupNorm, nn.InstanceNorm2d)


def _group_stats(module: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample, per-group mean and biased variance, as GroupNorm / InstanceNorm compute them."""
    groups = module.num_groups if isinstance(module, nn.GroupNorm) else x.shape[1]
    flat = x.float().reshape(x.shape[0], groups, -1)
    return flat.mean(-1), flat.var(-1, unbiased=False)


def _normalise_with(module: nn.Module, x: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """What `module` computes, with given statistics instead of those of `x`."""
    n, c = x.shape[:2]
    groups = mean.shape[1]
    shape = (n, groups, c // groups, *x.shape[2:])
    centred = (x.float().reshape(shape) - mean.view(n, groups, 1, 1, 1)) * torch.rsqrt(var.view(n, groups, 1, 1, 1) + module.eps)
    out = centred.reshape(x.shape)
    if module.weight is not None:
        out = out * module.weight.float().view(1, c, 1, 1) + module.bias.float().view(1, c, 1, 1)
    return out.to(x.dtype)


class SharedNormStats:
    """Global normalisation (GroupNorm, InstanceNorm) made tile-independent.

    Inside `with SharedNormStats(net) as shared:` a first pass records every norm layer's
    per-image statistics (`shared.recording = True`, usually on a reduced copy of the image);
    later passes (the tiles) are normalised with those, as if each tile saw the whole image.
    """

    def __init__(self, net: nn.Module) -> None:
        self.norms = [m for m in net.modules() if isinstance(m, NORMS)]
        self.stats: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.recording = True

    def __enter__(self) -> SharedNormStats:
        for index, module in enumerate(self.norms):
            module.forward = self._forward_of(index, module)  # an instance attribute shadows the class's method
        return self

    def __exit__(self, *exc: object) -> None:
        for module in self.norms:
            del module.forward

    def _forward_of(self, index: int, module: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
        def forward(x: torch.Tensor) -> torch.Tensor:
            if self.recording:
                self.stats[index] = _group_stats(module, x)
            mean, var = self.stats[index]
            return _normalise_with(module, x, mean, var)

        return forward


def run_tiled_shared(net: nn.Module, fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, tile: int,
                     overlap: int, multiple: int, stats_side: int | None = None) -> torch.Tensor:
    """`run_tiled` for networks with global normalisation: statistics come from one pass over the
    whole image shrunk so its longer side is `stats_side` (default: `tile`, so it costs one tile's
    memory), then every tile is normalised with them."""
    height, width = x.shape[-2:]
    side = stats_side or tile
    scale = min(1.0, side / max(height, width))
    size = (max(multiple, round(height * scale / multiple) * multiple),
            max(multiple, round(width * scale / multiple) * multiple))
    with SharedNormStats(net) as shared:
        small = x if size == (height, width) else F.interpolate(x, size=size, mode="bilinear", antialias=True,
                                                                 align_corners=False)
        fn(small)
        shared.recording = False
        return run_tiled(fn, x, tile, overlap, multiple)
