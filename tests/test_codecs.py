"""Decoding of good, odd and bad image files; encoding round trips."""
from __future__ import annotations

import io

import numpy as np
import pytest
from images import bad_and_odd_inputs, encoded, photo, png_header_claiming
from PIL import Image

from pipeline.codecs import DecodeError, decode_image, encode_image

INPUTS = bad_and_odd_inputs()


@pytest.mark.parametrize(
    "name, reason",
    [
        ("zero.jpg", "empty file"),
        ("truncated.jpg", "truncated"),
        ("text.jpg", "not a recognised image"),
        ("bomb.png", "over the limit"),
    ],
)
def test_bad_inputs_fail_with_a_reason(name: str, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode_image(INPUTS[name])


@pytest.mark.parametrize("name", ["one.png", "cmyk.jpg", "deep.png", "alpha.png", "palette.gif", "rotated.jpg"])
def test_odd_inputs_decode_to_rgb_uint8(name: str) -> None:
    image = decode_image(INPUTS[name])
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3


def test_exif_orientation_is_applied() -> None:
    assert decode_image(INPUTS["rotated.jpg"]).shape[:2] == (48, 32)


def test_alpha_is_composited_on_white() -> None:
    rgba = np.zeros((4, 4, 4), np.uint8)  # fully transparent black
    assert (decode_image(encoded(rgba)) == 255).all()


def test_sixteen_bit_is_scaled_not_clipped() -> None:
    image = decode_image(INPUTS["deep.png"], mode="L")[..., 0]
    assert image.min() == 0 and image.max() == 255
    assert 100 < image.mean() < 155  # a full-range ramp, not a saturated white page


def test_pixel_limit_is_configurable() -> None:
    data = encoded(photo(100, 100))
    with pytest.raises(DecodeError, match="10,000 pixels"):
        decode_image(data, max_pixels=9_999)
    assert decode_image(data, max_pixels=10_000).shape == (100, 100, 3)


def test_pillows_bomb_guard_stays_on_and_a_higher_run_limit_still_decides() -> None:
    default = Image.MAX_IMAGE_PIXELS
    assert default  # never switched off: style images and maps keep Pillow's guard
    claims_400_mp = png_header_claiming(20_000, 20_000)  # over twice Pillow's default limit
    with pytest.raises(DecodeError, match="claims 400,000,000 pixels, over the limit of 40,000,000"):
        decode_image(claims_400_mp)
    with pytest.raises(DecodeError, match="corrupt or truncated image data"):  # past the guards, to the pixels
        decode_image(claims_400_mp, max_pixels=500_000_000)
    assert Image.MAX_IMAGE_PIXELS == default


def test_max_side_shrinks_keeping_aspect() -> None:
    assert decode_image(encoded(photo(200, 100)), max_side=50).shape == (25, 50, 3)


def test_grey_mode_has_one_channel() -> None:
    assert decode_image(encoded(photo(10, 8)), mode="L").shape == (8, 10, 1)


@pytest.mark.parametrize("fmt", ["png", "jpg", "webp"])
def test_encode_round_trip(fmt: str) -> None:
    image = photo(33, 17)
    back = np.asarray(Image.open(io.BytesIO(encode_image(image, fmt))).convert("RGB"))
    assert back.shape == image.shape
    tolerance = 0 if fmt == "png" else 20
    assert np.abs(back.astype(int) - image).mean() <= tolerance
