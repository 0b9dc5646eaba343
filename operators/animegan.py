"""AnimeGANv2 generator (PyTorch port): the module tree reproduces the public checkpoints' keys.

`block_a.0.1.weight` is the first convolution, `block_c.1.layers.1.1.bias` the depthwise bias of
the first inverted residual block, `out_layer.0.weight` the final 1x1 projection, so a public
`.pt` file loads with a strict `load_state_dict` and no renaming.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from operators.errors import ConfigError
from operators.feedforward import HALF_OPTION, TILE_OPTION, FeedForwardStylizer
from operators.norms import LayerNorm2d
from operators.spec import OperatorSpec, Option
from operators.weights import load_into, load_state_dict, weights_check

PUBLIC_CHECKPOINTS = {
    "paprika": "paprika.pt",
    "face_paint_512_v1": "face_paint_512_v1.pt",
    "face_paint_512_v2": "face_paint_512_v2.pt",
    "celeba_distill": "celeba_distill.pt",
}
DOWNLOAD_HINT = "https://github.com/bryandlee/animegan2-pytorch/raw/main/weights/<preset>.pt"
STRIDE = 4  # two stride-2 convolutions: the scale_factor=2 upsampling needs sides that are multiples of 4
MIN_SIDE = 32  # reflection padding of the deepest layers needs a few pixels


class ConvNormLReLU(nn.Sequential):
    """Pad, convolve, layer-normalise (GroupNorm with one group), leaky ReLU."""

    PADDING = {"zero": nn.ZeroPad2d, "same": nn.ReplicationPad2d, "reflect": nn.ReflectionPad2d}

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int | tuple[int, int, int, int] = 1,
        pad_mode: str = "reflect",
        groups: int = 1,
        bias: bool = False,
    ) -> None:
        super().__init__(
            self.PADDING[pad_mode](padding),
            nn.Conv2d(in_ch, out_ch, kernel_size, stride=stride, padding=0, groups=groups, bias=bias),
            LayerNorm2d(out_ch),
            nn.LeakyReLU(0.2, inplace=True),
        )


class InvertedResBlock(nn.Module):
    """MobileNetV2-style block: 1x1 expansion, depthwise 3x3, 1x1 projection, residual if shapes match."""

    def __init__(self, in_ch: int, out_ch: int, expansion_ratio: float = 2) -> None:
        super().__init__()
        self.use_res_connect = in_ch == out_ch
        bottleneck = int(round(in_ch * expansion_ratio))
        expand = [ConvNormLReLU(in_ch, bottleneck, kernel_size=1, padding=0)] if expansion_ratio != 1 else []
        self.layers = nn.Sequential(
            *expand,
            ConvNormLReLU(bottleneck, bottleneck, groups=bottleneck, bias=True),
            nn.Conv2d(bottleneck, out_ch, kernel_size=1, padding=0, bias=False),
            LayerNorm2d(out_ch),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layers(x)
        return x + out if self.use_res_connect else out


class Generator(nn.Module):
    """Encoder (block_a, block_b), inverted-residual body (block_c), decoder (block_d, block_e)."""

    def __init__(self) -> None:
        super().__init__()
        self.block_a = nn.Sequential(
            ConvNormLReLU(3, 32, kernel_size=7, padding=3),
            ConvNormLReLU(32, 64, stride=2, padding=(0, 1, 0, 1)),
            ConvNormLReLU(64, 64),
        )
        self.block_b = nn.Sequential(
            ConvNormLReLU(64, 128, stride=2, padding=(0, 1, 0, 1)),
            ConvNormLReLU(128, 128),
        )
        self.block_c = nn.Sequential(
            ConvNormLReLU(128, 128),
            InvertedResBlock(128, 256, 2),
            InvertedResBlock(256, 256, 2),
            InvertedResBlock(256, 256, 2),
            InvertedResBlock(256, 256, 2),
            ConvNormLReLU(256, 128),
        )
        self.block_d = nn.Sequential(ConvNormLReLU(128, 128), ConvNormLReLU(128, 128))
        self.block_e = nn.Sequential(
            ConvNormLReLU(128, 64),
            ConvNormLReLU(64, 64),
            ConvNormLReLU(64, 32, kernel_size=7, padding=3),
        )
        self.out_layer = nn.Sequential(nn.Conv2d(32, 3, kernel_size=1, stride=1, padding=0, bias=False), nn.Tanh())

    def forward(self, x: torch.Tensor, align_corners: bool = False) -> torch.Tensor:
        """x in [-1, 1], (N, 3, H, W) -> stylized image in [-1, 1]."""
        out = self.block_a(x)
        half_size = out.shape[-2:]
        out = self.block_c(self.block_b(out))
        out = self._upsample(out, half_size, align_corners)
        out = self.block_d(out)
        out = self._upsample(out, x.shape[-2:], align_corners)
        return self.out_layer(self.block_e(out))

    @staticmethod
    def _upsample(x: torch.Tensor, size: torch.Size, align_corners: bool) -> torch.Tensor:
        if align_corners:
            return F.interpolate(x, size, mode="bilinear", align_corners=True)
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def locate_weights(options: dict[str, Any]) -> dict[str, Any]:
    """Resolve `weights` to a file: itself, or a folder URL joined with the preset's file name."""
    url, preset = options.get("weights") or "", options.get("preset")
    if url.endswith("/") and preset:
        return {**options, "weights": url + PUBLIC_CHECKPOINTS[preset]}
    if not url:
        raise ConfigError(
            "animegan needs a checkpoint: pass --weights URL (a .pt file, or a folder plus --set preset=NAME); "
            f"public checkpoints: {DOWNLOAD_HINT} with preset one of {', '.join(PUBLIC_CHECKPOINTS)}"
        )
    if url.endswith("/"):
        raise ConfigError(f"--weights {url} is a folder: add --set preset=NAME ({', '.join(PUBLIC_CHECKPOINTS)})")
    return options


class AnimeGANStylizer(FeedForwardStylizer):
    """One Generator resident on a device: channels-last on the CPU, fp16 on CUDA.

    With `align_corners` the generator upsamples to the exact sizes its encoder saw, so any
    size runs as it is (no padding, as the reference does); without it each upsampling doubles,
    so inputs are padded to a multiple of STRIDE and cropped back.
    """

    value_range = (-1.0, 1.0)
    min_side = MIN_SIDE
    channels_last_on_cpu = True

    def __init__(self, options: Mapping[str, Any], device: str, storage_options: Mapping[str, Any]) -> None:
        url = options["weights"]
        net = Generator()
        load_into(net, load_state_dict(url, storage_options), url)
        self.align_corners = bool(options["align_corners"])
        self.stride = 1 if self.align_corners else STRIDE
        super().__init__(net, device, bool(options["half"]), int(options["tile"]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x, self.align_corners)



SPEC = OperatorSpec(
    name="animegan",
    summary="AnimeGANv2 generator (PyTorch-port .pt checkpoints): photos to anime",
    options=(
        Option("weights", "", "checkpoint URL (.pt), or a folder URL ending in / plus a preset", is_url=True),
        Option("align_corners", False, "upsample with align_corners=True (the reference's --upsample_align)"),
        HALF_OPTION,
        TILE_OPTION,
    ),
    presets={name: {} for name in PUBLIC_CHECKPOINTS},
    input_mode="RGB",
    method="feed-forward",
    batch_size=8,
    build=AnimeGANStylizer,
    complete=locate_weights,
    validate=weights_check(Generator),
)
