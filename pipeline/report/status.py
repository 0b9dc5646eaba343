"""`stylebatch status OUTPUT`: one screen from the run cards and manifests, for people and cron mail."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Mapping

from pipeline.runs.lease import current_holder
from pipeline.runs.layout import RunLayout
from pipeline.runs.manifest import run_rows
from pipeline.report.build import INDEX, cards_from_manifests, run_counts
from pipeline.report.card import load_cards
from pipeline.report.page import failures_by_reason, when

REASONS_SHOWN = 10


@dataclass
class Status:
    """What `status` prints, and whether the last run went well (exit status 0) or not (1)."""

    lines: list[str]
    healthy: bool


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
        return Status([f"{output}: no runs yet ({held})"], healthy=True)
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
    groups = failures_by_reason(run_rows(records, last.run_id)) if counts.failed else []
    if groups:
        lines.append("  failures by reason:")
        for reason, names in groups[:REASONS_SHOWN]:
            lines.append(f"  {len(names):>7}  {reason}  (e.g. {names[0]})")
        if len(groups) > REASONS_SHOWN:
            lines.append(f"  ... and {len(groups) - REASONS_SHOWN} more reasons (see the report)")
    every = [run_counts(card, storage_options)[0] for card in cards]
    lines.append(f"all runs: {sum(c.converted for c in every)} converted, {sum(c.skipped for c in every)} skipped, "
                 f"{sum(c.failed for c in every)} failed")
    lines.append(f"report: {report_url}/{INDEX}")
    running = last.state == "running" and holder is not None and holder.run_id == last.run_id
    return Status(lines, healthy=not counts.failed and (last.state == "completed" or running))
