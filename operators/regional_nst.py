"""Semantic variants of Gatys transfer, guided by colour maps: region, gradient mask, patch, doodle.

- region: each colour of the content map takes its style from the same colour of the style map
  (Grams of masked features, normalised by the mask's pixel count so regions of any size weigh
  alike); with `region_only`, pixels whose colour the style map lacks stay exactly as they were.
- mask: the content map is a soft mask in [0, 1] (its grey level); the style loss uses the
  mask-weighted Gram normalised by the mask sum, and the result is blended with the original by
  the mask, so black stays untouched.
- patch: content patches (features with the semantic map appended) are matched to the most
  similar style patch (normalised cross-correlation) and pulled towards it (Champandard 2016).
- doodle: no content image; the input *is* a semantic map, painted with the style image's
  patches from the same-coloured regions of its map.

Content maps come with each input (see the pipeline's `maps`); the style map is `style_map`.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from operators import gatys
from operators.errors import ConfigError
from operators.files import read_bytes, require_file
from operators.gatys import OPTIONS as GATYS_OPTIONS
from operators.gatys import GatysStylizer, split_list
from operators.images import load_rgb
from operators.losses import gram_matrix
from operators.spec import Companion, OperatorSpec, Option
from operators.tensors import resize, to_tensor

MODES = ("region", "mask", "patch", "doodle")
MIN_REGION_SHARE = 0.005
PATCH_CHUNK = 4096


def palette_of(style_map: np.ndarray) -> np.ndarray:
    """The colours (quantised to 3 bits per channel) covering at least 0.5% of a style map -> (K, 3)."""
    codes = _codes(style_map)
    values, counts = np.unique(codes, return_counts=True)
    return values[counts >= MIN_REGION_SHARE * codes.size]


def _codes(rgb: np.ndarray) -> np.ndarray:
    q = rgb.astype(np.int32) >> 5
    return (q[..., 0] << 6) | (q[..., 1] << 3) | q[..., 2]


def region_masks(rgb: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """One-hot masks (..., K, H, W) of each palette colour in a map (..., H, W, 3)."""
    codes = _codes(rgb)
    return np.stack([(codes == c) for c in palette], axis=-3).astype(np.float32)


def nearest_patches(query: torch.Tensor, keys: torch.Tensor, size: int) -> torch.Tensor:
    """For each position of `query` (C, H, W), the index of the most similar `size`x`size` patch of
    `keys` (C, Hs, Ws) by normalised cross-correlation -> (H*W,)."""
    pad = size // 2
    key_patches = F.normalize(F.unfold(keys[None], size, padding=pad)[0], dim=0)  # (C*s*s, P)
    query_patches = F.normalize(F.unfold(query[None], size, padding=pad)[0], dim=0)  # (C*s*s, Q)
    return torch.cat([(key_patches.T @ query_patches[:, i : i + PATCH_CHUNK]).argmax(dim=0)
                      for i in range(0, query_patches.shape[1], PATCH_CHUNK)])


def patch_loss(features: torch.Tensor, style_features: torch.Tensor, matches: torch.Tensor, size: int) -> torch.Tensor:
    """Mean squared distance of each patch of one image's `features` (1, C, H, W) to its matched
    style patch (`matches`: (H*W,) indices into the style patches) -> (1,)."""
    pad = size // 2
    patches = F.unfold(features, size, padding=pad)  # (1, C*s*s, Q)
    style_patches = F.unfold(style_features, size, padding=pad)[0]  # (C*s*s, P)
    targets = style_patches[:, matches][None]  # (1, C*s*s, Q)
    return ((patches - targets) ** 2).mean(dim=(1, 2))


def check_mode(options: Mapping[str, Any]) -> None:
    """A known mode, with the style map every mode but `mask` needs."""
    if options["mode"] not in MODES:
        raise ConfigError(f"mode={options['mode']!r}: choose one of {', '.join(MODES)}")
    if options["mode"] != "mask" and not options["style_map"]:
        raise ConfigError(f"mode {options['mode']} needs --set style_map=URL (the style image's colour map)")


def taps(options: Mapping[str, Any]) -> list[str]:
    """VGG layers the losses read: Gatys' content and style layers plus the patch layers."""
    return [options["content_layer"], *split_list(options["style_layers"]), *split_list(options["patch_layers"])]


