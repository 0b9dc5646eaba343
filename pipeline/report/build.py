"""Writing report pages: a run's page and the index, from its card and its manifest (during a run, at its
end or abort, and again by `stylebatch report`)."""
from __future__ import annotations

import calendar
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

from pipeline.report.card import RunCard, load_cards
from pipeline.report.page import index_page, run_page
from pipeline.runs.status import Counts
from pipeline.report.pictures import in_task
from pipeline.runs.layout import RunLayout
from pipeline.runs.manifest import run_rows, run_totals
from pipeline.storage import StoreRefused, filesystem, to_url, write_bytes

INDEX = "index.html"
log = logging.getLogger(__name__)


def write_page(report_url: str, card: RunCard, storage_options: Mapping[str, Any]) -> str:
    """Write REPORT/<run_id>.html from the card and the run's rows; returns its URL."""
    records = RunLayout.of_records(card.manifest_dir, storage_options)
    totals = run_totals(records, card.run_id)
    rows = run_rows(records, card.run_id)
    rate = totals.images_per_second if totals else None
    url = f"{report_url}/{card.run_id}.html"
    write_bytes(url, run_page(card, rows, rate).encode(), storage_options)
    return url


def run_counts(card: RunCard, storage_options: Mapping[str, Any]) -> tuple[Counts, float | None]:
    """A run's counts and its images (frames)/s from the totals it wrote; while it runs, or if it
    aborted without totals, the counts of the rows it recorded and no rate."""
    records = RunLayout.of_records(card.manifest_dir, storage_options)
    totals = run_totals(records, card.run_id)
    if totals:
        return totals, totals.images_per_second
    return Counts.of(run_rows(records, card.run_id)), None


def write_index(report_url: str, storage_options: Mapping[str, Any]) -> str:
    """Write REPORT/index.html listing every run with a card; returns its URL."""
    runs = [(card, run_counts(card, storage_options)[0]) for card in load_cards(report_url, storage_options)]
    url = f"{report_url}/{INDEX}"
    write_bytes(url, index_page(runs).encode(), storage_options)
    return url


def cards_from_manifests(layout: RunLayout) -> list[RunCard]:
    """Cards for the finished runs in OUTPUT's manifests that have none (runs of a release without
    reports): what the manifest knows (operator, config hash, times, counts); no options or pictures."""
    storage_options = layout.storage_options
    fs, report_root = layout.fs(layout.report_dir)
    manifest_dirs = layout.manifest_dirs()
    cards = []
    for folder, kind in manifest_dirs:
        mfs, root = filesystem(folder, storage_options)
        for path in sorted(mfs.glob(f"{root}/*.json")):
            run_id = path.rsplit("/", 1)[-1][: -len(".json")]
            if fs.exists(f"{report_root}/{run_id}.json"):
                continue
            totals = run_totals(RunLayout.of_records(folder, storage_options), run_id)
            if totals is None:
                continue
            try:
                started = float(calendar.timegm(time.strptime(run_id.split("-")[0], "%Y%m%dT%H%M%SZ")))
            except ValueError:
                continue  # not a run's summary
            card = RunCard(run_id=run_id, kind=kind, input="(not recorded)", output=layout.output, manifest_dir=folder,
                           operator=totals.operator, options={}, files={}, settings={"config_hash": totals.config_hash},
                           versions={}, started_at=started)
            card.end("aborted" if totals.aborted else "completed")
            card.ended_at = started + totals.seconds
            cards.append(card)
    return cards


def rebuild(output: str, storage_options: Mapping[str, Any]) -> tuple[str, int]:
    """`stylebatch report OUTPUT`: every run's page again from the cards and manifests (with cards made
    for runs that have none), and the index; returns the index URL and the number of pages."""
    layout = RunLayout.of_existing(output, storage_options)
    report_url = layout.report_dir
    for card in cards_from_manifests(layout):
        card.save(report_url, storage_options)
    cards = load_cards(report_url, storage_options)
    for card in cards:
        write_page(report_url, card, storage_options)
    return write_index(report_url, storage_options), len(cards)


@dataclass
class RunReport:
    """The report of a run in progress: its card is saved when the run starts; `pictures` fills the
    gallery; the page and index are written when the run ends, however it ends."""

    card: RunCard
    url: str
    storage_options: Mapping[str, Any]

    @property
    def page_url(self) -> str:
        """Where the run's page is written."""
        fs, root = filesystem(self.url, self.storage_options)
        return to_url(fs, f"{root}/{self.card.run_id}.html")

    def pictures(self, make: Callable[..., list[dict[str, str]]], *args: Any) -> None:
        """Fill the gallery with `make(*args)`, run in a task (see `pictures.in_task`)."""
        self.card.pictures = in_task(make, *args)

    def write(self, state: str, reason: str = "") -> str | None:
        """Save the ended card, its page and the index; the page's URL (None, and a warning, if the
        store refused: a report never fails a run)."""
        self.card.end(state, reason)
        try:
            self.card.save(self.url, self.storage_options)
            page = write_page(self.url, self.card, self.storage_options)
            write_index(self.url, self.storage_options)
            return page
        except Exception as exc:  # the run's outputs and manifest are written already
            if isinstance(exc, StoreRefused) and state == "aborted":
                return None  # full, or access denied: the run's closing line says so
            log.warning("could not write the run report in %s: %s", self.url, exc)
            return None


@contextlib.contextmanager
def reporting(card: RunCard, layout: RunLayout) -> Iterator[RunReport]:
    """Save the run's card in the layout's report folder now; write its page when the block ends:
    `completed`, or `aborted` with the first line of the error that stopped it."""
    report = RunReport(card, layout.report_dir, layout.storage_options)
    card.save(report.url, layout.storage_options)
    try:
        yield report
    except BaseException as exc:
        report.write("aborted", (str(exc).splitlines() or [type(exc).__name__])[0] or type(exc).__name__)
        raise
    report.write("completed")
