"""Johnson et al. feed-forward style transfer: the fast-neural-style TransformerNet.

Module names follow the public fast-neural-style checkpoints (`conv1.conv2d.weight`,
`in1.weight`, `res1.conv1.conv2d.weight`, `deconv1.conv2d.weight`, ...), so their `.pth` files
load as they are; the legacy `running_mean`/`running_var` entries of old instance norms are
dropped. Images go in and come out in [0, 255].
"""
from __future__ import annotations

import re
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from operators.errors import ConfigError
from operators.feedforward import HALF_OPTION, TILE_OPTION, FeedForwardStylizer
from operators.losses import gram_matrix, total_variation
from operators.spec import OperatorSpec, Option
from operators.weights import load_into, load_state_dict, weights_check

LEGACY_KEY = re.compile(r"in\d+\.running_(mean|var)$")
STRIDE = 4
CONTENT_LAYER = "relu2_2"
STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")


class ConvLayer(nn.Module):
    """Reflection padding then a convolution."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.reflection_pad = nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2d(self.reflection_pad(x))


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with instance norm and an identity shortcut."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, kernel_size=3, stride=1)
        self.in1 = nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = ConvLayer(channels, channels, kernel_size=3, stride=1)
        self.in2 = nn.InstanceNorm2d(channels, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.in2(self.conv2(F.relu(self.in1(self.conv1(x)))))


class UpsampleConvLayer(nn.Module):
    """Nearest-neighbour upsampling then a padded convolution (no checkerboard of transposed convs)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int, upsample: int) -> None:
        super().__init__()
        self.upsample = upsample
        self.reflection_pad = nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, mode="nearest", scale_factor=self.upsample)
        return self.conv2d(self.reflection_pad(x))


class TransformerNet(nn.Module):
    """Downsample x4, five residual blocks, upsample x4."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = ConvLayer(3, 32, kernel_size=9, stride=1)
        self.in1 = nn.InstanceNorm2d(32, affine=True)
        self.conv2 = ConvLayer(32, 64, kernel_size=3, stride=2)
        self.in2 = nn.InstanceNorm2d(64, affine=True)
        self.conv3 = ConvLayer(64, 128, kernel_size=3, stride=2)
        self.in3 = nn.InstanceNorm2d(128, affine=True)
        self.res1, self.res2, self.res3, self.res4, self.res5 = (ResidualBlock(128) for _ in range(5))
        self.deconv1 = UpsampleConvLayer(128, 64, kernel_size=3, stride=1, upsample=2)
        self.in4 = nn.InstanceNorm2d(64, affine=True)
        self.deconv2 = UpsampleConvLayer(64, 32, kernel_size=3, stride=1, upsample=2)
        self.in5 = nn.InstanceNorm2d(32, affine=True)
        self.deconv3 = ConvLayer(32, 3, kernel_size=9, stride=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: RGB in [0, 255] -> stylized RGB, nominally [0, 255]."""
        y = F.relu(self.in1(self.conv1(x)))
        y = F.relu(self.in2(self.conv2(y)))
        y = F.relu(self.in3(self.conv3(y)))
        y = self.res5(self.res4(self.res3(self.res2(self.res1(y)))))
        y = F.relu(self.in4(self.deconv1(y)))
        y = F.relu(self.in5(self.deconv2(y)))
        return self.deconv3(y)


def drop_legacy_keys(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove the running statistics that pre-0.4 InstanceNorm2d saved (the public checkpoints have them)."""
    return {k: v for k, v in state.items() if not LEGACY_KEY.search(k)}


def perceptual_loss(vgg: nn.Module, stylized: torch.Tensor, content: torch.Tensor,
                    style_grams: Mapping[str, torch.Tensor], content_weight: float, style_weight: float,
                    tv_weight: float) -> dict[str, torch.Tensor]:
    """Johnson et al.'s training loss on VGG-16; images in [0, 255]; style_grams from `style_targets`."""
    features = vgg(stylized / 255.0)
    with torch.no_grad():
        target = vgg(content / 255.0)[CONTENT_LAYER]
    content_term = F.mse_loss(features[CONTENT_LAYER], target)
    style_term = sum(
        F.mse_loss(gram_matrix(features[layer]) / features[layer].shape[1],
                   style_grams[layer].expand(stylized.shape[0], -1, -1))
        for layer in STYLE_LAYERS
    )
    tv_term = total_variation(stylized / 255.0).mean()
    total = content_weight * content_term + style_weight * style_term + tv_weight * tv_term
    return {"loss": total, "content": content_term, "style": style_term, "tv": tv_term}


@torch.no_grad()
def style_targets(vgg: nn.Module, style: torch.Tensor) -> dict[str, torch.Tensor]:
    """Channel- and position-normalised Grams of a style image in [0, 255], shape (1, C, C) per layer."""
    features = vgg(style / 255.0)
    return {layer: gram_matrix(features[layer]) / features[layer].shape[1] for layer in STYLE_LAYERS}


def weights_url(options: Mapping[str, Any]) -> str:
    """The checkpoint URL, or a ConfigError naming where checkpoints come from."""
    if not options["weights"]:
        raise ConfigError(
            "fast-nst needs a checkpoint: --weights URL of a fast-neural-style .pth (e.g. candy.pth, "
            "mosaic.pth, rain_princess.pth, udnie.pth from pytorch/examples' saved_models), "
            "or one trained with `stylebatch train fast-nst`"
        )
    return options["weights"]



class FastNSTStylizer(FeedForwardStylizer):
    """A TransformerNet resident on a device; fp16 on CUDA."""

    value_range = (0.0, 255.0)
    stride = STRIDE
    min_side = 16

    def __init__(self, options: Mapping[str, Any], device: str, storage_options: Mapping[str, Any]) -> None:
        url = weights_url(options)
        net = TransformerNet()
        load_into(net, drop_legacy_keys(load_state_dict(url, storage_options)), url)
        super().__init__(net, device, bool(options["half"]), int(options["tile"]))


SPEC = OperatorSpec(
    name="fast-nst",
    summary="Johnson et al. feed-forward style transfer (fast-neural-style TransformerNet .pth)",
    options=(
        Option("weights", "", "checkpoint URL (.pth, public fast-neural-style format)", is_url=True),
        HALF_OPTION,
        TILE_OPTION,
    ),
    input_mode="RGB",
    method="feed-forward",
    batch_size=16,
    build=FastNSTStylizer,
    validate=weights_check(TransformerNet, weights_url, drop_legacy_keys),
)
