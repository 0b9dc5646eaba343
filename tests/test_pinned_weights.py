"""Pinned files: `URL#sha256=<hex>` on any weights, model or style URL; a mismatch stops the run
before any work (status 2); plain http is refused unless pinned."""
from __future__ import annotations

import functools
import hashlib
import http.server
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from images import encoded, photo

from operators.errors import ConfigError
from operators.files import read_bytes
from pipeline.run import ConvertConfig, convert, prepare
from pipeline.settings import ModelSettings

ROOT = Path(__file__).resolve().parents[1]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def http_folder(tmp_path_factory: pytest.TempPathFactory):
    """A plain-http server on 127.0.0.1 serving a folder; yields (folder, base URL)."""
    folder = tmp_path_factory.mktemp("served")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_pinned_run_converts(ray_cluster, tmp_path: Path, animegan_weights: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.png").write_bytes(encoded(photo(16, 16)))
    pinned = f"{animegan_weights}#sha256={sha256(animegan_weights)}"
    result = convert(ConvertConfig(str(tmp_path / "in"), str(tmp_path / "out"), ModelSettings("animegan", {"weights": pinned})))
    assert result.totals.converted == 1


@pytest.mark.slow
def test_a_pin_mismatch_stops_before_any_work(tmp_path: Path, animegan_weights: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.png").write_bytes(encoded(photo(16, 16)))
    done = subprocess.run([sys.executable, "-m", "jobs.convert", str(tmp_path / "in"), str(tmp_path / "out"),
                           "--operator", "animegan", "--weights", f"{animegan_weights}#sha256={'0' * 64}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert f"the pin says {'0' * 64}" in done.stderr and sha256(animegan_weights) in done.stderr
    assert not (tmp_path / "out").exists()


def test_a_malformed_pin_is_a_config_error(animegan_weights: Path) -> None:
    with pytest.raises(ConfigError, match="64 hex digit"):
        prepare(ConvertConfig(str(animegan_weights.parent), "/tmp/unused",
                              ModelSettings("animegan", {"weights": f"{animegan_weights}#sha256=abc"})))


def test_plain_http_needs_a_pin(http_folder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STYLEBATCH_CACHE", str(tmp_path / "cache"))
    folder, base = http_folder
    (folder / "style.png").write_bytes(encoded(photo(32, 32, seed=3)))
    digest = sha256(folder / "style.png")
    with pytest.raises(ConfigError, match="plain http can be altered"):
        read_bytes(f"{base}/style.png")
    assert read_bytes(f"{base}/style.png#sha256={digest}") == (folder / "style.png").read_bytes()
    (folder / "style.png").write_bytes(encoded(photo(40, 40, seed=4)))  # a new version on the server
    new = sha256(folder / "style.png")
    assert read_bytes(f"{base}/style.png#sha256={new}") == (folder / "style.png").read_bytes()  # the stale copy is replaced
    monkeypatch.setenv("STYLEBATCH_CACHE", str(tmp_path / "another-node"))
    with pytest.raises(ConfigError, match="the pin says"):
        read_bytes(f"{base}/style.png#sha256={digest}")
