"""The run report (HTML, rendered by real headless Chromium), `stylebatch report` and `stylebatch status`."""
from __future__ import annotations

import functools
import http.server
import json
import re
import threading
from pathlib import Path

import pytest
from images import encoded, photo
from pages import needs_chromium, screenshot
from PIL import Image
from test_run_aborted import model_no_runtime_loads

from jobs import cli
from pipeline.runs.lease import Lease
from pipeline.runs.layout import RunLayout
from pipeline.runs.lifecycle import RunAborted

ONNX = ["--operator", "onnx", "--set", "preset=multistyle26", "--set", "style=7"]


class LoggingHandler(http.server.SimpleHTTPRequestHandler):
    """A static file server that remembers each path it served and the status it answered."""

    served: list[tuple[str, int]] = []

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.served.append((self.path, int(code)))


@pytest.fixture(scope="module")
def converted(ray_cluster, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A run over six pictures and two broken files: OUTPUT and the run id (the tests below read it in
    order: the report, its rendering, its rebuilding, the status)."""
    tmp_path = tmp_path_factory.mktemp("report")
    source = tmp_path / "photos"
    source.mkdir()
    for k in range(6):
        (source / f"photo-{k}.png").write_bytes(encoded(photo(96, 64, seed=k)))
    (source / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (source / "empty.png").write_bytes(b"")
    output = tmp_path / "out"
    assert cli.main(["convert", str(source), str(output), *ONNX]) == 1
    (run_id,) = [p.stem for p in (output / "_report").glob("*.json")]
    return output, run_id


def test_a_run_leaves_its_report_with_totals_failures_and_pictures(converted: tuple[Path, str]) -> None:
    output, run_id = converted
    card = json.loads((output / "_report" / f"{run_id}.json").read_text())
    assert card["state"] == "completed" and card["kind"] == "convert" and card["operator"] == "onnx"
    assert card["options"]["style"] == "7" and len(card["files"]["weights"][0]) == 64  # SHA-256 of the model
    assert {"stylebatch", "ray", "python"} <= set(card["versions"])
    assert len(card["pictures"]) == 6
    for picture in card["pictures"]:
        for side in ("before", "after"):
            thumb = Image.open(output / "_report" / picture[side])
            assert thumb.format == "JPEG" and max(thumb.size) <= 256
    page = (output / "_report" / f"{run_id}.html").read_text()
    assert "<svg" in page and "images/s" in page and "https://" not in page  # inline chart, nothing fetched
    failures = page.split("<h2>Failures (2)</h2>")[1].split("<h2>")[0]
    assert "broken.jpg" in failures and "empty.png" in failures
    index = (output / "_report" / "index.html").read_text()
    assert f'href="{run_id}.html"' in index


@pytest.mark.slow
@needs_chromium
def test_the_report_renders_in_chromium_from_a_file_and_a_web_server(converted: tuple[Path, str], tmp_path: Path) -> None:
    output, run_id = converted
    from_file = screenshot((output / "_report" / f"{run_id}.html").as_uri(), tmp_path / "file.png")
    assert from_file.std() > 20, "the page rendered blank"
    LoggingHandler.served = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(LoggingHandler, directory=str(output)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/_report/{run_id}.html"
        from_server = screenshot(url, tmp_path / "served.png")
    finally:
        server.shutdown()
    assert from_server.std() > 20
    thumbnails = {path for path, code in LoggingHandler.served if code == 200 and path.endswith(".jpg")}
    assert len(thumbnails) == 12, LoggingHandler.served  # every before and after picture was loaded


def test_report_command_rebuilds_pages_from_the_manifests(converted: tuple[Path, str], capsys) -> None:
    output, run_id = converted
    (output / "_report" / f"{run_id}.html").unlink()
    (output / "_report" / "index.html").unlink()
    assert cli.main(["report", str(output)]) == 0
    assert "1 run pages" in capsys.readouterr().out
    assert "broken.jpg" in (output / "_report" / f"{run_id}.html").read_text()
    # a run that left a manifest but no card (an older release) gets a page from its manifest alone
    (output / "_report" / f"{run_id}.json").unlink()
    assert cli.main(["report", str(output)]) == 0
    assert "broken.jpg" in (output / "_report" / f"{run_id}.html").read_text()


def test_status_shows_the_last_run_its_failures_and_who_holds_output(converted: tuple[Path, str], capsys) -> None:
    output, run_id = converted
    assert cli.main(["status", str(output)]) == 1  # the last run failed inputs
    text = capsys.readouterr().out
    assert f"last run {run_id} (convert, onnx, completed)" in text
    assert "6 converted, 0 skipped, 2 failed of 8" in text and "images/s" in text
    assert re.search(r"^\s+1\s+.*\(e\.g\. .*broken\.jpg\)$", text, re.MULTILINE) and "no run holds it now" in text
    with Lease(RunLayout.for_folder(str(output), {}), "20990101T000000Z-abcdef"):
        cli.main(["status", str(output)])
    assert "held now by run 20990101T000000Z-abcdef" in capsys.readouterr().out


def test_a_run_that_aborts_leaves_a_report_saying_why(ray_cluster, tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "a.png").write_bytes(encoded(photo(16, 16)))
    model_no_runtime_loads(tmp_path / "custom.onnx")
    with pytest.raises(RunAborted):
        cli.main(["convert", str(source), str(tmp_path / "out"), "--operator", "onnx", "--weights", str(tmp_path / "custom.onnx")])
    (card,) = (tmp_path / "out" / "_report").glob("*.json")
    assert json.loads(card.read_text())["state"] == "aborted"
    page = card.with_suffix(".html").read_text()
    assert "aborted" in page and "is not a loadable ONNX model" in page
