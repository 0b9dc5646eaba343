"""A video's colours read and written as its tags say: the YUV <-> RGB matrix (BT.601, BT.709,
BT.2020), the range (limited 16-235 or full 0-255), the primaries and the transfer curve.

Frames become RGB for the model with the input's own matrix and range, and RGB becomes YUV for the
encoder with the same matrix and range, both rounded to nearest (no bias), and the output carries
the same tags. An untagged stream takes the convention players use: BT.601 below 720 lines, BT.709
from 720, limited range; the output is then tagged with that guess, so no player guesses otherwise.
HDR (PQ or HLG transfer) is not tone-mapped yet: the run's note says so."""
from __future__ import annotations

import functools
from dataclasses import dataclass

import av
import cv2
import numpy as np

HD_LINES = 720
# FFmpeg's codes (AVColorSpace, AVColorPrimaries, AVColorTransferCharacteristic, AVColorRange)
MATRIX_OF_CODE = {1: "bt709", 5: "bt601", 6: "bt601", 9: "bt2020", 10: "bt2020"}
CODES = {  # matrix: (colorspace, primaries, transfer) written for it when the input named none
    "bt601": (6, 6, 6),
    "bt709": (1, 1, 1),
    "bt2020": (9, 9, 14),
}
UNSPECIFIED = 2
LIMITED, FULL = 1, 2
HDR_TRANSFERS = {16: "PQ", 18: "HLG"}
LUMA = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722), "bt2020": (0.2627, 0.0593)}  # (Kr, Kb)


@dataclass(frozen=True)
class VideoColour:
    """How a stream's YUV relates to RGB, and the tags that say so."""

    matrix: str = "bt709"
    full_range: bool = False
    primaries: int = 1
    transfer: int = 1
    guessed: bool = False

    @classmethod
    def of(cls, colorspace: int, color_range: int, primaries: int, transfer: int, height: int) -> VideoColour:
        """From a stream's or frame's tags; what is missing follows the convention for its height."""
        conventional = "bt709" if height >= HD_LINES else "bt601"
        matrix = MATRIX_OF_CODE.get(int(colorspace), "")
        guessed = not matrix
        matrix = matrix or conventional
        _, default_primaries, default_transfer = CODES[matrix]
        return cls(matrix=matrix, full_range=int(color_range) == FULL,
                   primaries=int(primaries) if int(primaries) not in (0, UNSPECIFIED) else default_primaries,
                   transfer=int(transfer) if int(transfer) not in (0, UNSPECIFIED) else default_transfer,
                   guessed=guessed)

    @classmethod
    def of_frame(cls, frame: av.VideoFrame) -> VideoColour:
        return cls.of(frame.colorspace, frame.color_range, frame.color_primaries, frame.color_trc, frame.height)

    @classmethod
    def for_rgb(cls, height: int) -> VideoColour:
        """The colours of a video made from RGB pictures (a frame archive): the convention for its size."""
        return cls.of(UNSPECIFIED, LIMITED, UNSPECIFIED, UNSPECIFIED, height)

    def describe(self) -> str:
        """As the run's note says it: "bt709 limited", "(untagged: guessed)" after it when the input
        had no tags, and a warning for HDR, which is read as it is, without tone mapping."""
        hdr = HDR_TRANSFERS.get(self.transfer)
        return (f"{self.matrix} {'full' if self.full_range else 'limited'}"
                + (" (untagged: guessed)" if self.guessed else "")
                + (f"; HDR ({hdr}) read as it is, not tone-mapped: highlights look flat and dim" if hdr else ""))

    def tag(self, context: av.codec.context.CodecContext | av.VideoFrame) -> None:
        """Write the tags on an encoder's context (the encoder puts them in the stream) or a frame."""
        context.colorspace = CODES[self.matrix][0]
        context.color_range = FULL if self.full_range else LIMITED
        context.color_primaries = self.primaries
        context.color_trc = self.transfer


