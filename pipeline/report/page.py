"""The report pages as self-contained HTML: inline style and SVG, thumbnails linked by relative paths,
so a page reads the same from a file, a static web server or a bucket's website."""
from __future__ import annotations

import html
import json
import time
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.report.card import RunCard
from pipeline.report.figures import STATUS_COLOURS, segment_timeline, throughput_chart
from pipeline.runs.status import Counts, Status

NAMES_PER_REASON = 20
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; color: #1a202c; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #e2e8f0; }
table { border-collapse: collapse; } td, th { padding: .25rem .75rem; text-align: left; vertical-align: top; }
tr:nth-child(even) { background: #f7fafc; } code, pre { font-size: .85rem; }
pre { background: #f7fafc; padding: .5rem; overflow-x: auto; }
.state { padding: .1rem .5rem; border-radius: .3rem; color: white; }
.completed { background: #2f855a; } .aborted { background: #c53030; } .running { background: #b7791f; }
.gallery { display: flex; flex-wrap: wrap; gap: 1rem; }
figure { margin: 0; } figure img { max-width: 256px; max-height: 256px; display: inline-block; }
figcaption { font-size: .8rem; max-width: 520px; overflow-wrap: anywhere; color: #4a5568; }
.failed-reason { margin-bottom: 1rem; } .failed-reason ul { margin: .25rem 0; }
"""


def when(seconds: float | None) -> str:
    """A time as people read it (UTC)."""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds)) if seconds else "-"


def _table(rows: Iterable[tuple[str, Any]]) -> str:
    return "<table>" + "".join(f"<tr><th>{html.escape(k)}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head>'
            f"<body>{body}</body></html>\n")


def reason_of(error: str, name: str) -> str:
    """An error with its own input's name taken out, so that the same cause groups together."""
    for form in sorted({name, name.split("://", 1)[-1], name.rsplit("/", 1)[-1]}, key=len, reverse=True):
        if form:
            error = error.replace(form, "…")
    return error


def failures_by_reason(rows: pa.Table) -> list[tuple[str, list[str]]]:
    """Failed inputs grouped by reason, the most common reason first."""
    failed = rows.filter(pc.equal(rows["status"], Status.FAILED.value))
    groups: dict[str, list[str]] = {}
    for name, error in zip(failed["input"].to_pylist(), failed["error"].to_pylist()):
        groups.setdefault(reason_of(error or "(no reason recorded)", name), []).append(name)
    return sorted(groups.items(), key=lambda item: -len(item[1]))


def _failures(rows: pa.Table) -> str:
    groups = failures_by_reason(rows)
    if not groups:
        return "<p>No input failed.</p>"
    parts = []
    for reason, names in groups:
        shown = "".join(f"<li><code>{html.escape(n)}</code></li>" for n in names[:NAMES_PER_REASON])
        more = (f"<li>and {len(names) - NAMES_PER_REASON} more (all are in the manifest)</li>"
                if len(names) > NAMES_PER_REASON else "")
        parts.append(f'<div class="failed-reason"><strong>{len(names)} ×</strong> {html.escape(reason)}'
                     f"<ul>{shown}{more}</ul></div>")
    return "".join(parts)


def _gallery(card: RunCard) -> str:
    if not card.pictures:
        return "<p>No pictures: nothing was converted in this run, or they could not be made.</p>"
    figures = [f'<figure><img src="{html.escape(p["before"])}" alt="before" loading="lazy"> '
               f'<img src="{html.escape(p["after"])}" alt="after" loading="lazy">'
               f"<figcaption>{html.escape(p['input'])}</figcaption></figure>" for p in card.pictures]
    return f'<p>Before (left) and after (right), a sample spread over the run.</p><div class="gallery">{"".join(figures)}</div>'


def _finish_times(rows: pa.Table, card: RunCard, status: str = Status.CONVERTED.value) -> list[float]:
    chosen = rows.filter(pc.equal(rows["status"], status))
    return [t.timestamp() - card.started_at for t in chosen["finished_at"].to_pylist() if t is not None]


def _segments(rows: pa.Table, card: RunCard, duration: float) -> str:
    worked = rows.filter(pc.not_equal(rows["status"], Status.SKIPPED.value))
    spans, table = [], []
    for name, status, seconds, finished, error in zip(*(worked[c].to_pylist() for c in
                                                        ("input", "status", "seconds", "finished_at", "error"))):
        frames = name.rsplit("#frames=", 1)[-1]
        end = finished.timestamp() - card.started_at if finished else duration
        spans.append((f"frames {frames}", max(0.0, end - (seconds or 0.0)), end, status))
        colour = STATUS_COLOURS.get(status, "#718096")
        table.append(f'<tr><td>{html.escape(frames)}</td><td style="color:{colour}">{status}</td>'
                     f"<td>{seconds or 0:.1f}</td><td>{html.escape(error or '')}</td></tr>")
    skipped = rows.num_rows - worked.num_rows
    return (segment_timeline(spans, duration)
            + (f"<p>{skipped} segments were done by an earlier run and skipped.</p>" if skipped else "")
            + "<table><tr><th>frames</th><th>status</th><th>seconds</th><th>error</th></tr>" + "".join(table) + "</table>")


def run_page(card: RunCard, rows: pa.Table, rate: float | None) -> str:
    """The page of one run."""
    counts = Counts.of(rows)
    unit = "frames" if card.kind == "video" else "images"
    duration = (card.ended_at or time.time()) - card.started_at
    state = {"completed": "completed", "aborted": "aborted", "running": "running, or stopped without a word"}[card.state]
    summary = [
        ("input", f"<code>{html.escape(card.input)}</code>"),
        ("output", f"<code>{html.escape(card.output)}</code>"),
        ("started", when(card.started_at)), ("ended", when(card.ended_at)), ("took", f"{duration:.1f} s"),
        ("inputs" if card.kind != "video" else "segments", counts.inputs),
        ("converted", counts.converted), ("skipped", counts.skipped), ("failed", counts.failed),
    ]
    if rate is not None:
        summary.append((f"{unit}/s", f"{rate:.2f}"))
    if card.reason:
        summary.append(("why it stopped", html.escape(card.reason)))
    if card.note:
        summary.append(("notes", "<br>".join(html.escape(line) for line in card.note.splitlines())))
    body = [f'<h1>stylebatch {card.kind} run <code>{html.escape(card.run_id)}</code> '
            f'<span class="state {card.state}">{state}</span></h1>', '<p><a href="index.html">all runs</a></p>',
            _table(summary)]
    variants = Counts.by_variant(rows)
    if variants:
        body += ["<h2>Variants</h2>", _variants(variants, card)]
    if card.kind == "video":
        body += ["<h2>Segments</h2>", _segments(rows, card, duration)]
    else:
        chart = throughput_chart(_finish_times(rows, card), duration, unit)
        body += ["<h2>Throughput</h2>", chart or "<p>Nothing was converted in this run.</p>"]
    body += [f"<h2>Failures ({counts.failed})</h2>", _failures(rows), "<h2>Pictures</h2>", _gallery(card)]
    if card.pages:
        body += ["<h2>Pages</h2><ul>" + "".join(f'<li><a href="{html.escape(u)}">{html.escape(u)}</a></li>'
                                                 for u in card.pages) + "</ul>"]
    files = {option: ", ".join(digests) for option, digests in card.files.items()}
    body += ["<h2>Configuration</h2>", _table([
        ("operator", f"<code>{html.escape(card.operator)}</code>"),
        ("options", f"<pre>{html.escape(json.dumps(card.options, indent=2, sort_keys=True, default=str))}</pre>"),
        *((f"{option} SHA-256", f"<code>{html.escape(digest)}</code>") for option, digest in files.items()),
        ("settings", f"<pre>{html.escape(json.dumps(card.settings, indent=2, sort_keys=True, default=str))}</pre>"),
        ("versions", html.escape(", ".join(f"{k} {v}" for k, v in card.versions.items()))),
    ])]
    return _page(f"stylebatch run {card.run_id}", "".join(body))


def _variants(variants: list[tuple[str, Counts]], card: RunCard) -> str:
    """One line per variant of a run of several styles: its folder, counts and the options in which
    the variants differ."""
    options = card.settings.get("variants", {})
    keys = sorted({key for chosen in options.values() for key in chosen})
    differing = [key for key in keys if len({json.dumps(chosen.get(key), default=str) for chosen in options.values()}) > 1]
    lines = "".join(
        f"<tr><td><code>{html.escape(name)}/</code></td><td>{c.converted}</td><td>{c.skipped}</td><td>{c.failed}</td>"
        "<td><code>" + html.escape(", ".join(f"{key}={options.get(name, {}).get(key)}" for key in differing))
        + "</code></td></tr>" for name, c in variants)
    return ("<table><tr><th>variant (folder in OUTPUT)</th><th>converted</th><th>skipped</th><th>failed</th>"
            f"<th>options</th></tr>{lines}</table>")


def index_page(runs: list[tuple[RunCard, Counts]]) -> str:
    """Every run in this report folder, newest first."""
    rows = "".join(
        f'<tr><td><a href="{html.escape(card.run_id)}.html">{html.escape(card.run_id)}</a></td><td>{card.kind}</td>'
        f'<td><span class="state {card.state}">{card.state}</span></td><td>{when(card.started_at)}</td>'
        f"<td>{c.inputs}</td><td>{c.converted}</td><td>{c.skipped}</td><td>{c.failed}</td></tr>"
        for card, c in reversed(runs))
    return _page("stylebatch runs", "<h1>stylebatch runs</h1><table><tr><th>run</th><th>kind</th><th>state</th>"
                 "<th>started</th><th>inputs</th><th>converted</th><th>skipped</th><th>failed</th></tr>"
                 f"{rows}</table>")
