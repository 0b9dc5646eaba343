"""HDR video (BT.2100: PQ or HLG, BT.2020 primaries) brought to SDR BT.709 for the model, and the
model's SDR picture brought back to HDR the same way when the output keeps HDR.

To SDR: the stream's non-linear RGB to display light in nits (PQ's EOTF; HLG's inverse OETF and
its OOTF at the display's peak), highlights above SDR's range compressed by BT.2390's EETF (a
straight line up to its knee, a Hermite spline above, in PQ's perceptual scale) onto BT.2408's
reference white, 203 nits, which becomes SDR's white; the curve is applied to each pixel's
largest component and the pixel scaled by it, so hues hold. BT.2020 primaries to BT.709 (colours
outside BT.709 clip) and BT.1886's 2.4 gamma. Back to HDR: the exact inverse of every step but
the clip, so a picture the model leaves as it is comes back as it was, within 8-bit steps."""
from __future__ import annotations

import functools
from dataclasses import dataclass

import av
import cv2
import numpy as np

from pipeline.video.colour import frame_rgb_float

PQ, HLG = 16, 18  # FFmpeg's transfer codes (AVColorTransferCharacteristic)
REFERENCE_WHITE = 203.0  # nits: BT.2408's HDR reference white, SDR's white after the mapping
DEFAULT_PEAK = 1000.0  # nits a highlight reaches where the stream does not say: HLG's nominal peak, PQ's usual grade
SDR_GAMMA = 2.4  # BT.1886
HLG_GAMMA = 1.2  # the OOTF's system gamma at a 1000-nit display (BT.2100)
BT2020_LUMA = np.array([0.2627, 0.6780, 0.0593], np.float32)
BT2020_TO_BT709 = np.array([[1.6605, -0.5876, -0.0728],  # linear light, BT.2087
                            [-0.1246, 1.1329, -0.0083],
                            [-0.0182, -0.1006, 1.1187]], np.float32)
BT709_TO_BT2020 = np.linalg.inv(BT2020_TO_BT709).astype(np.float32)
_M1, _M2, _C1, _C2, _C3 = 2610 / 16384, 2523 / 4096 * 128, 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
_A = 0.17883277
_B, _C = 1 - 4 * _A, 0.5 - _A * np.log(4 * _A)


def pq_to_nits(signal: np.ndarray) -> np.ndarray:
    """PQ's EOTF (SMPTE ST 2084): non-linear signal 0-1 to display light, 0-10000 nits."""
    power = np.power(np.clip(signal, 0, 1), 1 / _M2)
    return 10000 * np.power(np.maximum(power - _C1, 0) / (_C2 - _C3 * power), 1 / _M1)


def nits_to_pq(nits: np.ndarray) -> np.ndarray:
    """PQ's inverse EOTF: display light in nits to the non-linear signal 0-1."""
    power = np.power(np.clip(nits / 10000, 0, 1), _M1)
    return np.power((_C1 + _C2 * power) / (1 + _C3 * power), _M2)


def hlg_to_scene(signal: np.ndarray) -> np.ndarray:
    """HLG's inverse OETF: non-linear signal 0-1 to scene light 0-1."""
    signal = np.clip(signal, 0, 1)
    return np.where(signal <= 0.5, signal**2 / 3, (np.exp((signal - _C) / _A) + _B) / 12)


def scene_to_hlg(scene: np.ndarray) -> np.ndarray:
    """HLG's OETF: scene light 0-1 to the non-linear signal."""
    scene = np.clip(scene, 0, 1)
    return np.where(scene <= 1 / 12, np.sqrt(3 * scene), _A * np.log(np.maximum(12 * scene - _B, 1e-12)) + _C)


def _largest_component(rgb: np.ndarray) -> np.ndarray:
    """Each pixel's largest of R, G, B: three planes compared, several times faster than numpy's
    reduction over the last axis."""
    return np.maximum(np.maximum(rgb[..., 0], rgb[..., 1]), rgb[..., 2])


@dataclass(frozen=True)
class Curve:
    """An increasing curve sampled on an evenly spaced grid over [0, top]: looked up by index
    arithmetic, several times faster than `np.interp`'s search per pixel (a 1080p frame's 2 million
    pixels cost the tone map 160 ms that way). Linear between samples, held beyond `top`."""

    top: float
    values: np.ndarray  # float32, at top * k / (len - 1)

    @classmethod
    def sampled(cls, inputs: np.ndarray, outputs: np.ndarray, samples: int = 65536) -> Curve:
        grid = np.linspace(0, inputs[-1], samples)
        return cls(float(inputs[-1]), np.interp(grid, inputs, outputs).astype(np.float32))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        position = np.clip(x, 0, self.top) * np.float32((len(self.values) - 1) / self.top)
        index = np.minimum(position.astype(np.int32), len(self.values) - 2)
        below = self.values[index]
        return below + (position - index) * (self.values[index + 1] - below)


