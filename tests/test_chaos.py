"""A short chaos soak (benchmarks/chaos.py): worker kills, a replaced node, a killed driver and S3
faults at once; afterwards every input converted exactly once and no run hung."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INPUTS = 300


@pytest.mark.slow
def test_a_short_chaos_run_converts_every_input_exactly_once(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "AWS_ENDPOINT_URL")}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "chaos.py"), "--inputs", str(INPUTS),
                           "--kill-every", "8", "15", "--work", str(tmp_path), "--json"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(next(line for line in reversed(done.stdout.splitlines()) if line.startswith("{")))
    assert report["drivers_killed"] == 1 and report["nodes_replaced"] == 1 and sum(report["kills"].values()) >= 1
    assert sum(report["s3_faults"].values()) > 0
    statuses = [run["status"] for run in report["runs"]]
    assert statuses[-1] == 0 and set(statuses[:-1]) <= {-9, 1}, report["runs"]  # -1 would be a run that hung
    assert statuses.count(-9) == 1
    # converted once each: in a manifest, or written by the killed driver's run after its last
    # manifest part and adopted (skipped) by the next run by its stamp
    assert report["outputs"] == report["inputs_converted"] + report["adopted_from_killed_runs"] == INPUTS
    assert report["converted_more_than_once"] == 0
    assert set(report["rows"]) <= {"converted", "skipped", "failed"}
    assert report["rows"]["converted"] == report["inputs_converted"]
    assert report["slowest_run_vs_clean"] <= 3.0
