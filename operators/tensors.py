"""Tensor helpers shared by the torch operators: uint8 batches to ranged tensors and back, padding."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def to_tensor(images: np.ndarray, device: torch.device, low: float, high: float, dtype: torch.dtype) -> torch.Tensor:
    """(N, H, W, C) uint8 to (N, C, H, W) in [low, high] on `device`."""
    array = np.ascontiguousarray(images)
    if not array.flags.writeable:  # Ray hands batches over read-only (zero-copy)
        array = array.copy()
    x = torch.from_numpy(array).to(device, non_blocking=True)
    x = x.permute(0, 3, 1, 2).to(dtype)
    return x * ((high - low) / 255.0) + low


def to_uint8(x: torch.Tensor, low: float, high: float) -> np.ndarray:
    """(N, C, H, W) in [low, high] to (N, H, W, C) uint8 on the CPU, rounded and clipped."""
    x = (x.float() - low) * (255.0 / (high - low))
    x = x.clamp_(0, 255).round_().to(torch.uint8)
    return x.permute(0, 2, 3, 1).contiguous().cpu().numpy()


def pad_to_multiple(x: torch.Tensor, multiple: int, min_side: int = 1) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad bottom/right so both sides are multiples of `multiple` and at least `min_side`.

    Reflection is used where the image is large enough, edge replication otherwise.
    Returns the padded tensor and the original (height, width) to crop back to.
    """
    h, w = x.shape[-2:]
    target_h = max(-(-h // multiple) * multiple, -(-min_side // multiple) * multiple)
    target_w = max(-(-w // multiple) * multiple, -(-min_side // multiple) * multiple)
    pad_h, pad_w = target_h - h, target_w - w
    if pad_h or pad_w:
        mode = "reflect" if pad_h < h and pad_w < w else "replicate"
        x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
    return x, (h, w)


def pick_device(requested: str = "auto") -> torch.device:
    """`auto` is the first CUDA device when there is one, else the CPU."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def placement(device: torch.device, dtype: torch.dtype = torch.float32) -> str:
    """Where a torch model runs, as a run's note says it: `cuda:0 float16 (NVIDIA H200)`, `cpu float32`."""
    precision = str(dtype).removeprefix("torch.")
    if device.type != "cuda":
        return f"{device.type} {precision}"
    index = device.index if device.index is not None else torch.cuda.current_device()
    return f"cuda:{index} {precision} ({torch.cuda.get_device_name(index)})"


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Antialiased bilinear resize of (N, C, H, W) to `size` (H, W); a no-op at the same size."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)


def fit_longer_side(height: int, width: int, side: int) -> tuple[int, int]:
    """(H, W) scaled so the longer side is `side` (at least 1 pixel each)."""
    scale = side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def keep_colors(stylized: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Luminance of `stylized` with the chroma (YIQ I and Q) of `content`; both RGB in [0, 1]."""
    matrix = _RGB_TO_YIQ.to(stylized)
    yiq_out = torch.einsum("ij,njhw->nihw", matrix, stylized)
    yiq_in = torch.einsum("ij,njhw->nihw", matrix, content)
    mixed = torch.cat([yiq_out[:, :1], yiq_in[:, 1:]], dim=1)
    return torch.einsum("ij,njhw->nihw", torch.linalg.inv(matrix), mixed).clamp(0, 1)
