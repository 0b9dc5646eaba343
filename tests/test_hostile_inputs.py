"""What people upload: archives with links, devices, bombs, duplicates and nesting; corrupt and
truncated archives; names that look like URL chains; folders that cannot be listed. Each ends as
one row with a reason, the run goes on, and nothing outside an input is ever read."""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import BUCKET
from images import encoded, photo
from PIL import Image
from poison_operator import SPEC  # noqa: F401  (inverts every image: outputs show what was read)

from pipeline.run import ConvertConfig, RunResult, convert
from pipeline.settings import ModelSettings

INVERT = ModelSettings("poison_operator:SPEC", {})
GOOD = encoded(photo(16, 12, seed=1))
ROOT = Path(__file__).resolve().parents[1]


def rows_by_input(result: RunResult) -> dict[str, dict]:
    rows = pq.read_table(result.manifest).to_pylist()
    assert len(rows) == len({r["input"] for r in rows}) == result.totals.inputs
    return {r["input"]: r for r in rows}


def tar_with_specials(path: Path) -> None:
    """A tar of one good frame and every kind of member that is not a plain file."""
    with tarfile.open(path, "w") as archive:
        info = tarfile.TarInfo("frames/good.png")
        info.size = len(GOOD)
        archive.addfile(info, io.BytesIO(GOOD))
        for name, kind, target in [("frames/symlink.png", tarfile.SYMTYPE, "/etc/passwd"),
                                   ("frames/dangling.png", tarfile.SYMTYPE, "missing.png"),
                                   ("frames/hardlink.png", tarfile.LNKTYPE, "frames/good.png"),
                                   ("frames/fifo.png", tarfile.FIFOTYPE, ""),
                                   ("frames/device.png", tarfile.CHRTYPE, "")]:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            archive.addfile(info)


