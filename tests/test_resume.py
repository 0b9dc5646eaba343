"""Resume keys on the input's identity and checks outputs; a killed driver's work is finished, once."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from images import encoded, photo

from pipeline.runs.manifest import ManifestWriter
from pipeline.runs.layout import RunLayout
from pipeline.runs.resume import load_done
from pipeline.run import ConvertConfig, convert
from pipeline.settings import ModelSettings

ROOT = Path(__file__).resolve().parents[1]


def statuses(result) -> dict[str, str]:
    rows = pq.read_table(result.manifest).to_pylist()
    assert len(rows) == len({r["input"] for r in rows}) == result.totals.inputs  # every input exactly once
    return {r["input"].rsplit("/", 1)[1]: r["status"] for r in rows}


@pytest.mark.slow
def test_changed_inputs_and_missing_outputs_are_redone_and_unrecorded_outputs_recognised(
        ray_cluster, tmp_path: Path, animegan_weights: Path) -> None:
    source, out = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    for i, name in enumerate("abcd"):
        (source / f"{name}.png").write_bytes(encoded(photo(24, 24, seed=i)))
    cfg = ConvertConfig(str(source), str(out), ModelSettings("animegan", {"weights": str(animegan_weights)}))
    assert set(statuses(convert(cfg)).values()) == {"converted"}

    (source / "b.png").write_bytes(encoded(photo(26, 24, seed=9)))  # replaced in place
    (out / "c.png").unlink()  # an output deleted by hand
    assert statuses(convert(cfg)) == {"a.png": "skipped", "b.png": "converted", "c.png": "converted", "d.png": "skipped"}
    assert (out / "c.png").exists()

    # records lost (a driver killed before its first manifest part): the outputs' stamps still say
    # which config made them from which input version
    for path in (out / "_manifest").rglob("*"):
        if path.is_file():
            path.unlink()
    assert set(statuses(convert(cfg)).values()) == {"skipped"}

    # a write that a killed run left half done is cleared away; a fresh one (a live writer's) is not
    stale, fresh = out / ".a.png.0bad.partial", out / ".b.png.0new.partial"
    stale.write_bytes(b"half an image")
    fresh.write_bytes(b"half an image")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    assert set(statuses(convert(cfg)).values()) == {"skipped"}
    assert fresh.exists() and not stale.exists()

    other = replace(cfg, model=ModelSettings("animegan", {**cfg.model.requested, "align_corners": "true"}))
    assert set(statuses(convert(other)).values()) == {"converted"}  # another config's outputs are not done
    assert set(statuses(convert(replace(other, resume=False))).values()) == {"converted"}


@pytest.mark.slow
def test_a_driver_killed_mid_run_is_finished_by_the_same_command(tmp_path: Path, animegan_weights: Path) -> None:
    source, out = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    count = 40
    for i in range(count):
        (source / f"img{i:02d}.png").write_bytes(encoded(photo(192, 192, seed=i)))
    command = [sys.executable, "-m", "jobs.convert", str(source), str(out), "--operator", "animegan",
               "--weights", str(animegan_weights)]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    driver = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while len(list(out.glob("*.png"))) < 5 and time.monotonic() < deadline and driver.poll() is None:
        time.sleep(0.2)
    os.killpg(driver.pid, signal.SIGKILL)  # the driver and the Ray it started, at once
    driver.wait()
    written = {p.name for p in out.glob("*.png")}
    assert 5 <= len(written) < count, "the kill should land mid-run"

    rerun = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    manifests = sorted((out / "_manifest").glob("*.json"))
    runs = [json.loads(p.read_text()) for p in manifests]
    killed, last = sorted(runs, key=lambda r: r["run_id"])
    assert killed["aborted"] and not last["aborted"]  # the killed run's parts became its manifest
    assert not (out / "_manifest" / "_parts").exists()
    rows = pq.read_table(out / "_manifest" / f"{last['run_id']}.parquet").to_pylist()
    assert len(rows) == len({r["input"] for r in rows}) == count
    by_name = {r["input"].rsplit("/", 1)[1]: r["status"] for r in rows}
    assert all(by_name[f"img{i:02d}.png"] in ("converted", "skipped") for i in range(count))
    assert {n for n, s in by_name.items() if s == "skipped"} == written  # converted once, never twice
    assert len(list(out.glob("*.png"))) == count


def test_a_run_without_resume_still_folds_a_killed_runs_records(ray_cluster, tmp_path: Path) -> None:
    source, out = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    (source / "a.png").write_bytes(encoded(photo(24, 16)))
    cfg = ConvertConfig(str(source), str(out), ModelSettings("onnx", {"preset": "multistyle26"}), resume=False)
    killed = ManifestWriter(RunLayout.for_folder(str(out), {}), "killed", flush_rows=1)
    killed.add(pa.table({
        "input": ["/elsewhere/b.png"], "input_version": ["7:1"], "output": [str(out / "b.png")], "status": ["converted"],
        "error": [""], "operator": ["onnx"], "config_hash": ["h"], "width": [1], "height": [1], "seconds": [0.1],
        "finished_at": pa.array([0], pa.timestamp("ms", tz="UTC")), "run_id": ["killed"],
    }))  # its driver dies here: a part and no manifest
    assert convert(cfg).totals.converted == 1
    assert json.loads((out / "_manifest" / "killed.json").read_text())["aborted"]
    assert not (out / "_manifest" / "_parts").exists()
    assert load_done(RunLayout.for_folder(str(out), {}), "h").to_pylist() == ["/elsewhere/b.png\n7:1"]
