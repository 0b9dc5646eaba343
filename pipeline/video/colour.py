"""A video's colours read and written as its tags say: the YUV <-> RGB matrix (BT.601, BT.709,
BT.2020), the range (limited 16-235 or full 0-255), the primaries and the transfer curve.

Frames become RGB for the model with the input's own matrix and range, and RGB becomes YUV for the
encoder with the same matrix and range, both rounded to nearest (no bias), and the output carries
the same tags. An untagged stream takes the convention players use: BT.601 below 720 lines, BT.709
from 720, limited range; the output is then tagged with that guess, so no player guesses otherwise.
What a run does with HDR (PQ or HLG transfer) is `colour_plan`'s."""
from __future__ import annotations

import functools
import threading
from dataclasses import dataclass

import av
import cv2
import numpy as np
from av.video.reformatter import Interpolation

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
LUMA = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722), "bt2020": (0.2627, 0.0593)}  # (Kr, Kb)


@dataclass(frozen=True)
class VideoColour:
    """How a stream's YUV relates to RGB, and the tags that say so."""

    matrix: str = "bt709"
    full_range: bool = False
    primaries: int = 1
    transfer: int = 1
    guessed: bool = False
    bits: int = 8  # per sample: 8, or 10 for 10-bit (deeper input is kept at 10)

    @classmethod
    def of(cls, colorspace: int, color_range: int, primaries: int, transfer: int, height: int,
           bits: int = 8) -> VideoColour:
        """From a stream's or frame's tags; what is missing follows the convention for its height."""
        conventional = "bt709" if height >= HD_LINES else "bt601"
        matrix = MATRIX_OF_CODE.get(int(colorspace), "")
        guessed = not matrix
        matrix = matrix or conventional
        _, default_primaries, default_transfer = CODES[matrix]
        return cls(matrix=matrix, full_range=int(color_range) == FULL,
                   primaries=int(primaries) if int(primaries) not in (0, UNSPECIFIED) else default_primaries,
                   transfer=int(transfer) if int(transfer) not in (0, UNSPECIFIED) else default_transfer,
                   guessed=guessed, bits=8 if bits <= 8 else 10)

    @classmethod
    def of_frame(cls, frame: av.VideoFrame) -> VideoColour:
        return cls.of(frame.colorspace, frame.color_range, frame.color_primaries, frame.color_trc, frame.height,
                      frame.format.components[0].bits)

    @classmethod
    def for_rgb(cls, height: int) -> VideoColour:
        """The colours of a video made from RGB pictures (a frame archive): the convention for its size."""
        return cls.of(UNSPECIFIED, LIMITED, UNSPECIFIED, UNSPECIFIED, height)

    def describe(self) -> str:
        """As the run's note says it: "bt709 limited", ", 10-bit" after it for deeper video, and
        " (untagged: guessed)" when the input had no tags."""
        return (f"{self.matrix} {'full' if self.full_range else 'limited'}" + (", 10-bit" if self.bits > 8 else "")
                + (" (untagged: guessed)" if self.guessed else ""))

    def tag(self, context: av.codec.context.CodecContext | av.VideoFrame) -> None:
        """Write the tags on an encoder's context (the encoder puts them in the stream) or a frame."""
        context.colorspace = CODES[self.matrix][0]
        context.color_range = FULL if self.full_range else LIMITED
        context.color_primaries = self.primaries
        context.color_trc = self.transfer


