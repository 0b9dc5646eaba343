"""`stylebatch video` against a frame-by-frame loop (decode one frame, forward, encode one frame,
as the public AnimeGANv2 video scripts do), on one device in one run.

    python benchmarks/bench_video.py --size 640x360 --seconds 20 --operator onnx --set preset=multistyle26

The input is generated: a moving pattern with a sine-tone AAC track, keyframes every second.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from operators.registry import get_operator
from pipeline.settings import ModelSettings
from pipeline.video.run import VideoConfig, convert_video

FPS = 24


def make_input(path: Path, width: int, height: int, seconds: float) -> int:
    """Write the test movie; returns its frame count."""
    frames = int(seconds * FPS)
    y, x = np.mgrid[0:height, 0:width]
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"g": str(FPS), "preset": "veryfast"}
        audio = out.add_stream("aac", rate=44100)
        for t in range(frames):
            phase = t / FPS
            rgb = np.stack([(x + 40 * t) % 256, (y * 2 + 30 * np.sin(phase)) % 256, (x + y - 10 * t) % 256], -1)
            frame = av.VideoFrame.from_ndarray(rgb.astype(np.uint8), format="rgb24")
            frame.pts = t
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        for start in range(0, int(44100 * seconds), 1024):
            wave = (0.2 * np.sin(2 * np.pi * 440 * np.arange(start, start + 1024) / 44100)).astype(np.float32)[None]
            chunk = av.AudioFrame.from_ndarray(wave, format="fltp", layout="mono")
            chunk.sample_rate, chunk.pts, chunk.time_base = 44100, start, Fraction(1, 44100)
            out.mux(audio.encode(chunk))
        out.mux(audio.encode(None))
    return frames


def frame_by_frame(source: Path, target: Path, operator: str, settings: dict[str, str]) -> float:
    """Decode a frame, stylize it, encode it; one at a time. Returns frames/s."""
    spec = get_operator(operator)
    stylize = spec.build(spec.resolve(settings), "auto", {})
    start = time.perf_counter()
    count = 0
    with av.open(str(source)) as src, av.open(str(target), "w") as out:
        stream = src.streams.video[0]
        video = out.add_stream("libx264", rate=stream.average_rate)
        video.width, video.height, video.pix_fmt = stream.codec_context.width, stream.codec_context.height, "yuv420p"
        for frame in src.decode(stream):
            styled = stylize(frame.to_ndarray(format="rgb24")[None])[0]
            new = av.VideoFrame.from_ndarray(styled, format="rgb24")
            new.pts = count
            out.mux(video.encode(new))
            count += 1
        out.mux(video.encode(None))
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--operator", default="onnx")
    parser.add_argument("--set", dest="settings", action="append", default=[],
                        help="operator options (default for onnx: preset=multistyle26, style=7)")
    parser.add_argument("--segment-seconds", type=float, default=5.0)
    parser.add_argument("--deflicker", type=float, default=0.0)
    args = parser.parse_args()
    pairs = args.settings or (["preset=multistyle26", "style=7"] if args.operator == "onnx" else [])
    settings = dict(pair.split("=", 1) for pair in pairs)
    width, height = map(int, args.size.split("x"))
    with tempfile.TemporaryDirectory() as work:
        source = Path(work) / "input.mp4"
        frames = make_input(source, width, height, args.seconds)
        loop_fps = frame_by_frame(source, Path(work) / "loop.mp4", args.operator, settings)
        result = convert_video(VideoConfig(input=str(source), output=str(Path(work) / "out.mp4"),
                                           model=ModelSettings(args.operator, settings), preset="veryfast",
                                           segment_seconds=args.segment_seconds, deflicker=args.deflicker))
    print(result.line())
    print(f"\n{args.operator} {settings}, {args.size}, {frames} frames, segments of {args.segment_seconds:g} s\n")
    print("| mode | frames/s | vs frame-by-frame |\n|---|---|---|")
    print(f"| frame-by-frame loop | {loop_fps:.2f} | 1.00x |")
    print(f"| stylebatch video (whole run, Ray start-up included) | {result.totals.images_per_second:.2f} | "
          f"{result.totals.images_per_second / loop_fps:.2f}x |")


if __name__ == "__main__":
    main()
