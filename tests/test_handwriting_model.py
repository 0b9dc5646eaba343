"""Handwriting model parts: U-Net and PatchGAN shapes, the three loss terms, tiling, line conversion."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from operators.handwriting import (
    LineConverter,
    PatchDiscriminator,
    UNetGenerator,
    discriminator_loss,
    generator_loss,
)
from operators.losses import gradient_loss
from operators.tiling import run_tiled, tile_starts


@pytest.mark.parametrize("width", [32, 96, 256, 640])
def test_unet_keeps_shape_at_any_width_multiple_of_the_stride(width: int) -> None:
    net = UNetGenerator().eval()
    with torch.no_grad():
        out = net(torch.rand(2, 1, 64, width) * 2 - 1)
    assert out.shape == (2, 1, 64, width)
    assert out.abs().max() <= 1.0


def test_patch_discriminator_scores_patches_of_a_pair() -> None:
    logits = PatchDiscriminator()(torch.zeros(3, 1, 64, 256), torch.zeros(3, 1, 64, 256))
    assert logits.shape == (3, 1, 6, 30)


def test_gradient_loss_by_hand() -> None:
    output = torch.tensor([[[[0.0, 1.0, 3.0], [0.0, 0.0, 0.0]]]])
    target = torch.zeros_like(output)
    # x-differences |1|, |2|, |0|, |0| -> mean 0.75; y-differences |0|, |-1|, |-3| -> mean 4/3.
    assert float(gradient_loss(output, target)) == pytest.approx(0.75 + 4 / 3)
    assert float(gradient_loss(target + 5.0, target)) == 0.0  # a constant shift has no gradient error


def test_generator_loss_weights_the_three_terms() -> None:
    fake = torch.tensor([[[[0.5, -0.5], [1.0, 0.0]]]])
    target = torch.zeros_like(fake)
    logits = torch.zeros(1, 1, 2, 2)
    terms = generator_loss(fake, target, logits, alpha=2.0, beta=3.0, gamma=0.5)
    assert float(terms["intensity"]) == pytest.approx(0.5)  # (0.5 + 0.5 + 1 + 0) / 4
    assert float(terms["adversarial"]) == pytest.approx(np.log(2.0))  # BCE(sigmoid(0), 1)
    expected = 2.0 * 0.5 + 3.0 * float(gradient_loss(fake, target)) + 0.5 * np.log(2.0)
    assert float(terms["generator"]) == pytest.approx(expected)
    l2 = generator_loss(fake, target, logits, alpha=1.0, beta=0.0, gamma=0.0, intensity="l2")
    assert float(l2["generator"]) == pytest.approx((0.25 + 0.25 + 1.0) / 4)


def test_discriminator_loss_is_half_the_two_cross_entropies() -> None:
    real, fake = torch.full((1, 1, 2, 2), 3.0), torch.full((1, 1, 2, 2), -1.0)
    expected = 0.5 * (F.softplus(torch.tensor(-3.0)) + F.softplus(torch.tensor(-1.0)))
    assert float(discriminator_loss(real, fake)) == pytest.approx(float(expected))
    assert float(discriminator_loss(real, fake)) < float(discriminator_loss(fake, real))


def test_tile_starts_cover_with_overlap_on_the_stride() -> None:
    starts = tile_starts(1000, 256, 64, 32)
    assert starts[0] == 0 and starts[-1] == 1000 - 256
    assert all(b - a <= 256 - 64 and a % 32 == 0 for a, b in zip(starts[:-1], starts[1:]))
    assert tile_starts(200, 256, 64, 32) == [0]


def test_tiled_equals_untiled_for_a_local_network() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 5, padding=2), torch.nn.Tanh(), torch.nn.Conv2d(4, 1, 5, padding=2))
    x = torch.rand(1, 1, 64, 700)
    with torch.no_grad():
        whole, tiled = net(x), run_tiled(net, x, tile=128, overlap=32)
    assert (whole - tiled)[..., 8:-8].abs().max() < 1e-5  # away from the image border, tiles agree exactly


def test_long_lines_run_in_tiles_close_to_untiled() -> None:
    torch.manual_seed(1)
    net = UNetGenerator()
    lines = [np.random.default_rng(2).integers(0, 256, (64, 1600), dtype=np.uint8)]
    whole = LineConverter(net, "cpu", tile=4096)(lines)[0].astype(np.float32)
    tiled = LineConverter(net, "cpu", tile=512, overlap=128)(lines)[0].astype(np.float32)
    assert tiled.shape == whole.shape == (64, 1600)
    assert np.abs(whole - tiled).mean() < 2.0  # grey levels; seams would show as large local errors
    assert np.abs(whole - tiled).max() < 64
