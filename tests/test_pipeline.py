"""End-to-end runs on a real local Ray cluster against moto's S3 server and local folders."""
from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import BUCKET
from images import bad_and_odd_inputs, encoded, photo
from PIL import Image

from pipeline.runs.manifest import ManifestWriter, finish_killed_runs
from pipeline.runs.layout import RunLayout
from pipeline.runs.resume import fold_into_state, load_done
from pipeline.run import ConvertConfig, convert
from pipeline.settings import ModelSettings

GOOD = {"a.jpg": encoded(photo(48, 40), "JPEG"), "sub/b.png": encoded(photo(37, 29)), "sub/deeper/c.PNG": encoded(photo(20, 30))}
EXPECTED_FAILED = {"zero.jpg", "truncated.jpg", "text.jpg", "bomb.png"}


def manifest_of(fs, result) -> pa.Table:
    fs.invalidate_cache()
    with fs.open(result.manifest, "rb") as f:
        return pq.read_table(f)


def by_input(table: pa.Table, prefix: str) -> dict[str, dict]:
    return {row["input"][len(prefix):]: row for row in table.to_pylist()}


@pytest.fixture(scope="module")
def s3_inputs(s3) -> str:
    prefix = f"{BUCKET}/photos"
    files = {**GOOD, **bad_and_odd_inputs(), "notes.txt": b"ignored: not an image",
             "dup.jpg": encoded(photo(16, 16), "JPEG"), "dup.png": encoded(photo(16, 16))}
    for name, data in files.items():
        s3.pipe(f"{prefix}/{name}", data)
    s3.pipe(f"{prefix}/../escape.jpg", encoded(photo(16, 16), "JPEG"))  # a key that would climb out
    return prefix


@pytest.mark.slow
def test_s3_to_s3_accounts_for_every_input(ray_cluster, s3, s3_inputs: str, animegan_weights: Path) -> None:
    s3.put(str(animegan_weights), f"{BUCKET}/models/paprika.pt")
    cfg = ConvertConfig(input=f"s3://{s3_inputs}/", output=f"s3://{BUCKET}/anime/", model=ModelSettings("animegan",
                    {"weights": f"s3://{BUCKET}/models/", "preset": "paprika"}))
    s3.invalidate_cache()
    before = set(s3.find(BUCKET))
    result = convert(cfg)
    table = manifest_of(s3, result)
    rows = by_input(table, f"s3://{s3_inputs}/")

    assert table.num_rows == len(rows) == result.totals.inputs  # every input exactly once
    assert "notes.txt" not in rows
    statuses = {name: row["status"] for name, row in rows.items()}
    failed = {name for name, status in statuses.items() if status == "failed"}
    assert EXPECTED_FAILED <= failed
    assert all(rows[name]["error"] for name in failed)
    assert sum(1 for n in ("dup.jpg", "dup.png") if statuses[n] == "failed") == 1
    assert "already written" in next(rows[n]["error"] for n in ("dup.jpg", "dup.png") if statuses[n] == "failed")
    escaped = [name for name in rows if name.startswith("..")]
    assert escaped and rows[escaped[0]]["status"] == "failed" and "leave the output prefix" in rows[escaped[0]]["error"]
    assert result.totals.converted + result.totals.skipped + result.totals.failed == result.totals.inputs
    assert result.totals.failed == len(failed) and result.exit_code == 1
    assert result.note.splitlines()[0] == "animegan on cpu float32"  # where the actors' model really ran

    for name in [*GOOD, "one.png", "cmyk.jpg", "deep.png", "alpha.png", "palette.gif", "rotated.jpg"]:
        row = rows[name]
        assert row["status"] == "converted", row
        out_key = f"{BUCKET}/anime/" + name.rsplit(".", 1)[0] + ".png"
        assert row["output"] == f"s3://{out_key}"
        out = Image.open(io.BytesIO(s3.cat(out_key)))
        assert out.size == (row["width"], row["height"])
        assert row["seconds"] > 0 and row["config_hash"] == result.totals.config_hash
    assert Image.open(io.BytesIO(s3.cat(f"{BUCKET}/anime/rotated.png"))).size == (32, 48)  # EXIF applied
    assert Image.open(io.BytesIO(s3.cat(f"{BUCKET}/anime/a.png"))).size == (48, 40)

    written = set(s3.find(BUCKET)) - before
    assert written and all(k.startswith(f"{BUCKET}/anime/") for k in written)
    assert not s3.exists(f"{BUCKET}/escape.png") and not s3.exists(f"{BUCKET}/anime/../escape.png")
    summary = json.loads(s3.cat(result.summary.replace("s3://", "")))
    assert summary["converted"] == result.totals.converted and summary["inputs"] == table.num_rows

    again = convert(cfg)  # the nightly rerun: converted inputs are skipped, failures retried
    rows2 = by_input(manifest_of(s3, again), f"s3://{s3_inputs}/")
    assert {n for n, r in rows2.items() if r["status"] == "skipped"} == {n for n, s in statuses.items() if s == "converted"}
    assert again.totals.converted == 0 and again.totals.failed == len(failed)

    forced = convert(replace(cfg, resume=False))
    assert forced.totals.converted == result.totals.converted and forced.totals.skipped == 0

    changed = convert(replace(cfg, model=ModelSettings("animegan", {**cfg.model.requested, "align_corners": "true"})))
    assert changed.totals.converted == result.totals.converted  # another config is not "already done"


