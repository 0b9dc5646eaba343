"""Writing report pages: a run's page and the index, from its card and its manifest (during a run, at its
end or abort, and again by `stylebatch report`)."""
from __future__ import annotations

import calendar
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

from pipeline.keys import WORK_SUFFIX
from pipeline.manifest import MANIFEST_DIR, run_rows, run_totals
from pipeline.report.card import REPORT_DIR, RunCard, load_cards
from pipeline.report.page import Counts, index_page, run_page
from pipeline.report.pictures import in_task
from pipeline.storage import filesystem, to_url, write_bytes

INDEX = "index.html"
log = logging.getLogger(__name__)


def report_folder(output: str, storage_options: Mapping[str, Any]) -> str:
    """The report folder of OUTPUT: OUTPUT/_report, or OUTPUT.work/_report for a video or an archive
    (whose OUTPUT is one file)."""
    fs, root = filesystem(output, storage_options)
    if fs.exists(f"{root}{WORK_SUFFIX}/{REPORT_DIR}") or fs.isfile(root):
        return f"{output}{WORK_SUFFIX}/{REPORT_DIR}"
    return f"{output}/{REPORT_DIR}"


def write_page(report_url: str, card: RunCard, storage_options: Mapping[str, Any]) -> str:
    """Write REPORT/<run_id>.html from the card and the run's rows; returns its URL."""
    totals = run_totals(card.manifest_dir, card.run_id, storage_options)
    rows = run_rows(card.manifest_dir, card.run_id, storage_options)
    rate = totals.images_per_second if totals else None
    url = f"{report_url}/{card.run_id}.html"
    write_bytes(url, run_page(card, rows, rate).encode(), storage_options)
    return url


def run_counts(card: RunCard, storage_options: Mapping[str, Any]) -> tuple[Counts, float | None]:
    """A run's counts and its images (frames)/s from the totals it wrote; while it runs, or if it
    aborted without totals, the counts of the rows it recorded and no rate."""
    totals = run_totals(card.manifest_dir, card.run_id, storage_options)
    if totals:
        return Counts(totals.inputs, totals.converted, totals.skipped, totals.failed), totals.images_per_second
    return Counts.of(run_rows(card.manifest_dir, card.run_id, storage_options)), None


def write_index(report_url: str, storage_options: Mapping[str, Any]) -> str:
    """Write REPORT/index.html listing every run with a card; returns its URL."""
    runs = [(card, run_counts(card, storage_options)[0]) for card in load_cards(report_url, storage_options)]
    url = f"{report_url}/{INDEX}"
    write_bytes(url, index_page(runs).encode(), storage_options)
    return url


def cards_from_manifests(output: str, report_url: str, storage_options: Mapping[str, Any]) -> list[RunCard]:
    """Cards for the finished runs in OUTPUT's manifests that have none (runs of a release without
    reports): what the manifest knows (operator, config hash, times, counts); no options or pictures."""
    fs, report_root = filesystem(report_url, storage_options)
    manifest_dirs = [(f"{output}/{MANIFEST_DIR}", "convert")]
    if report_url.startswith(f"{output}{WORK_SUFFIX}"):  # a video (one manifest folder per configuration) or an archive
        work_fs, work_root = filesystem(f"{output}{WORK_SUFFIX}", storage_options)
        manifest_dirs = [(to_url(work_fs, p), "video") for p in work_fs.glob(f"{work_root}/*/{MANIFEST_DIR}")]
        manifest_dirs.append((f"{output}{WORK_SUFFIX}/{MANIFEST_DIR}", "convert"))
    cards = []
    for folder, kind in manifest_dirs:
        mfs, root = filesystem(folder, storage_options)
        for path in sorted(mfs.glob(f"{root}/*.json")):
            run_id = path.rsplit("/", 1)[-1][: -len(".json")]
            if fs.exists(f"{report_root}/{run_id}.json"):
                continue
            totals = run_totals(folder, run_id, storage_options)
            if totals is None:
                continue
            try:
                started = float(calendar.timegm(time.strptime(run_id.split("-")[0], "%Y%m%dT%H%M%SZ")))
            except ValueError:
                continue  # not a run's summary
            card = RunCard(run_id=run_id, kind=kind, input="(not recorded)", output=output, manifest_dir=folder,
                           operator=totals.operator, options={}, files={}, settings={"config_hash": totals.config_hash},
                           versions={}, started_at=started)
            card.end("aborted" if totals.aborted else "completed")
            card.ended_at = started + totals.seconds
            cards.append(card)
    return cards


def rebuild(output: str, storage_options: Mapping[str, Any]) -> tuple[str, int]:
    """`stylebatch report OUTPUT`: every run's page again from the cards and manifests (with cards made
    for runs that have none), and the index; returns the index URL and the number of pages."""
    report_url = report_folder(output, storage_options)
    for card in cards_from_manifests(output, report_url, storage_options):
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
            log.warning("could not write the run report in %s: %s", self.url, exc)
            return None


@contextlib.contextmanager
def reporting(card: RunCard, output: str, storage_options: Mapping[str, Any]) -> Iterator[RunReport]:
    """Save the run's card in OUTPUT/_report now; write its page when the block ends: `completed`,
    or `aborted` with the first line of the error that stopped it."""
    report = RunReport(card, f"{output}/{REPORT_DIR}", storage_options)
    card.save(report.url, storage_options)
    try:
        yield report
    except BaseException as exc:
        report.write("aborted", (str(exc).splitlines() or [type(exc).__name__])[0] or type(exc).__name__)
        raise
    report.write("completed")
