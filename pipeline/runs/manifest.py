"""Run manifests: one Parquet row per input plus a JSON summary, streamed as parts while a run goes on."""
from __future__ import annotations

import contextlib
import json
import logging
import posixpath
import tempfile
import time
from dataclasses import asdict
from typing import Any, Mapping

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.runs.layout import RunLayout
from pipeline.runs.status import Status, Totals
from pipeline.storage import atomic_writer, to_url

SCHEMA = pa.schema(
    [
        ("input", pa.string()),
        ("input_version", pa.string()),
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
        ("variant", pa.string()),  # the style's name in a run of several (`--variant`); "" in a run of one
    ]
)
LISTING_COLUMNS = ["input", "input_version", "output", "status", "error", "member"]  # member: of an archive
STYLE_COLUMNS = ["variant", "config_hash"]  # which style a listed row is for, where the listing says
NAMED_FAILURES = 5  # failed inputs a run's closing lines name (the report and `status` have the rest)
log = logging.getLogger(__name__)


class ManifestWriter:
    """Streams manifest rows to part files while the run goes on, then joins them into one file.

    Parts written every `flush_rows` rows or `flush_seconds` seconds survive a killed run, so a
    rerun still skips what that run converted.
    """

    def __init__(self, layout: RunLayout, run_id: str, flush_rows: int = 10_000, flush_seconds: float = 30.0) -> None:
        self.layout, self.run_id = layout, run_id
        self.fs, self.parts_dir = layout.fs(layout.parts_dir(run_id))
        self.pending: list[pa.Table] = []
        self.pending_rows = 0
        self.parts: list[str] = []
        self.flush_rows, self.flush_seconds = flush_rows, flush_seconds
        self.last_flush = time.monotonic()
        self.failures: list[tuple[str, str]] = []  # (input, reason) of the first failed rows joined

    @property
    def parts_url(self) -> str:
        """Where this run's rows are while it goes on (folded into the next run's resume)."""
        return self.layout.parts_dir(self.run_id)

    def add(self, rows: pa.Table) -> None:
        """Queue rows (any column order; extra columns dropped) and flush when due."""
        self.pending.append(conform(rows))
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

    def spill(self) -> tuple[str, int]:
        """Write the queued rows to a local file when OUTPUT takes no more (full, or access denied),
        so that what the run did is still readable; (its path, how many rows)."""
        path = posixpath.join(tempfile.gettempdir(), f"stylebatch-{self.run_id}-unrecorded.parquet")
        rows = pa.concat_tables(self.pending) if self.pending else SCHEMA.empty_table()
        pq.write_table(rows, path)
        return path, rows.num_rows

    def _keep_failures(self, table: pa.Table) -> None:
        """Keep the first NAMED_FAILURES failed rows' input and reason (the run's closing lines name them)."""
        room = NAMED_FAILURES - len(self.failures)
        if room > 0 and table.num_rows:
            failed = table.filter(pc.equal(table["status"], Status.FAILED.value)).slice(0, room)
            self.failures += zip(failed["input"].to_pylist(), failed["error"].to_pylist())

    def finish(self, totals: Totals) -> tuple[str, str]:
        """Join every part of the run (the driver's, and the listing's rows settled without work) into
        `_manifest/<run_id>.parquet`, count `totals` from what was joined, write them as JSON;
        return both URLs."""
        self.flush()
        table_path, json_path = (self.layout.fs(url)[1] for url in (self.layout.manifest(self.run_id),
                                                                        self.layout.summary(self.run_id)))
        totals.clear()
        with atomic_writer(self.fs, table_path) as f, pq.ParquetWriter(f, SCHEMA) as writer:
            for part in sorted(self.fs.glob(f"{self.parts_dir}/*.parquet")):
                try:
                    table = conform(_read(self.fs, part))
                except (OSError, pa.ArrowException, KeyError) as exc:  # cut short by an older release
                    log.warning("skipping unreadable manifest part %s (%s)", to_url(self.fs, part), exc)
                    continue
                writer.write_table(table)
                totals.count(table)
                self._keep_failures(table)
                if not totals.operator and table.num_rows:
                    totals.operator, totals.config_hash = table["operator"][0].as_py(), table["config_hash"][0].as_py()
        with atomic_writer(self.fs, json_path) as f:
            f.write(json.dumps(asdict(totals), indent=2).encode())
        if self.fs.exists(self.parts_dir):
            self.fs.rm(self.parts_dir, recursive=True)
            try:
                self.fs.rmdir(self.layout.fs(self.layout.parts_root)[1])  # local disks keep empty folders
            except OSError:
                pass  # other runs' parts are still there, or the store has no folders
        return to_url(self.fs, table_path), to_url(self.fs, json_path)


