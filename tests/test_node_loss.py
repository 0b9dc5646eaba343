"""Losing a worker node, or SIGKILL of the model actor, mid-run: the run completes and every input
appears exactly once."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

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


@pytest.mark.slow
def test_a_worker_node_lost_mid_run(tmp_path: Path, animegan_weights: Path) -> None:
    photos(tmp_path / "in", 40, 96)
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
    photos(tmp_path / "in", 30, 96)
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
