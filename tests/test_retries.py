"""Work whose worker dies is retried a bounded number of times; then only the inputs that kill it fail."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from images import encoded, photo
from PIL import Image
from poison_operator import POISON_RGB

from pipeline.run import ConvertConfig, convert
from pipeline.settings import ModelSettings, PoolSettings
from pipeline.variants import Variant


def poisoned_folder(folder: Path, healthy: int, poisoned: list[int]) -> None:
    folder.mkdir()
    for i in range(healthy + len(poisoned)):
        image = np.full((12, 12, 3), POISON_RGB, np.uint8) if i in poisoned else photo(12, 12, seed=i)
        (folder / f"img{i:02d}.png").write_bytes(encoded(image))


@pytest.mark.slow
def test_an_input_that_kills_its_worker_fails_alone_and_the_run_ends(ray_cluster, tmp_path: Path) -> None:
    poisoned_folder(tmp_path / "in", healthy=7, poisoned=[2, 6])
    cfg = ConvertConfig(str(tmp_path / "in"), str(tmp_path / "out"), ModelSettings("poison_operator:SPEC"),
                        pool=PoolSettings(batch_size=4, max_retries=1))
    result = convert(cfg)
    assert (result.totals.converted, result.totals.failed, result.totals.inputs) == (7, 2, 9)
    assert result.exit_code == 1
    rows = pq.read_table(result.manifest).to_pylist()
    assert sorted(r["input"].rsplit("/", 1)[1] for r in rows) == [f"img{i:02d}.png" for i in range(9)]
    failed = {r["input"].rsplit("/", 1)[1]: r["error"] for r in rows if r["status"] == "failed"}
    assert sorted(failed) == ["img02.png", "img06.png"]
    assert all("worker died on each of 2 tries" in reason for reason in failed.values())
    assert len(list((tmp_path / "out").glob("*.png"))) == 7


@pytest.mark.slow
def test_with_variants_the_input_that_kills_its_worker_fails_in_each_and_the_rest_convert(
        ray_cluster, tmp_path: Path) -> None:
    """Lost inputs are tried alone again as gathered rows: decoded once, stylized in each variant."""
    poisoned_folder(tmp_path / "in", healthy=5, poisoned=[3])
    variants = (Variant("plain", {"darker": "0"}), Variant("dark", {"darker": "60"}))
    cfg = ConvertConfig(str(tmp_path / "in"), str(tmp_path / "out"), ModelSettings("poison_operator:SPEC"),
                        pool=PoolSettings(batch_size=4, max_retries=1), variants=variants)
    result = convert(cfg)
    rows = pq.read_table(result.manifest).to_pylist()
    assert len(rows) == 12 and (result.totals.converted, result.totals.failed) == (10, 2)
    failed = {(r["variant"], r["input"].rsplit("/", 1)[1]) for r in rows if r["status"] == "failed"}
    assert failed == {("plain", "img03.png"), ("dark", "img03.png")}
    plain, dark = (np.asarray(Image.open(tmp_path / "out" / name / "img00.png")).astype(int) for name in ("plain", "dark"))
    assert np.abs(plain - dark).mean() > 40  # each variant through its own model
