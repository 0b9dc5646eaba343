"""`stylebatch video` against a plain single-process PyAV transcode (decode, libx264 encode, same
settings, frame types chosen by x264 as in the pipeline) of the same generated movie, on one
machine in one run; each in its own process.

    python benchmarks/bench_video.py --size 1920x1080 --seconds 60 --segment-seconds 10 --repeat 2 --modes local cluster

The movie is generated: a moving pattern with a sine-tone AAC track, keyframes every second. The
model is the null model (an identity ONNX graph through the `onnx` operator) unless `--operator`
and `--set` name another. Modes: `local`, the command starting its own Ray (as on a laptop);
`cluster`, the command as a job on a single-node head started just before it (as `ray job submit`
runs it: the head's start is not timed, its processes' memory is counted). A round runs each mode,
then a transcode; its runs are compared with the mean of the transcodes either side of them (one
more transcode runs before the first round), which cancels a steady drift of the machine's speed.
Reported: whole-run frames/s (process start to exit, Ray start-up or connection included), steady
frames/s (first segment's start to last segment's finish, from the manifest), peak RSS of all
processes.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import av
import numpy as np
import pyarrow.parquet as pq
from av.video.frame import PictureType
from null_model import identity_model
from process_memory import PeakMemory

from pipeline.video.codec_choice import Encoder

FPS = 24
MODES = {"local": "local, started by the run", "cluster": "job on a running head"}


def make_input(path: Path, width: int, height: int, seconds: float, cycle: int | None = None) -> int:
    """Write the test movie; returns its frame count. With `cycle`, the first `cycle` frames are drawn
    once and repeat (a long movie is then quick to make: only encoding costs time)."""
    frames = int(seconds * FPS)
    y, x = np.mgrid[0:height, 0:width]

    def picture(t: int) -> np.ndarray:
        phase = t / FPS
        rgb = np.stack([(x + 40 * t) % 256, (y * 2 + 30 * np.sin(phase)) % 256, (x + y - 10 * t) % 256], -1)
        return rgb.astype(np.uint8)

    drawn = [picture(t) for t in range(min(cycle, frames))] if cycle else []
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"g": str(FPS), "preset": "veryfast"}
        audio = out.add_stream("aac", rate=44100)
        for t in range(frames):
            frame = av.VideoFrame.from_ndarray(drawn[t % cycle] if cycle else picture(t), format="rgb24")
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


def transcode(source: str, target: str, crf: int, preset: str, source_frame_types: bool = False) -> None:
    """The plain transcode: decode every frame, encode it with libx264 at the same settings.

    A decoded frame carries its picture type, and FFmpeg's libx264 wrapper obeys it: passed on as
    it is, every frame is forced to the source's type (an I-frame at each source keyframe, P-frames
    between), so x264 skips its own frame-type decision and encodes another GOP than asked for (3.5%
    less CPU for x264 here: video_costs.py). The pipeline's frames are new pictures, typed by x264;
    the transcode clears the type so that x264 types its frames too, as ffmpeg's command line does,
    unless `source_frame_types`."""
    with av.open(source) as src, av.open(target, "w") as out:
        stream = src.streams.video[0]
        stream.thread_type = "AUTO"
        video = out.add_stream("libx264", rate=stream.average_rate)
        video.width, video.height, video.pix_fmt = stream.codec_context.width, stream.codec_context.height, "yuv420p"
        video.options = dict(Encoder.of("libx264", crf, preset).options)  # the pipeline's own x264 options
        for index, frame in enumerate(src.decode(stream)):
            frame.pts, frame.time_base = index, 1 / stream.average_rate  # numbered in frame periods
            if not source_frame_types:
                frame.pict_type = PictureType.NONE
            out.mux(video.encode(frame))
        out.mux(video.encode(None))


class Measured(NamedTuple):
    """One child process: its wall seconds, the peak GiB of all its processes, its stdout."""

    seconds: float
    gib: float
    stdout: str = ""


def measured(command: list[str], on_cluster: bool = False) -> Measured:
    """(seconds, peak GiB of all its processes, stdout) of one child process. `on_cluster`: a head
    node is started first and the child runs as a job on it (RAY_ADDRESS), as `ray job submit` runs
    it; its seconds leave out the head's start, its memory counts the head's processes."""
    ray_cli = str(Path(sys.executable).parent / "ray")
    with PeakMemory() as memory:
        if on_cluster:
            subprocess.run([ray_cli, "start", "--head", f"--num-cpus={os.cpu_count()}", "--include-dashboard=false",
                            "--disable-usage-stats"], check=True, capture_output=True)
        try:
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True,
                                  env={**os.environ, "RAY_ADDRESS": "auto"} if on_cluster else None)
            seconds = time.perf_counter() - start
        finally:
            if on_cluster:
                subprocess.run([ray_cli, "stop", "--force"], capture_output=True)
    if done.returncode:
        raise RuntimeError(f"{command} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return Measured(seconds, memory.total / 2**30, done.stdout)


def steady_fps(stdout: str) -> float:
    """Frames/s from the first segment's start to the last one's finish, from the run's manifest
    (each row's finish time less the seconds its actor spent on it): the run without Ray's start-up
    and the join, whatever the number of segments in flight at once."""
    manifest = re.search(r"manifest: (\S+)", stdout).group(1)
    rows = pq.read_table(manifest).to_pylist()
    frames = sum(int(r["input"].rsplit("-", 1)[1]) - int(r["input"].rsplit("=", 1)[1].split("-")[0]) + 1 for r in rows)
    first_start = min(r["finished_at"].timestamp() - r["seconds"] for r in rows)
    return frames / (max(r["finished_at"].timestamp() for r in rows) - first_start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--segment-seconds", type=float, default=2.0)
    parser.add_argument("--crf", type=int, default=18)
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--operator", help="default: the null model")
    parser.add_argument("--set", dest="settings", action="append", default=[], help="operator options")
    parser.add_argument("--actors", type=int, help="segment actors (default: the video command's own)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds: each mode's run, then a transcode (one more before the first round)")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=["local"])
    parser.add_argument("--source-frame-types", action="store_true",
                        help="the transcode keeps the source's picture types (see `transcode`)")
    parser.add_argument("--transcode", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.transcode:
        transcode(*args.transcode, args.crf, args.preset, args.source_frame_types)
        return
    width, height = map(int, args.size.split("x"))
    rows = []  # (round, mode, transcode, run, steady)
    with tempfile.TemporaryDirectory() as work:
        source = Path(work) / "input.mp4"
        frames = make_input(source, width, height, args.seconds)
        model = (["--operator", args.operator, *(a for pair in args.settings for a in ("--set", pair))] if args.operator
                 else ["--operator", "onnx", "--weights", str(identity_model(Path(work) / "null.onnx"))])

        def plain() -> Measured:
            return measured([sys.executable, __file__, "--transcode", str(source), str(Path(work) / "plain.mp4"),
                             "--crf", str(args.crf), "--preset", args.preset,
                             *(["--source-frame-types"] if args.source_frame_types else [])])

        transcodes = [plain()]
        for attempt in range(1, args.repeat + 1):  # interleaved: this machine's speed drifts between minutes
            runs = {mode: measured([sys.executable, "-m", "jobs.video", str(source),
                                    str(Path(work) / f"styled-{mode}-{attempt}.mp4"), *model,
                                    "--segment-seconds", str(args.segment_seconds), "--crf", str(args.crf),
                                    "--preset", args.preset, *(["--actors", str(args.actors)] if args.actors else [])],
                                   on_cluster=mode == "cluster") for mode in args.modes}
            transcodes.append(plain())
            before, after = transcodes[-2:]  # the round's runs against the transcodes either side of them
            bracket = Measured((before.seconds + after.seconds) / 2, max(before.gib, after.gib))
            for mode, run in runs.items():
                rows.append((attempt, mode, bracket, run, steady_fps(run.stdout)))
                print(json.dumps({"size": args.size, "frames": frames, "mode": mode,
                                  "transcode_s": [before.seconds, after.seconds], "run_s": run.seconds,
                                  "steady_fps": rows[-1][4], "transcode_gib": bracket.gib, "run_gib": run.gib}),
                      flush=True)
    label = args.operator or "null model"
    actors = f", {args.actors} segment actors" if args.actors else ""
    print(f"\n{label}{actors}, {args.size}, {frames} frames, x264 crf {args.crf} preset {args.preset}, "
          f"segments of {args.segment_seconds:g} s; the transcode's frame types "
          f"{'kept from the source' if args.source_frame_types else 'chosen by x264'}\n")
    print("| round | Ray | transcode frames/s (mean of the two either side) | `stylebatch video` frames/s whole run | "
          "vs transcode (whole) | "
          "frames/s steady (vs transcode) | peak RSS GiB (transcode, run) |\n|---|---|---|---|---|---|---|")
    for attempt, mode, bracket, run, steady in rows:
        transcode_fps = frames / bracket.seconds
        print(f"| {attempt} | {MODES[mode]} | {transcode_fps:.2f} | {frames / run.seconds:.2f} | "
              f"{bracket.seconds / run.seconds:.2f}x | {steady:.2f} ({steady / transcode_fps:.2f}x) | "
              f"{bracket.gib:.2f}, {run.gib:.2f} |")
    for mode in args.modes:
        ratios = [bracket.seconds / run.seconds for _, m, bracket, run, _ in rows if m == mode]
        print(f"\n{MODES[mode]}: median whole-run ratio {statistics.median(ratios):.2f}x over {len(ratios)} rounds")


if __name__ == "__main__":
    main()
