"""The long-movie check: a generated movie (default 30 minutes, 640x360, 24 fps, a 10-second moving
pattern over and over, AAC sound) through `stylebatch video` with the null model. The first run is
killed (the driver and every process under it, Ray's included) once half of the segments are in
the work area; the same command then runs again and must redo only the segments that were not
finished.

    python benchmarks/bench_long_movie.py --minutes 30 --segment-seconds 20

Reported: frames/s and peak RSS (all processes) of each run, what the rerun converted and skipped,
and the output's frame count and duration against the input's.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import psutil
from bench_video import make_input
from null_model import identity_model
from process_memory import PeakMemory


def frames_and_duration(path: Path) -> tuple[int, float]:
    """Video frame count (packets, without decoding) and the video stream's duration in seconds."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for packet in container.demux(stream) if packet.size)
        return frames, float(stream.duration * stream.time_base)


def kill_tree(pid: int) -> None:
    """SIGKILL a process and everything it started (Ray's daemons and workers of a local instance)."""
    root = psutil.Process(pid)
    for process in [*root.children(recursive=True), root]:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            continue


def killed_halfway(command: list[str], work: Path, segments: int) -> tuple[float, float, int]:
    """Run `command` until half of the segments are finished, then kill it; (seconds, peak GiB,
    segments finished when it died)."""
    start = time.perf_counter()
    with PeakMemory() as memory:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while len(list(work.glob("*/seg-*.mp4"))) < segments // 2:
            if process.poll() is not None:
                raise RuntimeError(f"the first run ended by itself (status {process.returncode}) before half")
            time.sleep(0.5)
        kill_tree(process.pid)
        process.wait()
    return time.perf_counter() - start, memory.total / 2**30, len(list(work.glob("*/seg-*.mp4")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--segment-seconds", type=float, default=20.0)
    parser.add_argument("--work", help="folder for the movie and outputs (default: a temporary one)")
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(args.work or scratch)
        work.mkdir(parents=True, exist_ok=True)
        source, output = work / "movie.mp4", work / "styled.mp4"
        made = time.perf_counter()
        make_input(source, width, height, args.minutes * 60, cycle=10 * 24)
        made = time.perf_counter() - made
        frames_in, duration_in = frames_and_duration(source)
        segments = -(-frames_in // round(args.segment_seconds * 24))
        command = [sys.executable, "-m", "jobs.video", str(source), str(output), "--operator", "onnx",
                   "--weights", str(identity_model(work / "null.onnx")), "--segment-seconds", str(args.segment_seconds),
                   "--crf", "18", "--preset", "medium"]
        first_s, first_gib, finished = killed_halfway(command, Path(f"{output}.work"), segments)
        start = time.perf_counter()
        with PeakMemory() as memory:
            rerun = subprocess.run(command, capture_output=True, text=True)
        rerun_s, rerun_gib = time.perf_counter() - start, memory.total / 2**30
        if rerun.returncode:
            raise RuntimeError(f"the rerun exited {rerun.returncode}:\n{rerun.stderr[-3000:]}")
        counts = re.search(r"(\d+) converted, (\d+) skipped, (\d+) failed", rerun.stdout)
        converted, skipped, failed = map(int, counts.groups())
        segments = converted + skipped + failed  # as the run planned them
        frames_out, duration_out = frames_and_duration(output)
    redone_frames = frames_in * converted / segments
    print(json.dumps({"frames_in": frames_in, "duration_in": duration_in, "frames_out": frames_out,
                      "duration_out": duration_out, "segments": segments, "finished_at_kill": finished,
                      "rerun_converted": converted, "rerun_skipped": skipped, "rerun_failed": failed,
                      "first_s": first_s, "first_gib": first_gib, "rerun_s": rerun_s, "rerun_gib": rerun_gib,
                      "generate_s": made}))
    print(f"\n{args.minutes:g}-minute {args.size} movie, {frames_in} frames, {segments} segments of "
          f"{args.segment_seconds:g} s, null model, x264 crf 18 medium\n")
    print("| run | segments | frames/s | peak RSS GiB (all processes) |\n|---|---|---|---|")
    print(f"| first run, killed with half done | {finished} finished | "
          f"{finished * frames_in / segments / first_s:.1f} | {first_gib:.2f} |")
    print(f"| the same command again | {converted} converted, {skipped} skipped, {failed} failed | "
          f"{redone_frames / rerun_s:.1f} (whole run, join included) | {rerun_gib:.2f} |")
    print(f"\noutput: {frames_out} frames, {duration_out:.3f} s; input: {frames_in} frames, {duration_in:.3f} s; "
          f"rerun redid only the unfinished segments: {skipped == finished and converted == segments - finished}")


if __name__ == "__main__":
    main()
