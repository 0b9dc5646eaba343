"""Images an operator reads besides its input (style images, maps): decoded upright as RGB, with
the run's pixel limit checked before any pixel is decoded. Torch-free."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps

from operators.errors import ConfigError

_max_pixels = 40_000_000  # the pipeline's default --max-pixels


def limit_pixels(max_pixels: int) -> None:
    """Make `load_rgb` in this process refuse images over `max_pixels` (a run's --max-pixels)."""
    global _max_pixels
    _max_pixels = max_pixels


def load_rgb(data: bytes) -> np.ndarray:
    """Image file bytes (a style image, a map) to an upright (H, W, 3) uint8 array. The size in the
    header is checked before any pixel is decoded; Pillow's own bomb guard stays on as well."""
    with Image.open(io.BytesIO(data)) as img:
        width, height = img.size
        if width * height > _max_pixels:
            raise ConfigError(f"a style image or map of {width}x{height} = {width * height:,} pixels is over the "
                              f"limit of {_max_pixels:,} (--max-pixels): shrink it, or raise the limit")
        return np.asarray(ImageOps.exif_transpose(img).convert("RGB"))
