"""`stylebatch comic`: one panel per shot on pages with a PDF, from a video with known cuts."""
from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from videos import make_shots_video

from pipeline.comic.pages import layout_pages
from pipeline.comic.run import ComicConfig, make_comic
from pipeline.comic.shots import Panel, _caption, keyframes, shot_starts
from pipeline.settings import ModelSettings

COLOURS = [(230, 30, 30), (30, 200, 40), (40, 60, 230), (240, 240, 60)]


def test_shot_starts_respect_threshold_and_gap() -> None:
    assert shot_starts([0.0, 0.9, 0.0, 0.8, 0.9, 0.0], threshold=0.5, min_gap=2) == [0, 2, 4]


def test_caption_gathers_the_subtitles_of_the_panel_span() -> None:
    events = [(0.0, 1.0, "hello"), (0.8, 1.9, "you"), (2.0, 3.0, "bye")]
    assert _caption(events, 0.0, 1.5) == "hello you"
    assert _caption(events, 1.5, 2.0) == ""
    assert _caption(events, 2.0, 4.0) == "bye"


def test_keyframes_one_per_shot(tmp_path: Path) -> None:
    video = make_shots_video(tmp_path / "cuts.mp4", COLOURS)
    panels = keyframes(str(video), {})
    assert [p.shot for p in panels] == [0, 1, 2, 3]
    assert [p.seconds for p in panels] == pytest.approx([0.5, 1.5, 2.5, 3.5])  # the middle of each 1 s shot


def test_captions_come_from_the_subtitle_stream(tmp_path: Path) -> None:
    events = [(0.3, 0.8, "It begins."), (2.2, 2.9, "Blue now.")]
    video = make_shots_video(tmp_path / "cuts.mkv", COLOURS[:3], subtitles=events)
    assert [p.caption for p in keyframes(str(video), {})] == ["It begins.", "", "Blue now."]


def test_layout_keeps_aspect_and_numbers_pages() -> None:
    import numpy as np

    panels = [(Panel(i, float(i), np.zeros((9, 16, 3), np.uint8)), Image.new("RGB", (160, 90), "red")) for i in range(7)]
    pages = layout_pages(panels, columns=2, rows=3)
    assert len(pages) == 2 and pages[0].size == pages[1].size


@pytest.mark.slow
def test_comic_pages_and_pdf_from_a_video(ray_cluster, tmp_path: Path) -> None:
    video = make_shots_video(tmp_path / "cuts.mp4", COLOURS[:3])
    result, pages, pdf = make_comic(ComicConfig(input=str(video), output=str(tmp_path / "comic"), model=ModelSettings("onnx",
                                                {"preset": "multistyle26", "style": "5"})))
    assert result.totals.converted == 3 and len(pages) == 1
    assert Path(pdf).read_bytes().startswith(b"%PDF") and Image.open(pages[0]).size == (1654, 2339)
    assert len(list((tmp_path / "comic" / "panels").glob("panel-*.png"))) == 3
    report = Path(result.report)
    assert report.parent == tmp_path / "comic" / "_report"
    page = report.read_text()
    assert 'href="../page-001.png"' in page and 'href="../comic.pdf"' in page and "comic run" in page
    assert page.count('alt="after"') == 3
