"""Chaos soak: many faults at once over a long run, and what the pipeline promises afterwards.

    python benchmarks/chaos.py --inputs 2000 --work chaos-work

Small photos go from moto's S3 server, through the fault-injecting proxy (a share of requests
throttled with 503 SlowDown or reset), through `stylebatch convert` (AnimeGANv2, synthetic weights,
CPU) on a three-node `ray.cluster_utils` cluster whose two worker nodes declare a GPU each, back
to S3. First a clean run (no faults) gives the reference time; then the chaos run, while a
schedule SIGKILLs a random worker process of the run (model actors, listing, decode and encode
task workers) every `--kill-every` seconds, removes one worker node and adds a fresh one once a
fifth of the outputs are written, and kills the driver once two fifths are (the same command then
runs again, as a scheduler would). A run that ends
with failed inputs is run again too. Each run must end within 3x the clean run's time.

Checked afterwards: every input has exactly one output object and is converted exactly once
across the runs' manifests (every other row of it says skipped), or was written by the killed
driver's run after its last manifest part and adopted by the next run by its stamp (only skipped
rows: `adopted_from_killed_runs`), and the exit codes are those
designed (the killed driver aside: 0, or 1 while some input failed). Reported: the faults and
kills, each run's time and exit status, the redone work (output PUTs beyond one per input), and
the peak memory summed over every process (the cluster's included). `--json` prints the figures
as one JSON object (the test suite runs a short version).
"""
from __future__ import annotations

import argparse
import collections
import io
import json
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import psutil
import pyarrow.parquet as pq
import s3fs
import torch
from PIL import Image
from process_memory import PeakMemory
from ray.cluster_utils import Cluster

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from fault_proxy import FaultProxy  # noqa: E402  (the test suite's proxy)

from operators.animegan import Generator  # noqa: E402

BUCKET = "chaos"
RUN_TASKS = ("StylizeActor", "list_inputs", "read_and_decode", "encode_and_write")  # what a kill may hit
SLOWEST = 3.0  # a run may take this many times the clean run's time


@dataclass
class Chaos:
    """What the schedule did."""

    kills: collections.Counter = field(default_factory=collections.Counter)
    nodes_replaced: int = 0
    drivers_killed: int = 0
    log: list[str] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_inputs(fs: s3fs.S3FileSystem, prefix: str, count: int, side: int) -> None:
    """`count` distinct small photos-like PNGs under `prefix` (uploaded in parallel)."""
    rng = np.random.default_rng(7)
    objects = {}
    for i in range(count):
        base = rng.integers(0, 256, (4, 4, 3)).astype(np.uint8)
        pixels = np.asarray(Image.fromarray(base).resize((side, side), Image.BICUBIC))
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "PNG")
        objects[f"{prefix}/d{i // 500:02d}/img{i:05d}.png"] = buffer.getvalue()
    fs.pipe(objects)


def run_workers() -> list[psutil.Process]:
    """This benchmark's Ray worker processes that run a step of the run (never the driver)."""
    found = []
    for process in psutil.Process().children(recursive=True):
        try:
            title = " ".join(process.cmdline())
        except psutil.Error:
            continue
        if title.startswith("ray::") and any(task in title for task in RUN_TASKS):
            found.append(process)
    return found


def schedule(cluster: Cluster, workers: list, driver: dict, chaos: Chaos, stop: threading.Event,
             kill_every: tuple[float, float], written: Callable[[], float], rng: random.Random) -> None:
    """Kill a random run worker every `kill_every` s; replace a worker node once a fifth of the
    outputs are `written`, kill the driver once two fifths are; until `stop`. Runs in the main
    thread (Ray starts a node only there)."""
    started = time.monotonic()
    next_kill = started + rng.uniform(*kill_every)
    while not stop.wait(0.2):
        now = time.monotonic() - started
        if chaos.nodes_replaced == 0 and written() >= 0.2:
            cluster.remove_node(workers.pop(0))
            workers.append(cluster.add_node(num_cpus=1, num_gpus=1))
            chaos.nodes_replaced += 1
            chaos.log.append(f"{now:.0f} s: worker node removed, a fresh one added")
        if chaos.drivers_killed == 0 and written() >= 0.4 and driver.get("process"):
            driver["process"].send_signal(signal.SIGKILL)
            chaos.drivers_killed += 1
            chaos.log.append(f"{now:.0f} s: driver killed")
        if time.monotonic() >= next_kill:
            candidates = run_workers()
            if candidates:
                victim = rng.choice(candidates)
                try:
                    name = next(task for task in RUN_TASKS if task in " ".join(victim.cmdline()))
                    victim.send_signal(signal.SIGKILL)
                except psutil.NoSuchProcess:
                    continue  # it ended meanwhile: the next tick picks another
                chaos.kills[name] += 1
                chaos.log.append(f"{now:.0f} s: killed a {name} worker (pid {victim.pid})")
            next_kill = time.monotonic() + rng.uniform(*kill_every)


def convert(output: str, weights: Path, env: dict[str, str], driver: dict, limit: float) -> tuple[int, float, str]:
    """One `stylebatch convert` driver process: (exit status, seconds, its last line); killed as hung
    past `limit` seconds (status -1)."""
    command = [sys.executable, "-m", "jobs.cli", "convert", f"s3://{BUCKET}/in", output, "--operator", "animegan",
               "--weights", str(weights)]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    driver["process"] = process
    try:
        out, _ = process.communicate(timeout=limit)
        status = process.returncode
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
        status = -1
    driver["process"] = None
    lines = [line for line in out.splitlines() if line.strip()]
    return status, time.perf_counter() - started, lines[-1] if lines else ""


def is_output(path: str) -> bool:
    """An output image, not the run's records or report (under `_manifest/`, `_report/`)."""
    return path.endswith(".png") and "/_" not in path


