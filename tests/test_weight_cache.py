"""The node-local cache of remote files: processes that read one file at once all get its bytes."""
from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import numpy as np
import pytest
import ray
from conftest import BUCKET


@ray.remote(num_cpus=0.25)
def digest_through_cache(url: str, cache: str, storage_options: dict, start_at: float) -> str:
    """Read `url` through the cache at `start_at`: staggered starts make downloads overlap."""
    os.environ["STYLEBATCH_CACHE"] = cache
    from operators.files import local_copy, read_bytes

    time.sleep(max(0.0, start_at - time.time()))  # every worker is up before the first read
    read = hashlib.sha256(read_bytes(url, storage_options)).hexdigest()
    with open(local_copy(url, storage_options), "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == read
    return read


@pytest.mark.slow
def test_concurrent_first_reads_never_see_a_partial_cache_entry(ray_cluster, s3, s3_endpoint: str,
                                                                tmp_path: Path) -> None:
    data = np.random.default_rng(0).bytes(24 * 2**20)
    s3.pipe(f"{BUCKET}/cache/big.pth", data)
    options = {"endpoint_url": s3_endpoint, "key": "testing", "secret": "testing"}
    url = f"s3://{BUCKET}/cache/big.pth"
    start_at = time.time() + 8
    digests = ray.get([digest_through_cache.remote(url, str(tmp_path), options, start_at + 0.04 * i)
                       for i in range(6)])
    assert digests == [hashlib.sha256(data).hexdigest()] * 6
