"""Killed writes: a local file appears whole or not at all; a cut-short manifest file from an older
run is skipped with a warning, never fatal."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from images import encoded, photo

from pipeline.run import ConvertConfig, convert, prepare
from pipeline.settings import ModelSettings
from pipeline.storage import write_bytes

ROOT = Path(__file__).parent.parent


def test_a_killed_local_write_leaves_no_truncated_file(tmp_path: Path) -> None:
    target = tmp_path / "out" / "big.png"
    code = ("import sys; from pipeline.storage import write_bytes; "
            "write_bytes(sys.argv[1], b'x' * (1 << 30), {}); print('done')")
    child = subprocess.Popen([sys.executable, "-c", code, str(target)], cwd=ROOT)
    deadline = time.monotonic() + 60
    while not any(p.name.endswith(".partial") for p in target.parent.glob(".*")) and time.monotonic() < deadline:
        time.sleep(0.01)  # the write has begun
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert not target.exists()
    write_bytes(str(target), b"whole", {})
    assert target.read_bytes() == b"whole"
    assert [p.name for p in target.parent.iterdir() if not p.name.startswith(".")] == ["big.png"]


def test_cut_short_manifest_files_and_state_are_never_fatal(ray_cluster, tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "a.png").write_bytes(encoded(photo(24, 16)))
    manifests = tmp_path / "out" / "_manifest"
    (manifests / "_parts" / "killed").mkdir(parents=True)
    (manifests / "state").mkdir()
    (manifests / "_parts" / "killed" / "part-000000.parquet").write_bytes(b"PAR1\x00\x01")
    cfg = ConvertConfig(input=str(source), output=str(tmp_path / "out"), model=ModelSettings("onnx", {"preset": "multistyle26"}))
    (manifests / "state" / f"{prepare(cfg).config_hash}.parquet").write_bytes(b"")
    result = convert(cfg)
    assert result.totals.converted == 1 and result.exit_code == 0
    killed = json.loads((manifests / "killed.json").read_text())
    assert killed["aborted"] and killed["inputs"] == 0  # its unreadable part was skipped, then removed
    assert not (manifests / "_parts").exists()
    assert convert(cfg).totals.skipped == 1  # the state was rebuilt by the run
