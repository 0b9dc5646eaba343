"""What every feed-forward torch operator does around its network: placement, ranges, padding."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from operators.spec import Option
from operators.tensors import pad_to_multiple, pick_device, placement, to_tensor, to_uint8
from operators.tiling import run_tiled_shared

AUTO_TILE = 1024  # tile side after a CUDA out-of-memory error when no tile size was set

HALF_OPTION = Option("half", True, "run in float16 on CUDA devices (ignored on CPU)")
TILE_OPTION = Option("tile", 0, "run images with a side over N pixels in overlapping tiles sharing the image's "
                     "normalisation statistics (for 4K+ frames that do not fit device memory); 0: only after a "
                     "CUDA out-of-memory error")


class FeedForwardStylizer:
    """A network resident on a device: uint8 batches in, scaled to `value_range`, padded to the
    network's `stride`, run (fp16 on CUDA when `half`; channels-last on the CPU where
    `channels_last_on_cpu`), cropped and scaled back to uint8.

    Images with a side over `tile` pixels (or any image that runs out of CUDA memory whole) run
    in overlapping tiles that share the whole image's normalisation statistics.
    """

    value_range: tuple[float, float] = (0.0, 1.0)
    stride: int = 1
    min_side: int = 1
    channels_last_on_cpu: bool = False

    def __init__(self, net: nn.Module, device: str, half: bool, tile: int = 0) -> None:
        self.tile = tile
        self.device = pick_device(device)
        self.dtype = torch.float16 if self.device.type == "cuda" and half else torch.float32
        self.memory_format = self.memory_format_on(self.device)
        self.net = net.to(self.device, dtype=self.dtype, memory_format=self.memory_format).eval()

    @classmethod
    def memory_format_on(cls, device: torch.device) -> torch.memory_format:
        """The layout this operator's network runs fastest in on `device`. On CUDA that is the
        contiguous one: channels-last fp16 ran AnimeGANv2 at half the speed on an H200 (reflection
        padding and bilinear upsampling copy it around) and TransformerNet at 1080p 21% slower."""
        channels_last = device.type != "cuda" and cls.channels_last_on_cpu
        return torch.channels_last if channels_last else torch.contiguous_format

    @property
    def placement(self) -> str:
        """Where the network runs: device, precision, GPU name."""
        return placement(self.device, self.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The network on a padded batch in `value_range`."""
        return self.net(x)

    @torch.inference_mode()
    def __call__(self, images: np.ndarray) -> np.ndarray:
        low, high = self.value_range
        x = to_tensor(images, self.device, low, high, self.dtype)
        x, (h, w) = pad_to_multiple(x, self.stride, self.min_side)
        out = self._run(x.contiguous(memory_format=self.memory_format))
        return to_uint8(out[..., :h, :w], low, high)

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        if self.tile and max(x.shape[-2:]) > self.tile:
            return self._tiled(x, self.tile)
        try:
            return self.forward(x)
        except torch.cuda.OutOfMemoryError:
            if self.tile or max(x.shape[-2:]) <= AUTO_TILE:
                raise
            torch.cuda.empty_cache()
            return self._tiled(x, AUTO_TILE)

    def _tiled(self, x: torch.Tensor, tile: int) -> torch.Tensor:
        """Overlapping tiles on the stride grid, sharing at least 64 pixels (an eighth of large tiles)."""
        side = max(self.stride, tile // self.stride * self.stride)
        return run_tiled_shared(self.net, self.forward, x, side, max(64, side // 8), self.stride)
