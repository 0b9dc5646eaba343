"""Image decoding (orientation, alpha, odd modes, pixel limit) and encoding, on the CPU."""
from __future__ import annotations

import contextlib
import io
import re
import signal
import threading
import warnings
from typing import Iterator

import numpy as np
import pillow_heif
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from pipeline.colour import in_srgb, srgb_tag

pillow_heif.register_heif_opener()  # HEIC/HEIF, phones' default; AVIF is Pillow's own
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".heic", ".heif",
                              ".avif"})
FORMATS = {"png": "PNG", "jpg": "JPEG", "webp": "WEBP", "avif": "AVIF"}
DEFAULT_MAX_PIXELS = 40_000_000
DEFAULT_DECODE_SECONDS = 60.0
STAMP_KEY = "stylebatch"


class DecodeError(Exception):
    """The bytes are not an image we can convert; the message says why."""


@contextlib.contextmanager
def _pillow_guard_at_least(max_pixels: int) -> Iterator[None]:
    """Pillow's decompression-bomb guard stays on everywhere (style images, maps); while one input is
    opened it is raised, if need be, so that a run's own `--max-pixels` decides (Pillow refuses
    only at twice its limit; our check below refuses at the limit itself)."""
    default = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max(default, max_pixels) if default else default
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = default


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """DecodeError once `seconds` pass (SIGALRM, so only on a process's main thread, where Ray runs
    tasks; Pillow decodes in chunks and Python checks for the signal between them)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise DecodeError(f"decoding took longer than {seconds:g} s (--max-decode-seconds): a file made to "
                          "stall decoders, or raise the limit")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


TIFF_COMPRESSION = {1: "none", 2: "CCITT RLE", 3: "CCITT G3", 4: "CCITT G4", 5: "LZW", 6: "old-style JPEG",
                    7: "JPEG", 8: "Deflate", 32773: "PackBits", 32946: "Deflate", 34712: "JPEG 2000",
                    34887: "LERC", 34925: "LZMA", 50000: "Zstandard", 50001: "WebP", 50002: "JPEG XL"}
TIFF_SAMPLE_FORMAT = {1: "unsigned integer", 2: "signed integer", 3: "floating point"}


def _multi_frame_reason(fmt: str | None, frames: int) -> str:
    """Why an image with several frames or pages is not converted, and what to do instead."""
    if fmt == "TIFF":
        return (f"a multi-page TIFF ({frames} pages): convert takes single images; split its pages into files "
                "first (each page is then converted)")
    return (f"an animated {fmt or 'image'} ({frames} frames): convert takes still images; stylize it as a video "
            "with `stylebatch video INPUT OUTPUT.mp4` (animated GIF and PNG are read as videos)")


def unreadable_reason(data: bytes) -> str:
    """Why Pillow could not open `data`, as far as its first bytes tell: a TIFF's layout (sample
    format, bits, planar or not, compression), a HEIF/AVIF container, or no known image at all."""
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return _tiff_reason(data)
    if data[4:8] == b"ftyp":
        brand = data[8:12].decode("ascii", "replace")
        return (f"a HEIF/AVIF image (brand {brand!r}) that this installation cannot decode; convert it to "
                "JPEG or PNG first")
    return "not a recognised image format: its first bytes match no image format that can be read (is it an image?)"


def _tiff_reason(data: bytes) -> str:
    from PIL import TiffImagePlugin

    try:
        header = TiffImagePlugin.ImageFileDirectory_v2(data[:8])
        tags = TiffImagePlugin.ImageFileDirectory_v2(data[:8])
        stream = io.BytesIO(data)
        stream.seek(header.next)
        tags.load(stream)
    except Exception:  # noqa: BLE001 - the header itself is damaged
        return "a TIFF whose header is damaged (its first directory cannot be read)"

    def tag(number: int, default: int) -> int:
        value = tags.get(number, default)
        return int(value[0] if isinstance(value, tuple) else value)

    samples, bits = tag(277, 1), tag(258, 1)
    layout = "planar (one plane per channel)" if tag(284, 1) == 2 else "interleaved"
    kind = TIFF_SAMPLE_FORMAT.get(tag(339, 1), "unknown")
    compression = TIFF_COMPRESSION.get(tag(259, 1), f"code {tag(259, 1)}")
    return (f"a TIFF layout that cannot be decoded: {samples} samples of {bits}-bit {kind}, {layout}, compression "
            f"{compression}; save it as 8- or 16-bit integer RGB (or greyscale) TIFF, PNG or JPEG")


def decode_image(data: bytes, mode: str = "RGB", max_pixels: int = DEFAULT_MAX_PIXELS, max_side: int = 0,
                 max_seconds: float = DEFAULT_DECODE_SECONDS) -> np.ndarray:
    """Bytes to an (H, W, C) uint8 array in `mode` ('RGB' or 'L'), upright, alpha on white.

    The header's size is checked against `max_pixels` before decoding; `max_side` > 0
    shrinks the image so its longer side is at most that many pixels; decoding stops with a
    DecodeError after `max_seconds`.
    """
    with _time_limit(max_seconds):
        return _decode(data, mode, max_pixels, max_side)


def image_size(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """(width, height) that an image's header declares, checked against `max_pixels` as
    `decode_image` checks it, nothing decoded; `data` may be the file's first bytes only. Raises
    DecodeError with the reason `decode_image` would give."""
    return _opened(data, max_pixels).size


def _opened(data: bytes, max_pixels: int) -> Image.Image:
    """The image in `data` with its header read and its size checked (DecodeError otherwise)."""
    if not data:
        raise DecodeError("empty file (0 bytes)")
    try:
        with _pillow_guard_at_least(max_pixels):
            img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        claimed = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(claimed.group(1)):,} pixels" if claimed else "more pixels than twice that"
        raise DecodeError(f"image header claims {size}, over the limit of {max_pixels:,} "
                          "(raise --max-pixels if this image is genuine)") from None
    except UnidentifiedImageError:
        raise DecodeError(unreadable_reason(data)) from None
    except DecodeError:
        raise
    except Exception as exc:  # Pillow raises many types on damaged headers
        raise DecodeError(f"corrupt or truncated image header: {exc}") from None
    width, height = img.size
    if width * height > max_pixels:
        raise DecodeError(
            f"image is {width}x{height} = {width * height:,} pixels, over the limit of {max_pixels:,} "
            "(raise --max-pixels if this image is genuine)"
        )
    return img


def _decode(data: bytes, mode: str, max_pixels: int, max_side: int) -> np.ndarray:
    img = _opened(data, max_pixels)
    frames = getattr(img, "n_frames", 1)
    if frames > 1:
        raise DecodeError(_multi_frame_reason(img.format, frames))
    if max_side and img.format == "JPEG":
        img.draft("RGB" if mode == "RGB" else "L", (max_side, max_side))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img.load()
            img = in_srgb(ImageOps.exif_transpose(img))
    except DecodeError:
        raise
    except Exception as exc:  # Pillow raises many types on damaged data
        raise DecodeError(f"corrupt or truncated image data: {exc}") from None
    img = _to_mode(img, mode)
    if max_side and max(img.size) > max_side:
        scale = max_side / max(img.size)
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.LANCZOS)
    array = np.asarray(img, dtype=np.uint8)
    return array[..., None] if array.ndim == 2 else array


def array_in_mode(array: np.ndarray, mode: str) -> np.ndarray:
    """A decoded picture someone else made ((H, W) or (H, W, 1-4) uint8: grey, grey and alpha, RGB,
    RGBA) as (H, W, C) uint8 in `mode`, as `decode_image` gives it (alpha on white). Raises
    DecodeError, saying what it got, for anything else."""
    if not isinstance(array, np.ndarray) or array.dtype != np.uint8 or array.ndim not in (2, 3) or (
            array.ndim == 3 and not 1 <= array.shape[2] <= 4) or 0 in array.shape:
        got = (f"{array.dtype} array of shape {array.shape}" if isinstance(array, np.ndarray)
               else type(array).__name__)
        raise DecodeError(f"not a picture: a {got}; the `image` column holds (H, W, C) uint8 arrays "
                          "(as ray.data.read_images gives them)")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    converted = np.asarray(_to_mode(Image.fromarray(array), mode))  # (H, W, 2) is LA, (H, W, 4) RGBA
    return converted[..., None] if converted.ndim == 2 else converted


def _to_mode(img: Image.Image, mode: str) -> Image.Image:
    """Palette, CMYK, 16/32-bit and float modes to 8-bit `mode`; transparency composited on white."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(img, dtype=np.float64)
        top = max(1.0, values.max(initial=1.0)) if img.mode == "F" else 65535.0
        img = Image.fromarray(np.clip(values * (255.0 / top) + 0.5, 0, 255).astype(np.uint8), "L")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return img.convert(mode)


