"""Losing a worker node, or SIGKILL of the model actor or of a decode or encode task worker, mid-run:
the run completes and every input appears exactly once."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pyarrow.parquet as pq
import pytest
from images import encoded, photo

from pipeline.run import ConvertConfig, convert
from pipeline.settings import ModelSettings

ROOT = Path(__file__).resolve().parents[1]


def photos(folder: Path, count: int, side: int) -> None:
    folder.mkdir()
    for i in range(count):
        (folder / f"img{i:02d}.png").write_bytes(encoded(photo(side, side, seed=i)))


def assert_each_input_once(manifest: str, count: int) -> None:
    rows = pq.read_table(manifest).to_pylist()
    assert sorted(r["input"].rsplit("/", 1)[1] for r in rows) == [f"img{i:02d}.png" for i in range(count)]
    assert {r["status"] for r in rows} == {"converted"}


def kill_when_busy(fragments: list[str], killed: list[str], seconds: float = 120) -> threading.Thread:
    """A thread that SIGKILLs the first worker seen running each task named by `fragments`."""
    def run() -> None:
        deadline = time.monotonic() + seconds
        waiting = list(fragments)
        while waiting and time.monotonic() < deadline:
            for fragment in list(waiting):
                for process in workers_named(fragment)[:1]:
                    os.kill(process.pid, signal.SIGKILL)
                    killed.append(fragment)
                    waiting.remove(fragment)
            time.sleep(0.01)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.slow
def test_a_worker_node_lost_mid_run(tmp_path: Path, animegan_weights: Path) -> None:
    photos(tmp_path / "in", 40, 192)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "node_loss_run.py"), str(tmp_path / "in"),
                           str(tmp_path / "out"), str(animegan_weights)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=420)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(next(line for line in reversed(done.stdout.splitlines()) if line.startswith("{")))  # Ray logs too
    assert 4 <= report["outputs_when_lost"] < 40, "the node should be lost mid-run"
    assert (report["converted"], report["failed"], report["inputs"]) == (40, 0, 40)
    assert_each_input_once(report["manifest"], 40)
    assert len(list((tmp_path / "out").glob("*.png"))) == 40


def workers_named(fragment: str) -> list[psutil.Process]:
    """This machine's Ray worker processes whose title holds `fragment` (Ray titles them ray::<task>)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any(fragment in part for part in (process.info["cmdline"] or [])):
            found.append(process)
    return found


@pytest.mark.slow
def test_sigkill_of_the_model_actor_mid_run(ray_cluster, tmp_path: Path, animegan_weights: Path) -> None:
    victim = "StylizeActor"
    photos(tmp_path / "in", 30, 192)
    killed: list[int] = []

    def kill_one() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            if len(list((tmp_path / "out").glob("*.png"))) >= 3:
                for process in workers_named(victim):
                    os.kill(process.pid, signal.SIGKILL)
                    killed.append(process.pid)
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one)
    killer.start()
    result = convert(ConvertConfig(str(tmp_path / "in"), str(tmp_path / "out"),
                                   ModelSettings("animegan", {"weights": str(animegan_weights)})))
    killer.join()
    assert killed, f"no {victim} worker was found to kill"
    assert (result.totals.converted, result.totals.inputs) == (30, 30)
    assert_each_input_once(result.manifest, 30)


@pytest.mark.slow
def test_sigkill_of_decode_and_encode_workers_mid_run(ray_cluster, tmp_path: Path) -> None:
    """Large noisy PNGs keep each decode and encode task busy long enough to be caught in the act."""
    count = 12
    (tmp_path / "in").mkdir()
    rng = np.random.default_rng(0)
    for i in range(count):
        (tmp_path / "in" / f"img{i:02d}.png").write_bytes(encoded(rng.integers(0, 255, (900, 1200, 3), np.uint8)))
    killed: list[str] = []
    killer = kill_when_busy(["MapBatches(read_and_decode)", "MapBatches(encode_and_write)"], killed)
    result = convert(ConvertConfig(str(tmp_path / "in"), str(tmp_path / "out"), ModelSettings("poison_operator:SPEC", {})))
    killer.join()
    assert sorted(killed) == ["MapBatches(encode_and_write)", "MapBatches(read_and_decode)"]
    assert (result.totals.converted, result.totals.inputs) == (count, count)
    assert_each_input_once(result.manifest, count)
