"""Throttling, 500s, dropped connections and stalls between the workers and S3 (a fault-injecting
proxy in front of moto's server): retried by botocore's own retry mode; an object that keeps
failing fails alone; the rest is converted; slow answers slow a run but neither fail nor hang it."""
from __future__ import annotations

import time

import pyarrow.parquet as pq
import pytest
from conftest import BUCKET
from fault_proxy import FaultProxy
from images import encoded, photo

from pipeline.run import ConvertConfig, convert
from pipeline.runs.lifecycle import RunAborted
from pipeline.settings import ModelSettings

INVERT = ModelSettings("poison_operator:SPEC", {})


@pytest.fixture()
def proxy(s3_endpoint: str):
    fault_proxy = FaultProxy(s3_endpoint, stall_seconds=4)
    yield fault_proxy
    fault_proxy.close()


def through(proxy: FaultProxy, **extra) -> dict:
    """Storage options that reach S3 through the proxy, with short timeouts so a stall is a timeout."""
    return {"endpoint_url": proxy.url,
            "config_kwargs": {"read_timeout": 2, "connect_timeout": 2, **extra}}


@pytest.mark.slow
def test_transient_faults_are_retried_and_everything_converts(ray_cluster, s3, proxy: FaultProxy) -> None:
    prefix = f"{BUCKET}/faults/transient"
    for i in range(8):
        s3.pipe(f"{prefix}/in/{i}.png", encoded(photo(12, 12, seed=i)))
    proxy.add("GET", "/faults/transient/in/1.png", "slowdown", times=3)
    proxy.add("GET", "/faults/transient/in/2.png", "error500", times=2)
    proxy.add("GET", "/faults/transient/in/3.png", "reset", times=2)
    proxy.add("GET", "/faults/transient/in/4.png", "stall", times=1)
    proxy.add("PUT", "/faults/transient/out/5.png", "slowdown", times=2)
    result = convert(ConvertConfig(f"s3://{prefix}/in", f"s3://{prefix}/out", INVERT, storage_options=through(proxy)))
    assert (result.totals.converted, result.totals.failed) == (8, 0), pq.read_table(result.manifest).to_pylist()
    assert proxy.faults == {"slowdown": 5, "error500": 2, "reset": 2, "stall": 1}


@pytest.mark.slow
def test_an_object_that_keeps_failing_fails_alone(ray_cluster, s3, proxy: FaultProxy) -> None:
    prefix = f"{BUCKET}/faults/permanent"
    for i in range(4):
        s3.pipe(f"{prefix}/in/{i}.png", encoded(photo(12, 12, seed=i)))
    proxy.add("GET", "/faults/permanent/in/2.png", "error500", times=-1)
    proxy.add("GET", "/faults/permanent/in/3.png", "reset", times=-1)
    options = through(proxy, retries={"mode": "standard", "max_attempts": 3})
    result = convert(ConvertConfig(f"s3://{prefix}/in", f"s3://{prefix}/out", INVERT, storage_options=options))
    rows = {r["input"].rsplit("/", 1)[1]: r for r in pq.read_table(result.manifest).to_pylist()}
    assert [rows[f"{i}.png"]["status"] for i in range(4)] == ["converted", "converted", "failed", "failed"]
    assert all(rows[f"{i}.png"]["error"].startswith("cannot read input") for i in (2, 3))
    assert result.exit_code == 1 and not result.totals.aborted


@pytest.mark.slow
def test_slow_answers_slow_the_run_but_neither_fail_nor_hang_it(ray_cluster, s3, s3_endpoint: str) -> None:
    """A third of all requests answered 1.5 s late (done by the store, the answer held back), some
    past the 2-s timeout: botocore retries, the lease holds, and everything converts."""
    proxy = FaultProxy(s3_endpoint, stall_seconds=1.5)
    prefix = f"{BUCKET}/faults/slow"
    for i in range(8):
        s3.pipe(f"{prefix}/in/{i}.png", encoded(photo(12, 12, seed=i)))
    proxy.add(fault="delay", times=-1, share=0.33)
    proxy.add("PUT", "/faults/slow/out/", "delay", times=2, seconds=3)  # past the timeout: retried
    try:
        started = time.monotonic()
        result = convert(ConvertConfig(f"s3://{prefix}/in", f"s3://{prefix}/out", INVERT,
                                       storage_options=through(proxy)))
        assert time.monotonic() - started < 300
    finally:
        proxy.close()
    assert (result.totals.converted, result.totals.failed) == (8, 0), pq.read_table(result.manifest).to_pylist()
    assert proxy.faults["delay"] >= 10


@pytest.mark.slow
def test_a_listing_that_fails_stops_the_run_and_the_rerun_finishes(ray_cluster, s3, proxy: FaultProxy) -> None:
    """The listing task fails (OUTPUT keeps refusing its journal): Ray Data drops a failed task's
    rows, so without the listing's end the run would end with exit 0 short of inputs."""
    prefix = f"{BUCKET}/faults/listing"
    for i in range(4):
        s3.pipe(f"{prefix}/in/{i}.png", encoded(photo(12, 12, seed=i)))
    proxy.add("PUT", "/listed/part-", "error500", times=-1)  # the listing journal's parts, not its end
    options = through(proxy, retries={"mode": "standard", "max_attempts": 2})
    config = ConvertConfig(f"s3://{prefix}/in", f"s3://{prefix}/out", INVERT, storage_options=options)
    with pytest.raises(RunAborted, match="the listing of the inputs stopped before its end: OSError: .*internal error.*; "
                                         ".*run the same command again to continue"):
        convert(config)
    proxy.clear()
    result = convert(config)
    assert result.exit_code == 0 and result.totals.converted + result.totals.skipped == 4
