"""How many CPU cores a GPU video actor needs at 1080p where the GPU has no NVENC (H100, H200,
A100): the CPU work each output frame costs there, with x264 at the pipeline's own settings.

    python benchmarks/x264_cores.py --frames 96

On such a node NVDEC decodes on the GPU and the model runs there; per frame the node's cores still
convert the decoded YUV to RGB (`frame_rgb`), the model's RGB back to YUV (`rgb_to_yuv`) and encode
it with libx264 (crf 18, no B-frames, `Encoder.of` as a segment actor builds it). Each preset is
timed at 1 thread and at every core of this machine: frames per second (wall) and CPU seconds per
frame. Cores needed per GPU = the model's frames per second on that GPU x CPU seconds per frame,
plus the one core the actor keeps for itself (`benchmarks/gpu_check.py` works it out for the
model's measured speed on the GPU it runs on).
"""
from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from bench_video import make_input

from pipeline.video.codec_choice import Encoder
from pipeline.video.colour import VideoColour, frame_rgb, rgb_to_yuv

PRESETS = ("medium", "veryfast")


def cpu_seconds() -> float:
    """CPU time of this process, all its threads (x264's included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(step, frames: int) -> tuple[float, float]:
    """(frames per second of wall time, CPU seconds per frame) of one call of `step`."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    step()
    return frames / (time.perf_counter() - wall), (cpu_seconds() - cpu) / frames


def encode(planes: list[np.ndarray], encoder: Encoder, size: tuple[int, int], path: Path) -> None:
    """The frames through `encoder`, as a segment actor writes them (its lookahead drained)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream(encoder.name, rate=24)
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        stream.options = dict(encoder.options)
        for index, yuv in enumerate(planes):
            frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
            frame.pts, frame.time_base = index, Fraction(1, 24)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


@dataclass(frozen=True)
class EncodeCost:
    """One preset at one thread count: frames per second (wall) and CPU seconds a frame, x264's
    and all of the node's work for a frame (x264 and both conversions)."""

    preset: str
    threads: int
    fps: float
    x264: float
    whole: float


def encode_costs(frames: int, presets: tuple[str, ...] = PRESETS, threads: tuple[int, ...] = ()) -> list[EncodeCost]:
    """The CPU cost of a 1080p output frame at each preset, at 1 thread and at every core (or `threads`)."""
    width, height = 1920, 1080
    with tempfile.TemporaryDirectory() as work:
        source = Path(work) / "input.mp4"
        make_input(source, width, height, frames / 24)
        with av.open(str(source)) as container:
            decoded = list(container.decode(video=0))
        n = len(decoded)
        rgb: list[np.ndarray] = []
        _, to_rgb = timed(lambda: rgb.extend(frame_rgb(frame) for frame in decoded), n)
        planes: list[np.ndarray] = []
        _, to_yuv = timed(lambda: planes.extend(rgb_to_yuv(image, VideoColour()) for image in rgb), n)
        costs = []
        for preset in presets:
            for count in threads or sorted({1, os.cpu_count() or 1}):
                encoder = Encoder.of("libx264", 18, preset, threads=count)
                fps, cpu = timed(lambda: encode(planes, encoder, (width, height), Path(work) / "out.mp4"), n)
                costs.append(EncodeCost(preset, count, fps, cpu, cpu + to_rgb + to_yuv))
    return costs


def cores_needed(model_fps: float, cost: EncodeCost) -> float:
    """Cores a GPU video actor needs to keep up with a model at `model_fps`: the node's work for
    that many frames, plus the core the actor keeps for itself."""
    return model_fps * cost.whole + 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=96)
    args = parser.parse_args()
    costs = encode_costs(args.frames)
    print(f"\n1080p, {args.frames} frames, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M')}\n")
    print("| x264 preset | threads | frames/s (wall) | CPU ms a frame, x264 | CPU ms a frame, all | "
          "cores per GPU at 10 / 30 frames/s of model |\n|---|---|---|---|---|---|")
    for cost in costs:
        print(f"| {cost.preset} | {cost.threads} | {cost.fps:.1f} | {cost.x264 * 1000:.0f} | {cost.whole * 1000:.0f} "
              f"| {cores_needed(10, cost):.1f} / {cores_needed(30, cost):.1f} |")


if __name__ == "__main__":
    main()
