"""Throughput of the conversion pipeline against bare model loops, on one device in one run.

    python benchmarks/bench_pipeline.py --sizes 512x512 1280x720 --images 16

Modes, each in its own process so that peak memory (RSS summed over every process started after
the mode began: Ray's daemons and workers included) belongs to that mode alone:
  bare       the network (AnimeGANv2 generator by default) over tensors already in memory, in the
             model actors' memory format and allocator settings
  per-image  the reference test script's loop: PIL load -> forward -> PIL save, one at a time
  local      `convert` local folder -> local folder on a fresh local Ray (started by the run)
  cluster    `convert` as a job on a running single-node cluster (`ray start --head`, which has run
             one earlier job), the way `ray job submit` runs it
  s3         `convert` S3 -> S3 against moto's server on 127.0.0.1
The pipeline reports whole-run images/s (Ray start-up included) and steady state (after the first
quarter of the outputs, the least-squares slope of their count against the manifest's finished_at);
every mode also reports images/s for its whole process (interpreter start, imports, teardown).
Weights are random in the public checkpoint format: the compute is the same as a real checkpoint.
`--operator fast-nst` measures the fast-neural-style TransformerNet the same way.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
from process_memory import PeakMemory

MODES = ("bare", "per-image", "local", "cluster", "s3")
# operator -> (network class path, the stylizer class that runs it: its value range and memory layout)
NETWORKS = {"animegan": ("operators.animegan:Generator", "operators.animegan:AnimeGANStylizer"),
            "fast-nst": ("operators.fast_nst:TransformerNet", "operators.fast_nst:FastNSTStylizer")}


def _named(path: str):
    import importlib

    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


def network(operator: str):
    """A fresh network of the operator's family and the stylizer class that runs it."""
    net, stylizer = NETWORKS[operator]
    return _named(net)(), _named(stylizer)


