"""What a video run does with its input's colours: the frames the model sees (8-bit RGB, SDR), the
colours the output is encoded in and tagged with, and the sentence the run's note says about it.

SDR input: the model sees the frames through their own matrix and range; the output keeps the
input's matrix, range, tags and bit depth (10-bit stays 10-bit). HDR input (PQ or HLG), `--hdr`:
  tonemap (the default): the model sees the frames tone-mapped to SDR BT.709, and the output is
    that SDR, 8-bit, tagged BT.709: it plays right everywhere, and it is what a style model,
    trained on SDR pictures, is made for;
  keep: the model sees the same SDR frames; its output is mapped back to the input's HDR by the
    inverse curve and written as 10-bit HEVC (auto encoder) with the input's tags."""
from __future__ import annotations

from dataclasses import dataclass, replace

import av
import numpy as np

from operators.errors import ConfigError
from pipeline.video.colour import VideoColour, frame_rgb, frame_rgb_float, rgb_to_yuv
from pipeline.video.hdr_light import HdrLight
from pipeline.video.tonemap import DEFAULT_PEAK, HLG, PQ, ToneMap

HDR_MODES = ("tonemap", "keep")
HDR_NAMES = {PQ: "PQ", HLG: "HLG"}
SDR_BT709 = VideoColour("bt709", full_range=False, primaries=1, transfer=1, bits=8)


@dataclass(frozen=True)
class ColourPlan:
    """The input's colours and what `--hdr` asks of them."""

    source: VideoColour = VideoColour()
    hdr: str = "tonemap"
    light: HdrLight = HdrLight()  # HDR10's static metadata: the tone map's peak, and what a kept HDR output carries

    def __post_init__(self) -> None:
        if self.hdr not in HDR_MODES:
            raise ConfigError(f"--hdr {self.hdr}: choose one of {', '.join(HDR_MODES)}")

    @classmethod
    def of_frame(cls, frame: av.VideoFrame) -> ColourPlan:
        """A single frame's plan as pictures need it (comic panels, report pictures): SDR always."""
        return cls(VideoColour.of_frame(frame))

    @property
    def is_hdr(self) -> bool:
        return self.source.transfer in HDR_NAMES

    @property
    def tone(self) -> ToneMap | None:
        if not self.is_hdr:
            return None  # HLG is mapped for its nominal 1000-nit display; PQ from the brightest light the stream holds
        return ToneMap(self.source.transfer, self.light.peak if self.source.transfer == PQ else DEFAULT_PEAK)

    @property
    def keeps_hdr(self) -> bool:
        return self.is_hdr and self.hdr == "keep"

    @property
    def output(self) -> VideoColour:
        """The colours the output is encoded in and tagged with."""
        if self.keeps_hdr:
            return replace(self.source, bits=10)
        return SDR_BT709 if self.is_hdr else self.source

    def rgb(self, frame: av.VideoFrame) -> np.ndarray:
        """A decoded frame as the model sees it: (H, W, 3) uint8 RGB, SDR."""
        tone = self.tone
        return tone.to_sdr(frame) if tone else frame_rgb(frame)

    def picture(self, frame: av.VideoFrame) -> tuple[np.ndarray, np.ndarray | None]:
        """(the frame as the model sees it, and where the output is deeper than 8 bits, the fraction
        of a level that rounding to 8 bits took off each value: float16, -0.5 to 0.5). The models
        take and give 8-bit RGB; the fraction is put back on their output (`yuv`), so the bits
        below the eighth pass around the model, as 16-bit video chains pass them around 8-bit
        filters, and a 10-bit frame the model leaves as it is comes back as it was."""
        if self.output.bits <= 8:
            return self.rgb(frame), None
        tone = self.tone
        exact = np.clip(tone.to_sdr_float(frame) if tone else frame_rgb_float(frame), 0, 255)
        rgb = np.rint(exact).astype(np.uint8)
        return rgb, (exact - rgb).astype(np.float16)

    def yuv(self, rgb: np.ndarray, fraction: np.ndarray | None = None) -> np.ndarray:
        """A model's RGB frame, with the `fraction` of its input frame where `picture` kept one, as
        the encoder takes it, in `output`'s colours (see `rgb_to_yuv`)."""
        if fraction is not None:
            rgb = rgb + fraction.astype(np.float32)
        tone = self.tone
        return rgb_to_yuv(tone.to_hdr(rgb) if self.keeps_hdr and tone else rgb, self.output)

    def describe(self) -> str:
        """The run's note: "bt709 limited; the output is encoded and tagged so", or what became of HDR."""
        source = self.source.describe()
        if not self.is_hdr:
            return f"{source}; the output is encoded and tagged so"
        hdr = f"HDR ({', '.join(filter(None, (HDR_NAMES[self.source.transfer], source, self.light.describe())))})"
        if self.keeps_hdr:
            return (f"{hdr} tone-mapped to SDR for the model, its output mapped back and kept as 10-bit HDR "
                    "with the input's tags" + (" and light levels (x265 writes them, NVENC does not)"
                                                   if self.light.x265_params() else ""))
        return f"{hdr} tone-mapped to SDR BT.709 (8-bit, tagged so); --hdr keep keeps HDR"
