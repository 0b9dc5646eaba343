"""Typed text to handwriting: a U-Net generator and a conditional PatchGAN (pix2pix, Isola et al.),
trained with L = alpha * intensity + beta * gradient + gamma * adversarial, applied line by line
to whole page scans.

Lines are grey, LINE_HEIGHT pixels high, white paper (+1) and dark ink (-1); any width that is a
multiple of STRIDE (narrower lines are padded with paper, wider ones run in overlapping tiles).
"""
from __future__ import annotations

from importlib import resources
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from operators.losses import gradient_loss
from operators.spec import OperatorSpec, Option
from operators.tensors import pick_device, placement
from operators.text_lines import (
    LineBox,
    estimate_skew,
    find_lines,
    ink_mask,
    normalise_paper,
    rotate,
)
from operators.tiling import run_tiled
from operators.weights import load_into, load_state_dict, weights_check

LINE_HEIGHT = 64
STRIDE = 32
# Where typed text sits in a training line (median over training lines, found as on a page by
# `find_lines`): letters stand on row TYPED_BASELINE, capitals and ascenders reach TYPED_ASCENT rows up.
TYPED_ASCENT = 23.0
TYPED_BASELINE = 45.0
FRAGMENT = 0.5  # a "line" under this share of the page's median ascent is a fragment: it takes the median
SHIPPED_CHECKPOINT = "handwriting-breip.pth"
MAX_ENLARGEMENT = 4.0
MIN_SIZE = 16  # type under this many rows from capital tops to baseline is enlarged to it (phone photos of books: 10-16)


def down(in_channels: int, out_channels: int, norm: bool = True) -> nn.Sequential:
    """Encoder step: 4x4 stride-2 convolution, batch norm, LeakyReLU(0.2)."""
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, 4, 2, 1, bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm2d(out_channels))
    layers.append(nn.LeakyReLU(0.2))
    return nn.Sequential(*layers)


def up(in_channels: int, out_channels: int) -> nn.Sequential:
    """Decoder step: 4x4 stride-2 transposed convolution, batch norm, ReLU."""
    return nn.Sequential(nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU())


class UNetGenerator(nn.Module):
    """Five stride-2 steps down (64 -> 2 rows), five up, each decoder step fed the encoder's
    output of the same size (the U-Net skips); tanh output in [-1, 1]."""

    widths = (32, 64, 128, 192, 192)

    def __init__(self) -> None:
        super().__init__()
        c1, c2, c3, c4, c5 = self.widths
        self.down1 = down(1, c1, norm=False)
        self.down2 = down(c1, c2)
        self.down3 = down(c2, c3)
        self.down4 = down(c3, c4)
        self.down5 = down(c4, c5)
        self.up5 = up(c5, c4)
        self.up4 = up(2 * c4, c3)
        self.up3 = up(2 * c3, c2)
        self.up2 = up(2 * c2, c1)
        self.up1 = nn.Sequential(nn.ConvTranspose2d(2 * c1, 1, 4, 2, 1), nn.Tanh())

    def forward(self, typed: torch.Tensor) -> torch.Tensor:
        """(N, 1, 64k, 32m) typed lines in [-1, 1] -> handwritten lines of the same shape."""
        d1 = self.down1(typed)
        d2 = self.down2(d1)
        d3 = self.down3(d2)
        d4 = self.down4(d3)
        u = self.up5(self.down5(d4))
        u = self.up4(torch.cat([u, d4], 1))
        u = self.up3(torch.cat([u, d3], 1))
        u = self.up2(torch.cat([u, d2], 1))
        return self.up1(torch.cat([u, d1], 1))