def frame_rgb(frame: av.VideoFrame) -> np.ndarray:
    """A decoded frame as (H, W, 3) uint8 RGB through its own matrix and range (any pixel format,
    10-bit too), rounded to nearest. 4:2:0 chroma is brought to full size nearest, a sample for its
    2x2 block: what `rgb_to_yuv`'s block averages undo exactly, so a frame the model leaves as it is
    comes back as it was (a player's bilinear would blur the chroma once more each way); the output
    says its chroma is so placed (`chromaloc`). swscale's fast YUV -> RGB is quicker (1.5 against
    6 ms a 1080p frame) but reads 1-2 levels dark; its accurate one follows the stream's chroma
    siting, which the block averages do not undo."""
    if frame.format.name.startswith(("rgb", "bgr", "gbr")):
        return frame.to_ndarray(format="rgb24")
    colour = VideoColour.of_frame(frame)
    h, w = frame.height, frame.width
    if colour.bits > 8:
        return np.clip(np.rint(frame_rgb_float(frame)), 0, 255).astype(np.uint8)
    if h % 2 or w % 2 or not _is_420(frame.format.name):  # other subsampling, or odd sides
        y, u, v = frame.reformat(format="yuv444p").to_ndarray()
        return cv2.transform(cv2.merge([y, u, v]), _inverse(colour))
    if frame.format.name not in ("yuv420p", "yuvj420p"):
        frame = frame.reformat(format="yuv420p")  # the layout only (NVDEC's nv12)
    merged = _scratch("yuv", (h, w, 3), np.uint8)
    chroma = [_scratch(name, (h, w), np.uint8) for name in ("u", "v")]
    for k in (1, 2):
        cv2.resize(_plane(frame, k, h // 2, w // 2), (w, h), dst=chroma[k - 1], interpolation=cv2.INTER_NEAREST)
    cv2.merge([_plane(frame, 0, h, w), *chroma], dst=merged)
    return cv2.transform(merged, _inverse(colour))


def _plane(frame: av.VideoFrame, index: int, height: int, width: int, dtype: type = np.uint8) -> np.ndarray:
    """A plane of a frame as an (height, width) view of its buffer (rows padded to its line size)."""
    plane = frame.planes[index]
    return np.frombuffer(plane, dtype).reshape(-1, plane.line_size // np.dtype(dtype).itemsize)[:height, :width]


def _is_420(pixel_format: str) -> bool:
    return pixel_format in ("yuv420p", "yuvj420p", "nv12", "nv21")


_SCRATCH = threading.local()


def _scratch(name: str, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    """This thread's scratch array `name`, reused frame after frame: a fresh 6-MB array a frame costs
    more in page faults (glibc maps large blocks anew) than the arithmetic done in it."""
    array = getattr(_SCRATCH, name, None)
    if array is None or array.shape != shape or array.dtype != dtype:
        array = np.empty(shape, dtype)
        setattr(_SCRATCH, name, array)
    return array


def frame_rgb_float(frame: av.VideoFrame, chroma_up: int = cv2.INTER_NEAREST) -> np.ndarray:
    """A decoded YUV frame as (H, W, 3) float32 non-linear RGB on the 0-255 scale, at the stream's
    own precision (a 10-bit frame keeps its quarter levels: an HDR curve needs them). Chroma is
    taken as 4:2:0, upsampled by `chroma_up` (nearest, as `frame_rgb`)."""
    colour = VideoColour.of_frame(frame)
    h, w = frame.height // 2 * 2, frame.width // 2 * 2
    deep = colour.bits > 8
    frame = frame.reformat(width=w, height=h, format="yuv420p10le" if deep else "yuv420p",
                           interpolation=Interpolation.POINT)
    dtype = np.uint16 if deep else np.uint8
    y = _plane(frame, 0, h, w, dtype).astype(np.float32)
    u, v = (cv2.resize(_plane(frame, k, h // 2, w // 2, dtype), (w, h), interpolation=chroma_up).astype(np.float32)
            for k in (1, 2))
    if deep:  # 10-bit codes to the 8-bit scale: limited range is 4 x 8-bit's; full range spans 0-1023
        gain = 1 / 4 if not colour.full_range else 255 / 1023
        y, u, v = y * gain, (u - 512) * gain + 128, (v - 512) * gain + 128
    return cv2.transform(cv2.merge([y, u, v]), _inverse(colour))


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


def rgb_to_yuv(rgb: np.ndarray, colour: VideoColour) -> np.ndarray:
    """An (H, W, 3) RGB frame with even sides, uint8 or float32 on the 0-255 scale, to PyAV's planar
    4:2:0 layout in `colour`'s matrix, range and bit depth: (H * 3 / 2, W), the Y plane then the U
    and V planes, each (H / 2, W / 2) stored row after row; uint8 (yuv420p), or uint16 codes
    (yuv420p10le) where `colour.bits` is 10. Chroma is that of the 2x2 block's average (chroma is
    affine in RGB); every value is rounded to nearest."""
    h, w = rgb.shape[:2]
    luma, chroma = _rows(colour)
    quarter = (h // 2) * (w // 2)
    if colour.bits == 8 and rgb.dtype == np.uint8:
        out = np.empty((h * 3 // 2, w), np.uint8)
        cv2.transform(rgb, luma, dst=out[:h])
        cbcr = cv2.transform(cv2.resize(rgb, (w // 2, h // 2), interpolation=cv2.INTER_AREA), chroma)
    else:  # float (block averages unrounded: 10-bit chroma keeps its quarter levels), to 10-bit codes
        rgb = rgb.astype(np.float32, copy=False)
        y = cv2.transform(rgb, luma)
        cbcr = cv2.transform(cv2.resize(rgb, (w // 2, h // 2), interpolation=cv2.INTER_AREA), chroma)
        if colour.bits > 8:
            gain = 4.0 if not colour.full_range else 1023 / 255
            y, cbcr, top = y * gain, (cbcr - 128) * gain + 512, 1023
        else:
            top = 255
        out = np.empty((h * 3 // 2, w), np.uint16 if colour.bits > 8 else np.uint8)
        out[:h] = np.clip(np.rint(y), 0, top)
        cbcr = np.clip(np.rint(cbcr), 0, top)
    flat = out.reshape(-1)
    flat[h * w : h * w + quarter] = cbcr[..., 0].reshape(-1)
    flat[h * w + quarter :] = cbcr[..., 1].reshape(-1)
    return out
