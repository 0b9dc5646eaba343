"""OUTPUTs written by the release before the run's life had one owner still resume.

`fixtures/v1-outputs.tar.gz` holds what that release (commit d8ce55e) left on S3 under
`s3://stylebatch-test/compat/`, made with the bundled `multistyle26` model:
- `out/`: a finished `convert` of a.png, b.png and c.png (manifest, resume state, report), then a
  killed run's records: d.png converted and in a manifest part, e.png written (stamped) after the
  part, neither in a joined manifest;
- `styled.mp4.work/<config hash>/`: a finished `video` run of `clip.mp4` (48 frames, 4 segments of
  12) kept with `--keep-segments`, then the joined video and the third segment lost.
"""
from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
from conftest import BUCKET
from images import encoded, photo
from videos import describe

from pipeline.run import ConvertConfig, convert
from pipeline.settings import ModelSettings
from pipeline.video.run import VideoConfig, convert_video

FIXTURE = Path(__file__).parent / "fixtures" / "v1-outputs.tar.gz"
MODEL = ModelSettings("onnx", {"preset": "multistyle26"})
ROOT = f"s3://{BUCKET}/compat"


@pytest.fixture(scope="module")
def earlier_outputs(s3, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The fixture's objects, at the keys the earlier release wrote them (their ETags, which input
    versions name, are their contents' MD5, as then)."""
    folder = tmp_path_factory.mktemp("earlier")
    with tarfile.open(FIXTURE) as tar:
        tar.extractall(folder, filter="data")
    for path in sorted((folder / "compat").rglob("*")):
        if path.is_file():
            s3.put_file(str(path), f"{BUCKET}/compat/{path.relative_to(folder / 'compat')}")
    s3.pipe_file(f"{BUCKET}/compat/in/f.png", encoded(photo(40, 16)))  # new since then
    s3.invalidate_cache()


def test_an_earlier_image_run_and_its_killed_run_resume_converting_only_the_new_input(
        ray_cluster, earlier_outputs, s3) -> None:
    result = convert(ConvertConfig(f"{ROOT}/in", f"{ROOT}/out", MODEL))
    assert (result.totals.converted, result.totals.skipped, result.totals.failed) == (1, 5, 0)
    s3.invalidate_cache()
    assert not s3.exists(f"{BUCKET}/compat/out/_manifest/_parts")  # the killed run was folded in
    assert s3.exists(f"{BUCKET}/compat/out/_manifest/20261201T000000Z-killed.parquet")


def test_an_earlier_video_work_area_is_not_joined_with_colour_managed_segments(ray_cluster, earlier_outputs, s3,
                                                                               tmp_path: Path) -> None:
    """Its segments were encoded BT.601 and untagged whatever the input said: joined with this
    release's (the input's matrix, tagged), colours would jump at a cut. They are left, not reused."""
    earlier = sorted(s3.glob(f"{BUCKET}/compat/styled.mp4.work/*/seg-*.mp4"))
    cfg = VideoConfig(f"{ROOT}/clip.mp4", f"{ROOT}/styled.mp4", MODEL, segment_seconds=0.5, keep_segments=True)
    result = convert_video(cfg)
    assert (result.totals.converted, result.totals.skipped, result.totals.failed) == (4, 0, 0)
    s3.invalidate_cache()
    assert set(earlier) <= set(s3.glob(f"{BUCKET}/compat/styled.mp4.work/*/seg-*.mp4"))  # left as they were
    s3.invalidate_cache()
    s3.get(f"{BUCKET}/compat/styled.mp4", str(tmp_path / "styled.mp4"))
    assert describe(tmp_path / "styled.mp4")["frames"] == 48
    again = convert_video(cfg)  # now from this release's own records
    assert (again.totals.converted, again.totals.skipped) == (0, 4)
