"""Perceptual losses shared by the neural-style operators and training jobs."""
from __future__ import annotations

import torch


def gram_matrix(features: torch.Tensor, mask: torch.Tensor | None = None, normalize: bool = True) -> torch.Tensor:
    """Gram matrix of (N, C, H, W) features -> (N, C, C).

    With `normalize`, divided by the number of positions (or, with a mask in [0, 1] of shape
    (N, 1, H, W), by the mask's sum), so regions of different sizes weigh alike.
    """
    n, c, h, w = features.shape
    if mask is not None:
        features = features * mask
    flat = features.reshape(n, c, h * w)
    gram = flat @ flat.transpose(1, 2)
    if not normalize:
        return gram
    count = mask.sum(dim=(1, 2, 3)).clamp_min(1e-8).view(n, 1, 1) if mask is not None else h * w
    return gram / count


def gatys_style_layer_loss(features: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """E_l = 1 / (4 N_l^2 M_l^2) * sum (G - A)^2 per image -> (N,).

    Written with Grams normalised by the position count M_l (`target_gram` too), which is the
    same number when style and content share a size and stays balanced when they do not.
    """
    channels = features.shape[1]
    return ((gram_matrix(features) - target_gram) ** 2).sum(dim=(1, 2)) / (4.0 * channels**2)


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1/2 * sum (F - P)^2 per image (Gatys et al.) -> (N,)."""
    return 0.5 * ((features - target) ** 2).sum(dim=(1, 2, 3))


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Sum of absolute differences between neighbouring pixels, per image -> (N,)."""
    dy = (x[:, :, 1:, :] - x[:, :, :-1, :]).abs().sum(dim=(1, 2, 3))
    dx = (x[:, :, :, 1:] - x[:, :, :, :-1]).abs().sum(dim=(1, 2, 3))
    return dx + dy


def image_gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences of (N, C, H, W) along x (N, C, H, W-1) and y (N, C, H-1, W)."""
    return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]


def gradient_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean L1 between the x-gradients of output and target plus the same for the y-gradients."""
    out_dx, out_dy = image_gradients(output)
    target_dx, target_dy = image_gradients(target)
    return (out_dx - target_dx).abs().mean() + (out_dy - target_dy).abs().mean()