def make_inputs(folder: Path, count: int, width: int, height: int) -> None:
    """`count` JPEG photographs-like images of one size."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width]
    for i in range(count):
        base = np.stack([x * 255 / width, y * 255 / height, np.full_like(x, 40 * (i % 6), dtype=float)], -1)
        noisy = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(noisy).save(folder / f"img{i:04d}.jpg", quality=92)


def make_weights(path: Path, operator: str) -> None:
    import torch

    torch.manual_seed(0)
    torch.save(network(operator)[0].state_dict(), path)


def run_bare(args: argparse.Namespace) -> dict:
    import torch

    from pipeline.inference import keep_freed_memory

    keep_freed_memory()  # as the model actors run
    device = torch.device(args.device)
    half = device.type == "cuda"
    net, stylizer = network(args.operator)
    (low, high), memory_format = stylizer.value_range, stylizer.memory_format_on(device)  # as the operator runs it
    net = net.to(device, memory_format=memory_format).eval()
    if half:
        net = net.half()
    x = torch.rand(args.batch, 3, args.height, args.width, device=device) * (high - low) + low
    x = x.to(memory_format=memory_format, dtype=torch.float16 if half else torch.float32)
    batches = max(1, args.images // args.batch)
    with torch.inference_mode():
        seconds = seconds_per_call(lambda: net(x), device, batches) * batches
    return {"images": batches * args.batch, "seconds": seconds, "steady": batches * args.batch / seconds}


def seconds_per_call(fn: Callable[[], object], device: Any, calls: int) -> float:
    """Mean seconds of `fn` (on torch `device`) after one warm-up call, the device's queue drained
    at both ends."""
    import torch

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    fn()
    sync()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    sync()
    return (time.perf_counter() - start) / calls


def run_per_image(args: argparse.Namespace) -> dict:
    """As the reference scripts (AnimeGANv2 test.py, fast-neural-style eval): one image at a time,
    load, forward, save."""
    import torch
    from PIL import Image

    device = torch.device(args.device)
    net, stylizer = network(args.operator)
    low, high = stylizer.value_range
    net.load_state_dict(torch.load(args.weights, map_location="cpu", weights_only=True))
    net.to(device).eval()
    out = Path(args.work) / "per-image-out"
    out.mkdir(exist_ok=True)
    files = sorted(Path(args.inputs).glob("*.jpg"))
    start = time.perf_counter()
    for path in files:
        image = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) * ((high - low) / 255) + low
        with torch.no_grad():
            y = net(torch.from_numpy(image).permute(2, 0, 1)[None].to(device))[0]
            y = ((y.permute(1, 2, 0).cpu().numpy() - low) * (255 / (high - low))).clip(0, 255).astype(np.uint8)
        Image.fromarray(y).save(out / (path.stem + ".png"))
    seconds = time.perf_counter() - start
    return {"images": len(files), "seconds": seconds, "steady": len(files) / seconds}


def run_pipeline(args: argparse.Namespace, source: str, output: str, storage: dict) -> dict:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from pipeline.run import ConvertConfig, convert
    from pipeline.settings import ModelSettings, PoolSettings
    from pipeline.storage import filesystem

    start = time.perf_counter()
    result = convert(ConvertConfig(input=source, output=output, model=ModelSettings(args.operator, {"weights": args.weights}),
                                   pool=PoolSettings(batch_size=args.batch), resume=False, storage_options=storage))
    seconds = time.perf_counter() - start
    fs, path = filesystem(result.manifest, storage)
    with fs.open(path, "rb") as f:
        done = pq.read_table(f)
    times = np.sort(done.filter(pc.equal(done["status"], "converted"))["finished_at"].cast("int64").to_numpy()) / 1000
    steady = steady_rate(times)
    model_seconds = float(pc.sum(done["seconds"]).as_py() or 0.0)
    return {"images": result.totals.converted, "seconds": seconds, "whole": result.totals.converted / seconds,
            "steady": steady, "failed": result.totals.failed, "model_busy": model_seconds / seconds}


def run_on_cluster(args: argparse.Namespace) -> dict:
    """A head node started here, one earlier job (a single image) run on it, then the measured job."""
    ray_cli = str(Path(sys.executable).parent / "ray")
    subprocess.run([ray_cli, "start", "--head", f"--num-cpus={os.cpu_count()}", "--include-dashboard=false",
                    "--disable-usage-stats"], check=True, capture_output=True)
    os.environ["RAY_ADDRESS"] = "auto"
    try:
        subprocess.run([sys.executable, "-m", "jobs.convert", args.inputs, str(Path(args.work) / "cluster-first"),
                        "--operator", args.operator, "--weights", args.weights, "--limit", "1"],
                       check=True, capture_output=True)
        return run_pipeline(args, args.inputs, str(Path(args.work) / "cluster-out"), {})
    finally:
        subprocess.run([ray_cli, "stop", "--force"], capture_output=True)


def child(args: argparse.Namespace) -> None:
    """Run one mode and print its figures as JSON."""
    if args.mode == "bare":
        figures = run_bare(args)
    elif args.mode == "per-image":
        figures = run_per_image(args)
    elif args.mode == "local":
        figures = run_pipeline(args, args.inputs, str(Path(args.work) / "local-out"), {})
    elif args.mode == "cluster":
        figures = run_on_cluster(args)
    else:
        import s3fs
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
        server.start()
        storage = {"endpoint_url": f"http://127.0.0.1:{args.port}", "key": "bench", "secret": "bench"}
        fs = s3fs.S3FileSystem(**storage)
        fs.mkdir("bench")
        fs.put(args.inputs, "bench/in", recursive=True)
        figures = run_pipeline(args, "s3://bench/in", "s3://bench/out", storage)
        server.stop()
    print("RESULT " + json.dumps(figures), flush=True)


def steady_rate(times: np.ndarray) -> float:
    """Outputs a second after the first quarter (start-up, warm-up): the slope of the output count
    against the sorted finish `times`, fitted by least squares, so outputs written in bursts (a
    GPU batch at a time) count neither their first burst's tail nor their last burst in full."""
    start = len(times) // 4
    if len(times) - start < 2 or times[-1] <= times[start]:
        return float("nan")
    return float(np.polyfit(times[start:], np.arange(start, len(times)), 1)[0])