def zip_with_traps(path: Path, bomb_bytes: int) -> None:
    """A zip of one good frame, a symlink member, a bomb (zeros named .png), a nested archive and a
    name stored twice."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("good.png", GOOD)
        link = zipfile.ZipInfo("link.png")
        link.create_system, link.external_attr = 3, (0o120777 << 16)
        archive.writestr(link, "/etc/passwd")
        archive.writestr("bomb.png", b"\0" * bomb_bytes)
        archive.writestr("inner.zip", b"PK\x05\x06" + b"\0" * 18)
        archive.writestr("twice.png", GOOD)
        with pytest.warns(UserWarning, match="Duplicate name"):
            archive.writestr("twice.png", encoded(photo(8, 8, seed=2)))


def test_hostile_archives_fail_member_by_member(ray_cluster, tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    tar_with_specials(source / "specials.tar")
    zip_with_traps(source / "traps.zip", bomb_bytes=8 << 20)
    (source / "corrupt.zip").write_bytes(b"PK\x03\x04 this is not really a zip")
    truncated = io.BytesIO()
    with tarfile.open(fileobj=truncated, mode="w") as archive:
        for i in range(3):
            info = tarfile.TarInfo(f"f{i}.png")
            info.size = len(GOOD)
            archive.addfile(info, io.BytesIO(GOOD))
    (source / "truncated.tar").write_bytes(truncated.getvalue()[: 512 * 3 + len(GOOD) // 2])
    (source / "plain.png").write_bytes(GOOD)

    result = convert(ConvertConfig(str(source), str(tmp_path / "out"), INVERT, max_member_bytes=1 << 20))
    rows = rows_by_input(result)
    status = {url.replace(str(source), "IN"): (r["status"], r["error"]) for url, r in rows.items()}
    converted = {k for k, (s, _) in status.items() if s == "converted"}
    assert converted == {"IN/plain.png", "tar://frames/good.png::IN/specials.tar", "zip://good.png::IN/traps.zip"}
    reasons = {k: e for k, (s, e) in status.items() if s == "failed"}
    for name in ("symlink", "dangling", "hardlink"):
        assert "links in archives are not followed" in reasons[f"tar://frames/{name}.png::IN/specials.tar"]
    for name in ("fifo", "device"):
        assert "not a regular file" in reasons[f"tar://frames/{name}.png::IN/specials.tar"]
    assert "links in archives are not followed" in reasons["zip://link.png::IN/traps.zip"]
    assert "inflates past 1,048,576 bytes (--max-member-bytes)" in reasons["zip://bomb.png::IN/traps.zip"]
    assert "nested archive" in reasons["zip://inner.zip::IN/traps.zip"]
    assert "2 members with this name" in reasons["zip://twice.png::IN/traps.zip"]
    assert "cannot read the archive" in reasons["IN/corrupt.zip"]
    assert "truncated" in reasons["IN/truncated.tar"]
    assert result.exit_code == 1 and not result.totals.aborted
    # what was read is the member itself: its inverted pixels, never the link's target
    out = np.asarray(Image.open(tmp_path / "out" / "specials" / "frames" / "good.png"))
    assert np.array_equal(out, 255 - photo(16, 12, seed=1))


def test_names_are_data_never_url_chains(ray_cluster, tmp_path: Path) -> None:
    """Decoys sit where a followed chain or an expanded name would read; every output must come from
    the input of that exact name."""
    source = tmp_path / "in"
    source.mkdir()
    pictures = {"a.png::z.png": 1, "a.png": 2, "z.png": 3, "~x.png": 4, "s3:x.png": 5,
                "zip:x::a.png": 6, "c\\d.png": 7, "bell\a.png": 8}
    for name, seed in pictures.items():
        (source / name).write_bytes(encoded(photo(10, 10, seed=seed)))
    with zipfile.ZipFile(source / "clip.zip", "w") as archive:
        archive.writestr("x.png::decoy.png", encoded(photo(10, 10, seed=9)))
        archive.writestr("../escape.png", encoded(photo(10, 10, seed=10)))
        archive.writestr("/abs.png", encoded(photo(10, 10, seed=11)))
    (source / "decoy.png").write_bytes(encoded(photo(10, 10, seed=12)))
    home_decoy = Path(os.path.expanduser("~")) / "x.png"
    assert not home_decoy.exists()

    result = convert(ConvertConfig(str(source), str(tmp_path / "out"), INVERT))
    rows = rows_by_input(result)
    out = tmp_path / "out"
    for name in ("a.png::z.png", "a.png", "z.png", "~x.png", "s3:x.png", "zip:x::a.png"):
        written = out / (name.rsplit(".png", 1)[0] + ".png")
        assert np.array_equal(np.asarray(Image.open(written)), 255 - photo(10, 10, seed=pictures[name])), name
    member = np.asarray(Image.open(out / "clip" / "x.png::decoy.png"))
    assert np.array_equal(member, 255 - photo(10, 10, seed=9))
    failed = {url: r["error"] for url, r in rows.items() if r["status"] == "failed"}
    assert "backslash" in failed[f"{source}/c\\d.png"] and "control" in failed[f"{source}/bell\a.png"]
    assert "leave the output prefix" in failed[f"zip://../escape.png::{source}/clip.zip"]
    assert "leave the output prefix" in failed[f"zip:///abs.png::{source}/clip.zip"]
    assert len(failed) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out"]  # nothing written beside OUTPUT


def test_names_on_s3_are_exact_keys(ray_cluster, s3) -> None:
    prefix = f"{BUCKET}/names"
    keys = {"x.png::b.png": 1, "b.png": 2, "x.png": 3, f"a.png::s3://{prefix}/in/b.png": 4, "dots/../up.png": 5}
    for key, seed in keys.items():
        s3.pipe(f"{prefix}/in/{key}", encoded(photo(10, 10, seed=seed)))
    result = convert(ConvertConfig(f"s3://{prefix}/in", f"s3://{prefix}/out", INVERT))
    rows = rows_by_input(result)
    s3.invalidate_cache()
    for key in ("x.png::b.png", "b.png", "x.png"):
        written = np.asarray(Image.open(io.BytesIO(s3.cat(f"{prefix}/out/{key}"))))
        assert np.array_equal(written, 255 - photo(10, 10, seed=keys[key])), key
    failed = {url: r["error"] for url, r in rows.items() if r["status"] == "failed"}
    assert "leave the output prefix" in failed.pop(f"s3://{prefix}/in/dots/../up.png")
    assert failed == {f"s3://{prefix}/in/a.png::s3:/": "keys below this prefix hold an empty path part ('//'), "
                                                       "which cannot be listed folder by folder: rename them"}


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() == 0 and not shutil.which("setpriv"), reason="root reads every folder")
def test_a_folder_that_cannot_be_listed_is_a_failed_row(tmp_path: Path) -> None:
    """A run (its own process, its own Ray) over a folder it may not read; as root, without the
    capabilities that let root read any folder."""
    source = tmp_path / "in"
    (source / "locked").mkdir(parents=True)
    (source / "locked" / "x.png").write_bytes(GOOD)
    (source / "ok.png").write_bytes(GOOD)
    (source / "locked").chmod(0)
    as_user = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | {"PYTHONPATH": str(Path(__file__).parent)}
    try:
        done = subprocess.run([*as_user, sys.executable, "-m", "jobs.convert", str(source), str(tmp_path / "out"),
                               "--operator", "poison_operator:SPEC"], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=300)
    finally:
        (source / "locked").chmod(0o755)
    assert done.returncode == 1, done.stderr[-2000:]
    manifest = next((tmp_path / "out" / "_manifest").glob("*.parquet"))
    rows = {r["input"]: r for r in pq.read_table(manifest).to_pylist()}
    assert rows[str(source / "ok.png")]["status"] == "converted"
    assert "cannot list this folder" in rows[str(source / "locked")]["error"]
    assert len(rows) == 2


def test_an_input_deleted_after_listing_fails_alone(ray_cluster, tmp_path: Path) -> None:
    """The listing is journalled before reading starts; the vanished input is one failed row."""
    from pipeline.sources import Decoding, Source
    from pipeline.stages import DecodeStep, read_and_decode

    source = tmp_path / "in"
    source.mkdir()
    (source / "gone.png").write_bytes(GOOD)
    (source / "here.png").write_bytes(GOOD)
    batch = {"input": np.array([str(source / "gone.png"), str(source / "here.png")], object),
             "member": np.array(["", ""], object), "status": np.array(["pending", "pending"], object),
             "error": np.array(["", ""], object)}
    (source / "gone.png").unlink()
    decoded = read_and_decode(batch, step=DecodeStep(Source(str(source), {}), Decoding("RGB", max_pixels=1 << 20)))
    assert list(decoded["status"]) == ["failed", "pending"]
    assert "cannot read input" in decoded["error"][0]
