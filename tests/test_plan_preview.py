"""`stylebatch plan` (a dry run: counts, refusals, an estimate from a timed sample; nothing written)
and `stylebatch preview` (a few inputs in every variant on one page and a contact sheet)."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from images import encoded, photo, png_header_claiming
from pages import needs_chromium, screenshot
from PIL import Image

from jobs import cli
from operators.errors import ConfigError

ONNX = ["--operator", "onnx", "--set", "preset=multistyle26"]


def corpus(folder: Path) -> Path:
    """Five photos (one in a subfolder), a decompression bomb, text named .jpg, notes and a raw file."""
    (folder / "trip").mkdir(parents=True)
    for k in range(4):
        (folder / f"p{k}.png").write_bytes(encoded(photo(160, 120, seed=k)))
    (folder / "trip" / "p9.jpg").write_bytes(encoded(photo(120, 160, seed=9), "JPEG"))
    (folder / "bomb.png").write_bytes(png_header_claiming(50000, 50000))
    (folder / "text.jpg").write_text("not a picture")
    (folder / "notes.txt").write_text("a note")
    (folder / "shot.cr2").write_bytes(b"raw" * 10)
    return folder


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def test_plan_says_what_convert_would_do_and_writes_nothing(ray_cluster, tmp_path: Path, capsys) -> None:
    source, output = corpus(tmp_path / "in"), tmp_path / "out"
    # the first three inputs in listing order: bomb.png (fails), p0.png and p1.png
    assert cli.main(["convert", str(source), str(output), *ONNX, "--set", "style=1", "--limit", "3"]) == 1
    before = snapshot(output)
    capsys.readouterr()
    assert cli.main(["plan", str(source), str(output), *ONNX, "--set", "style=1", "--samples", "2"]) == 0
    text = capsys.readouterr().out
    assert snapshot(output) == before  # nothing written, not even the resume state of the earlier run
    assert "inputs: 7 (" in text and "to convert: 3 (" in text and "skipped, done by earlier runs: 2" in text
    assert "refused before any model work: 2" in text
    assert re.search(r"^\s+1\s+image header claims 2,500,000,000 pixels.*bomb\.png", text, re.M)
    assert re.search(r"^\s+1\s+not a recognised image format.*text\.jpg", text, re.M)
    assert "left out, not inputs: 2 files (.txt 1, .cr2 1)" in text or "left out, not inputs: 2 files (.cr2 1, .txt 1)" in text
    estimate = re.search(r"estimated run time on this cluster \(.*; (\d+) model actors\): (.+) \(from (.+) to (.+)\)", text)
    assert estimate, text
    assert re.search(r"timed sample of 2 inputs: [\d.]+-[\d.]+ s per megapixel", text)

    capsys.readouterr()
    cli.main(["plan", str(source), str(output), *ONNX, "--variant", "a:style=1", "--variant", "b:style=2", "--samples", "0"])
    text = capsys.readouterr().out
    assert "2 variants (a, b)" in text and "to convert: 10 outputs (a 5, b 5)" in text and "no estimate" in text
    with pytest.raises(ConfigError, match="no preset"):  # what convert refuses, plan refuses (exit status 2)
        cli.main(["plan", str(source), str(output), "--operator", "onnx", "--set", "preset=nonesuch"])


@pytest.mark.slow
@needs_chromium
def test_preview_shows_each_input_in_each_variant_and_writes_no_output(ray_cluster, tmp_path: Path, capsys) -> None:
    source, page = corpus(tmp_path / "in"), tmp_path / "choose" / "styles.html"
    before = snapshot(source)
    assert cli.main(["preview", str(source), str(page), *ONNX, "--variant", "soft:style=12", "--variant",
                     "bold:style=3", "--samples", "3"]) == 0
    assert "3 inputs x 2 variants" in capsys.readouterr().out
    assert snapshot(source) == before and sorted(p.name for p in page.parent.iterdir()) == ["styles.html", "styles.png"]
    markup = page.read_text()
    assert markup.count("<tr>") == 4 and markup.count('src="data:image/jpeg;base64,') == 9  # 3 inputs, each 1 + 2
    assert "style=12" in markup and "style=3" in markup and "bomb.png" not in markup  # refused inputs left out
    sheet = np.asarray(Image.open(page.with_suffix(".png")))
    assert sheet.shape[1] == 3 * 256 and sheet.std() > 20
    rendered = screenshot(page.as_uri(), tmp_path / "shot.png")
    assert (rendered < 200).any(axis=2).mean() > 0.03, "the pictures are not on the rendered page"
