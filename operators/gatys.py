"""Gatys et al. neural style transfer: optimise the image itself against VGG-19 feature statistics.

Content loss at conv4_2, style loss E_l = 1/(4 N_l^2 M_l^2) sum (G - A)^2 at conv1_1 ... conv5_1
with per-layer weights w_l, total alpha * L_content + beta * sum w_l E_l. A whole batch of
equal-sized images is optimised at once (shared style targets, per-image content targets); the
style Gram targets are computed once, when the actor starts.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch

from operators.errors import ConfigError
from operators.files import read_bytes, require_file
from operators.images import load_rgb
from operators.losses import content_loss, gatys_style_layer_loss, gram_matrix
from operators.optimize import OPTIMIZERS, optimise_image
from operators.spec import OperatorSpec, Option
from operators.tensors import (
    fit_longer_side,
    keep_colors,
    pick_device,
    placement,
    resize,
    to_tensor,
    to_uint8,
)
from operators.vgg import check_vgg, load_vgg

INITS = ("content", "noise", "content+noise")


def split_list(text: str) -> list[str]:
    """'a, b,c' -> ['a', 'b', 'c']."""
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_floats(text: str, count: int, name: str) -> list[float]:
    """A comma-separated list of `count` numbers (one number is repeated)."""
    try:
        values = [float(v) for v in split_list(text)]
    except ValueError:
        raise ConfigError(f"{name}={text!r}: use comma-separated numbers") from None
    if len(values) == 1:
        values *= count
    if len(values) != count:
        raise ConfigError(f"{name}={text!r}: expected {count} numbers, one per entry")
    return values


def check_options(options: Mapping[str, Any]) -> None:
    """The options alone make sense: a style, a known optimiser and init, one weight per layer and style."""
    styles = split_list(options["style"])
    if not styles:
        raise ConfigError("a style image is needed: --set style=URL (several: URL1,URL2 with style_blend)")
    if options["optimizer"] not in OPTIMIZERS or options["init"] not in INITS:
        raise ConfigError(f"optimizer must be one of {OPTIMIZERS} and init one of {INITS}")
    parse_floats(options["layer_weights"], len(split_list(options["style_layers"])), "layer_weights")
    parse_floats(options["style_blend"], len(styles), "style_blend")


def style_files(options: Mapping[str, Any]) -> dict[str, list[str]]:
    """The style images (a comma-separated list) and the VGG weights (none when fetched from
    torchvision's servers)."""
    vgg = [options["vgg_weights"]] if options["vgg_weights"] not in ("", "torchvision") else []
    return {"style": split_list(options["style"]), "vgg_weights": vgg}


def check(options: Mapping[str, Any], storage_options: Mapping[str, Any], taps: list[str] | None = None) -> None:
    """The driver's check: options, style images present, VGG-19 weights with every tapped layer."""
    check_options(options)
    for url in split_list(options["style"]):
        require_file(url, storage_options)
    taps = taps or [options["content_layer"], *split_list(options["style_layers"])]
    check_vgg("vgg19", options["vgg_weights"], taps, storage_options)


class GatysStylizer:
    """VGG-19 and the style targets resident on a device; optimises batches of images.

    Subclasses change what the style loss compares (`taps`, `prepare_style`, `batch_context`,
    `style_loss`) and how the result is composed (`compose`); the loop stays the same.
    """

    @property
    def placement(self) -> str:
        """Where VGG and the optimisation run."""
        return placement(self.device)

    def __init__(self, options: Mapping[str, Any], device: str, storage_options: Mapping[str, Any]) -> None:
        check_options(options)
        styles = split_list(options["style"])
        self.device = pick_device(device)
        self.options = dict(options)
        self.content_layer = options["content_layer"]
        self.style_layers = split_list(options["style_layers"])
        self.layer_weights = parse_floats(options["layer_weights"], len(self.style_layers), "layer_weights")
        self.vgg = load_vgg("vgg19", options["vgg_weights"], self.taps(), storage_options,
                            options["pooling"]).to(self.device)
        blend = parse_floats(options["style_blend"], len(styles), "style_blend")
        side = max(16, round(self.options["size"] * self.options["style_scale"]))
        with torch.no_grad():
            self.prepare_style([self.load_style(url, side, storage_options) for url in styles], blend,
                               storage_options)

    def taps(self) -> list[str]:
        """VGG layers the losses read."""
        return [self.content_layer, *self.style_layers]

    def load_style(self, url: str, side: int, storage_options: Mapping[str, Any]) -> torch.Tensor:
        """A style image as (1, 3, h, w) in [0, 1], its longer side `side`."""
        image = load_rgb(read_bytes(url, storage_options))
        x = to_tensor(image[None], self.device, 0.0, 1.0, torch.float32)
        return resize(x, fit_longer_side(*image.shape[:2], side))

    def prepare_style(self, styles: list[torch.Tensor], blend: list[float], storage_options: Mapping[str, Any]) -> None:
        """Blend-weighted, position-normalised Gram matrices of the style image(s), per layer."""
        total = sum(blend)
        self.style_grams: dict[str, torch.Tensor] = {}
        for style, weight in zip(styles, blend):
            for layer, features in self.vgg(style).items():
                if layer in self.style_layers:
                    self.style_grams[layer] = self.style_grams.get(layer, 0) + gram_matrix(features) * (weight / total)

    def batch_context(self, images: np.ndarray, size: tuple[int, int]) -> dict[str, Any]:
        """Per-batch data the style loss needs besides the features (none for plain Gatys)."""
        return {}

    def style_loss(self, features: dict[str, torch.Tensor], context: dict[str, Any]) -> torch.Tensor:
        """sum_l w_l E_l per image -> (N,)."""
        return sum(w * gatys_style_layer_loss(features[layer], self.style_grams[layer])
                   for layer, w in zip(self.style_layers, self.layer_weights))

    def total_loss(self, x: torch.Tensor, content_targets: torch.Tensor, context: dict[str, Any]) -> torch.Tensor:
        """alpha * content + beta * style, summed over the batch (images do not interact)."""
        features = self.vgg(x)
        content = content_loss(features[self.content_layer], content_targets)
        style = self.style_loss(features, context)
        return (self.options["content_weight"] * content + self.options["style_weight"] * style).sum()

    def initial_image(self, content: torch.Tensor) -> torch.Tensor:
        """The starting point named by `init`."""
        generator = torch.Generator(device="cpu").manual_seed(int(self.options["seed"]))
        noise = torch.rand(content.shape, generator=generator).to(content)
        return {"content": content, "noise": noise, "content+noise": 0.5 * content + 0.5 * noise}[self.options["init"]]

    def optimise(self, content: torch.Tensor, context: dict[str, Any] | None = None) -> torch.Tensor:
        """Optimise the whole batch at once; returns images in [0, 1]."""
        context = context or {}
        with torch.no_grad():
            content_targets = self.vgg(content)[self.content_layer]
        return optimise_image(self.initial_image(content), lambda x: self.total_loss(x, content_targets, context),
                              self.options["optimizer"], int(self.options["steps"]), float(self.options["lr"]))

    def compose(self, stylized: torch.Tensor, original: torch.Tensor, context: dict[str, Any]) -> torch.Tensor:
        """The result at input size from the stylized image (already resized) and the original."""
        return stylized

    def __call__(self, images: np.ndarray) -> np.ndarray:
        height, width = images.shape[1:3]
        original = to_tensor(images[..., :3], self.device, 0.0, 1.0, torch.float32)
        size = fit_longer_side(height, width, self.options["size"])
        content = resize(original, size)
        context = self.batch_context(images, size)
        x = self.optimise(content, context)
        if self.options["keep_colors"]:
            x = keep_colors(x, content)
        return to_uint8(self.compose(resize(x, (height, width)), original, context), 0.0, 1.0)


OPTIONS = (
    Option("style", "", "style image URL(s), comma-separated", is_url=True),
    Option("style_blend", "1", "blend weights of the style images, comma-separated"),
    Option("style_scale", 1.0, "style image size relative to the working size"),
    Option("vgg_weights", "", "torchvision vgg19-dcbb9e9d.pth URL, or 'torchvision' to download", is_url=True),
    Option("content_weight", 1.0, "alpha: weight of the content loss"),
    Option("style_weight", 1e5, "beta: weight of the style loss"),
    Option("content_layer", "conv4_2", "VGG-19 layer of the content loss"),
    Option("style_layers", "conv1_1,conv2_1,conv3_1,conv4_1,conv5_1", "VGG-19 layers of the style loss"),
    Option("layer_weights", "0.2", "w_l per style layer (one number: all alike)"),
    Option("optimizer", "lbfgs", "lbfgs or adam"),
    Option("steps", 300, "optimiser iterations"),
    Option("lr", 0.02, "Adam learning rate (images in [0, 1])"),
    Option("init", "content", "starting image: content, noise or content+noise"),
    Option("seed", 0, "seed of the noise init"),
    Option("size", 512, "working size: longer side in pixels (the result is resized to the input size)"),
    Option("pooling", "max", "VGG pooling: max or avg (the paper prefers avg)"),
    Option("keep_colors", False, "transfer luminance only and keep the content's colours"),
)

SPEC = OperatorSpec(
    name="gatys",
    summary="Gatys et al. optimisation-based neural style transfer on VGG-19",
    options=OPTIONS,
    presets={"fast": {"steps": 100, "size": 384}, "quality": {"steps": 500, "size": 768, "pooling": "avg"}},
    input_mode="RGB",
    method="optimization",
    batch_size=4,
    build=GatysStylizer,
    files=style_files,
    validate=check,
)
