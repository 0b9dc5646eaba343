"""`pipeline.api`: a style model as one step of a user's Ray Data pipeline, and the CLI's runs as
functions that raise where the CLI exits."""
from __future__ import annotations

import re
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq
import pytest
import ray
from images import encoded, photo
from videos import colour_clip, moving_pattern
from PIL import Image

from pipeline.api import ConfigError, InputsFailed, PoolSettings, convert, stylize, video
from pipeline.video.colour import VideoColour

ROOT = Path(__file__).resolve().parents[1]


def documented_example() -> str:
    """The S3-to-S3 example in docs/python-api.md, as a user would paste it."""
    page = (ROOT / "docs" / "python-api.md").read_text()
    return re.search(r"### Example: S3 to S3.*?```python\n(.*?)```", page, re.S).group(1)


def test_the_documented_example_stylizes_s3_to_s3(ray_cluster, s3) -> None:
    s3.mkdir("photos")
    pictures = {64 + 8 * k: photo(64 + 8 * k, 48, seed=k) for k in range(3)}  # told apart by their widths
    for width, picture in pictures.items():
        s3.pipe(f"photos/holiday/p{width}.jpg", encoded(picture, "JPEG", quality=95))
    exec(compile(documented_example(), "docs/python-api.md", "exec"), {})
    written = s3.ls("photos/holiday-anime/")
    assert len(written) == 3 and all(path.endswith(".png") for path in written)
    for path in written:
        out = np.asarray(Image.open(s3.open(path)))
        picture = pictures[out.shape[1]]
        assert out.shape == picture.shape  # the input's size, in the multistyle model's colours
        assert np.abs(out.astype(int) - picture).mean() > 10


def test_a_bad_row_fails_alone_and_the_rest_pass_through(ray_cluster) -> None:
    """Grey, RGBA and RGB pictures are stylized; a float array and one over max_pixels fail with
    their reason; every other column passes through."""
    rgb = photo(40, 32)
    rows = [{"image": rgb, "key": "rgb"}, {"image": rgb[..., 0], "key": "grey"},
            {"image": np.dstack([rgb, np.full((32, 40), 255, np.uint8)]), "key": "rgba"},
            {"image": rgb.astype(np.float32) / 255, "key": "float"}, {"image": photo(200, 100), "key": "large"}]
    ds = stylize(ray.data.from_items(rows), "onnx", options={"preset": "multistyle26", "style": 3},
                 pool=PoolSettings(actors=1), max_pixels=10_000)
    out = {row["key"]: row for row in ds.take_all()}
    assert {key: row["status"] for key, row in out.items()} == {
        "rgb": "converted", "grey": "converted", "rgba": "converted", "float": "failed", "large": "failed"}
    assert "float32" in out["float"]["error"] and "uint8" in out["float"]["error"]
    assert "over max_pixels" in out["large"]["error"]
    assert out["rgb"]["image"].shape == (32, 40, 3) and out["grey"]["image"].shape == (32, 40, 3)
    assert np.array_equal(out["rgb"]["image"], out["rgba"]["image"])  # opaque alpha: the same picture
    assert out["rgb"]["error"] == "" and "seconds" not in out["rgb"]


def test_a_bad_operator_is_said_before_anything_runs() -> None:
    with pytest.raises(ConfigError, match="no preset"):
        stylize(ray.data.range(1), "onnx", options={"preset": "nonesuch"})


def test_convert_raises_where_the_cli_exits(ray_cluster, tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "good.png").write_bytes(encoded(photo(32, 24)))
    (source / "bad.png").write_bytes(b"not a picture")
    with pytest.raises(ConfigError, match="no setting colour; it takes: .*fmt"):
        convert(str(source), str(tmp_path / "out"), "onnx", options={"preset": "multistyle26"}, colour="red")
    with pytest.raises(InputsFailed, match="bad.png") as failed:
        convert(str(source), str(tmp_path / "out"), "onnx", options={"preset": "multistyle26"}, fmt="jpg")
    result = failed.value.result
    assert (result.totals.converted, result.totals.failed) == (1, 1) and (tmp_path / "out" / "good.jpg").exists()
    again = convert(str(source), str(tmp_path / "out"), "onnx", options={"preset": "multistyle26"}, fmt="jpg",
                    check=False)  # the same call retries only the failed input
    assert (again.totals.skipped, again.totals.failed, again.exit_code) == (1, 1, 1)
    assert len(pq.read_table(again.manifest)) == 2


def test_video_is_the_cli_run_as_a_function(ray_cluster, tmp_path: Path) -> None:
    clip = colour_clip(tmp_path / "clip.mp4", moving_pattern(12, 64, 48), VideoColour("bt601", primaries=6, transfer=6))
    result = video(str(clip), str(tmp_path / "styled.mp4"), "onnx", options={"preset": "multistyle26"},
                   segment_seconds=0.25, crf=20)
    assert result.totals.converted == result.totals.inputs == 2 and result.unit == "frames"
    with av.open(str(tmp_path / "styled.mp4")) as container:
        assert container.streams.video[0].frames == 12
    with pytest.raises(ConfigError, match="no setting fmt"):
        video(str(clip), str(tmp_path / "other.mp4"), "onnx", options={"preset": "multistyle26"}, fmt="png")