def test_new_inputs_only_on_rerun(ray_cluster, tmp_path: Path, animegan_weights: Path) -> None:
    source, out = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    (source / "one.png").write_bytes(encoded(photo(24, 24)))
    cfg = ConvertConfig(input=str(source), output=str(out), model=ModelSettings("animegan",
                    {"weights": str(animegan_weights)}), fmt="jpg")
    first = convert(cfg)
    assert first.totals.converted == 1 and first.exit_code == 0
    (source / "two.webp").write_bytes(encoded(photo(30, 20), "WEBP"))
    second = convert(cfg)
    assert (second.totals.converted, second.totals.skipped) == (1, 1)
    assert Image.open(out / "two.jpg").size == (30, 20)
    assert sorted(p.name for p in (out / "_manifest").glob("*.parquet")) and not (out / "_manifest" / "_parts").exists()


def test_output_inside_input_is_not_reconverted(ray_cluster, tmp_path: Path, animegan_weights: Path) -> None:
    (tmp_path / "a.png").write_bytes(encoded(photo(24, 24)))
    cfg = ConvertConfig(input=str(tmp_path), output=str(tmp_path / "styled"), model=ModelSettings("animegan",
                    {"weights": str(animegan_weights)}))
    convert(cfg)
    second = convert(replace(cfg, resume=False))
    assert second.totals.inputs == 1


def test_single_file_input_and_max_side(ray_cluster, tmp_path: Path) -> None:
    image = tmp_path / "big.png"
    image.write_bytes(encoded(photo(120, 60)))
    result = convert(ConvertConfig(input=str(image), output=str(tmp_path / "out"), model=ModelSettings("onnx",
                               {"preset": "multistyle26"}), max_side=40))
    assert result.totals.converted == 1
    assert Image.open(tmp_path / "out" / "big.png").size == (40, 20)


def test_a_killed_runs_parts_are_folded_into_the_resume_state_once(s3) -> None:
    output = f"s3://{BUCKET}/killed"
    writer = ManifestWriter(RunLayout.for_folder(output, {}), "run-1", flush_rows=1)
    writer.add(pa.table({
        "input": ["s3://x/a.png", "s3://x/b.png"], "input_version": ["10:e1", "12:e2"], "output": ["o/a.png", ""],
        "status": ["converted", "failed"], "error": ["", "bad"], "operator": ["onnx"] * 2, "config_hash": ["h"] * 2,
        "width": [1, 0], "height": [1, 0], "seconds": [0.1, 0.0],
        "finished_at": pa.array([0, 0], pa.timestamp("ms", tz="UTC")), "run_id": ["run-1"] * 2,
    }))
    # the process dies here: no finish(); the part file is already in object storage
    manifests = finish_killed_runs(RunLayout.for_folder(output, {}), current_run="run-2")
    assert manifests == [f"{output}/_manifest/run-1.parquet"]
    assert json.loads(s3.cat_file(f"{BUCKET}/killed/_manifest/run-1.json"))["aborted"] is True
    fold_into_state(RunLayout.for_folder(output, {}), manifests)
    assert load_done(RunLayout.for_folder(output, {}), "h").to_pylist() == ["s3://x/a.png\n10:e1"]
    assert load_done(RunLayout.for_folder(output, {}), "other").to_pylist() == []
    assert finish_killed_runs(RunLayout.for_folder(output, {}), current_run="run-3") == []  # its parts are read once, then gone
