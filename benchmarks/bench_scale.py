"""Many tiny inputs: what a run costs the driver as the input count grows, and how fast an
all-done rerun is.

    python benchmarks/bench_scale.py --counts 20000 200000 --work scale-work

For each count, 8x8 PNGs in folders of 1,000 go through `stylebatch convert` with a null model
(an identity ONNX model through the `onnx` operator) on a fresh local Ray, twice: the first run
converts everything, the rerun finds everything done. Reported per run: whole-run seconds (process
start to exit, Ray start-up included), time to the first output file, the driver's peak RSS, the
peak RSS summed over every process of the run, and the counts from the run's summary line.
"""
from __future__ import annotations

import argparse
import io
import json
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from null_model import identity_model
from PIL import Image
from process_memory import PeakMemory

PER_FOLDER = 1000


def make_inputs(folder: Path, count: int) -> None:
    """`count` distinct 8x8 PNGs in folders of PER_FOLDER (kept between invocations)."""
    done = folder / ".count"
    if done.exists() and int(done.read_text()) == count:
        return
    shutil.rmtree(folder, ignore_errors=True)
    for index in range(count):
        sub = folder / f"d{index // PER_FOLDER:04d}"
        if index % PER_FOLDER == 0:
            sub.mkdir(parents=True)
        pixels = np.full((8, 8, 3), [index % 251, index // 251 % 251, index // 63001 % 251], np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "PNG")
        (sub / f"i{index:06d}.png").write_bytes(buffer.getvalue())
    done.write_text(str(count))


def first_output(folder: Path, stop: threading.Event, started: float) -> list[float]:
    """Watch the first output folder; the seconds from `started` to the first finished file."""
    seen: list[float] = []

    def watch() -> None:
        while not stop.is_set() and not seen:
            if folder.is_dir() and any(not p.name.endswith(".partial") for p in folder.iterdir()):
                seen.append(time.perf_counter() - started)
            time.sleep(0.05)

    threading.Thread(target=watch, daemon=True).start()
    return seen


def run(inputs: Path, output: Path, model: Path) -> dict:
    """One `stylebatch convert` process; its figures and summary line."""
    command = [sys.executable, "-m", "jobs.convert", str(inputs), str(output), "--operator", "onnx",
               "--weights", str(model), "--set", "threads=1", "--batch-size", "64"]
    stop = threading.Event()
    started = time.perf_counter()
    first = first_output(output / "d0000", stop, started)
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    with PeakMemory(proc.pid) as memory:
        out, _ = proc.communicate()
    seconds = time.perf_counter() - started
    stop.set()
    found = re.search(r"summary: (\S+)", out)
    if found is None:
        raise RuntimeError(f"convert exited {proc.returncode}:\n{out[-2000:]}")
    summary = json.loads(Path(found.group(1)).read_text())
    return {"seconds": seconds, "first_output": first[0] if first else float("nan"),
            "driver_mib": memory.process / 2**20, "total_mib": memory.total / 2**20,
            **{k: summary[k] for k in ("converted", "skipped", "failed")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument("--work", default="scale-work", help="folder for inputs (kept) and outputs (replaced)")
    args = parser.parse_args()
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    model = identity_model(work / "identity.onnx")
    rows = []
    for count in args.counts:
        inputs, output = work / f"in-{count}", work / f"out-{count}"
        make_inputs(inputs, count)
        shutil.rmtree(output, ignore_errors=True)
        for label in ("first run", "all-done rerun"):
            rows.append({"inputs": count, "run": label, **run(inputs, output, model)})
            print(json.dumps(rows[-1]), flush=True)
    print("\n| inputs | run | seconds | first output s | driver peak MiB | all processes peak MiB "
          "| converted | skipped | failed |\n|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        first = f"{r['first_output']:.1f}" if r["converted"] else "-"  # a rerun's outputs are there already
        print(f"| {r['inputs']:,} | {r['run']} | {r['seconds']:.1f} | {first} | {r['driver_mib']:.0f} "
              f"| {r['total_mib']:.0f} | {r['converted']:,} | {r['skipped']:,} | {r['failed']:,} |")


if __name__ == "__main__":
    main()
