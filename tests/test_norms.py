"""The GPU layer norm computes GroupNorm(1, C) exactly, in the input's dtype and memory format."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from operators.norms import LayerNorm2d, layer_norm_2d


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_layer_norm_2d_is_group_norm_with_one_group(memory_format: torch.memory_format) -> None:
    torch.manual_seed(0)
    x = (torch.randn(3, 16, 20, 24) * 3 + 1).contiguous(memory_format=memory_format)
    weight, bias = torch.randn(16), torch.randn(16)
    out = layer_norm_2d(x, weight, bias, 1e-5)
    assert torch.allclose(out, F.group_norm(x, 1, weight, bias, 1e-5), atol=1e-5)
    assert out.is_contiguous(memory_format=memory_format)
    assert torch.allclose(layer_norm_2d(x, None, None, 1e-5), F.group_norm(x, 1, None, None, 1e-5), atol=1e-5)


def test_half_precision_stays_half_and_close() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 8, 16, 16) * 2
    weight, bias = torch.randn(8), torch.randn(8)
    out = layer_norm_2d(x.half(), weight.half(), bias.half(), 1e-5)
    assert out.dtype == torch.float16
    assert (out.float() - F.group_norm(x, 1, weight, bias, 1e-5)).abs().max() < 0.02


def test_large_activations_in_half_precision_do_not_overflow() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 8, 16, 16) * 1000  # a variance of a million: past float16's range, its square root is not
    out = layer_norm_2d(x.half(), None, None, 1e-5)
    assert torch.isfinite(out).all()
    assert (out.float() - F.group_norm(x, 1, None, None, 1e-5)).abs().max() < 0.02


def test_checkpoint_names_are_group_norms() -> None:
    norm = LayerNorm2d(32)
    assert isinstance(norm, torch.nn.GroupNorm) and norm.num_groups == 1
    assert set(norm.state_dict()) == {"weight", "bias"}