def finish_killed_runs(layout: RunLayout, current_run: str) -> list[str]:
    """Give every run that was killed (parts left, no manifest) its manifest, its totals marked
    `aborted`, and delete its parts, so that no later run reads them again; returns the manifests."""
    fs, parts_root = layout.fs(layout.parts_root)
    try:
        runs = [p for p in fs.ls(parts_root, detail=True) if p["type"] == "directory"]
    except FileNotFoundError:
        return []
    manifests = []
    for run in runs:
        run_id = posixpath.basename(run["name"].rstrip("/"))
        if run_id == current_run:
            continue
        writer = ManifestWriter(layout, run_id)
        totals = Totals(run_id=run_id, operator="", config_hash="", aborted=True)
        manifests.append(writer.finish(totals)[0])
        log.warning("run %s was stopped before it finished; its %d recorded inputs are folded in", run_id, totals.inputs)
    return manifests


class PartStream:
    """Tables appended to numbered Parquet parts `<prefix>-NNNNNN.parquet` in one folder, a part per
    `rows_per_part` rows (numbered, so a retried task overwrites its own parts)."""

    def __init__(self, fs: Any, folder: str, prefix: str, rows_per_part: int) -> None:
        self.fs, self.folder, self.prefix, self.rows_per_part = fs, folder, prefix, rows_per_part
        self.pending: list[pa.Table] = []
        self.pending_rows = 0
        self.written = 0

    def add(self, rows: pa.Table) -> None:
        self.pending.append(rows)
        self.pending_rows += rows.num_rows
        if self.pending_rows >= self.rows_per_part:
            self.close()

    def close(self) -> None:
        """Write what is queued."""
        if self.pending:
            with atomic_writer(self.fs, f"{self.folder}/{self.prefix}-{self.written:06d}.parquet") as f:
                pq.write_table(pa.concat_tables(self.pending), f)
            self.written += 1
            self.pending, self.pending_rows = [], 0


LISTING_END = "end.json"  # in a run's listing journal: the listing ended, and whether it listed everything


class ListingJournal:
    """What the listing task found, written beside the run's manifest parts while the listing streams:
    inputs with work to do (so that at the end the run can tell which never came back: their worker
    died on every retry), and the manifest rows of inputs settled at listing (done already, or a
    name with no valid output key), which then never travel through the chain."""

    def __init__(self, layout: RunLayout, run_id: str, constants: Mapping[str, str], rows_per_part: int = 50_000) -> None:
        fs, parts_dir = layout.fs(layout.parts_dir(run_id))
        listing_dir = layout.fs(layout.listing_dir(run_id))[1]
        self.fs, self.constants = fs, dict(constants)
        self.pending = PartStream(fs, listing_dir, "part", rows_per_part)
        self.settled = PartStream(fs, parts_dir, "settled", rows_per_part)
        self.end = f"{listing_dir}/{LISTING_END}"

    def add(self, rows: pa.Table) -> pa.Table:
        """Journal a batch of listed rows (LISTING_COLUMNS, STYLE_COLUMNS where the run has several
        styles, and any others the chain needs); returns the ones with work to do."""
        pending = pc.equal(rows["status"], Status.PENDING.value)
        todo = rows.filter(pending)
        settled = rows.filter(pc.invert(pending))
        if todo.num_rows:
            self.pending.add(todo.select([name for name in LISTING_COLUMNS + STYLE_COLUMNS if name in rows.column_names]))
        if settled.num_rows:
            self.settled.add(manifest_rows(settled, self.constants))
        return todo

    def close(self, stopped: str = "") -> None:
        """Write what is queued, then the listing's end, which a run checks: inputs after a failed
        listing are never seen. `stopped` says why the listing failed ("" when it listed everything):
        then what is queued goes where OUTPUT still takes it, and the end is written in any case."""
        for stream in (self.pending, self.settled):
            with contextlib.suppress(OSError) if stopped else contextlib.nullcontext():
                stream.close()
        with atomic_writer(self.fs, self.end) as f:
            f.write(json.dumps({"stopped": stopped}).encode())


def listing_stopped(layout: RunLayout, run_id: str) -> str:
    """Why the run's listing ended before it listed every input ("" when it listed them all)."""
    fs, folder = layout.fs(layout.listing_dir(run_id))
    try:
        with fs.open(f"{folder}/{LISTING_END}", "rb") as f:
            return json.load(f)["stopped"]
    except FileNotFoundError:
        return "its task did not finish, and OUTPUT holds no word of why (see the driver's log)"


def unrecorded(layout: RunLayout, run_id: str) -> pa.Table:
    """Rows of the run's listing (an input, or an input in one style) with no manifest row in its
    parts yet."""
    table, recorded = _listing_and_records(layout, run_id)
    if not recorded.num_rows:
        return table
    return table.filter(pc.invert(pc.is_in(row_key(table), value_set=row_key(recorded))))