def frame_rgb(frame: av.VideoFrame, chroma_up: int = cv2.INTER_NEAREST) -> np.ndarray:
    """A decoded frame as (H, W, 3) uint8 RGB through its own matrix and range (any pixel format,
    10-bit too), rounded to nearest. 4:2:0 chroma is brought to full size by `chroma_up`: nearest,
    by default, is what `rgb_to_yuv420p`'s 2x2 averages undo exactly, so a frame the model leaves
    as it is comes back as it was (a player's bilinear would blur the chroma once more each way).
    swscale's own YUV -> RGB is faster but reads 1-2 levels dark on average; this is unbiased."""
    if frame.format.name.startswith(("rgb", "bgr", "gbr")):
        return frame.to_ndarray(format="rgb24")
    colour = VideoColour.of_frame(frame)
    h, w = frame.height, frame.width
    if frame.format.name != "yuv420p" and _is_420(frame.format.name) and not (h % 2 or w % 2):
        frame = frame.reformat(format="yuv420p")  # the bit depth or layout only (10-bit, NVDEC's nv12)
    if frame.format.name == "yuv420p" and not (h % 2 or w % 2):
        planes = frame.to_ndarray().reshape(-1)
        quarter = (h // 2) * (w // 2)
        y = planes[: h * w].reshape(h, w)
        u, v = (cv2.resize(planes[h * w + k * quarter : h * w + (k + 1) * quarter].reshape(h // 2, w // 2), (w, h),
                           interpolation=chroma_up) for k in (0, 1))
    else:  # other subsampling, or odd sides: swscale only resamples it to 8-bit 4:4:4
        y, u, v = frame.reformat(format="yuv444p").to_ndarray()
    return cv2.transform(cv2.merge([y, u, v]), _inverse(colour))


def _is_420(pixel_format: str) -> bool:
    return pixel_format.startswith(("yuv420p", "yuvj420p")) or pixel_format in ("nv12", "nv21", "p010le", "p016le")


@functools.lru_cache(maxsize=16)
def _inverse(colour: VideoColour) -> np.ndarray:
    """The 3x4 matrix taking 8-bit (Y, Cb, Cr) to RGB: the inverse of `_rows`, offsets included."""
    luma, chroma = _rows(colour)
    forward = np.vstack([luma, chroma]).astype(np.float64)
    inverse = np.linalg.inv(forward[:, :3])
    return np.hstack([inverse, (-inverse @ forward[:, 3])[:, None]]).astype(np.float32)


def _rows(colour: VideoColour) -> tuple[np.ndarray, np.ndarray]:
    """(1x4 luma row, 2x4 Cb/Cr rows) taking 8-bit RGB to 8-bit Y and Cb, Cr, offsets included."""
    kr, kb = LUMA[colour.matrix]
    kg = 1 - kr - kb
    y = np.array([kr, kg, kb])
    cb = (np.array([0, 0, 1]) - y) / (2 * (1 - kb))
    cr = (np.array([1, 0, 0]) - y) / (2 * (1 - kr))
    luma_gain, chroma_gain, luma_offset = (1.0, 1.0, 0.0) if colour.full_range else (219 / 255, 224 / 255, 16.0)
    luma = np.append(y * luma_gain, luma_offset)[None]
    chroma = np.stack([np.append(cb * chroma_gain, 128.0), np.append(cr * chroma_gain, 128.0)])
    return luma.astype(np.float32), chroma.astype(np.float32)


def rgb_to_yuv420p(rgb: np.ndarray, colour: VideoColour) -> np.ndarray:
    """An (H, W, 3) uint8 RGB frame with even sides to PyAV's yuv420p layout in `colour`'s matrix and
    range: (H * 3 / 2, W) uint8, the Y plane then the U and V planes, each (H / 2, W / 2) stored row
    after row. Chroma is that of the 2x2 block's average (chroma is affine in RGB); every value is
    rounded to nearest by OpenCV's saturating cast."""
    h, w = rgb.shape[:2]
    luma, chroma = _rows(colour)
    out = np.empty((h * 3 // 2, w), np.uint8)
    flat = out.reshape(-1)
    flat[: h * w] = cv2.transform(rgb, luma).reshape(-1)
    half = cv2.resize(rgb, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    cbcr = cv2.transform(half, chroma)  # (h/2, w/2, 2)
    quarter = (h // 2) * (w // 2)
    flat[h * w : h * w + quarter] = cbcr[..., 0].reshape(-1)
    flat[h * w + quarter :] = cbcr[..., 1].reshape(-1)
    return out