def check(options: Mapping[str, Any], storage_options: Mapping[str, Any]) -> None:
    """The driver's check: the mode and its style map, then everything Gatys checks."""
    check_mode(options)
    if options["style_map"]:
        require_file(options["style_map"], storage_options)
    gatys.check(options, storage_options, taps(options))


def files(options: Mapping[str, Any]) -> dict[str, list[str]]:
    """Gatys' files plus the style map."""
    return {**gatys.style_files(options), "style_map": [options["style_map"]] if options["style_map"] else []}


def content_maps(options: Mapping[str, Any]) -> Companion | None:
    """Every mode but doodle reads a colour map with each input (doodle's inputs are maps)."""
    if options["mode"] == "doodle":
        return None
    return Companion(what="semantic map", suffix=".map", prefix=options["maps"],
                     hint="put <name>.map.png beside the image or pass --set maps=URL")


class RegionalStylizer(GatysStylizer):
    """Gatys transfer where semantic maps decide which style statistics apply where."""

    def __init__(self, options: Mapping[str, Any], device: str, storage_options: Mapping[str, Any]) -> None:
        check_mode(options)
        self.mode = options["mode"]
        self.patch_layers = split_list(options["patch_layers"])
        self.style_map_url = options["style_map"]
        super().__init__(options, device, storage_options)

    def taps(self) -> list[str]:
        return taps(self.options)

    def prepare_style(self, styles: list[torch.Tensor], blend: list[float], storage_options: Mapping[str, Any]) -> None:
        if self.mode == "mask":
            super().prepare_style(styles, blend, storage_options)
            return
        if len(styles) != 1:
            raise ConfigError(f"mode {self.mode} takes one style image (and its map)")
        style = styles[0]
        style_map = load_rgb(read_bytes(self.style_map_url, storage_options))
        self.palette = palette_of(style_map)
        masks = torch.from_numpy(region_masks(style_map, self.palette))[None].to(self.device)
        masks = F.interpolate(masks, size=style.shape[-2:], mode="area")
        self.style_features = self.vgg(style)
        if self.mode == "region":
            self.region_grams = {layer: [gram_matrix(self.style_features[layer], self._at(masks[:, k : k + 1], layer,
                                                                                       self.style_features))
                                         for k in range(len(self.palette))] for layer in self.style_layers}
        else:
            self.style_map_tensor = resize(to_tensor(style_map[None], self.device, 0.0, 1.0, torch.float32),
                                           tuple(style.shape[-2:]))

    @staticmethod
    def _at(mask: torch.Tensor, layer: str, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """A mask resized to a layer's feature grid."""
        return F.interpolate(mask, size=features[layer].shape[-2:], mode="area")

    def batch_context(self, images: np.ndarray, size: tuple[int, int]) -> dict[str, Any]:
        maps = images[..., :3] if self.mode == "doodle" else images[..., 3:6]
        if maps.shape[-1] != 3:
            raise ConfigError("regional-nst got images without their semantic maps")
        if self.mode == "mask":
            soft = torch.from_numpy(maps.astype(np.float32).mean(axis=-1) / 255.0)[:, None].to(self.device)
            return {"mask": resize(soft, size), "mask_full": soft}
        if self.mode == "region":
            masks = torch.from_numpy(region_masks(maps, self.palette)).to(self.device)  # (N, K, H, W)
            return {"masks": F.interpolate(masks, size=size, mode="area"),
                    "covered": masks.sum(dim=1, keepdim=True).clamp(max=1.0)}
        return {"map": resize(to_tensor(maps, self.device, 0.0, 1.0, torch.float32), size)}

    def style_loss(self, features: dict[str, torch.Tensor], context: dict[str, Any]) -> torch.Tensor:
        if self.mode == "mask":
            return sum(w * self._gram_distance(features[layer], self.style_grams[layer],
                                               self._at(context["mask"], layer, features))
                       for layer, w in zip(self.style_layers, self.layer_weights))
        if self.mode == "region":
            total = 0
            for layer, w in zip(self.style_layers, self.layer_weights):
                masks = self._at(context["masks"], layer, features)
                for k, target in enumerate(self.region_grams[layer]):
                    total = total + w * self._gram_distance(features[layer], target, masks[:, k : k + 1])
            return total
        return sum(self._patch_term(features[layer], layer, context["map"]) for layer in self.patch_layers)

    @staticmethod
    def _gram_distance(features: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """E_l with mask-normalised Grams; zero for images where the region is absent."""
        present = (mask.sum(dim=(1, 2, 3)) > 0).to(features)
        return present * ((gram_matrix(features, mask) - target) ** 2).sum(dim=(1, 2)) / (4.0 * features.shape[1] ** 2)

    def _patch_term(self, features: torch.Tensor, layer: str, semantic: torch.Tensor) -> torch.Tensor:
        """Patch loss at one layer, matching on features with the semantic map appended."""
        size, weight = int(self.options["patch_size"]), float(self.options["map_weight"])
        style = self.style_features[layer]
        style_map = F.interpolate(self.style_map_tensor, size=style.shape[-2:], mode="area")
        keys = torch.cat([style[0], weight * style_map[0] * style.abs().mean()], dim=0)
        losses = []
        for i in range(features.shape[0]):
            content_map = F.interpolate(semantic[i : i + 1], size=features.shape[-2:], mode="area")
            with torch.no_grad():
                query = torch.cat([features[i], weight * content_map[0] * style.abs().mean()], dim=0)
                matches = nearest_patches(query, keys, size)
            losses.append(patch_loss(features[i : i + 1], style, matches, size))
        return torch.cat(losses) * 1e4

    def total_loss(self, x: torch.Tensor, content_targets: torch.Tensor, context: dict[str, Any]) -> torch.Tensor:
        if self.mode == "doodle":  # no content image: only the style term
            return (self.options["style_weight"] * self.style_loss(self.vgg(x), context)).sum()
        return super().total_loss(x, content_targets, context)

    def initial_image(self, content: torch.Tensor) -> torch.Tensor:
        if self.mode == "doodle":
            generator = torch.Generator(device="cpu").manual_seed(int(self.options["seed"]))
            return torch.rand(content.shape, generator=generator).to(content)
        return super().initial_image(content)

    def compose(self, stylized: torch.Tensor, original: torch.Tensor, context: dict[str, Any]) -> torch.Tensor:
        if self.mode == "mask":
            mask = context["mask_full"]
            return stylized * mask + original * (1 - mask)
        if self.mode == "region" and self.options["region_only"]:
            covered = context["covered"]
            return stylized * covered + original * (1 - covered)
        return stylized


SPEC = OperatorSpec(
    name="regional-nst",
    summary="semantic style transfer with colour maps: region, gradient mask, patch and doodle modes",
    options=(
        Option("mode", "region", "region | mask | patch | doodle"),
        Option("style_map", "", "URL of the style image's colour map (region, patch, doodle)", is_url=True),
        Option("maps", "", "prefix of content maps: MAPS/<rel>/<name>.png (default: <name>.map.png beside)"),
        Option("region_only", False, "region mode: leave pixels of colours the style map lacks untouched"),
        Option("patch_layers", "relu3_1,relu4_1", "patch and doodle modes: VGG-19 layers matched by patches"),
        Option("patch_size", 3, "patch side in feature pixels"),
        Option("map_weight", 10.0, "weight of the semantic map appended to features for matching"),
        *GATYS_OPTIONS,
    ),
    presets={"doodle": {"mode": "doodle", "init": "noise", "size": 256}},
    input_mode="RGB",
    method="optimization",
    batch_size=2,
    build=RegionalStylizer,
    files=files,
    validate=check,
    companion=content_maps,
)
