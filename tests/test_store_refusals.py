"""A store that refuses every write mid-run (a full disk, a bucket policy that revokes access) ends
the run with exit 3 and one line naming the place and the cause; nothing is lost, no partial file
stays, and once the store takes writes again the same command finishes, every input converted
exactly once across the runs. A denied input fails alone."""
from __future__ import annotations

import collections
import contextlib
import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import boto3
import pyarrow.parquet as pq
import pytest
from conftest import BUCKET
from images import encoded, photo
from waiting import wait_until

from jobs import cli
from jobs.common import run_command

SLOW = ["--operator", "slow_operator:SPEC", "--set", "seconds=0.1", "--batch-size", "1"]


def converted_once_each(manifests: list[str], read: Callable[[str], object], count: int) -> None:
    """Across the runs' joined manifests, each of `count` inputs is converted exactly once, and every
    other row of it says skipped."""
    rows = [row for manifest in manifests for row in pq.read_table(read(manifest)).to_pylist()]
    converted = collections.Counter(row["input"].rsplit("/", 1)[1] for row in rows if row["status"] == "converted")
    assert sorted(converted) == [f"img{i:02d}.png" for i in range(count)]
    assert set(converted.values()) == {1}
    assert {row["status"] for row in rows} <= {"converted", "skipped"}


def exit_status(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_info:
        run_command(cli.main, argv)
    return exit_info.value.code


def abort_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run the CLI expecting exit 3; its last line on stderr."""
    assert exit_status(argv) == 3
    return capsys.readouterr().err.strip().splitlines()[-1]


@contextlib.contextmanager
def small_disk(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted at `path` (skips where mounting is not allowed)."""
    path.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                      check=False, capture_output=True).returncode:
        pytest.skip("mounting a tmpfs needs root (CAP_SYS_ADMIN)")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_a_full_disk_stops_the_run_with_exit_3_and_the_rerun_after_freeing_it_finishes(
        ray_cluster, tmp_path: Path, capsys) -> None:
    source = tmp_path / "in"
    source.mkdir()
    for i in range(30):
        (source / f"img{i:02d}.png").write_bytes(encoded(photo(160, 160, seed=i)))  # ~27 KB an output
    with small_disk(tmp_path / "out", "512k") as output:
        argv = ["convert", str(source), str(output), *SLOW]
        line = abort_line(capsys, argv)
        assert line.startswith(f"stylebatch: the run could not complete: no space left on device: the filesystem "
                               f"at {output} is full (writing {output}/img")
        assert "run the same command again to continue" in line
        # an encode task still in flight when the run stopped ends its write (renamed, or removed) soon after
        assert wait_until(lambda: not [p for p in output.rglob("*") if ".partial" in p.name], seconds=20)
        first = sorted(output.glob("*.png"))
        assert 5 < len(first) < 30
        subprocess.run(["mount", "-o", "remount,size=16m", str(output)], check=True)
        assert exit_status(argv) == 0
        manifests = sorted(str(p) for p in (output / "_manifest").glob("*.parquet"))
        assert len(manifests) == 2  # the stopped run's rows joined by the rerun, and the rerun's
        converted_once_each(manifests, str, 30)
        assert [p.stat().st_mtime_ns for p in first] == [p.stat().st_mtime_ns for p in sorted(output.glob("*.png"))[:len(first)]]


def deny(bucket: str, statements: list[dict]) -> None:
    boto3.client("s3").put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": statements}))


def statement(action: str, resource: str) -> dict:
    return {"Effect": "Deny", "Principal": "*", "Action": action, "Resource": f"arn:aws:s3:::{resource}"}


def test_write_access_revoked_mid_run_stops_it_with_exit_3_and_the_rerun_after_restoring_finishes(
        ray_cluster, s3, tmp_path: Path, capsys) -> None:
    source, output = f"s3://{BUCKET}/revoked/in", f"s3://{BUCKET}/revoked/out"
    for i in range(24):
        s3.pipe(f"{source}/img{i:02d}.png", encoded(photo(64, 64, seed=i)))
    argv = ["convert", source, output, *SLOW]

    def revoke_when_some_are_written() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(s3.glob(f"{output}/*.png", refresh=True)) < 4:
            time.sleep(0.05)
        deny(BUCKET, [statement("s3:PutObject", f"{BUCKET}/revoked/out/*")])

    revoker = threading.Thread(target=revoke_when_some_are_written)
    revoker.start()
    try:
        line = abort_line(capsys, argv)
    finally:
        revoker.join()
        boto3.client("s3").delete_bucket_policy(Bucket=BUCKET)
    assert f"access denied: s3:PutObject refused on bucket {BUCKET} (writing {output}/" in line, line
    # OUTPUT took no manifest part either: the rows are kept on this machine, and the line says where
    spilled = line.split("which OUTPUT did not take: they are in ")[1].split(";")[0]
    assert exit_status(argv) == 0
    manifests = sorted(s3.glob(f"{output}/_manifest/*.parquet", refresh=True))
    converted_once_each([spilled, *manifests], lambda key: key if key == spilled else s3.open(key, "rb"), 24)


def test_an_input_the_credentials_may_not_read_fails_alone_naming_the_denied_action(
        ray_cluster, s3, tmp_path: Path, capsys) -> None:
    source = f"s3://{BUCKET}/denied-read/in"
    for i in range(3):
        s3.pipe(f"{source}/img{i:02d}.png", encoded(photo(32, 32, seed=i)))
    deny(BUCKET, [statement("s3:GetObject", f"{BUCKET}/denied-read/in/img01.png")])
    try:
        assert exit_status(["convert", source, str(tmp_path / "out"), *SLOW]) == 1
    finally:
        boto3.client("s3").delete_bucket_policy(Bucket=BUCKET)
    rows = {row["input"].rsplit("/", 1)[1]: row
            for row in pq.read_table(next((tmp_path / "out" / "_manifest").glob("*.parquet"))).to_pylist()}
    assert [rows[f"img{i:02d}.png"]["status"] for i in range(3)] == ["converted", "failed", "converted"]
    assert rows["img01.png"]["error"] == (
        f"cannot read input: access denied: s3:GetObject refused on bucket {BUCKET} (reading {source}/img01.png); "
        "give these credentials read access to it")