def converted_listing(layout: RunLayout, run_id: str) -> pa.Table:
    """Rows of the run's listing (with their archive `member`) that it has converted so far."""
    table, recorded = _listing_and_records(layout, run_id)
    done = recorded.filter(pc.equal(recorded["status"], Status.CONVERTED.value))
    return table.filter(pc.is_in(row_key(table), value_set=row_key(done)))


def row_key(table: pa.Table) -> pa.Array:
    """What names a row of a run: its input, and its style where the run has several."""
    variants = table["variant"] if "variant" in table.column_names else pa.array([""] * table.num_rows, pa.string())
    return pc.binary_join_element_wise(table["input"], variants, "\n").combine_chunks()


def _listing_and_records(layout: RunLayout, run_id: str) -> tuple[pa.Table, pa.Table]:
    """The run's listing journal and the (input, status, variant) of its recorded rows, from its parts."""
    fs, parts_dir = layout.fs(layout.parts_dir(run_id))
    listed = [_read(fs, p) for p in sorted(fs.glob(f"{layout.fs(layout.listing_dir(run_id))[1]}/*.parquet"))]
    table = (pa.concat_tables(listed) if listed
             else pa.table({name: pa.array([], pa.string()) for name in LISTING_COLUMNS}))
    recorded = [_read(fs, p, ["input", "status", "variant"]) for p in fs.glob(f"{parts_dir}/*.parquet")]
    return table, (pa.concat_tables(recorded) if recorded
                   else pa.table({name: pa.array([], pa.string()) for name in ("input", "status", "variant")}))


def failed_rows(listed: pa.Table, reason: str) -> pa.Table:
    """Manifest rows that fail the `listed` inputs (in their variants, where the run has several)
    with one reason."""
    n = listed.num_rows
    kept = [name for name in ("input", "input_version", "output", *STYLE_COLUMNS) if name in listed.column_names]
    return manifest_rows(listed.select(kept).append_column(
        "status", pa.array([Status.FAILED.value] * n, pa.string())).append_column("error", pa.array([reason] * n, pa.string())))


def manifest_rows(listed: pa.Table, constants: Mapping[str, str] | None = None) -> pa.Table:
    """Listed rows as manifest rows of inputs that got no work: no time, done now, and no size unless
    the listing knew it (a video's segments)."""
    n = listed.num_rows
    columns = {"width": pa.array([0] * n, pa.int32()), "height": pa.array([0] * n, pa.int32()),
               "seconds": pa.array([0.0] * n),
               "finished_at": pa.array([time.time_ns() // 1_000_000] * n, pa.timestamp("ms", tz="UTC")),
               "variant": pa.array([""] * n, pa.string()),
               **{name: pa.array([value] * n, pa.string()) for name, value in (constants or {}).items()}}
    table = listed.select([name for name in listed.column_names if name in SCHEMA.names])
    for name, values in columns.items():
        if name not in table.column_names:
            table = table.append_column(name, values)
    return table


def conform(rows: pa.Table) -> pa.Table:
    """Rows as SCHEMA has them: its columns in its order; a manifest written before runs had
    several styles gets the empty `variant`."""
    if "variant" not in rows.column_names:
        rows = rows.append_column("variant", pa.array([""] * rows.num_rows, pa.string()))
    return rows.select(SCHEMA.names).cast(SCHEMA)


def _read(fs: Any, path: str, columns: list[str] | None = None) -> pa.Table:
    with fs.open(path, "rb") as f:
        return pq.read_table(f, columns=columns)


def run_rows(layout: RunLayout, run_id: str) -> pa.Table:
    """A run's manifest rows: its joined manifest once it has finished, else the parts it has written so
    far (a run still going, or one that aborted); unreadable parts are skipped."""
    fs, joined = layout.fs(layout.manifest(run_id))
    paths = [joined] if fs.exists(joined) else sorted(fs.glob(f"{layout.fs(layout.parts_dir(run_id))[1]}/*.parquet"))
    tables = []
    for path in paths:
        try:
            tables.append(conform(_read(fs, path)))
        except (OSError, pa.ArrowException, KeyError) as exc:
            log.warning("skipping unreadable manifest file %s (%s)", to_url(fs, path), exc)
    return pa.concat_tables(tables) if tables else SCHEMA.empty_table()


def run_totals(layout: RunLayout, run_id: str) -> Totals | None:
    """The totals a finished run wrote (`<run_id>.json`); None while it runs or if it aborted unwritten."""
    fs, path = layout.fs(layout.summary(run_id))
    try:
        return Totals(**json.loads(fs.cat_file(path)))
    except (FileNotFoundError, ValueError, TypeError):
        return None
