"""Photos' colours as the model sees them: every input in sRGB, every output tagged sRGB.

A photo with an embedded ICC profile (Adobe RGB from a camera, Display P3 from a phone, ProPhoto
from a raw converter, a CMYK scan) holds its numbers in that space; read as sRGB they come out
desaturated or shifted. They are converted to sRGB once, when decoded (Little CMS through Pillow's
ImageCms, relative colorimetric), and outputs carry the sRGB profile so that every viewer shows
them as the model made them."""
from __future__ import annotations

import functools
import io

from PIL import Image, ImageCms

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
SRGB_ICC = SRGB.tobytes()
CONVERTED_MODES = {"RGB": "RGB", "RGBA": "RGBA", "CMYK": "RGB"}  # input mode -> mode after conversion


@functools.lru_cache(maxsize=32)
def _to_srgb(icc: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    """The transform from the profile `icc` to sRGB for images in `mode`; None when the profile is
    sRGB already, or is not one Little CMS can use (the image is then read as sRGB, as viewers do)."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if "srgb" in ImageCms.getProfileDescription(profile).lower():
            return None
        return ImageCms.buildTransform(profile, SRGB, mode, CONVERTED_MODES[mode],
                                       renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC)
    except (ImageCms.PyCMSError, OSError, ValueError):
        return None


def in_srgb(img: Image.Image) -> Image.Image:
    """`img` with its pixels in sRGB: converted from its embedded ICC profile if it has one."""
    icc = img.info.get("icc_profile")
    if not icc or img.mode not in CONVERTED_MODES:
        return img
    transform = _to_srgb(icc, img.mode)
    return ImageCms.applyTransform(img, transform) if transform else img


def srgb_tag(img: Image.Image) -> dict[str, bytes]:
    """The save option that tags an output as sRGB (colour images; a grey one has no RGB profile)."""
    return {"icc_profile": SRGB_ICC} if img.mode in ("RGB", "RGBA") else {}