class PatchDiscriminator(nn.Module):
    """Conditional PatchGAN: (typed, handwritten) pairs in, one real/fake logit per 70x70 patch."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = down(2, 32, norm=False)
        self.conv2 = down(32, 64)
        self.conv3 = down(64, 128)
        self.conv4 = nn.Sequential(nn.Conv2d(128, 256, 4, 1, 1, bias=False), nn.BatchNorm2d(256), nn.LeakyReLU(0.2))
        self.logits = nn.Conv2d(256, 1, 4, 1, 1)

    def forward(self, typed: torch.Tensor, handwritten: torch.Tensor) -> torch.Tensor:
        x = torch.cat([typed, handwritten], 1)
        return self.logits(self.conv4(self.conv3(self.conv2(self.conv1(x)))))


def generator_loss(fake: torch.Tensor, target: torch.Tensor, fake_logits: torch.Tensor, *, alpha: float,
                   beta: float, gamma: float, intensity: str = "l1") -> dict[str, torch.Tensor]:
    """L = alpha * intensity (L1 or L2 to the target) + beta * gradient + gamma * adversarial."""
    diff = fake - target
    terms = {
        "intensity": diff.abs().mean() if intensity == "l1" else diff.square().mean(),
        "gradient": gradient_loss(fake, target),
        "adversarial": F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits)),
    }
    terms["generator"] = alpha * terms["intensity"] + beta * terms["gradient"] + gamma * terms["adversarial"]
    return terms


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy: the real (typed, target) pair is 1, the generated pair is 0; halved."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return 0.5 * (real + fake)


def shipped_checkpoint() -> str:
    """Path of the model trained by `stylebatch train handwriting` that ships with the package."""
    return str(resources.files("operators") / "checkpoints" / SHIPPED_CHECKPOINT)


class LineConverter:
    """A generator resident on a device: typed line images (64 rows, any width) to handwriting."""

    def __init__(self, net: UNetGenerator, device: str = "auto", tile: int = 1024, overlap: int = 128) -> None:
        self.device = pick_device(device)
        self.net = net.to(self.device).eval()
        self.tile, self.overlap = tile, overlap

    @torch.inference_mode()
    def __call__(self, lines: list[np.ndarray]) -> list[np.ndarray]:
        """(64, W) uint8 lines to (64, W) uint8 lines; equal-width groups share a batch."""
        out: list[np.ndarray] = [np.empty(0)] * len(lines)
        order = sorted(range(len(lines)), key=lambda i: lines[i].shape[1])
        for start in range(0, len(order), 8):
            group = order[start : start + 8]
            width = max(lines[i].shape[1] for i in group)
            padded = -(-width // STRIDE) * STRIDE
            batch = np.full((len(group), 1, LINE_HEIGHT, padded), 255, np.uint8)
            for k, i in enumerate(group):
                batch[k, 0, :, : lines[i].shape[1]] = lines[i]
            x = torch.from_numpy(batch).to(self.device).float() / 127.5 - 1.0
            y = run_tiled(self.net, x, self.tile, self.overlap, STRIDE)
            y = ((y + 1.0) * 127.5).clamp(0, 255).round().to(torch.uint8).cpu().numpy()
            for k, i in enumerate(group):
                out[i] = y[k, 0, :, : lines[i].shape[1]]
        return out


class HandwritingStylizer:
    """Whole typed pages (or single lines) in, the same pages handwritten: lines are found on the
    deskewed page, each scaled (keeping its aspect ratio) so its type size and baseline are those
    of the training lines, converted, scaled back and put where they were; the page keeps its
    size, margins and skew. Each line takes its own scale, so a heading or a footnote is written
    at its own size; capitals-only lines, which have no descenders, sit on the same baseline."""

    def __init__(self, options: Mapping[str, Any], device: str, storage_options: Mapping[str, Any]) -> None:
        url = options["weights"]
        net = UNetGenerator()
        load_into(net, load_state_dict(url, storage_options), url)
        self.convert_lines = LineConverter(net, device, int(options["tile"]))
        self.min_size = float(options.get("min_size", MIN_SIZE))

    @property
    def placement(self) -> str:
        """Where the generator runs."""
        return placement(self.convert_lines.device)

    def __call__(self, images: np.ndarray) -> list[np.ndarray]:
        """(N, H, W, 1) uint8 pages to N (H, W, 1) uint8 pages; a page of small type comes out
        enlarged (see `page`), so the pages are a list."""
        return [self.page(image[..., 0])[..., None] for image in images]

    def page(self, gray: np.ndarray) -> np.ndarray:
        """One (H, W) page. Where its body type is smaller than `min_size` (rows from capital tops
        to the baseline), the page is enlarged first so that it is `min_size`: handwriting written
        at the size of small print, 5-7 pixels of x-height, cannot be read, and the model reads
        small print better enlarged. The result is then that much larger than the scan."""
        upright, boxes, skew = self._lines(gray)
        typical = float(np.median([box.ascent for box in boxes])) if boxes else self.min_size
        if typical < self.min_size:
            scale = min(self.min_size / typical, MAX_ENLARGEMENT)
            gray = np.asarray(Image.fromarray(gray).resize((round(gray.shape[1] * scale), round(gray.shape[0] * scale)),
                                                           Image.LANCZOS))
            upright, boxes, skew = self._lines(gray)
        if not boxes:
            return np.full(gray.shape, 255, np.uint8)
        return self._write(upright, boxes, float(np.median([box.ascent for box in boxes])), skew)

    @staticmethod
    def _lines(gray: np.ndarray) -> tuple[np.ndarray, list[LineBox], float]:
        """(the paper-normalised page turned upright, its text lines, the skew turned away)."""
        paper = normalise_paper(gray)
        skew = estimate_skew(ink_mask(paper))
        upright = rotate(paper, skew)
        return upright, find_lines(ink_mask(upright)), skew

    def _write(self, upright: np.ndarray, boxes: list[LineBox], typical: float, skew: float) -> np.ndarray:
        """The lines found on the deskewed page written by the model, put back and turned back."""
        windows = [self._window(upright, box, TYPED_ASCENT / (box.ascent if box.ascent >= FRAGMENT * typical else typical))
                   for box in boxes]
        converted = self.convert_lines([line for line, _ in windows])
        out = np.full(upright.shape, 255.0, np.float32)
        for (_, (top, left, height, width)), hand in zip(windows, converted):
            patch = np.asarray(Image.fromarray(hand).resize((width, height), Image.BICUBIC), np.float32)
            y0, x0 = max(top, 0), max(left, 0)
            y1, x1 = min(top + height, out.shape[0]), min(left + width, out.shape[1])
            region = out[y0:y1, x0:x1]
            np.minimum(region, patch[y0 - top : y1 - top, x0 - left : x1 - left], out=region)
        return np.clip(rotate(out, -skew) + 0.5, 0, 255).astype(np.uint8)

    @staticmethod
    def _window(page: np.ndarray, box: LineBox, scale: float) -> tuple[np.ndarray, tuple[int, int, int, int]]:
        """The line's window on the page, resized by `scale` with its baseline on TYPED_BASELINE of
        a LINE_HEIGHT line; returns it and (top, left, height, width) on the page."""
        height = max(1, round(LINE_HEIGHT / scale))
        top = round(box.baseline - TYPED_BASELINE / scale)
        margin = round(8 / scale)
        left, right = box.left - margin, box.right + margin
        width = right - left
        padded = np.full((height, width), 255.0, np.float32)
        src_top, src_left = max(top, 0), max(left, 0)
        src_bottom, src_right = min(top + height, page.shape[0]), min(right, page.shape[1])
        padded[src_top - top : src_bottom - top, src_left - left : src_right - left] = page[src_top:src_bottom, src_left:src_right]
        line_width = max(STRIDE, round(width * scale))
        line = Image.fromarray(padded, "F").resize((line_width, LINE_HEIGHT), Image.BICUBIC)
        line_array = np.clip(np.asarray(line) + 0.5, 0, 255).astype(np.uint8)
        return line_array, (top, left, height, width)



SPEC = OperatorSpec(
    name="handwriting",
    summary="U-Net GAN: typed text scans (pages or single lines) to handwriting; ships a trained model",
    options=(
        Option("weights", "", "generator .pth (default: the shipped model, trained on the Breip hand)", is_url=True),
        Option("tile", 1024, "lines wider than this (pixels at model height) run in overlapping tiles"),
        Option("min_size", MIN_SIZE, "type smaller than this (pixels from capital tops to the baseline) is written "
                                     "at this size, the page enlarged to fit; 0 keeps every page's size"),
    ),
    input_mode="L",
    method="feed-forward",
    batch_size=1,
    build=HandwritingStylizer,
    complete=lambda options: {**options, "weights": options["weights"] or shipped_checkpoint()},
    validate=weights_check(UNetGenerator),
)
