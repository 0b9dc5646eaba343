"""Layer normalisation of images (GroupNorm with one group) that keeps a GPU busy.

torch's GroupNorm CUDA kernel reduces each (image, group) in a single thread block: with one group,
a batch of four 1080p frames is four blocks on a GPU of 132 multiprocessors, and channels-last
input is copied to the contiguous layout and back around it. Here the statistics come from torch's
general reduction, which spreads over the whole GPU and reads channels-last as it lies, and are
applied in one fused multiply-add. The parameters keep GroupNorm's names, so checkpoints load
unchanged. On the CPU torch's own kernel runs (it splits the work across threads already).
"""
from __future__ import annotations

import torch
from torch import nn


def layer_norm_2d(x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None, eps: float) -> torch.Tensor:
    """GroupNorm(1, C) of `x` (N, C, H, W) in its own dtype and memory format; statistics in float32."""
    # one pass, accumulated in float32; the standard deviation, unlike the variance, fits float16
    # whatever the activations (a variance over 65504 would come back infinite)
    std, mean = torch.std_mean(x, dim=(1, 2, 3), correction=0, keepdim=True)
    scale = torch.rsqrt(std.float().square() + eps)  # (N, 1, 1, 1)
    shift = -mean.float() * scale
    if weight is not None and bias is not None:
        per_channel = weight.float().view(1, -1, 1, 1)
        scale, shift = scale * per_channel, shift * per_channel + bias.float().view(1, -1, 1, 1)
    return torch.addcmul(shift.to(x.dtype), x, scale.to(x.dtype))


class LayerNorm2d(nn.GroupNorm):
    """GroupNorm(1, C): each image normalised over all its channels and pixels, then scaled and
    shifted per channel."""

    def __init__(self, num_channels: int, eps: float = 1e-5, affine: bool = True) -> None:
        super().__init__(1, num_channels, eps=eps, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not x.is_cuda:
            return super().forward(x)
        return layer_norm_2d(x, self.weight, self.bias, self.eps)
