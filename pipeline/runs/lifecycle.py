"""A run's life in its OUTPUT, the same for every kind of run (`convert`, `--archive`, `video`, a
comic's panels):

    lease -> listing with resume -> rows recorded as they arrive -> lost inputs tried alone
          -> report pictures -> manifest joined -> folded into the resume state -> report page

A kind of run brings its chain (what turns listed rows into manifest rows) and its listing; this
module owns the order, the records and how a run ends (`RunResult`, or `RunAborted` with what was
recorded)."""
from __future__ import annotations

import contextlib
import errno
import logging
import re
import secrets
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import pyarrow as pa
import pyarrow.compute as pc
import ray

from operators.errors import ConfigError
from pipeline.report.build import RunReport, reporting
from pipeline.report.card import RunCard
from pipeline.runs.layout import RunLayout
from pipeline.runs.lease import Lease
from pipeline.runs.manifest import ListingJournal, ManifestWriter, failed_rows, listing_stopped, unrecorded
from pipeline.runs.resume import ResumeCheck, Stamped, fold_runs, stamped_image
from pipeline.runs.status import Status, Totals
from pipeline.settings import TASK_CPUS
from pipeline.storage import StoreRefused

log = logging.getLogger(__name__)
Chain = Callable[[ray.data.Dataset], ray.data.Dataset]


class RunAborted(Exception):
    """The run stopped before every input was done (cluster or storage lost after Ray's retries, a
    model that loads on no actor); what finished is recorded and the same command continues."""


class RunInterrupted(BaseException):
    """The run was stopped by a signal (Ctrl-C, SIGTERM); the rows that arrived are recorded and the
    same command continues. A BaseException, as KeyboardInterrupt is: no `except Exception` holds it."""

    def __init__(self, signum: int, recorded: str = "") -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum, self.recorded = signum, recorded

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def stop_on_signals() -> None:
    """SIGINT and SIGTERM raise RunInterrupted in the main thread (SIGTERM would end the process
    with nothing recorded, SIGINT with a long traceback)."""
    if threading.current_thread() is not threading.main_thread():
        return

    def interrupt(signum: int, _frame: Any) -> None:
        raise RunInterrupted(signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, interrupt)


class ListingStopped(Exception):
    """The run's listing ended before it listed every input: the inputs after it were never seen."""


def abort_reason(exc: BaseException) -> str:
    """The innermost `Type: message` line of an error (Ray wraps a worker's error, traceback and all)."""
    if isinstance(exc, (StoreRefused, ListingStopped)):
        return str(exc)
    lines = [line.strip() for line in str(exc).splitlines()]
    causes = [line for line in lines if re.match(r"^[\w.]*(Error|Exception|StoreRefused): ", line)]
    reason = causes[-1] if causes else f"{type(exc).__name__}: {lines[0] if lines else ''}"
    return re.sub(r"^([\w.]*\.)?(StoreRefused: )?", "", reason)  # a refusal's message is the whole line


def worker_died(tries: int, what: str, then: str) -> str:
    """The failed row's reason for an input whose worker died on every try."""
    return (f"its worker died on each of {tries} tries while processing this {what} "
            f"(out of memory, or a crash in a native library?); {then}")


def unwritable(exc: OSError) -> bool:
    """Whether a write failed for a reason a retry will not change (permissions, a missing bucket or
    folder, a read-only disk)."""
    return isinstance(exc, (PermissionError, FileNotFoundError, NotADirectoryError)) or exc.errno in (
        errno.EACCES, errno.EROFS, errno.EPERM)


def check_writable(layout: RunLayout) -> None:
    """ConfigError (before any work) if the run cannot write where it keeps its records."""
    fs, home = layout.fs(layout.home)
    probe = f"{home}/.write-check-{secrets.token_hex(4)}"
    try:
        fs.makedirs(home, exist_ok=True)
        fs.pipe_file(probe, b"")
        fs.rm_file(probe)
    except OSError as exc:
        if not unwritable(exc):
            raise
        raise ConfigError(f"cannot write to OUTPUT {layout.output} ({abort_reason(exc)}): "
                          "check the path and its permissions") from None


