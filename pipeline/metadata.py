"""Which of an input photo's EXIF an output keeps (`--keep-metadata`): by default none; `camera`
keeps when and with what it was taken (capture date, camera and lens, exposure); `all` keeps every
tag, location (GPS) included. Orientation is never kept: outputs are upright already."""
from __future__ import annotations

import io

from PIL import ExifTags, Image

KEEP = ("none", "camera", "all")
CAMERA_TAGS = {  # in the main directory
    ExifTags.Base.Make, ExifTags.Base.Model, ExifTags.Base.DateTime, ExifTags.Base.Software,
}
CAMERA_EXIF_TAGS = {  # in the Exif sub-directory
    ExifTags.Base.DateTimeOriginal, ExifTags.Base.DateTimeDigitized, ExifTags.Base.OffsetTime,
    ExifTags.Base.OffsetTimeOriginal, ExifTags.Base.OffsetTimeDigitized, ExifTags.Base.SubsecTimeOriginal,
    ExifTags.Base.ExposureTime, ExifTags.Base.FNumber, ExifTags.Base.ISOSpeedRatings, ExifTags.Base.FocalLength,
    ExifTags.Base.FocalLengthIn35mmFilm, ExifTags.Base.LensMake, ExifTags.Base.LensModel,
}
SUB_DIRECTORIES = (ExifTags.IFD.Exif, ExifTags.IFD.GPSInfo, ExifTags.IFD.Interop)


def kept_exif(data: bytes, keep: str) -> bytes:
    """The EXIF block an output of the image `data` carries under `keep` (b"" for none); read from
    the header only, never from the pixels."""
    if keep == "none":
        return b""
    try:
        with Image.open(io.BytesIO(data)) as image:
            exif = image.getexif()
    except Exception:  # noqa: BLE001 - the decoder says what is wrong with the image itself
        return b""
    kept = Image.Exif()
    for tag, value in exif.items():
        if tag in SUB_DIRECTORIES or tag == ExifTags.Base.Orientation:
            continue
        if keep == "all" or tag in CAMERA_TAGS:
            kept[tag] = value
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    sub = sub if keep == "all" else {tag: value for tag, value in sub.items() if tag in CAMERA_EXIF_TAGS}
    if sub:
        kept[ExifTags.IFD.Exif] = sub
    if keep == "all" and exif.get_ifd(ExifTags.IFD.GPSInfo):
        kept[ExifTags.IFD.GPSInfo] = exif.get_ifd(ExifTags.IFD.GPSInfo)
    return kept.tobytes() if len(kept) else b""
