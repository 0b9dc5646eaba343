"""An HDR stream's static metadata (HDR10: SMPTE ST 2086's mastering display, CTA-861.3's MaxCLL and
MaxFALL), read from a decoded frame's side data and written back by x265 when the output keeps HDR.

The tone map compresses highlights from the brightest light the stream holds: MaxCLL where the
stream says it, else the mastering display's peak, else 1000 nits. A kept-HDR output carries the
input's metadata, so a display maps it as it would map the input."""
from __future__ import annotations

import struct
from dataclasses import dataclass
from fractions import Fraction

import av
from av.sidedata.sidedata import Type

from pipeline.video.tonemap import DEFAULT_PEAK

_MASTERING = struct.Struct("<22i")  # AVMasteringDisplayMetadata: 10 rationals (primaries r, g, b; white; min, max), 2 flags
_LIGHT_LEVEL = struct.Struct("<2I")  # AVContentLightMetadata: MaxCLL, MaxFALL


@dataclass(frozen=True)
class HdrLight:
    """Chromaticities (x, y) of the mastering display's red, green, blue and white, its luminance
    range in nits, and the content's MaxCLL and MaxFALL in nits (0 where the stream does not say)."""

    primaries: tuple[tuple[float, float], ...] = ()  # (red, green, blue, white), or () where unknown
    min_nits: float = 0.0
    max_nits: float = 0.0
    max_cll: int = 0
    max_fall: int = 0

    @classmethod
    def of_frame(cls, frame: av.VideoFrame) -> HdrLight:
        """What `frame`'s side data says (HEVC and AV1 carry it on every key frame); empty where nothing."""
        found: dict = {}
        for data in frame.side_data:
            raw = bytes(data)
            if data.type == Type.MASTERING_DISPLAY_METADATA and len(raw) >= _MASTERING.size:
                values = _MASTERING.unpack_from(raw)
                ratios = [float(Fraction(n, d)) if d else 0.0 for n, d in zip(values[0:20:2], values[1:20:2])]
                has_primaries, has_luminance = values[20], values[21]
                if has_primaries:
                    found["primaries"] = tuple(zip(ratios[0:8:2], ratios[1:8:2]))
                if has_luminance:
                    found["min_nits"], found["max_nits"] = ratios[8], ratios[9]
            elif data.type == Type.CONTENT_LIGHT_LEVEL and len(raw) >= _LIGHT_LEVEL.size:
                found["max_cll"], found["max_fall"] = _LIGHT_LEVEL.unpack_from(raw)
        return cls(**found)

    @property
    def peak(self) -> float:
        """The brightest light in nits the tone map starts from: MaxCLL, else the mastering peak,
        else 1000 nits (a stream that says nothing)."""
        return float(self.max_cll or self.max_nits or DEFAULT_PEAK)

    def x265_params(self) -> str:
        """x265's `master-display` and `max-cll` (its units: 0.00002 for chromaticities, 0.0001 nits),
        as an `x265-params` fragment; "" where the stream said nothing."""
        params = []
        if self.primaries and self.max_nits:
            (rx, ry), (gx, gy), (bx, by), (wx, wy) = (tuple(round(v * 50000) for v in xy) for xy in self.primaries)
            params.append(f"master-display=G({gx},{gy})B({bx},{by})R({rx},{ry})WP({wx},{wy})"
                          f"L({round(self.max_nits * 10000)},{round(self.min_nits * 10000)})")
        if self.max_cll or self.max_fall:
            params.append(f"max-cll={self.max_cll},{self.max_fall}")
        return ":".join(["hdr10=1", *params]) if params else ""

    def describe(self) -> str:
        """"mastering 1000 nits, MaxCLL 800" as the run's note says it; "" where nothing was said."""
        said = [f"mastering {self.max_nits:g} nits"] if self.max_nits else []
        said += [f"MaxCLL {self.max_cll}"] if self.max_cll else []
        return ", ".join(said)
