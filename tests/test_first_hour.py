"""A new user's first hour: checks before work, finished work not redone, outputs never fed back
in, quiet runs that stop cleanly, honest endings, multi-frame images said to be so."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import skimage
from images import encoded, photo
from videos import make_shots_video, make_video

from operators.errors import ConfigError
from pipeline.codecs import DecodeError, decode_image
from pipeline.comic.run import ComicConfig, make_comic
from pipeline.report.status import latest_counts
from pipeline.run import ConvertConfig, convert
from pipeline.runs.lifecycle import RunResult
from pipeline.runs.status import Totals
from pipeline.settings import ModelSettings
from pipeline.sources import Source
from pipeline.stages import ListStep, list_inputs
from pipeline.video.container import check_output_container
from pipeline.video.run import VideoConfig, convert_video
from pipeline.video.segments import probe

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = Path(skimage.__file__).parent / "data"
BUNDLED = {"preset": "multistyle26"}


def cli(*args: str, **popen: object) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT)])}
    env.pop("RAY_ADDRESS", None)
    return subprocess.Popen([sys.executable, "-m", "jobs.cli", *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)


def photos(folder: Path, count: int, size: int = 24) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(count):
        (folder / f"p{k:03d}.png").write_bytes(encoded(photo(size, size, seed=k)))
    return folder


# -- checks before work -------------------------------------------------------------------------

def test_the_output_container_must_hold_the_video_codec_and_says_which_streams_it_drops() -> None:
    with pytest.raises(ConfigError, match="gif container cannot hold h264"):
        check_output_container("/out/clip.gif", "auto", ())
    with pytest.raises(ConfigError, match="no extension"):
        check_output_container("/out/clip", "auto", ())
    with pytest.raises(ConfigError, match="webm container cannot hold hevc"):
        check_output_container("/out/clip.webm", "libx265", ())
    carried = [("audio", "aac"), ("subtitle", "ass")]
    assert check_output_container("/out/clip.mp4", "auto", carried) == ["subtitle ass"]
    assert check_output_container("/out/clip.mkv", "auto", carried) == []


def test_a_photo_is_no_video(tmp_path: Path) -> None:
    still = tmp_path / "photo.png"
    still.write_bytes(encoded(photo(32, 24)))
    with pytest.raises(ValueError, match="still image"):
        probe(str(still), {})


def test_video_into_a_gif_exits_before_any_frame(tmp_path: Path) -> None:
    source = make_video(tmp_path / "clip.mp4", frames=12)
    started = time.perf_counter()
    with pytest.raises(ConfigError, match="gif container cannot hold h264"):
        convert_video(VideoConfig(input=str(source), output=str(tmp_path / "clip.gif"), model=ModelSettings("onnx", BUNDLED)))
    assert time.perf_counter() - started < 10 and not (tmp_path / "clip.gif.work").exists()


def test_an_output_that_cannot_be_written_is_a_configuration_error(ray_cluster, tmp_path: Path) -> None:
    source = photos(tmp_path / "in", 1)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match="cannot write to OUTPUT"):
        convert(ConvertConfig(input=str(source), output=str(blocker / "out"), model=ModelSettings("onnx", BUNDLED)))


# -- outputs never fed back in ------------------------------------------------------------------

def test_the_listing_leaves_out_what_runs_wrote(tmp_path: Path) -> None:
    source = photos(tmp_path / "photos", 2)
    earlier = photos(source / "styled", 2)  # an earlier run's OUTPUT inside INPUT
    (earlier / "_manifest").mkdir()
    report = source / "_report" / "run-1"
    report.mkdir(parents=True)
    (report / "000-after.jpg").write_bytes(encoded(photo(8, 8), "JPEG"))
    (source / "frames.zip").write_bytes(b"")  # a packed --archive output, with its work area beside it
    photos(source / "frames.zip.work", 1)
    photos(source / "holiday", 1)  # an ordinary subfolder still counts
    rows = [row for batch in list_inputs({}, step=ListStep(Source(str(source), {}), str(source / "new-output")))
            for row in batch["input"]]
    assert sorted(Path(row).relative_to(source).as_posix() for row in rows) == [
        "holiday/p000.png", "p000.png", "p001.png"]


# -- honest endings ----------------------------------------------------------------------------

def test_the_closing_lines_name_the_first_failed_inputs_and_point_to_the_rest() -> None:
    totals = Totals(run_id="r", operator="onnx", config_hash="h", inputs=9, converted=2, failed=7)
    failures = tuple((f"/in/bad{k}.png", "not a recognised image format") for k in range(5))
    lines = RunResult(totals, "/out", "/out/_manifest/r.parquet", "/out/_manifest/r.json", report="/out/_report/r.html",
                      note="onnx on cpu CPUExecutionProvider", failures=failures).line("/tmp/ray/session/logs").splitlines()
    assert lines[:5] == [f"failed: /in/bad{k}.png: not a recognised image format" for k in range(5)]
    assert lines[5] == "2 more failed inputs: `stylebatch status /out` or the report /out/_report/r.html"
    assert lines[6] == "onnx on cpu CPUExecutionProvider"  # the notes after the failures, before the summary
    assert lines[-1].startswith("2 converted, 0 skipped, 7 failed of 9 inputs") and lines[-1].endswith(
        "logs: /tmp/ray/session/logs")


def test_all_runs_count_each_input_once_in_its_latest_state() -> None:
    first = pa.table({"input": ["a", "b", "c", "d"], "status": ["failed", "failed", "failed", "converted"]})
    rerun = pa.table({"input": ["a", "b", "c", "d"], "status": ["failed", "failed", "converted", "skipped"]})
    counts = latest_counts([first, rerun])
    assert (counts.inputs, counts.converted, counts.skipped, counts.failed) == (4, 2, 0, 2)


# -- multi-frame images --------------------------------------------------------------------------

@pytest.mark.parametrize("name, reason", [
    ("no_time_for_that_tiny.gif", "an animated GIF (24 frames)"),
    ("multipage.tif", "a multi-page TIFF (2 pages)"),
    ("multipage_rgb.tif", "3 samples of 64-bit floating point, planar"),
])
def test_images_that_are_not_one_still_picture_fail_with_their_real_cause(name: str, reason: str) -> None:
    with pytest.raises(DecodeError, match=re.escape(reason)):
        decode_image((SAMPLES / name).read_bytes())


# -- finished work is not redone ----------------------------------------------------------------

def test_a_finished_video_is_skipped_on_rerun_and_redone_with_no_resume(ray_cluster, tmp_path: Path) -> None:
    source = make_video(tmp_path / "clip.mp4", frames=24)
    output = tmp_path / "clip-styled.mp4"
    config = VideoConfig(input=str(source), output=str(output), model=ModelSettings("onnx", BUNDLED), segment_seconds=0.5,
                         preset="ultrafast")
    assert convert_video(config).totals.converted == 2
    written = output.stat().st_mtime_ns
    again = convert_video(config)
    assert (again.totals.converted, again.totals.skipped) == (0, 2) and "skipped: already converted" in again.note
    assert output.stat().st_mtime_ns == written
    config.resume = False
    assert convert_video(config).totals.converted == 2 and output.stat().st_mtime_ns != written


def test_a_finished_comic_reuses_its_keyframes(ray_cluster, tmp_path: Path) -> None:
    video = make_shots_video(tmp_path / "cuts.mp4", [(230, 30, 30), (30, 200, 40)])
    config = ComicConfig(input=str(video), output=str(tmp_path / "comic"), model=ModelSettings("onnx", BUNDLED))
    assert make_comic(config)[0].totals.converted == 2
    keyframe = tmp_path / "comic" / "keyframes" / "panel-0000.png"
    written = keyframe.stat().st_mtime_ns
    again, pages, _ = make_comic(config)
    assert (again.totals.converted, again.totals.skipped) == (0, 2) and "skipped: already converted" in again.note
    assert keyframe.stat().st_mtime_ns == written and len(pages) == 1


# -- quiet runs, clean stops, status -----------------------------------------------------------

@pytest.mark.slow
def test_a_run_prints_its_own_lines_only_and_names_the_log_folder(tmp_path: Path) -> None:
    source = photos(tmp_path / "in", 2)
    (source / "torn.png").write_bytes(b"not an image")
    run = cli("convert", str(source), str(tmp_path / "out"), "--operator", "onnx", "--set", "preset=multistyle26")
    out, err = run.communicate(timeout=300)
    assert run.returncode == 1
    assert err == ""  # no token notice, deprecation warning, core worker line or progress log
    lines = out.strip().splitlines()
    assert lines[0].startswith(f"failed: {source / 'torn.png'}: not a recognised image format")
    logs = Path(re.search(r"logs: (\S+)$", lines[-1]).group(1))
    assert logs.is_dir() and list(logs.glob("stylebatch-driver-*.log"))
    verbose = cli("convert", str(source), str(tmp_path / "out2"), "--operator", "onnx", "--set", "preset=multistyle26",
                  "--verbose")
    _, err = verbose.communicate(timeout=300)
    assert "INFO" in err or "WARNING" in err  # Ray's own lines, shown when asked for


@pytest.mark.slow
@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_run_ends_in_seconds_with_one_line_and_continues(tmp_path: Path, signum: int, code: int) -> None:
    source = photos(tmp_path / "in", 40)
    output = tmp_path / "out"
    args = ["convert", str(source), str(output), "--operator", "slow_operator:SPEC", "--set", "seconds=0.4",
            "--batch-size", "1"]
    run = cli(*args)
    deadline = time.monotonic() + 240
    while len(list(output.glob("p*.png"))) < 3 and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.2)
    run.send_signal(signum)
    stopped = time.monotonic()
    out, err = run.communicate(timeout=60)
    assert run.returncode == code and time.monotonic() - stopped < 20
    assert err.strip().splitlines() == [err.strip()] and "interrupted; the same command continues" in err
    again = cli(*args)  # the same command
    out, _ = again.communicate(timeout=300)
    assert again.returncode == 0
    skipped = int(re.search(r"(\d+) skipped", out).group(1))
    assert skipped >= 1 and "of 40 inputs" in out


@pytest.mark.slow
def test_status_of_a_place_without_runs_exits_2(tmp_path: Path) -> None:
    run = cli("status", str(tmp_path / "does-not-exist"))
    _, err = run.communicate(timeout=120)
    assert run.returncode == 2 and "no stylebatch runs here" in err and len(err.strip().splitlines()) == 1


# -- styles to choose from -------------------------------------------------------------------------

def test_the_styles_gallery_shows_every_style_with_its_number(tmp_path: Path) -> None:
    from jobs import styles

    assert styles.main(["--output", str(tmp_path), "--side", "64"]) == 0
    page = (tmp_path / "styles.html").read_text()
    assert all(f"--set style={k}</code>" in page for k in range(26)) and "style 0 (default)" in page
    pictures = [np.asarray(decode_image((tmp_path / f"style-{k:02d}.jpg").read_bytes())) for k in range(26)]
    assert len({picture.tobytes() for picture in pictures}) == 26  # 26 different styles, not one 26 times
    assert (tmp_path / "styles.png").stat().st_size > 10_000


def test_the_bundled_model_has_one_default_style_everywhere() -> None:
    from jobs import demo
    from operators.onnx_model import MULTISTYLE26_DEFAULT
    from operators.registry import get_operator

    assert get_operator("onnx").resolve({"preset": "multistyle26"})["style"] == MULTISTYLE26_DEFAULT
    assert demo.build_parser().parse_args([]).style == MULTISTYLE26_DEFAULT


def test_the_demo_makes_a_comic_of_its_sample_clip_one_panel_a_shot(ray_cluster, tmp_path: Path, capsys) -> None:
    from jobs import demo

    assert demo.main(["--output", str(tmp_path), "--comic"]) == 0
    assert f"{len(demo.SAMPLES)} converted" in capsys.readouterr().out  # a shot per sample photo, all found
    assert (tmp_path / "comic" / "comic.pdf").read_bytes().startswith(b"%PDF")
