"""One run per OUTPUT: the lease is exclusive, renewed, taken over once expired, on local disks and S3."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from conftest import BUCKET
from images import encoded, photo
from videos import make_video
from waiting import wait_until

from jobs import cli
from jobs.common import run_command
from pipeline.runs.lease import Lease, LeaseLost, OutputHeld
from pipeline.runs.layout import RunLayout
from pipeline.run import ConvertConfig, convert
from pipeline.settings import ModelSettings
from pipeline.storage import atomic_writer
from pipeline.video.run import VideoConfig, convert_video


@pytest.fixture(params=["local", "s3"])
def output(request, tmp_path: Path) -> str:
    if request.param == "local":
        return str(tmp_path / "out")
    request.getfixturevalue("s3")
    return f"s3://{BUCKET}/lease-{time.time_ns()}"


def stored(lease: Lease) -> dict:
    return json.loads(lease.fs.cat_file(lease.path))


def overwrite(lease: Lease, record: dict) -> None:
    """Replace the stored lease whole, as another run's lease write does (never a half-written file)."""
    with atomic_writer(lease.fs, lease.path) as f:
        f.write(json.dumps(record).encode())


def test_a_held_output_refuses_a_second_run_naming_the_holder(output: str) -> None:
    with Lease(RunLayout.for_folder(output, {}), "run-a"):
        with pytest.raises(OutputHeld, match=r"held by run run-a \(started .* pid \d+\).*--wait"):
            Lease(RunLayout.for_folder(output, {}), "run-b").acquire()
    with Lease(RunLayout.for_folder(output, {}), "run-b") as lease:
        assert stored(lease)["run_id"] == "run-b"
    assert not Lease(RunLayout.for_folder(output, {}), "probe").fs.exists(lease.path)


def test_an_expired_lease_is_taken_over(output: str) -> None:
    dead = Lease(RunLayout.for_folder(output, {}), "killed-run")
    dead.acquire()  # never renewed, never released: a killed run
    overwrite(dead, {**stored(dead), "host": "elsewhere", "expires_at": time.time() - 1})
    with Lease(RunLayout.for_folder(output, {}), "next-run") as lease:
        assert stored(lease)["run_id"] == "next-run"


def test_a_holder_whose_process_is_gone_from_this_host_has_expired(tmp_path: Path) -> None:
    dead = Lease(RunLayout.for_folder(str(tmp_path / "out"), {}), "killed-run", seconds=3600)
    dead.acquire()
    record = stored(dead)
    overwrite(dead, {**record, "pid": 2**22 + 12345})  # no such pid
    with Lease(RunLayout.for_folder(str(tmp_path / "out"), {}), "next-run") as lease:
        assert stored(lease)["run_id"] == "next-run"


def test_the_lease_is_renewed_and_a_takeover_is_noticed(output: str) -> None:
    with Lease(RunLayout.for_folder(output, {}), "run-a", seconds=0.8) as lease:
        first = stored(lease)["expires_at"]
        assert wait_until(lambda: stored(lease)["expires_at"] > first, 10)
        lease.check()
        intruder = {**stored(lease), "run_id": "run-b", "host": "elsewhere", "expires_at": time.time() + 60}
        overwrite(lease, intruder)
        assert wait_until(lambda: lease.lost is not None, 10)
        with pytest.raises(LeaseLost, match="run-b"):
            lease.check()
    assert stored(lease)["run_id"] == "run-b"  # the new holder's lease is left alone


def test_wait_queues_behind_the_holder(tmp_path: Path) -> None:
    holder = Lease(RunLayout.for_folder(str(tmp_path / "out"), {}), "run-a", seconds=2)
    holder.__enter__()
    threading.Timer(1.0, holder.__exit__, (None, None, None)).start()
    started = time.monotonic()
    with Lease(RunLayout.for_folder(str(tmp_path / "out"), {}), "run-b", seconds=2, wait=True) as lease:
        assert stored(lease)["run_id"] == "run-b"
    assert time.monotonic() - started >= 0.9


def test_convert_into_a_held_output_exits_2_before_any_work(tmp_path: Path, animegan_weights: Path, capsys) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "a.png").write_bytes(encoded(photo(16, 16)))
    with Lease(RunLayout.for_folder(str(tmp_path / "out"), {}), "nightly-1"):
        started = time.monotonic()
        with pytest.raises(SystemExit) as exit_info:
            run_command(cli.main, ["convert", str(source), str(tmp_path / "out"), "--operator", "animegan",
                                   "--weights", str(animegan_weights)])
    assert exit_info.value.code == 2 and time.monotonic() - started < 10
    assert "held by run nightly-1" in capsys.readouterr().err
    assert not list((tmp_path / "out").glob("*.png"))


def test_video_into_a_held_output_is_refused_and_archive_runs_hold_their_work_area(tmp_path: Path) -> None:
    make_video(tmp_path / "clip.mp4", frames=12)
    with Lease(RunLayout.for_video(str(tmp_path / "styled.mp4"), {}), "movie-night"):
        with pytest.raises(OutputHeld, match="movie-night"):
            convert_video(VideoConfig(str(tmp_path / "clip.mp4"), str(tmp_path / "styled.mp4"),
                                      ModelSettings("onnx", {"preset": "multistyle26"})))
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.png").write_bytes(encoded(photo(16, 16)))
    with Lease(RunLayout.for_archive(str(tmp_path / "styled.zip"), {}), "archive-run"):
        with pytest.raises(OutputHeld, match="archive-run"):
            convert(ConvertConfig(str(tmp_path / "in"), str(tmp_path / "styled.zip"),
                                  ModelSettings("onnx", {"preset": "multistyle26"}), archive=True))


def test_slow_storage_neither_loses_the_lease_nor_lets_another_run_take_it(s3, s3_endpoint: str) -> None:
    """Every request to the lease answered late, one renewal after the client gave up (it retries; its
    If-Match then fails against its own landed write): the holder keeps OUTPUT through two terms,
    and another run is refused all along."""
    from fault_proxy import FaultProxy

    proxy = FaultProxy(s3_endpoint, stall_seconds=2)
    output = f"s3://{BUCKET}/slow-lease-{time.time_ns()}"
    layout = RunLayout.for_folder(output, {"endpoint_url": proxy.url})
    try:
        with Lease(layout, "slow-run", seconds=10) as lease:  # its requests give up after 1.7 s
            late = proxy.add(method="PUT", key_contains="lease", fault="delay", times=1, seconds=3)  # too late
            proxy.add(key_contains="lease", fault="delay", times=-1, seconds=0.3)  # the rest: slow, in time
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                with pytest.raises(OutputHeld, match="slow-run"):
                    Lease(RunLayout.for_folder(output, {}), "contender").acquire()
                time.sleep(0.5)
            assert late.fired == 1
            lease.check()
            assert stored(lease)["run_id"] == "slow-run"
    finally:
        proxy.close()
