"""Tiled inference for frames too large for the device: seam-free and equal to untiled within tolerance."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from images import photo

from operators.fast_nst import TransformerNet
from operators.registry import get_operator
from operators.tensors import to_tensor
from operators.tiling import run_tiled, run_tiled_shared


@pytest.fixture(scope="module")
def fast_nst_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(3)
    path = tmp_path_factory.mktemp("weights") / "candy.pth"
    torch.save(TransformerNet().state_dict(), path)
    return path


def build(name: str, weights: Path, tile: int = 0):
    spec = get_operator(name)
    return spec.build(spec.resolve({"weights": str(weights), "tile": str(tile)}), "cpu", {})


@pytest.mark.parametrize("name", ["animegan", "fast-nst"])
def test_tiles_with_the_whole_image_statistics_equal_untiled(name: str, animegan_weights: Path,
                                                             fast_nst_weights: Path) -> None:
    stylizer = build(name, animegan_weights if name == "animegan" else fast_nst_weights)
    low, high = stylizer.value_range
    x = to_tensor(photo(256, 192, seed=1)[None], torch.device("cpu"), low, high, torch.float32)
    with torch.inference_mode():
        whole = stylizer.forward(x)
        shared = run_tiled_shared(stylizer.net, stylizer.forward, x, 128, 64, stylizer.stride, stats_side=256)
        plain = run_tiled(stylizer.forward, x, 128, 64, stylizer.stride)
    scale = high - low
    assert (shared - whole).abs().max() / scale < 0.005  # tiles of a local network plus shared statistics
    assert (plain - whole).abs().mean() > 5 * (shared - whole).abs().mean()  # per-tile statistics would not do


@pytest.mark.parametrize("name", ["animegan", "fast-nst"])
def test_tile_option_is_close_to_untiled_and_seam_free(name: str, animegan_weights: Path,
                                                       fast_nst_weights: Path) -> None:
    weights = animegan_weights if name == "animegan" else fast_nst_weights
    image = photo(320, 224, seed=2)[None]
    whole = build(name, weights)(image).astype(np.float32)
    tiled = build(name, weights, tile=128)(image).astype(np.float32)  # statistics from a 128-pixel copy
    assert tiled.shape == whole.shape == image.shape
    error = np.abs(tiled - whole)[0].mean(axis=-1)
    assert error.mean() < 4.0  # grey levels of 255
    # No seams: along tile borders the error is no larger than elsewhere.
    column_error = error.mean(axis=0)
    assert column_error.max() < 3 * np.median(column_error) + 2.0
