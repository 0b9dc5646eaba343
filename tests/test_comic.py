"""`stylebatch comic`: one panel per shot on pages with a PDF, from a video with known cuts."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skimage
from PIL import Image
from videos import make_shots_video

from pipeline.comic.pages import layout_pages, plan_pages, white_share
from pipeline.comic.run import ComicConfig, make_comic
from pipeline.comic.shots import DEFAULT_THRESHOLD, Panel, _caption, frame_signature, keyframes, shot_starts
from pipeline.settings import ModelSettings

COLOURS = [(230, 30, 30), (30, 200, 40), (40, 60, 230), (240, 240, 60)]


def scene(name: str = "astronaut.png") -> np.ndarray:
    """One of scikit-image's photographs at 128x96."""
    return np.asarray(Image.open(Path(skimage.__file__).parent / "data" / name).convert("RGB").resize((128, 96)))


def signatures_of(frames: list[np.ndarray]) -> np.ndarray:
    return np.stack([frame_signature(np.asarray(Image.fromarray(f).resize((64, 64)))) for f in frames])


def test_a_cut_between_shots_of_the_same_colours_is_found_and_a_flash_is_not_one() -> None:
    person = scene()
    reverse = person[:, ::-1].copy()  # the same colours in the same amounts, elsewhere in the frame
    flash = np.clip(person.astype(np.int16) + 150, 0, 255).astype(np.uint8)
    frames = [person] * 20 + [flash] * 2 + [person] * 20 + [reverse] * 30
    assert shot_starts(signatures_of(frames), 24.0, DEFAULT_THRESHOLD, 0.5) == [0, 42]


def test_a_fade_through_black_is_one_cut_in_its_middle() -> None:
    a, b = scene("coffee.png"), scene("rocket.jpg")
    fade = [(a * (1 - k / 12)).astype(np.uint8) for k in range(12)] + [(b * (k / 12)).astype(np.uint8) for k in range(12)]
    starts = shot_starts(signatures_of([a] * 30 + fade + [b] * 30), 24.0, DEFAULT_THRESHOLD, 0.5)
    assert len(starts) == 2 and abs(starts[1] - 42) <= 4


def test_a_slow_pan_is_no_cut() -> None:
    wide = np.asarray(Image.open(Path(skimage.__file__).parent / "data" / "motorcycle_left.png").convert("RGB"))
    wide = np.asarray(Image.fromarray(wide).resize((256, 96)))
    frames = [wide[:, k : k + 128] for k in range(0, 128, 3)]  # the camera travels a frame's width in 1.8 s
    assert shot_starts(signatures_of(frames), 24.0, DEFAULT_THRESHOLD, 0.5) == [0]


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


@pytest.mark.parametrize("aspects", [[16 / 9] * 30, [2.39] * 30, [4 / 3] * 30, [9 / 16] * 30,
                                     [16 / 9, 9 / 16, 2.39, 4 / 3, 16 / 9, 16 / 9] * 5])
def test_pages_leave_at_most_a_quarter_white_while_panels_remain(aspects: list[float]) -> None:
    pages = plan_pages(aspects)
    assert [i for rows in pages for row in rows for i in row.panels] == list(range(len(aspects)))
    assert all(white_share(rows, aspects) <= 0.25 for rows in pages[:-1])


def test_wide_panels_take_the_width_and_tall_ones_stand_side_by_side() -> None:
    rows = [row for rows in plan_pages([2.39, 2.39, 9 / 16, 9 / 16, 9 / 16, 9 / 16]) for row in rows]
    assert [len(row.panels) for row in rows if row.panels[0] < 2] == [1, 1]
    assert all(len(row.panels) >= 3 for row in rows if row.panels[0] >= 2)


def test_timestamps_are_readable_in_print() -> None:
    panels = [(Panel(i, 61.5 * i, np.zeros((9, 16, 3), np.uint8)), Image.new("RGB", (160, 90), "white")) for i in range(7)]
    page = np.asarray(layout_pages(panels)[0].convert("L"))
    inked = np.flatnonzero((page < 128).any(axis=1))
    lines = np.split(inked, np.flatnonzero(np.diff(inked) > 1) + 1)
    text_heights = [len(line) for line in lines if len(line) < 60]  # panel frames are taller
    assert max(text_heights) >= 18  # digits of 10 pt type at 200 dpi (about 2.5 mm)


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