def encode_image(array: np.ndarray, fmt: str, quality: int = 95, stamp: str = "", exif: bytes = b"") -> bytes:
    """(H, W, C) uint8 sRGB to PNG, JPEG, WebP or AVIF bytes tagged sRGB, carrying `stamp` in the
    format's own text slot (PNG text chunk, JPEG comment, WebP and AVIF XMP) so that any store keeps
    it with the pixels, and the `exif` block kept from the input."""
    img = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    buffer = io.BytesIO()
    pil_format = FORMATS[fmt]
    options: dict = {"PNG": {"compress_level": 1}, "JPEG": {"quality": quality}, "WEBP": {"quality": quality},
                     "AVIF": {"quality": quality}}[pil_format]
    options.update(srgb_tag(img))
    if exif:
        options["exif"] = exif
    if stamp:
        if pil_format == "PNG":
            options["pnginfo"] = PngImagePlugin.PngInfo()
            options["pnginfo"].add_text(STAMP_KEY, stamp)
        else:
            options["comment" if pil_format == "JPEG" else "xmp"] = stamp.encode()
    img.save(buffer, format=pil_format, **options)
    return buffer.getvalue()


def read_stamp(data: bytes) -> str:
    """The stamp `encode_image` put into an image; "" if it has none or is not an image."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()  # a cut-short file fails here, so it never counts as written
            value = img.info.get(STAMP_KEY) or img.info.get("comment") or img.info.get("xmp") or ""
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError, ValueError):
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
