"""Run manifests: one Parquet row per input plus a JSON summary; earlier runs' rows drive resume."""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from typing import Any, Mapping

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.storage import atomic_writer, filesystem, to_url

SCHEMA = pa.schema(
    [
        ("input", pa.string()),
        ("output", pa.string()),
        ("status", pa.string()),
        ("error", pa.string()),
        ("operator", pa.string()),
        ("config_hash", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("seconds", pa.float64()),
        ("finished_at", pa.timestamp("ms", tz="UTC")),
        ("run_id", pa.string()),
    ]
)
STATUSES = ("converted", "skipped", "failed")
MANIFEST_DIR = "_manifest"
PARTS_DIR = "_parts"
LISTING_DIR = "listed"
LISTING_COLUMNS = ["input", "output", "status", "error"]
log = logging.getLogger(__name__)


@dataclass
class Totals:
    """Counts of one run; converted + skipped + failed = inputs."""

    run_id: str
    operator: str
    config_hash: str
    inputs: int = 0
    converted: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0
    images_per_second: float = 0.0


class ManifestWriter:
    """Streams manifest rows to part files while the run goes on, then joins them into one file.

    Parts written every `flush_rows` rows or `flush_seconds` seconds survive a killed run, so a
    rerun still skips what that run converted.
    """

    def __init__(self, output: str, run_id: str, storage_options: Mapping[str, Any],
                 flush_rows: int = 500, flush_seconds: float = 20.0) -> None:
        self.fs, root = filesystem(output, storage_options)
        self.storage_options = dict(storage_options)
        self.dir = f"{root}/{MANIFEST_DIR}"
        self.parts_dir = f"{self.dir}/{PARTS_DIR}/{run_id}"
        self.run_id = run_id
        self.pending: list[pa.Table] = []
        self.pending_rows = 0
        self.parts: list[str] = []
        self.flush_rows, self.flush_seconds = flush_rows, flush_seconds
        self.last_flush = time.monotonic()

    @property
    def parts_url(self) -> str:
        """Where this run's rows are while it goes on (folded into the next run's resume)."""
        return to_url(self.fs, self.parts_dir)

    def add(self, rows: pa.Table) -> None:
        """Queue rows (any column order; extra columns dropped) and flush when due."""
        self.pending.append(rows.select(SCHEMA.names).cast(SCHEMA))
        self.pending_rows += rows.num_rows
        if self.pending_rows >= self.flush_rows or time.monotonic() - self.last_flush > self.flush_seconds:
            self.flush()

    def flush(self) -> None:
        """Write queued rows as one more part file."""
        if self.pending:
            path = f"{self.parts_dir}/part-{len(self.parts):06d}.parquet"
            with atomic_writer(self.fs, path) as f:
                pq.write_table(pa.concat_tables(self.pending), f)
            self.parts.append(path)
            self.pending, self.pending_rows = [], 0
        self.last_flush = time.monotonic()

    def finish(self, totals: Totals) -> tuple[str, str]:
        """Join the parts into `_manifest/<run_id>.parquet`, write the JSON totals; return both URLs."""
        self.flush()
        table_path, json_path = f"{self.dir}/{self.run_id}.parquet", f"{self.dir}/{self.run_id}.json"
        with atomic_writer(self.fs, table_path) as f, pq.ParquetWriter(f, SCHEMA) as writer:
            for part in self.parts:
                with self.fs.open(part, "rb") as p:
                    writer.write_table(pq.read_table(p))
        with atomic_writer(self.fs, json_path) as f:
            f.write(json.dumps(asdict(totals), indent=2).encode())
        if self.parts:
            self.fs.rm(self.parts_dir, recursive=True)
            try:
                self.fs.rmdir(f"{self.dir}/{PARTS_DIR}")  # local disks keep empty folders
            except OSError:
                pass  # other runs' parts are still there, or the store has no folders
        return to_url(self.fs, table_path), to_url(self.fs, json_path)


class ListingJournal:
    """The inputs a run lists, written beside its manifest parts while the listing streams, so that at
    the end the run can tell which inputs never came back (their worker died on every retry)."""

    def __init__(self, parts_url: str, storage_options: Mapping[str, Any], rows_per_part: int = 50_000) -> None:
        self.fs, parts_dir = filesystem(parts_url, storage_options)
        self.dir = f"{parts_dir}/{LISTING_DIR}"
        self.rows_per_part = rows_per_part
        self.pending: list[pa.Table] = []
        self.pending_rows = 0
        self.written = 0

    def add(self, rows: pa.Table) -> None:
        self.pending.append(rows)
        self.pending_rows += rows.num_rows
        if self.pending_rows >= self.rows_per_part:
            self.close()

    def close(self) -> None:
        """Write what is queued (parts are numbered, so a retried listing task overwrites its own)."""
        if self.pending:
            with atomic_writer(self.fs, f"{self.dir}/part-{self.written:06d}.parquet") as f:
                pq.write_table(pa.concat_tables(self.pending), f)
            self.written += 1
            self.pending, self.pending_rows = [], 0


def unrecorded(parts_url: str, storage_options: Mapping[str, Any]) -> pa.Table:
    """Rows of the run's listing whose input has no manifest row in its parts yet."""
    fs, parts_dir = filesystem(parts_url, storage_options)
    listed = [_read(fs, p) for p in sorted(fs.glob(f"{parts_dir}/{LISTING_DIR}/*.parquet"))]
    if not listed:
        return pa.table({name: pa.array([], pa.string()) for name in LISTING_COLUMNS})
    recorded = [_read(fs, p, ["input"])["input"] for p in fs.glob(f"{parts_dir}/*.parquet")]
    table = pa.concat_tables(listed).select(LISTING_COLUMNS)
    if not recorded:
        return table
    return table.filter(pc.invert(pc.is_in(table["input"], value_set=pa.chunked_array(recorded).combine_chunks())))


def failed_rows(listed: pa.Table, reason: str) -> pa.Table:
    """Manifest rows that fail the `listed` inputs with one reason."""
    n = listed.num_rows
    return pa.table({
        "input": listed["input"], "output": listed["output"], "status": pa.array(["failed"] * n, pa.string()),
        "error": pa.array([reason] * n, pa.string()), "width": pa.array([0] * n, pa.int32()),
        "height": pa.array([0] * n, pa.int32()), "seconds": pa.array([0.0] * n),
        "finished_at": pa.array([time.time_ns() // 1_000_000] * n, pa.timestamp("ms", tz="UTC")),
    })


def _read(fs: Any, path: str, columns: list[str] | None = None) -> pa.Table:
    with fs.open(path, "rb") as f:
        return pq.read_table(f, columns=columns)


def converted_inputs(output: str, storage_options: Mapping[str, Any], config_hash: str) -> pa.Array:
    """Inputs that earlier runs (finished or killed) converted into `output` with this config."""
    fs, root = filesystem(output, storage_options)
    paths = fs.glob(f"{root}/{MANIFEST_DIR}/*.parquet") + fs.glob(f"{root}/{MANIFEST_DIR}/{PARTS_DIR}/*/*.parquet")
    found = []
    for path in paths:
        try:
            with fs.open(path, "rb") as f:
                table = pq.read_table(f, columns=["input", "status", "config_hash"])
        except (OSError, pa.ArrowException) as exc:  # a file cut short by a killed write (older releases)
            log.warning("skipping unreadable manifest file %s (%s); its inputs count as not done",
                        to_url(fs, path), exc)
            continue
        keep = pc.and_(pc.equal(table["status"], "converted"), pc.equal(table["config_hash"], config_hash))
        found.append(table.filter(keep)["input"])
    if not found:
        return pa.array([], pa.string())
    return pc.unique(pa.chunked_array(found, pa.string()).combine_chunks())
