"""The VGG loss network shared by every neural-style operator and training job.

The layer table is torchvision's (`features.<index>` keys), so torchvision's own weight files
(`vgg19-dcbb9e9d.pth`, `vgg16-397923af.pth`) load as they are. Layers are named as in the
papers (conv1_1, relu1_1, pool1, ...); ReLUs are not in-place, so a tapped activation is never
overwritten by the layer after it. ImageNet normalisation happens inside: inputs are RGB in [0, 1].
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from operators.errors import ConfigError
from operators.weights import load_state_dict

CONFIGS: dict[str, list[int | str]] = {
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}
WEIGHT_FILES = {"vgg16": "vgg16-397923af.pth", "vgg19": "vgg19-dcbb9e9d.pth"}
WEIGHTS_HINT = (
    "download https://download.pytorch.org/models/{file} (torchvision's {arch} weights) to storage the "
    "cluster can read and pass --set vgg_weights=URL, or --set vgg_weights=torchvision where nodes have internet"
)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def layer_names(arch: str) -> list[str]:
    """Names of `features` modules in order: conv1_1, relu1_1, ..., pool1, conv2_1, ..."""
    names, block, index = [], 1, 1
    for item in CONFIGS[arch]:
        if item == "M":
            names.append(f"pool{block}")
            block, index = block + 1, 1
        else:
            names += [f"conv{block}_{index}", f"relu{block}_{index}"]
            index += 1
    return names


def check_layers(arch: str, taps: list[str]) -> None:
    """A ConfigError naming any tap that is not a layer of `arch`."""
    names = layer_names(arch)
    unknown = sorted(set(taps) - set(names))
    if unknown:
        raise ConfigError(f"{arch} has no layer {', '.join(unknown)}; layers: {', '.join(names)}")


class VGGFeatures(nn.Module):
    """torchvision's VGG `features`, cut after the deepest tapped layer; returns the taps by name."""

    def __init__(self, arch: str, taps: list[str], pooling: str = "max") -> None:
        super().__init__()
        check_layers(arch, taps)
        names = layer_names(arch)
        depth = max(names.index(t) for t in taps) + 1
        layers: list[nn.Module] = []
        channels = 3
        for item in CONFIGS[arch]:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2) if pooling == "max" else nn.AvgPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, int(item), kernel_size=3, padding=1), nn.ReLU(inplace=False)]
                channels = int(item)
        self.features = nn.Sequential(*layers[:depth])
        self.names = names[:depth]
        self.taps = set(taps)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """x: RGB in [0, 1], (N, 3, H, W) -> {tap name: activation}."""
        out = {}
        x = (x - self.mean) / self.std
        for name, layer in zip(self.names, self.features):
            x = layer(x)
            if name in self.taps:
                out[name] = x
        return out


def _hint(arch: str) -> str:
    return WEIGHTS_HINT.format(file=WEIGHT_FILES[arch], arch=arch)


def _features(state: Mapping[str, torch.Tensor], net: VGGFeatures, url: str, arch: str) -> dict[str, torch.Tensor]:
    """The entries of a torchvision VGG state dict that `net` takes, checked key by key and by shape."""
    wanted = net.state_dict()
    missing = [k for k in wanted if k not in state]
    if missing:
        raise ConfigError(f"{url} is not torchvision {arch} weights (missing {missing[0]}); " + _hint(arch))
    wrong = [k for k, v in wanted.items() if tuple(state[k].shape) != tuple(v.shape)]
    if wrong:
        raise ConfigError(f"{url} does not fit {arch}: {wrong[0]} is {tuple(state[wrong[0]].shape)}, "
                          f"not {tuple(wanted[wrong[0]].shape)}; " + _hint(arch))
    return {k: state[k] for k in wanted}


def check_vgg(arch: str, url: str, taps: list[str], storage_options: Mapping[str, Any]) -> None:
    """The driver's check of VGG weights: taps exist, the file has every needed tensor at its shape
    (memory-mapped, the network made on the meta device: nothing is loaded)."""
    if not url:
        raise ConfigError(f"no VGG weights given: {_hint(arch)}")
    check_layers(arch, taps)
    if url == "torchvision":
        return  # fetched by each actor from torchvision's servers
    with torch.device("meta"):
        net = VGGFeatures(arch, taps)
    _features(load_state_dict(url, storage_options), net, url, arch)


def load_vgg(arch: str, url: str, taps: list[str], storage_options: Mapping[str, Any],
             pooling: str = "max") -> VGGFeatures:
    """A frozen VGGFeatures with torchvision's weights from `url` (or torchvision's enum)."""
    if not url:
        raise ConfigError(f"no VGG weights given: {_hint(arch)}")
    net = VGGFeatures(arch, taps, pooling)
    if url == "torchvision":
        import torchvision

        enum = {"vgg16": torchvision.models.VGG16_Weights, "vgg19": torchvision.models.VGG19_Weights}[arch]
        try:
            state = enum.IMAGENET1K_V1.get_state_dict(progress=False)
        except Exception as exc:  # no internet on this node
            raise ConfigError(f"cannot fetch torchvision's {arch} weights ({exc}); " + _hint(arch)) from None
    else:
        state = load_state_dict(url, storage_options)
    net.load_state_dict(_features(state, net, url, arch))
    return net.eval().requires_grad_(False)