@functools.lru_cache(maxsize=4)
def _eetf(peak: float) -> tuple[Curve, Curve]:
    """BT.2390's EETF from [0, peak] to [0, REFERENCE_WHITE] nits, and its inverse."""
    inputs, outputs = _eetf_table(peak)
    return Curve.sampled(inputs, outputs), Curve.sampled(outputs, inputs)


def _eetf_table(peak: float) -> tuple[np.ndarray, np.ndarray]:
    """BT.2390's EETF from [0, peak] to [0, REFERENCE_WHITE] nits, as (input, output) nits sampled
    densely in PQ's scale: increasing, so it is inverted by swapping the two."""
    source_top, target_top = float(nits_to_pq(np.float64(peak))), float(nits_to_pq(np.float64(REFERENCE_WHITE)))
    e1 = np.linspace(0, 1, 4097)  # the source's PQ signal over its top
    max_lum = target_top / source_top
    knee = 1.5 * max_lum - 0.5
    t = np.clip((e1 - knee) / (1 - knee), 0, 1)
    spline = ((2 * t**3 - 3 * t**2 + 1) * knee + (t**3 - 2 * t**2 + t) * (1 - knee)
              + (-2 * t**3 + 3 * t**2) * max_lum)
    e2 = np.where(e1 < knee, e1, spline)
    return pq_to_nits(e1 * source_top), pq_to_nits(e2 * source_top)


@dataclass(frozen=True)
class ToneMap:
    """One HDR stream's way to SDR and back: its transfer (PQ or HLG) and its highlights' peak in nits."""

    transfer: int
    peak: float = DEFAULT_PEAK

    def to_sdr(self, frame: av.VideoFrame) -> np.ndarray:
        """An HDR frame as (H, W, 3) uint8 SDR BT.709 RGB, as an SDR display should show it."""
        return np.rint(self.to_sdr_float(frame)).astype(np.uint8)

    def to_sdr_float(self, frame: av.VideoFrame) -> np.ndarray:
        """`to_sdr` unrounded: float32 on the 0-255 scale."""
        light = self._display_light(frame_rgb_float(frame) / 255)  # nits, BT.2020
        largest = np.maximum(_largest_component(light), np.float32(1e-6))
        light *= (_eetf(self.peak)[0](largest) / (largest * REFERENCE_WHITE))[..., None]
        sdr = np.clip(cv2.transform(light, BT2020_TO_BT709), 0, 1)
        return 255 * np.power(sdr, 1 / SDR_GAMMA)

    def to_hdr(self, rgb: np.ndarray) -> np.ndarray:
        """An SDR BT.709 RGB picture (uint8, or float on the 0-255 scale) back to the stream's HDR:
        (H, W, 3) float32 non-linear BT.2020 RGB on the 0-255 scale, as `colour.rgb_to_yuv` takes it."""
        light = cv2.transform(np.power(np.clip(rgb.astype(np.float32) / 255, 0, 1), SDR_GAMMA), BT709_TO_BT2020)
        light = np.maximum(light, 0)  # BT.709 lies inside BT.2020: rounding only
        largest = np.maximum(_largest_component(light), np.float32(1e-6))
        light *= (_eetf(self.peak)[1](largest * np.float32(REFERENCE_WHITE)) / largest)[..., None]
        return (255 * self._signal(light)).astype(np.float32)

    def _display_light(self, signal: np.ndarray) -> np.ndarray:
        if self.transfer == PQ:
            return pq_to_nits(signal).astype(np.float32)
        scene = hlg_to_scene(signal).astype(np.float32)  # HLG: the OOTF at a display of `peak` nits
        luminance = np.maximum(cv2.transform(scene, BT2020_LUMA[None]), 1e-12)
        return scene * (self.peak * np.power(luminance, HLG_GAMMA - 1))[..., None]

    def _signal(self, light: np.ndarray) -> np.ndarray:
        if self.transfer == PQ:
            return nits_to_pq(light)
        display = light / self.peak  # HLG: the inverse OOTF, then the OETF
        luminance = np.maximum(cv2.transform(display, BT2020_LUMA[None]), 1e-12)
        return scene_to_hlg(display * np.power(luminance, (1 - HLG_GAMMA) / HLG_GAMMA)[..., None])
