"""Frame archives as inputs: each member is a record; outputs mirror the member names."""
from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import BUCKET
from images import encoded, photo
from PIL import Image

from pipeline.run import ConvertConfig, convert
from pipeline.settings import ModelSettings

FRAMES = {f"frames/{i:04d}.png": encoded(photo(24, 16, seed=i)) for i in range(3)}


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def tar_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.mark.slow
def test_zip_members_are_records_mirrored_to_output(ray_cluster, tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "clip.zip").write_bytes(zip_bytes({**FRAMES, "frames/broken.png": b"oops", "notes.txt": b"x"}))
    result = convert(ConvertConfig(input=str(source), output=str(tmp_path / "out"), model=ModelSettings("onnx",
                               {"preset": "multistyle26"})))
    assert (result.totals.inputs, result.totals.converted, result.totals.failed) == (4, 3, 1)
    for name in FRAMES:
        assert Image.open(tmp_path / "out" / "clip" / name).size == (24, 16)
    rows = pq.read_table(result.manifest).to_pylist()
    assert {r["input"] for r in rows} >= {f"zip://{name}::{source}/clip.zip" for name in FRAMES}
    again = convert(ConvertConfig(input=str(source), output=str(tmp_path / "out"), model=ModelSettings("onnx",
                              {"preset": "multistyle26"})))
    assert again.totals.skipped == 3


def test_tar_on_s3(ray_cluster, s3) -> None:
    s3.pipe(f"{BUCKET}/archives/in/shot.tar", tar_bytes(FRAMES))
    result = convert(ConvertConfig(input=f"s3://{BUCKET}/archives/in", output=f"s3://{BUCKET}/archives/out",
                               model=ModelSettings("onnx", {"preset": "multistyle26"}), fmt="jpg"))
    assert result.totals.converted == 3
    s3.invalidate_cache()
    assert sorted(s3.find(f"{BUCKET}/archives/out/shot/frames")) == [
        f"{BUCKET}/archives/out/shot/frames/{i:04d}.jpg" for i in range(3)]


def test_archive_output_packs_mirrored_members_and_resumes(ray_cluster, tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "clip.zip").write_bytes(zip_bytes({**FRAMES, "frames/broken.png": b"oops"}))
    target = tmp_path / "result.zip"
    cfg = ConvertConfig(input=str(source), output=str(target), model=ModelSettings("onnx", {"preset": "multistyle26"}),
                    archive=True)
    result = convert(cfg)
    assert result.output == str(target) and result.exit_code == 1
    with zipfile.ZipFile(target) as archive:
        assert sorted(archive.namelist()) == sorted(f"clip/{name}" for name in FRAMES)
        assert Image.open(io.BytesIO(archive.read("clip/frames/0001.png"))).size == (24, 16)
    assert not (tmp_path / "result.zip.partial").exists()
    again = convert(cfg)  # resumed from OUTPUT.work: nothing redone, the archive is complete again
    assert (again.totals.skipped, again.totals.converted) == (3, 0)
    with zipfile.ZipFile(target) as archive:
        assert len(archive.namelist()) == 3


def test_archive_output_tar_on_s3(ray_cluster, s3) -> None:
    s3.pipe(f"{BUCKET}/archives/tarout/in/a.png", encoded(photo(20, 20, seed=1)))
    s3.pipe(f"{BUCKET}/archives/tarout/in/sub/b.png", encoded(photo(20, 20, seed=2)))
    result = convert(ConvertConfig(input=f"s3://{BUCKET}/archives/tarout/in", output=f"s3://{BUCKET}/archives/tarout/out.tar",
                               model=ModelSettings("onnx", {"preset": "multistyle26"}), archive=True))
    assert result.totals.converted == 2
    s3.invalidate_cache()
    with tarfile.open(fileobj=io.BytesIO(s3.cat(f"{BUCKET}/archives/tarout/out.tar"))) as archive:
        assert sorted(archive.getnames()) == ["a.png", "sub/b.png"]


def test_archive_output_needs_an_archive_name(tmp_path: Path) -> None:
    import pytest

    from operators.errors import ConfigError

    with pytest.raises(ConfigError, match=r"\.zip or \.tar"):
        convert(ConvertConfig(input=str(tmp_path), output=str(tmp_path / "out"), model=ModelSettings("onnx",
                          {"preset": "multistyle26"}), archive=True))
