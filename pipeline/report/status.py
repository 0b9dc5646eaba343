"""`stylebatch status OUTPUT`: one screen from the run cards and manifests, for people and cron mail."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Mapping

import pyarrow as pa
import pyarrow.compute as pc

from operators.errors import ConfigError
from pipeline.runs.lease import current_holder
from pipeline.runs.status import Counts, Status as RowStatus
from pipeline.runs.layout import RunLayout
from pipeline.runs.manifest import row_key, run_rows
from pipeline.report.build import INDEX, cards_from_manifests, run_counts
from pipeline.report.card import load_cards
from pipeline.report.page import failures_by_reason, when

REASONS_SHOWN = 10


@dataclass
class Status:
    """What `status` prints, and whether the last run went well (exit status 0) or not (1)."""

    lines: list[str]
    healthy: bool


def latest_counts(runs: list[pa.Table]) -> Counts:
    """Counts of every input of `runs` (manifest rows, oldest run first) once, in its latest state: a
    rerun's `skipped` keeps what an earlier run did to it; an input only ever skipped counts skipped."""
    rows = pa.concat_tables([_keyed(table) for table in runs]) if runs else None
    if rows is None or not rows.num_rows:
        return Counts()
    worked = rows.filter(pc.not_equal(rows["status"], RowStatus.SKIPPED.value))
    latest = worked.group_by("input", use_threads=False).aggregate([("status", "last")])  # -> input, status_last
    counts = Counts.of(latest.rename_columns(["input", "status"]))
    only_skipped = pc.count_distinct(rows.filter(pc.invert(pc.is_in(rows["input"], latest["input"])))["input"]).as_py()
    counts.skipped += only_skipped
    counts.inputs += only_skipped
    return counts


def _keyed(rows: pa.Table) -> pa.Table:
    """(input, status) of manifest rows, an input in a variant counting as an input of its own."""
    return pa.table({"input": row_key(rows), "status": rows["status"]})


def output_status(output: str, storage_options: Mapping[str, Any]) -> Status:
    """Runs, the last run's counts, time and throughput, its failures by reason, all runs' counts,
    and whether a run holds OUTPUT now."""
    layout = RunLayout.of_existing(output, storage_options)
    report_url = layout.report_dir
    cards = sorted(load_cards(report_url, storage_options) + cards_from_manifests(layout),
                   key=lambda card: card.started_at)
    holder = current_holder(layout)
    held = (f"held now by {holder.describe()}; its lease ends in {max(0, int(holder.expires_at - time.time()))} s "
            "unless renewed") if holder else "no run holds it now"
    if not cards:
        raise ConfigError(f"{output}: no stylebatch runs here (nothing in its _manifest or _report; {held}): "
                          "check the path, or run convert, video or comic into it first")
    last = cards[-1]
    counts, rate = run_counts(last, storage_options)
    unit = "frames" if last.kind == "video" else "images"
    took = f" in {(last.ended_at - last.started_at):.1f} s" if last.ended_at else ""
    lines = [f"{output}: {len(cards)} runs; {held}",
             f"last run {last.run_id} ({last.kind}, {last.operator}, {last.state}), started {when(last.started_at)}{took}:",
             f"  {counts.converted} converted, {counts.skipped} skipped, {counts.failed} failed of {counts.inputs}"
             + (f"; {rate:.2f} {unit}/s" if rate is not None else "")]
    if last.reason:
        lines.append(f"  stopped: {last.reason}")
    records = RunLayout.of_records(last.manifest_dir, storage_options)
    rows = run_rows(records, last.run_id)
    for variant, by_variant in Counts.by_variant(rows):
        lines.append(f"    variant {variant}: {by_variant.converted} converted, {by_variant.skipped} skipped, "
                     f"{by_variant.failed} failed")
    groups = failures_by_reason(rows) if counts.failed else []
    if groups:
        lines.append("  failures by reason:")
        for reason, names in groups[:REASONS_SHOWN]:
            lines.append(f"  {len(names):>7}  {reason}  (e.g. {names[0]})")
        if len(groups) > REASONS_SHOWN:
            lines.append(f"  ... and {len(groups) - REASONS_SHOWN} more reasons (see the report)")
    every = latest_counts([run_rows(RunLayout.of_records(card.manifest_dir, storage_options), card.run_id)
                           for card in cards])
    lines.append(f"all runs: {every.inputs} inputs, each in its latest state: {every.converted} converted, "
                 f"{every.skipped} skipped, {every.failed} failed")
    lines.append(f"report: {report_url}/{INDEX}")
    running = last.state == "running" and holder is not None and holder.run_id == last.run_id
    return Status(lines, healthy=not counts.failed and (last.state == "completed" or running))
