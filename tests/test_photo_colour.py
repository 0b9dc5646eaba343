"""Photos as people have them: ICC-tagged wide-gamut photos read into sRGB, outputs tagged sRGB,
HEIC/HEIF read, AVIF read and written."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import skimage
from icc import SPACES, profile
from PIL import ExifTags, Image, ImageCms

from pipeline.codecs import decode_image, encode_image, read_stamp
from pipeline.colour import SRGB
from pipeline.run import ConvertConfig, convert
from pipeline.settings import ModelSettings

IDENTITY = ModelSettings("slow_operator:SPEC", {"seconds": "0"})


@pytest.fixture(scope="module")
def original() -> Image.Image:
    """An sRGB photograph with saturated colours (every wide-gamut space holds them)."""
    return Image.open(Path(skimage.__file__).parent / "data" / "coffee.png").convert("RGB").resize((150, 100))


def in_space(image: Image.Image, name: str) -> Image.Image:
    return ImageCms.profileToProfile(image, SRGB, ImageCms.ImageCmsProfile(io.BytesIO(profile(name))),
                                     renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC)


def saved(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def tagged_srgb(image: Image.Image) -> bool:
    icc = image.info.get("icc_profile")
    return bool(icc) and "sRGB" in ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc)))


def error(a: np.ndarray | Image.Image, b: np.ndarray | Image.Image) -> float:
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).mean())


@pytest.mark.parametrize("space", sorted(SPACES))
def test_a_wide_gamut_photo_is_read_in_srgb(original: Image.Image, space: str) -> None:
    wide = in_space(original, space)
    assert error(wide, original) > 5  # read as sRGB, its numbers would be far off
    assert error(decode_image(saved(wide, "PNG", icc_profile=profile(space))), original) < 2
    # a JPEG: no further from the photo than an sRGB JPEG of the same quality is
    plain = error(decode_image(saved(original, "JPEG", quality=95)), original)
    assert error(decode_image(saved(wide, "JPEG", quality=95, icc_profile=profile(space))), original) < plain + 1.5


def test_outputs_are_tagged_srgb_and_avif_is_an_output_format(original: Image.Image) -> None:
    pixels = np.asarray(original)
    for fmt in ("png", "jpg", "webp", "avif"):
        data = encode_image(pixels, fmt, 90, stamp="stylebatch abc")
        with Image.open(io.BytesIO(data)) as image:
            assert tagged_srgb(image), fmt
        assert read_stamp(data) == "stylebatch abc", fmt
    assert error(decode_image(encode_image(pixels, "avif", 95)), original) < 4
    with Image.open(io.BytesIO(encode_image(pixels[..., :1], "png"))) as grey:
        assert "icc_profile" not in grey.info  # no RGB profile on a grey image


def test_a_heic_photo_is_read(original: Image.Image) -> None:
    heic = saved(original, "HEIF", quality=95)
    assert heic[4:12] == b"ftypheic"
    assert error(decode_image(heic), original) < 4


def test_convert_reads_wide_gamut_and_heic_photos_into_srgb_outputs(ray_cluster, tmp_path: Path,
                                                                   original: Image.Image) -> None:
    source = tmp_path / "phone"
    source.mkdir()
    (source / "camera.png").write_bytes(saved(in_space(original, "Adobe RGB (1998)"), "PNG",
                                              icc_profile=profile("Adobe RGB (1998)")))
    (source / "phone.heic").write_bytes(saved(original, "HEIF", quality=95))
    result = convert(ConvertConfig(input=str(source), output=str(tmp_path / "out"), model=IDENTITY))
    assert (result.totals.converted, result.totals.failed) == (2, 0)
    for name, tolerance in (("camera.png", 2), ("phone.png", 4)):
        with Image.open(tmp_path / "out" / name) as output:
            assert tagged_srgb(output)
            assert error(output.convert("RGB"), original) < tolerance, name


def exif_photo(original: Image.Image) -> bytes:
    """A camera JPEG: sideways (orientation 6), with capture date, camera, exposure and location."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make], exif[ExifTags.Base.Model], exif[ExifTags.Base.Orientation] = "Canon", "EOS R5", 6
    exif[ExifTags.IFD.Exif] = {ExifTags.Base.DateTimeOriginal: "2026:07:14 18:30:00", ExifTags.Base.ExposureTime: 0.004,
                               ExifTags.Base.UserComment: b"ASCII\0\0\0private note"}
    exif[ExifTags.IFD.GPSInfo] = {ExifTags.GPS.GPSLatitudeRef: "N", ExifTags.GPS.GPSLatitude: (52.0, 31.0, 12.0)}
    return saved(original.transpose(Image.Transpose.ROTATE_90), "JPEG", quality=95, exif=exif.tobytes())


@pytest.mark.parametrize("keep, camera, location", [("none", False, False), ("camera", True, False), ("all", True, True)])
def test_outputs_keep_the_metadata_asked_for(ray_cluster, tmp_path: Path, original: Image.Image, keep: str,
                                             camera: bool, location: bool) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "IMG_1.jpg").write_bytes(exif_photo(original))
    convert(ConvertConfig(input=str(source), output=str(tmp_path / "out"), model=IDENTITY, fmt="jpg",
                          keep_metadata=keep))
    with Image.open(tmp_path / "out" / "IMG_1.jpg") as output:
        exif = output.getexif()
        assert output.size == original.size  # upright, so orientation is never carried
        assert ExifTags.Base.Orientation not in exif
        assert (exif.get(ExifTags.Base.Model) == "EOS R5") is camera
        taken = exif.get_ifd(ExifTags.IFD.Exif).get(ExifTags.Base.DateTimeOriginal)
        assert (taken == "2026:07:14 18:30:00") is camera
        assert bool(exif.get_ifd(ExifTags.IFD.GPSInfo)) is location
