"""Builders of test images, good and bad, as bytes."""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image


def photo(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A smooth random-looking RGB picture."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / max(1, width), y * 255 / max(1, height), (x + y) * 127 / max(1, width + height)], -1)
    return np.clip(base + rng.normal(0, 10, base.shape), 0, 255).astype(np.uint8)


def encoded(array: np.ndarray, fmt: str = "PNG", mode: str | None = None, **params) -> bytes:
    """An array saved in `fmt`, optionally converted to a PIL `mode` first."""
    img = Image.fromarray(array)
    if mode:
        img = img.convert(mode)
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def png_header_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims a huge size (a decompression bomb's signature)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    body = struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    idat = zlib.compress(b"\x00" * 16)
    idat_chunk = struct.pack(">I", len(idat)) + b"IDAT" + idat + struct.pack(">I", zlib.crc32(b"IDAT" + idat))
    return b"\x89PNG\r\n\x1a\n" + body + idat_chunk


def exif_rotated_jpeg(width: int, height: int) -> bytes:
    """A JPEG stored `width`x`height` whose EXIF orientation (6) says: rotate 90 degrees to view."""
    img = Image.fromarray(photo(width, height))
    exif = img.getexif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    img.save(buffer, format="JPEG", exif=exif.tobytes())
    return buffer.getvalue()


def sixteen_bit_png(width: int, height: int) -> bytes:
    """A 16-bit greyscale PNG using the full 0..65535 range."""
    values = (np.linspace(0, 65535, width * height).reshape(height, width)).astype(np.uint16)
    buffer = io.BytesIO()
    Image.fromarray(values).save(buffer, format="PNG")
    return buffer.getvalue()


def bad_and_odd_inputs() -> dict[str, bytes]:
    """name -> bytes for every awkward input the pipeline must account for."""
    good = photo(48, 40)
    jpeg = encoded(photo(160, 120), "JPEG")
    rgba = np.dstack([good, np.full(good.shape[:2], 128, np.uint8)])
    return {
        "zero.jpg": b"",
        "truncated.jpg": jpeg[: len(jpeg) // 2],
        "text.jpg": b"this is not an image, just text with a .jpg name\n",
        "one.png": encoded(photo(1, 1)),
        "bomb.png": png_header_claiming(50000, 50000),
        "cmyk.jpg": encoded(good, "JPEG", mode="CMYK"),
        "deep.png": sixteen_bit_png(40, 32),
        "alpha.png": encoded(rgba),
        "palette.gif": encoded(good, "GIF", mode="P"),
        "rotated.jpg": exif_rotated_jpeg(48, 32),
    }