def new_run_id() -> str:
    """Sortable, unique run id: UTC time plus a random suffix."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)


@dataclass(frozen=True)
class RunResult:
    """Totals of a finished run and where its output and manifest are."""

    totals: Totals
    output: str
    manifest: str
    summary: str
    unit: str = "images"
    note: str = ""
    report: str = ""
    failures: tuple[tuple[str, str], ...] = ()  # (input, reason) of the first failed inputs

    @property
    def exit_code(self) -> int:
        """0 when nothing failed, 1 when some inputs failed."""
        return 1 if self.totals.failed else 0

    def line(self, logs: str = "") -> str:
        """The run's closing lines: the first failed inputs by name (what a user acts on first), its
        notes, and last the one-line summary (ending with where Ray's `logs` are, if given)."""
        t = self.totals
        summary = (
            f"{t.converted} converted, {t.skipped} skipped, {t.failed} failed of {t.inputs} inputs "
            f"in {t.seconds:.1f} s ({t.images_per_second:.2f} {self.unit}/s); "
            f"output: {self.output}  manifest: {self.manifest}  summary: {self.summary}"
            + (f"  report: {self.report}" if self.report else "") + (f"  logs: {logs}" if logs else ""))
        return "\n".join([*self.failure_lines(), *self.note.splitlines(), summary])

    def failure_lines(self) -> list[str]:
        """The failed inputs named one a line (the first few), and where the rest are."""
        if not self.totals.failed:
            return []
        lines = [f"failed: {name}: {reason}" for name, reason in self.failures]
        rest = self.totals.failed - len(self.failures)
        where = f"the report {self.report}" if self.report else f"the manifest {self.manifest}"
        more = f"{rest} more failed inputs" if rest > 0 else "the failed inputs"
        return [*lines, f"{more}: `stylebatch status {self.output}` or {where}"]


def batches(ds: ray.data.Dataset) -> Iterator[pa.Table]:
    """A dataset's rows as they arrive, as Arrow tables."""
    return ds.iter_batches(batch_format="pyarrow", batch_size=None)


class RunLife:
    """One run in its OUTPUT, from taking the lease to the report. `with RunLife(...) as run:` holds
    the lease and the report; the body records rows (`record`), retries what was lost
    (`retry_lost`, `fail_lost`) and ends with `finish`. An error that stops the body becomes
    RunAborted after the rows that arrived are written; the report says how the run ended."""

    def __init__(self, layout: RunLayout, card: RunCard, config_hash: str, *, wait: bool = False,
                 unit: str = "inputs") -> None:
        self.layout, self.card, self.run_id, self.unit = layout, card, card.run_id, unit
        self.config_hash = config_hash
        self.totals = Totals(run_id=card.run_id, operator=card.operator, config_hash=config_hash)
        self.constants = {"operator": card.operator, "config_hash": config_hash, "run_id": card.run_id}
        self.lease = Lease(layout, card.run_id, wait=wait)
        self.writer = ManifestWriter(layout, card.run_id)
        self._stack = contextlib.ExitStack()
        self.report: RunReport | None = None
        self.started = 0.0
        self.placements: set[str] = set()  # where the model actors' models run (the actors' `placement`)

    def __enter__(self) -> RunLife:
        with contextlib.ExitStack() as stack:
            check_writable(self.layout)
            stack.enter_context(self.lease)
            self.report = stack.enter_context(reporting(self.card, self.layout))
            stack.enter_context(self._recording_on_abort())
            self._stack = stack.pop_all()
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> bool | None:
        return self._stack.__exit__(*exc)

    def resume_check(self, stamped: Stamped = stamped_image, config_hash: str = "") -> ResumeCheck:
        """What this run's listing asks whether an input is done (loaded where the listing runs): in
        the run's configuration, or `config_hash`'s (one style of several)."""
        return ResumeCheck(config_hash or self.config_hash, self.run_id, self.layout, stamped)

    def journal(self) -> ListingJournal:
        """Where the listing writes every input it lists, and the rows of those settled at listing."""
        return ListingJournal(self.layout, self.run_id, self.constants)

    def record(self, tables: Iterable[pa.Table]) -> None:
        """Count and queue manifest rows as they arrive (a dataset's batches, or tables made here).
        A row still pending is one whose store refused its write (full, or access denied): the rows
        before it are recorded and the run stops with StoreRefused, since every write would fail."""
        for table in tables:
            refused = pc.equal(table["status"], Status.PENDING.value)
            if pc.any(refused).as_py():
                self.record([table.filter(pc.invert(refused))])
                raise StoreRefused(table.filter(refused)["error"][0].as_py())
            if "placement" in table.column_names:
                self.placements.update(pc.unique(table["placement"]).to_pylist())
            for name, value in self.constants.items():
                if name not in table.column_names:
                    table = table.append_column(name, pa.array([value] * table.num_rows, pa.string()))
            self.writer.add(table)
            self.totals.count(table)

    def unrecorded(self) -> pa.Table:
        """The listed inputs that have no manifest row yet, found by a task (the driver never holds
        the listing)."""
        self.writer.flush()
        return ray.get(ray.remote(unrecorded).options(num_cpus=TASK_CPUS).remote(self.layout, self.run_id))

    def retry_lost(self, chain: Chain, tries: int) -> None:
        """Inputs held by work whose worker died on every retry: each through `chain` alone, to find
        the culprits; those that kill their worker again fail with the reason."""
        lost = self.unrecorded()
        if not lost.num_rows:
            return
        log.warning("%d inputs were held by workers that died on every retry; trying each alone", lost.num_rows)
        self.record(batches(chain(ray.data.from_arrow(lost))))
        self.fail_lost(worker_died(tries, "input", "the other inputs went on"))

    def check_listing(self) -> None:
        """ListingStopped if the listing task failed before its end (Ray Data drops a failed task's
        rows, so the run would otherwise end as if the inputs it never listed did not exist)."""
        stopped = listing_stopped(self.layout, self.run_id)
        if stopped:
            raise ListingStopped(f"the listing of the inputs stopped before its end: {stopped}")

    def fail_lost(self, reason: str) -> None:
        """A failed row with `reason` for every listed input that has none yet."""
        self.record([failed_rows(self.unrecorded(), reason)])

    def finish(self, output: str, *, frames: int | None = None, pictures: Callable[[], list[dict[str, str]]] | None = None,
               note: str = "") -> RunResult:
        """End the run: the gallery (from the listing journal, before the join folds it), the joined
        manifest and its totals, the resume state. The rate counts converted inputs, or a video's
        `frames`."""
        self.lease.check()
        totals = self.totals
        totals.seconds = time.perf_counter() - self.started
        done, unit = (totals.converted, "images") if frames is None else (frames, "frames")
        totals.images_per_second = done / totals.seconds if totals.seconds else 0.0
        assert self.report is not None
        note = "\n".join([*sorted(self.placements, key=lambda line: (not line.startswith("warning"), line)), note]).strip()
        if pictures:
            self.report.pictures(pictures)
        manifest, summary = self.writer.finish(totals)
        ray.get(ray.remote(fold_runs).options(num_cpus=TASK_CPUS).remote(self.layout, self.run_id, [manifest]))
        self.card.note = note
        return RunResult(totals, output, manifest, summary, unit=unit, note=note, report=self.report.page_url,
                         failures=tuple(self.writer.failures))

    @contextlib.contextmanager
    def _recording_on_abort(self) -> Iterator[None]:
        """Turn an error that stops the run into RunAborted, after writing the rows that arrived."""
        try:
            yield
        except (RunAborted, ConfigError):
            raise
        except RunInterrupted as stop:
            stop.recorded = self._recorded()
            raise
        except Exception as exc:  # Ray, storage and worker errors all end the run the same way
            then = "then" if isinstance(exc, StoreRefused) else "fix the cause and"  # a refusal says what to do
            raise RunAborted(f"the run could not complete: {abort_reason(exc)}; {self._recorded()}; "
                             f"{then} run the same command again to continue") from exc

    def _recorded(self) -> str:
        """Write the rows that arrived; say where they are."""
        if not self.totals.inputs:
            return f"no {self.unit} had finished"
        recorded = f"{self.totals.converted} {self.unit} converted before it stopped are recorded in {self.writer.parts_url}"
        try:
            self.writer.flush()
            return recorded
        except Exception as flush_error:  # the output store takes no more, or is gone
            try:
                spilled, rows = self.writer.spill()
            except OSError:
                return f"the manifest could not be written ({abort_reason(flush_error)})"
            return f"{recorded}, but for the last {rows} rows, which OUTPUT did not take: they are in {spilled}"
