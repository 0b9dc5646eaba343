"""The day a GPU is lent: one script that checks the CUDA paths and measures them.

    python benchmarks/gpu_check.py            # prints tables ready for docs/benchmarks.md

1. The `gpu` tests (`pytest -m gpu`): fp16 against fp32 (animegan, fast-nst), ONNX Runtime's CUDA
   provider in use, NVDEC frames against the CPU decoder's, NVENC output decodable; then the
   networks in each precision and layout (`gpu_layouts.py`).
2. Images: `animegan` fp16 (synthetic weights in the public format: the compute of a real
   checkpoint) at 512x512 and 1920x1080, the bare model loop (tensors already on the GPU) against
   `stylebatch convert` on a local Ray (steady state, from the manifest), images/s and the ratio.
3. Video at 1080p: the null model and `animegan` through `stylebatch video`, with the CPU codecs
   (`--decoder cpu --encoder libx264`) and with the GPU's (`--decoder auto --encoder auto`: NVDEC,
   and NVENC where the GPU has one; H100, H200 and A100 have none, and x264 runs on the node's cores).
4. Sizing: the cores per GPU a 1080p video needs at the model's measured speed where x264 encodes.
Each measurement also records the peak GPU memory (nvidia-smi, sampled every 0.25 s). On a
machine without CUDA it says "not measured" and exits 0; `--cpu` runs the same measurements on the
CPU (small counts: `--images 4 --video-seconds 0.25`) to try the script there.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from itertools import product
from pathlib import Path

import torch
from bench_pipeline import make_inputs, make_weights, measure
from bench_video import make_input, measured, steady_fps
from gpu_layouts import tables
from null_model import identity_model
from x264_cores import cores_needed, encode_costs

ROOT = Path(__file__).resolve().parents[1]


class GpuPeak:
    """The most GPU memory in use (MiB, all processes, nvidia-smi) while the block runs."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval, self.mib = interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> GpuPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        if shutil.which("nvidia-smi") is None:
            return
        while not self._stop.wait(self.interval):
            done = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                                  capture_output=True, text=True)
            if done.returncode == 0:
                self.mib = max(self.mib, sum(int(v) for v in done.stdout.split()))


