"""Which encoder and decoder a segment actor uses: NVENC and NVDEC (CUDA) when the actor holds a
GPU and they open there, the CPU codecs otherwise; quality settings mapped between the families."""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import av
from av.codec.hwaccel import HWAccel, hwdevices_available

from pipeline.video.hdr_light import HdrLight

ENCODERS = ("auto", "libx264", "libx265", "h264_nvenc", "hevc_nvenc")
DECODERS = ("auto", "cpu", "cuda")
NVENC_PRESETS = {"ultrafast": "p1", "superfast": "p2", "veryfast": "p3", "faster": "p4", "fast": "p4",
                 "medium": "p5", "slow": "p6", "slower": "p7", "veryslow": "p7"}


@dataclass(frozen=True)
class Encoder:
    """An encoder and its options; x264/x265's crf is NVENC's constant-quality `cq` (same 0-51 scale)."""

    name: str
    options: dict[str, str] = field(default_factory=dict)

    def pixel_format(self, bits: int) -> str:
        """What the encoder is fed for video of `bits` per sample: 10-bit where it encodes 10-bit
        (x264, x265, NVENC's HEVC), else 8-bit."""
        if bits <= 8 or self.name == "h264_nvenc":
            return "yuv420p"
        return "p010le" if self.name == "hevc_nvenc" else "yuv420p10le"

    @classmethod
    def of(cls, name: str, crf: int, preset: str, threads: int = 0) -> Encoder:
        """`threads`: the CPU encoders' threads (0: theirs, one and a half per core of the machine)."""
        if name.endswith("_nvenc"):  # no B-frames anywhere: segments join by re-timing packets
            return cls(name, {"rc": "vbr", "cq": str(crf), "preset": NVENC_PRESETS.get(preset, "p5"), "bf": "0"})
        params = "x265-params" if name == "libx265" else "x264-params"  # chroma sited as `colour.rgb_to_yuv` makes it
        return cls(name, {"crf": str(crf), "preset": preset, **({"threads": str(threads)} if threads else {}),
                          params: "bframes=0:chromaloc=1" + (":log-level=error" if name == "libx265" else "")})

    def carrying(self, light: HdrLight) -> Encoder:
        """This encoder writing `light` (HDR10's static metadata) into the stream: x265 does; NVENC's
        HEVC takes it only as frame side data, which PyAV cannot attach, so its output goes without."""
        extra = light.x265_params() if self.name == "libx265" else ""
        if not extra:
            return self
        return Encoder(self.name, {**self.options, "x265-params": f"{self.options['x265-params']}:{extra}"})


def opens(name: str) -> bool:
    """Whether encoder `name` opens on this machine (NVENC needs an NVIDIA GPU and its driver)."""
    try:
        context = av.CodecContext.create(name, "w")
        context.width, context.height, context.pix_fmt = 256, 256, "yuv420p"
        context.time_base = Fraction(1, 24)
        context.open()
        return True
    except (OSError, av.FFmpegError, ValueError):
        return False


def choose_encoder(requested: str, has_gpu: bool, crf: int, preset: str, hevc: bool = False,
                   threads: int = 0) -> tuple[Encoder, str]:
    """(the encoder, why it was chosen). `auto`: NVENC on a GPU actor where it opens, else the CPU's
    x264, or HEVC's (hevc_nvenc, x265) where `hevc` (HDR kept), on `threads` (0: the encoder's
    choice); a named encoder that does not open is an error saying what to use instead."""
    if requested == "auto":
        gpu, cpu = ("hevc_nvenc", "libx265") if hevc else ("h264_nvenc", "libx264")
        if has_gpu and opens(gpu):
            return Encoder.of(gpu, crf, preset), "auto: the actor's GPU"
        on = f", {threads} threads" if threads else ""
        return Encoder.of(cpu, crf, preset, threads), (
            f"auto: this GPU has no NVENC (H100, H200 and A100 have none): {cpu} on the node's cores{on}"
            if has_gpu else f"auto: the actor has no GPU{on}")
    if requested not in ENCODERS:
        raise ValueError(f"--encoder {requested}: choose one of {', '.join(ENCODERS)}")
    if not opens(requested):
        raise RuntimeError(f"--encoder {requested} does not open on this worker (no NVIDIA GPU or driver?); "
                           "use --encoder auto or a CPU encoder (libx264, libx265)")
    return Encoder.of(requested, crf, preset, threads), "asked for"


def choose_decoder(requested: str, has_gpu: bool) -> tuple[HWAccel | None, str]:
    """(PyAV's hardware acceleration for decoding, or None for the CPU decoder; why). `auto` and
    `cuda` on a GPU actor decode with NVDEC, falling back to the CPU for streams it cannot decode."""
    if requested not in DECODERS:
        raise ValueError(f"--decoder {requested}: choose one of {', '.join(DECODERS)}")
    if requested == "cpu" or (requested == "auto" and not has_gpu):
        return None, "asked for" if requested == "cpu" else "auto: the actor has no GPU"
    if not has_gpu or "cuda" not in hwdevices_available():
        if requested == "cuda":
            raise RuntimeError("--decoder cuda needs a GPU on the model actor (--gpus-per-actor) and FFmpeg's CUDA "
                               "support; use --decoder auto or cpu")
        return None, "auto: no CUDA device type in this FFmpeg"
    why = "auto: the actor's GPU" if requested == "auto" else "asked for"
    return HWAccel("cuda", allow_software_fallback=True), why
