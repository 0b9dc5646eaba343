"""Several styles in one pass against one run per style, whole runs, on this machine in one go.

    python benchmarks/bench_variants.py --images 600 --size 640x480 --variants 3 --formats jpg png

The model is the null model (`null_model.py`: an ONNX graph that returns its input), once per
variant as its own file, so the figures are what the pipeline costs around a model: listing,
reading and decoding, encoding and writing, Ray's start. `separate` runs `stylebatch convert` once
per variant, each a fresh command with its own Ray, as a user scripting it would; `one pass` runs
it once with every variant (`--variant NAME:weights=...`). Each command's time is its whole
process; peak memory is RSS summed over every process it started (Ray's included), the highest of
the separate runs."""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_pipeline import make_inputs
from null_model import identity_model
from process_memory import PeakMemory


def timed(command: list[str]) -> tuple[float, int, str]:
    """(seconds, peak RSS of all its processes, its last line) of one stylebatch command."""
    started = time.perf_counter()
    with PeakMemory() as memory:
        done = subprocess.run([sys.executable, "-m", "jobs.cli", *command], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds, memory.total, done.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--variants", type=int, default=3)
    parser.add_argument("--formats", nargs="+", default=["jpg", "png"],
                        help="output formats, one pair of rows each (png costs ~50 ms a noisy 640x480 image to encode)")
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    print(f"{args.images} JPEG images of {args.size}, {args.variants} variants of the null model; "
          f"python {sys.version.split()[0]}\n")
    print("| output | runs | whole runs (s) | outputs/s | peak memory, all processes (MiB) | vs separate runs |")
    print("|---|---|---|---|---|---|")
    work = Path(tempfile.mkdtemp(prefix="bench-variants-"))
    try:
        make_inputs(work / "in", args.images, width, height)
        models = [identity_model(work / f"identity-{k}.onnx") for k in range(args.variants)]
        for fmt in args.formats:
            common = ["--operator", "onnx", "--format", fmt]
            separate = [timed(["convert", str(work / "in"), str(work / f"{fmt}-separate-{k}"), *common,
                               "--weights", str(model)]) for k, model in enumerate(models)]
            variants = [f"--variant=v{k}:weights={model}" for k, model in enumerate(models)]
            together = timed(["convert", str(work / "in"), str(work / f"{fmt}-one-pass"), *common, *variants])
            outputs, apart = args.images * args.variants, sum(seconds for seconds, _, _ in separate)
            print(f"| {fmt} | {args.variants} separate runs, one per variant | {apart:.1f} | {outputs / apart:.1f} | "
                  f"{max(memory for _, memory, _ in separate) / 2**20:.0f} | 1.00x |")
            print(f"| {fmt} | one run, {args.variants} variants | {together[0]:.1f} | {outputs / together[0]:.1f} | "
                  f"{together[1] / 2**20:.0f} | {apart / together[0]:.2f}x |", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