def output_puts(proxy: FaultProxy, output: str) -> dict[str, int]:
    """The PUTs the store took of each output image under `output`."""
    prefix = f"/{output.split('://', 1)[1]}/"
    with proxy.lock:
        return {path: n for path, n in proxy.puts.items() if path.startswith(prefix) and is_output(path)}


def outcome(fs: s3fs.S3FileSystem, output: str, count: int, proxy: FaultProxy) -> dict:
    """What the runs left: outputs, converted rows per input, redone writes."""
    outputs = sorted(p for p in fs.find(output) if is_output(p))
    rows = []
    for manifest in sorted(fs.glob(f"{output}/_manifest/*.parquet")):
        with fs.open(manifest, "rb") as f:
            rows += pq.read_table(f, columns=["input", "status"]).to_pylist()
    converted = collections.Counter(row["input"] for row in rows if row["status"] == "converted")
    skipped = {row["input"] for row in rows if row["status"] == "skipped"}
    statuses = collections.Counter(row["status"] for row in rows)
    puts = sum(output_puts(proxy, output).values())
    return {"outputs": len(outputs), "inputs_converted": len(converted),
            "adopted_from_killed_runs": len(skipped - set(converted)),
            "converted_more_than_once": sum(1 for n in converted.values() if n > 1),
            "rows": dict(statuses), "output_puts": puts, "redone_writes": puts - count}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", type=int, default=2000)
    parser.add_argument("--side", type=int, default=64, help="input photos' side in pixels")
    parser.add_argument("--work", default="chaos-work")
    parser.add_argument("--kill-every", type=float, nargs=2, default=(10.0, 20.0), metavar=("MIN_S", "MAX_S"))
    parser.add_argument("--fault-share", type=float, default=0.05, help="share of S3 requests throttled or reset")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args()
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    weights = work / "paprika.pt"
    torch.save(Generator().state_dict(), weights)

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    proxy = FaultProxy(f"http://127.0.0.1:{port}", seed=args.seed)
    os.environ.update(AWS_ACCESS_KEY_ID="chaos", AWS_SECRET_ACCESS_KEY="chaos", AWS_DEFAULT_REGION="us-east-1",
                      AWS_ENDPOINT_URL=proxy.url)  # workers inherit the cluster's environment
    os.environ.pop("RAY_ADDRESS", None)
    fs = s3fs.S3FileSystem(endpoint_url=f"http://127.0.0.1:{port}")
    fs.mkdir(BUCKET)
    make_inputs(fs, f"{BUCKET}/in", args.inputs, args.side)

    rng = random.Random(args.seed)
    chaos = Chaos()
    with PeakMemory(os.getpid()) as memory:
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
        workers = [cluster.add_node(num_cpus=1, num_gpus=1) for _ in range(2)]
        cluster.wait_for_nodes()
        env = {**os.environ, "RAY_ADDRESS": cluster.address}
        driver: dict = {}
        clean = convert(f"s3://{BUCKET}/clean", weights, env, driver, limit=3600)
        if clean[0] != 0:
            raise SystemExit(f"the clean run failed ({clean[0]}): {clean[2]}")
        clean_seconds = clean[1]
        proxy.add(fault="slowdown", times=-1, share=args.fault_share / 2)
        proxy.add(fault="reset", times=-1, share=args.fault_share / 2)
        finished = threading.Event()
        runs: list[dict] = []

        def run_until_done() -> None:
            """The same command again after a killed driver or failed inputs, as a scheduler would."""
            while len(runs) < 6:
                status, seconds, last = convert(f"s3://{BUCKET}/out", weights, env, driver, SLOWEST * clean_seconds)
                runs.append({"status": status, "seconds": round(seconds, 1), "last_line": last[-300:]})
                if status == 0:
                    break
            finished.set()

        started = time.perf_counter()
        runner = threading.Thread(target=run_until_done)
        runner.start()
        schedule(cluster, workers, driver, chaos, finished, tuple(args.kill_every),
                 lambda: len(output_puts(proxy, f"s3://{BUCKET}/out")) / args.inputs, rng)
        runner.join()
        total = time.perf_counter() - started
        proxy.clear()
        result = outcome(fs, f"s3://{BUCKET}/out", args.inputs, proxy)
        cluster.shutdown()
    report = {
        "inputs": args.inputs, "side": args.side, "clean_seconds": round(clean_seconds, 1),
        "chaos_seconds": round(total, 1), "runs": runs, "kills": dict(chaos.kills),
        "nodes_replaced": chaos.nodes_replaced, "drivers_killed": chaos.drivers_killed,
        "s3_requests": proxy.requests, "s3_faults": dict(proxy.faults), "peak_mib_all_processes": round(memory.total / 2**20),
        "slowest_run_vs_clean": round(max(r["seconds"] for r in runs) / clean_seconds, 2),
        "schedule": chaos.log, **result,
    }
    proxy.close()
    moto.stop()
    if args.json:
        print(json.dumps(report))
        return
    print("\n".join(chaos.log))
    print("\n| figure | value |\n|---|---|")
    for key in ("inputs", "clean_seconds", "chaos_seconds", "slowest_run_vs_clean", "kills", "nodes_replaced",
                "drivers_killed", "s3_requests", "s3_faults", "outputs", "inputs_converted", "adopted_from_killed_runs",
                "converted_more_than_once",
                "rows", "redone_writes", "peak_mib_all_processes"):
        print(f"| {key} | {report[key]} |")
    print("\n| run | exit status | seconds | last line |\n|---|---|---|---|")
    for i, run in enumerate(runs, 1):
        print(f"| {i} | {run['status']} | {run['seconds']} | {run['last_line'][:160]} |")


if __name__ == "__main__":
    main()