def gpu_tests() -> str:
    """The `gpu` tests' summary line, with each skip, failure and error named."""
    done = subprocess.run([sys.executable, "-m", "pytest", "-m", "gpu", "tests/test_gpu.py", "-q", "-rfEs", "-p",
                           "no:cacheprovider"], cwd=ROOT, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    outcomes = [line for line in lines if line.startswith(("SKIPPED", "FAILED", "ERROR"))]
    return "\n".join([*outcomes, lines[-1] if lines else f"pytest exited {done.returncode}"])


def say(line: str = "") -> None:
    """Print a line of a table as soon as it is measured: a run cut short keeps what it measured."""
    print(line, flush=True)


def images(work: Path, count: int, device: str, name: str) -> float:
    """Bare loop against the pipeline, fp16 animegan, at 512 px and 1080p, a row each; returns the
    bare loop's images/s at 1080p."""
    weights = work / "animegan.pt"
    make_weights(weights, "animegan")
    say(f"animegan fp16 on {name}: bare loop against `stylebatch convert`\n")
    say("| size | bare loop images/s | pipeline images/s steady | whole run | pipeline / bare | model busy "
        "(share of the run) | peak GPU MiB |")
    say("|---|---|---|---|---|---|---|")
    for width, height, batch, images in ((512, 512, 16, count), (1920, 1080, 4, max(8, count // 4))):
        inputs = work / f"in-{width}x{height}"
        make_inputs(inputs, images, width, height)
        common = ["--width", str(width), "--height", str(height), "--inputs", str(inputs), "--weights", str(weights),
                  "--work", str(work), "--images", str(images), "--batch", str(batch), "--device", device,
                  "--operator", "animegan"]
        figures = {}
        for mode in ("bare", "local"):
            with GpuPeak() as peak:
                figures[mode] = {**measure(["--mode", mode, *common]), "gpu_mib": peak.mib}
        bare, run = figures["bare"], figures["local"]
        say(f"| {width}x{height} | {bare['steady']:.1f} | {run['steady']:.1f} | {run['whole']:.1f} | "
            f"{run['steady'] / bare['steady']:.2f}x | {run['model_busy']:.0%} | {max(bare['gpu_mib'], run['gpu_mib'])} |")
    say()
    return bare["steady"]


def sizing(model_fps: float) -> str:
    """Cores per GPU for 1080p video at this model's speed where the encode is x264's (no NVENC)."""
    rows = [f"| x264 preset | CPU ms a frame (x264 and conversions, {os.cpu_count()} threads) | "
            f"cores per GPU at {model_fps:.1f} frames/s |", "|---|---|---|"]
    for cost in encode_costs(48, threads=(os.cpu_count() or 1,)):
        rows.append(f"| {cost.preset} | {cost.whole * 1000:.0f} | {cores_needed(model_fps, cost):.1f} |")
    return "\n".join(rows)


def video(work: Path, seconds: float, name: str) -> None:
    """The null model and animegan through `stylebatch video` at 1080p, CPU codecs against the GPU's, a row each."""
    source = work / "in-1080p.mp4"
    frames = make_input(source, 1920, 1080, seconds, cycle=48)
    weights = work / "animegan.pt"
    if not weights.exists():
        make_weights(weights, "animegan")
    models = {"null model": ["--operator", "onnx", "--weights", str(identity_model(work / "null.onnx"))],
              "animegan fp16": ["--operator", "animegan", "--weights", str(weights)]}
    codecs = {"CPU (libavcodec, x264)": ["--decoder", "cpu", "--encoder", "libx264"],
              "GPU (auto: NVDEC, NVENC where there is one)": ["--decoder", "auto", "--encoder", "auto"]}
    say(f"`stylebatch video` on {name}: {frames} frames, 1920x1080, x264 crf 18 preset medium where x264 encodes\n")
    say("| model | codecs | frames/s whole run | frames/s steady | codecs used | peak GPU MiB |")
    say("|---|---|---|---|---|---|")
    for index, ((model, model_args), (label, codec_args)) in enumerate(product(models.items(), codecs.items())):
        out = work / f"out-{index}.mp4"
        with GpuPeak() as peak:
            run = measured([sys.executable, "-m", "jobs.video", str(source), str(out), *model_args, *codec_args])
        used = next((line for line in run.stdout.splitlines() if line.startswith("decoder")), "")
        say(f"| {model} | {label} | {frames / run.seconds:.1f} | {steady_fps(run.stdout):.1f} | {used} | {peak.mib} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1024,
                        help="images at 512 px, a quarter as many at 1080p: enough for the pipeline's steady state "
                             "to outlast its start (workers, the model's load) on a GPU")
    parser.add_argument("--video-seconds", type=float, default=10.0)
    parser.add_argument("--cpu", action="store_true", help="measure on the CPU (to try the script without a GPU)")
    args = parser.parse_args()
    if not torch.cuda.is_available() and not args.cpu:
        print("GPU check: not measured (no CUDA device on this machine); run this script where one is")
        return
    name = "the CPU" if args.cpu else torch.cuda.get_device_name(0)
    driver = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                            capture_output=True, text=True).stdout.strip() if shutil.which("nvidia-smi") else "-"
    started = time.perf_counter()
    say(f"GPU: {name} (driver {driver}), {os.cpu_count()} CPU cores, torch {torch.__version__}\n")
    say("gpu tests:\n" + gpu_tests() + "\n")
    device = torch.device("cpu" if args.cpu else "cuda")
    say(f"The networks on {name}: precision, layout, GroupNorm\n\n{tables(device, small=args.cpu)}\n")
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        fps_1080p = images(work, args.images, device.type, name)
        say(f"Cores per GPU for 1080p video where x264 encodes (animegan fp16's bare speed on {name})\n\n"
            f"{sizing(fps_1080p)}\n")
        video(work, args.video_seconds, name)
    say(f"\n(gpu_check took {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