def measure(argv: list[str]) -> dict:
    """Run a child mode, sampling the RSS of its whole process tree."""
    started = time.perf_counter()
    with PeakMemory() as memory:
        proc = subprocess.run([sys.executable, __file__, *argv], stdout=subprocess.PIPE, text=True,
                              stderr=subprocess.DEVNULL)
    process_seconds = time.perf_counter() - started
    line = next((l for l in proc.stdout.splitlines() if l.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"benchmark child {argv} failed:\n{proc.stdout[-2000:]}")
    return {**json.loads(line[7:]), "process_seconds": process_seconds, "peak_gib": memory.total / 2**30}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["512x512", "1280x720"])
    parser.add_argument("--images", type=int, default=16, help="images per size and mode")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--device", default="cpu", help=argparse.SUPPRESS)
    parser.add_argument("--modes", nargs="+", default=list(MODES))
    parser.add_argument("--repeat", type=int, default=1, help="runs per mode (modes interleaved); medians compared")
    parser.add_argument("--operator", default="animegan", choices=sorted(NETWORKS))
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--width", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--height", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--inputs", help=argparse.SUPPRESS)
    parser.add_argument("--weights", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=5399, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        child(args)
        return
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    rows = []
    with tempfile.TemporaryDirectory() as work:
        weights = Path(work) / "weights.pt"
        make_weights(weights, args.operator)
        for size in args.sizes:
            width, height = map(int, size.split("x"))
            inputs = Path(work) / f"in-{size}"
            make_inputs(inputs, args.images, width, height)
            for mode in [m for _ in range(args.repeat) for m in args.modes]:
                figures = measure(["--mode", mode, "--width", str(width), "--height", str(height),
                                   "--inputs", str(inputs), "--weights", str(weights), "--work", work,
                                   "--images", str(args.images), "--batch", str(args.batch), "--device", device,
                                   "--operator", args.operator])
                rows.append({"size": size, "mode": mode, **figures})
                print(json.dumps(rows[-1]), flush=True)
    print(f"\n{args.operator} on {device}, {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, "
          f"{args.images} images per run, batch {args.batch}\n")
    print("| size | mode | images/s whole run | images/s whole process | images/s steady | vs bare (steady) "
          "| peak RSS GiB |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        bare = next((r["steady"] for r in rows if r["size"] == row["size"] and r["mode"] == "bare"), float("nan"))
        whole = row.get("whole", row["images"] / row["seconds"])
        process = "-" if row["mode"] == "cluster" else f"{row['images'] / row['process_seconds']:.3f}"  # it starts a head
        print(f"| {row['size']} | {row['mode']} | {whole:.3f} | {process} | "
              f"{row['steady']:.3f} | {row['steady'] / bare:.2f}x | {row['peak_gib']:.2f} |")
    reference = "per-image"
    for size in args.sizes:
        def median(mode: str, key) -> float:
            values = sorted(key(r) for r in rows if r["size"] == size and r["mode"] == mode)
            return values[len(values) // 2] if values else float("nan")

        loop = median(reference, lambda r: r["images"] / r["seconds"])
        loop_process = median(reference, lambda r: r["images"] / r["process_seconds"])
        for mode in ("local", "cluster", "s3"):
            whole = median(mode, lambda r: r.get("whole", 0.0))
            process = median(mode, lambda r: r["images"] / r["process_seconds"])
            if whole == whole and loop == loop:
                print(f"{size} {mode}: whole run {whole / loop:.2f}x the reference loop"
                      + ("" if mode == "cluster" else f"; whole process {process / loop_process:.2f}x the reference "
                         "process") + f" (medians of {args.repeat})")


if __name__ == "__main__":
    main()
