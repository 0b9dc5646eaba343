"""OUTPUT's layout is one object: every place a run writes, for each kind of run, and the statuses."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from pipeline.runs.layout import RunLayout
from pipeline.runs.status import Outcomes, Status, Totals


def test_a_folder_output_keeps_its_records_in_it() -> None:
    layout = RunLayout.for_folder("s3://b/anime", {})
    assert (layout.results, layout.manifest_dir, layout.report_dir, layout.lease) == (
        "s3://b/anime", "s3://b/anime/_manifest", "s3://b/anime/_report", "s3://b/anime/_manifest/lease.json")
    assert layout.parts_dir("r1") == "s3://b/anime/_manifest/_parts/r1"
    assert layout.listing_dir("r1") == "s3://b/anime/_manifest/_parts/r1/listed"
    assert (layout.manifest("r1"), layout.summary("r1")) == ("s3://b/anime/_manifest/r1.parquet",
                                                             "s3://b/anime/_manifest/r1.json")
    assert layout.state("h") == "s3://b/anime/_manifest/state/h.parquet"
    assert not layout.one_file


def test_an_archive_run_works_and_keeps_records_beside_its_one_file() -> None:
    layout = RunLayout.for_archive("/x/styled.zip", {})
    assert (layout.output, layout.results, layout.manifest_dir, layout.report_dir) == (
        "/x/styled.zip", "/x/styled.zip.work", "/x/styled.zip.work/_manifest", "/x/styled.zip.work/_report")
    assert layout.one_file
    assert layout.is_record("_manifest/r1.json") and layout.is_record("_report/index.html")
    assert not layout.is_record("clip/frames/0001.png")


def test_a_video_keeps_manifests_and_segments_in_a_work_area_per_configuration() -> None:
    layout = RunLayout.for_video("s3://b/movie-anime.mp4", {}).work_area("abc123")
    assert layout.lease == "s3://b/movie-anime.mp4.work/_manifest/lease.json"  # one lease for every configuration
    assert layout.report_dir == "s3://b/movie-anime.mp4.work/_report"
    assert layout.manifest_dir == "s3://b/movie-anime.mp4.work/abc123/_manifest"
    assert layout.segment(7) == "s3://b/movie-anime.mp4.work/abc123/seg-000007.mp4"


def test_a_comic_has_its_pages_and_its_panels_run_in_its_output() -> None:
    layout = RunLayout.for_folder("/x/comic", {})
    assert (layout.keyframes, layout.panels, layout.page(2), layout.pdf) == (
        "/x/comic/keyframes", "/x/comic/panels", "/x/comic/page-002.png", "/x/comic/comic.pdf")
    assert RunLayout.for_folder(layout.panels, {}).report_dir == "/x/comic/panels/_report"


def test_report_and_status_find_the_records_that_earlier_runs_left(tmp_path: Path) -> None:
    (tmp_path / "movie.mp4").write_bytes(b"video")
    (tmp_path / "photos").mkdir()
    assert RunLayout.of_existing(str(tmp_path / "movie.mp4"), {}).report_dir == f"{tmp_path}/movie.mp4.work/_report"
    assert RunLayout.of_existing(str(tmp_path / "photos"), {}).report_dir == f"{tmp_path}/photos/_report"
    card_records = RunLayout.of_records(f"{tmp_path}/movie.mp4.work/abc/_manifest", {})
    assert card_records.manifest("r1") == f"{tmp_path}/movie.mp4.work/abc/_manifest/r1.parquet"


def test_statuses_are_the_manifests_words_and_totals_count_them() -> None:
    assert [s.value for s in Status] == ["pending", "converted", "skipped", "failed"]
    assert f"{Status.FAILED}" == "failed" and Status.FAILED == "failed"
    totals = Totals(run_id="r", operator="onnx", config_hash="h")
    totals.count(pa.table({"status": ["converted", "failed", "converted", "skipped"]}))
    assert (totals.inputs, totals.converted, totals.skipped, totals.failed) == (4, 2, 1, 1)
    with pytest.raises(ValueError):
        totals.count(pa.table({"status": ["pending"]}))  # a pending row never reaches the manifest
    outcomes = Outcomes({"status": np.array(["pending", "skipped"], object), "error": np.array(["", ""], object)})
    outcomes.fail(0, "bad")
    assert [outcomes.pending(i) for i in range(2)] == [False, False]
    assert list(outcomes.columns()["status"]) == ["failed", "skipped"]
