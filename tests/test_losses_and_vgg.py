"""Gram matrices and losses against their formulas; the shared VGG feature extractor."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from operators.errors import ConfigError
from operators.losses import (
    content_loss,
    gatys_style_layer_loss,
    gram_matrix,
    total_variation,
)
from operators.vgg import VGGFeatures, layer_names, load_vgg


def test_gram_of_a_hand_sized_tensor() -> None:
    f = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # N=1, C=2, H=1, W=2
    expected = torch.tensor([[[1 + 4, 3 + 8], [3 + 8, 9 + 16]]])
    assert torch.equal(gram_matrix(f, normalize=False), expected)
    assert torch.allclose(gram_matrix(f), expected / 2)


def test_masked_gram_is_normalised_by_the_mask_sum() -> None:
    f = torch.arange(8.0).view(1, 2, 2, 2)
    mask = torch.tensor([[[[1.0, 0.0], [0.5, 0.0]]]])
    masked = (f * mask).view(1, 2, 4)
    expected = masked @ masked.transpose(1, 2) / 1.5
    assert torch.allclose(gram_matrix(f, mask), expected)
    # A region and the same region inside a larger zero mask give the same Gram.
    big = torch.zeros(1, 2, 4, 4)
    big[..., :2, :2] = f
    big_mask = torch.zeros(1, 1, 4, 4)
    big_mask[..., :2, :2] = mask
    assert torch.allclose(gram_matrix(big, big_mask), expected)


def test_gatys_style_loss_matches_the_paper_formula() -> None:
    torch.manual_seed(0)
    f, a = torch.randn(2, 3, 4, 5), torch.randn(1, 3, 4, 5)
    n_l, m_l = 3, 20
    g_raw, a_raw = gram_matrix(f, normalize=False), gram_matrix(a, normalize=False)
    expected = ((g_raw - a_raw) ** 2).sum(dim=(1, 2)) / (4 * n_l**2 * m_l**2)
    assert torch.allclose(gatys_style_layer_loss(f, gram_matrix(a)), expected)


def test_content_loss_and_total_variation() -> None:
    x, p = torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 2, 2)
    assert content_loss(x, p).item() == pytest.approx(2.0)
    ramp = torch.tensor([[[[0.0, 1.0], [2.0, 4.0]]]])
    assert total_variation(ramp).item() == pytest.approx((1 + 2) + (2 + 3))


def test_layer_table_names_follow_the_papers() -> None:
    names = layer_names("vgg19")
    assert names[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert [names.index(n) for n in ("conv2_1", "conv3_1", "conv4_1", "conv4_2", "conv5_1")] == [5, 10, 19, 21, 28]  # torchvision's features indices
    assert layer_names("vgg16").index("relu4_3") == 22


def test_truncated_after_the_deepest_tap() -> None:
    net = VGGFeatures("vgg19", ["conv1_1", "conv2_1"])
    assert len(net.features) == layer_names("vgg19").index("conv2_1") + 1


def test_loads_torchvision_files_and_keeps_tapped_outputs_intact(vgg19_weights: Path) -> None:
    net = load_vgg("vgg19", str(vgg19_weights), ["conv1_1", "relu1_1", "conv4_2"], {})
    out = net(torch.rand(1, 3, 32, 32))
    assert (out["conv1_1"] < 0).any(), "an in-place ReLU would have clobbered the conv output"
    assert torch.equal(out["relu1_1"], out["conv1_1"].clamp_min(0))
    assert out["conv4_2"].shape == (1, 512, 4, 4)
    assert not any(p.requires_grad for p in net.parameters())


def test_missing_vgg_weights_say_how_to_provide_them() -> None:
    with pytest.raises(ConfigError, match="vgg19-dcbb9e9d.pth.*--set vgg_weights=URL"):
        load_vgg("vgg19", "", ["conv1_1"], {})


def test_wrong_file_is_not_taken_for_vgg(animegan_weights: Path) -> None:
    with pytest.raises(ConfigError, match="not torchvision vgg19 weights"):
        load_vgg("vgg19", str(animegan_weights), ["conv1_1"], {})
