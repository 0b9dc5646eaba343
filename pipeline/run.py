"""One conversion run on Ray Data: list -> decode -> stylize (actor pool) -> encode/write -> manifest."""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import secrets
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Iterable, Iterator

import pyarrow as pa
import ray

from operators.errors import ConfigError
from operators.files import fingerprint
from operators.registry import get_operator
from operators.spec import Companion, OperatorSpec
from pipeline.archive_output import archive_work_area, pack
from pipeline.archives import DEFAULT_MAX_MEMBER_BYTES
from pipeline.cluster import ensure_ray
from pipeline.codecs import DEFAULT_DECODE_SECONDS, DEFAULT_MAX_PIXELS, FORMATS
from pipeline.inference import ActorPool
from pipeline.lease import Lease
from pipeline.manifest import (
    MANIFEST_DIR,
    ListingJournal,
    ManifestWriter,
    Totals,
    failed_rows,
    unrecorded,
)
from pipeline.report.build import RunReport, reporting
from pipeline.report.card import RunCard
from pipeline.report.pictures import image_pairs
from pipeline.resume import ResumeCheck, fold_runs
from pipeline.settings import TASK_CPUS, ModelSettings, PoolSettings
from pipeline.stages import encode_and_write, list_inputs, read_and_decode, typical_input_bytes
from pipeline.storage import filesystem, normalise, options_for

DECODE_TASK_BYTES = 1 << 20  # input bytes a decode task reads: 4 photos, or 256 thumbnails
DECODE_TASK_ROWS = (4, 256)
BLOCK_BYTES = 1 << 16
log = logging.getLogger(__name__)


class RunAborted(Exception):
    """The run stopped before every input was done (cluster or storage lost after Ray's retries, a
    model that loads on no actor); what finished is recorded and the same command continues."""


def abort_reason(exc: BaseException) -> str:
    """The innermost `Type: message` line of an error (Ray wraps a worker's error, traceback and all)."""
    lines = [line.strip() for line in str(exc).splitlines()]
    causes = [line for line in lines if re.match(r"^[\w.]*(Error|Exception): ", line)]
    reason = causes[-1] if causes else f"{type(exc).__name__}: {lines[0] if lines else ''}"
    return re.sub(r"^[\w.]*\.", "", reason)


@dataclass
class ConvertConfig:
    """Everything a `convert` run is asked to do (the CLI's flags)."""

    input: str
    output: str
    model: ModelSettings
    pool: PoolSettings = field(default_factory=PoolSettings)
    storage_options: dict[str, Any] = field(default_factory=dict)
    fmt: str = "png"
    quality: int = 95
    max_side: int = 0
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_member_bytes: int = DEFAULT_MAX_MEMBER_BYTES
    max_decode_seconds: float = DEFAULT_DECODE_SECONDS
    resume: bool = True
    limit: int | None = None
    archive: bool = False
    wait: bool = False


@dataclass(frozen=True)
class Plan:
    """A validated run: resolved operator options, URLs, per-URL storage options, config hash."""

    spec: OperatorSpec
    options: dict[str, Any]
    input: str
    output: str
    input_options: dict[str, Any]
    output_options: dict[str, Any]
    weight_storage_options: dict[str, Any]
    config_hash: str
    files: dict[str, list[str]] = field(default_factory=dict)  # option -> SHA-256 of each file it names
    rows_per_task: int = DECODE_TASK_ROWS[0]
    max_pixels: int = DEFAULT_MAX_PIXELS

    @property
    def companion(self) -> Companion | None:
        """The image read with every input, if the operator takes one."""
        return self.spec.companion(self.options)

    def model(self) -> dict[str, Any]:
        """What each model actor is built from."""
        return {"operator": self.spec.name, "options": self.options, "storage_options": self.weight_storage_options,
                "max_pixels": self.max_pixels}

    def card(self, kind: str, run_id: str, output: str, manifest_dir: str, settings: dict[str, Any]) -> RunCard:
        """The run card of a run of this plan (see `pipeline.report`)."""
        return RunCard(run_id=run_id, kind=kind, input=self.input, output=output, manifest_dir=manifest_dir,
                       operator=self.spec.name, options=self.options, files=self.files, settings=settings)


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

    @property
    def exit_code(self) -> int:
        """0 when nothing failed, 1 when some inputs failed."""
        return 1 if self.totals.failed else 0

    def line(self) -> str:
        """The one-line report printed at the end of a run."""
        t = self.totals
        return (
            f"{t.converted} converted, {t.skipped} skipped, {t.failed} failed of {t.inputs} inputs "
            f"in {t.seconds:.1f} s ({t.images_per_second:.2f} {self.unit}/s); "
            f"output: {self.output}  manifest: {self.manifest}  summary: {self.summary}"
            + (f"  report: {self.report}" if self.report else "")
        ) + (f"\n{self.note}" if self.note else "")


def prepare(cfg: ConvertConfig) -> Plan:
    """Check the whole configuration before any work; raises ConfigError with one clear message.

    The operator's own check runs here (options, files present, checkpoint keys and shapes);
    the model itself is built only in the actors.
    """
    if cfg.fmt not in FORMATS:
        raise ConfigError(f"--format {cfg.fmt!r}: choose one of {', '.join(FORMATS)}")
    spec = get_operator(cfg.model.operator)
    options = spec.resolve(cfg.model.settings)
    source, output = normalise(cfg.input), normalise(cfg.output)
    input_options = options_for(source, cfg.storage_options)
    try:
        fs, root = filesystem(source, input_options)
        exists = fs.exists(root)
    except Exception as exc:  # credentials, endpoint or permission problems surface here first
        raise ConfigError(f"cannot read input {cfg.input}: {exc}") from None
    if not exists:
        raise ConfigError(f"input {cfg.input} does not exist (or is empty); check the path or URL")
    files = spec.files_of(options)
    weight_storage_options = options_for(next((u for urls in files.values() for u in urls), ""), cfg.storage_options)
    spec.check(options, weight_storage_options)
    digests = {option: [fingerprint(url, weight_storage_options) for url in urls] for option, urls in files.items()}
    identity = {
        "operator": spec.name,
        "options": options,
        "files": digests,
        "format": cfg.fmt,
        "quality": cfg.quality,
        "max_side": cfg.max_side,
    }
    config_hash = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    rows_per_task = min(max(DECODE_TASK_BYTES // max(typical_input_bytes(source, input_options), 1),
                            DECODE_TASK_ROWS[0]), DECODE_TASK_ROWS[1])
    return Plan(spec, options, source, output, input_options, options_for(output, cfg.storage_options),
                weight_storage_options, config_hash, digests, rows_per_task, cfg.max_pixels)


@contextlib.contextmanager
def recording_on_abort(writer: ManifestWriter, totals: Totals, unit: str = "inputs") -> Iterator[None]:
    """Turn an error that stops the run into RunAborted, after writing the rows that arrived."""
    try:
        yield
    except RunAborted:
        raise
    except Exception as exc:  # Ray, storage and worker errors all end the run the same way
        try:
            writer.flush()
            recorded = (f"{totals.converted} {unit} converted before it stopped are recorded in {writer.parts_url}"
                        if totals.inputs else f"no {unit} had finished")
        except Exception as flush_error:  # the output store is gone too
            recorded = f"the manifest could not be written ({abort_reason(flush_error)})"
        raise RunAborted(f"the run could not complete: {abort_reason(exc)}; {recorded}; "
                         "fix the cause and run the same command again to continue") from exc


def tolerate_lost_blocks() -> None:
    """Let Ray Data drop a block whose task failed on every retry instead of stopping the run: the
    run then finds the inputs it held (listed, never recorded) and tries each alone."""
    ray.data.DataContext.get_current().max_errored_blocks = -1


def stream_small_blocks() -> None:
    """Cut blocks at BLOCK_BYTES: a task's output is buffered up to that size, so the listing's rows
    (a few hundred bytes each) flow every few hundred inputs instead of after the whole listing, and
    a decoded or stylized photograph is a block of its own: each image goes on to encoding as soon
    as the model is done with it, not with the next two (the model step batches blocks again)."""
    ray.data.DataContext.get_current().target_max_block_size = BLOCK_BYTES


def _chain(ds: ray.data.Dataset, plan: Plan, cfg: ConvertConfig, pool: ActorPool, isolated: bool = False) -> ray.data.Dataset:
    """Listed rows -> read and decode -> stylize (the pool) -> encode and write; `isolated`: one input a
    task and one task an actor at a time, so that an input whose worker dies takes no other with it."""
    ds = ds.repartition(target_num_rows_per_block=1 if isolated else plan.rows_per_task).map_batches(
        read_and_decode,
        **pool.tasks(),
        fn_kwargs={"input_mode": plan.spec.input_mode, "max_pixels": cfg.max_pixels, "max_side": cfg.max_side,
                   "storage_options": plan.input_options, "companion": plan.companion, "root": plan.input,
                   "max_member_bytes": cfg.max_member_bytes, "max_decode_seconds": cfg.max_decode_seconds},
    )
    return pool.stylize(ds, plan.model(), rows_per_call=1 if isolated else None, isolated=isolated).map_batches(
        encode_and_write,
        **pool.tasks(),
        fn_kwargs={"fmt": cfg.fmt, "quality": cfg.quality, "storage_options": plan.output_options,
                   "config_hash": plan.config_hash, "root": plan.output},
    )


def _record(tables: Iterable[pa.Table], writer: ManifestWriter, totals: Totals, constants: dict[str, str]) -> None:
    """Count and queue manifest rows as they arrive (a dataset's batches, or tables made here)."""
    for table in tables:
        for name, value in constants.items():
            table = table.append_column(name, pa.array([value] * table.num_rows, pa.string()))
        writer.add(table)
        totals.count(table)


def _batches(ds: ray.data.Dataset) -> Iterator[pa.Table]:
    return ds.iter_batches(batch_format="pyarrow", batch_size=None)


def _unrecorded(writer: ManifestWriter) -> pa.Table:
    """The listed inputs that have no manifest row yet, found by a task (the driver never holds the listing)."""
    writer.flush()
    return ray.get(ray.remote(unrecorded).options(num_cpus=TASK_CPUS).remote(writer.parts_url, writer.storage_options))


def new_run_id() -> str:
    """Sortable, unique run id: UTC time plus a random suffix."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)


def convert(cfg: ConvertConfig) -> RunResult:
    """Run one conversion to the end; every listed input gets exactly one manifest row.

    With `archive`, images go to the work area OUTPUT.work/ and are then packed into OUTPUT.
    Only one run at a time works in an OUTPUT (see `lease`).
    """
    plan = prepare(cfg)
    archive = plan.output
    if cfg.archive:
        plan = replace(plan, output=archive_work_area(plan.output))
    run_id = new_run_id()
    card = plan.card("convert", run_id, archive, f"{plan.output}/{MANIFEST_DIR}", {
        "format": cfg.fmt, "quality": cfg.quality, "max_side": cfg.max_side, "max_pixels": cfg.max_pixels,
        "resume": cfg.resume, "limit": cfg.limit, "archive": cfg.archive, "pool": asdict(cfg.pool),
        "config_hash": plan.config_hash})
    with Lease(plan.output, plan.output_options, run_id, wait=cfg.wait) as lease, \
            reporting(card, plan.output, plan.output_options) as report:
        result = _run(plan, cfg, run_id, lease, report)
        if cfg.archive:
            members = pack(plan.output, archive, plan.output_options)
            result = replace(result, output=archive, note=f"{members} images in {archive}")
        card.note = result.note
    return result


def _run(plan: Plan, cfg: ConvertConfig, run_id: str, lease: Lease, report: RunReport) -> RunResult:
    """The run proper, under the lease: the chain over the listing, then each input whose work was
    lost with its worker alone, then a failed row for each input that killed its worker every time."""
    ensure_ray()
    tolerate_lost_blocks()
    stream_small_blocks()
    pool = ActorPool.for_cluster(cfg.pool, plan.spec)
    started = time.perf_counter()
    totals = Totals(run_id=run_id, operator=plan.spec.name, config_hash=plan.config_hash)
    writer = ManifestWriter(plan.output, run_id, plan.output_options)
    constants = {"operator": plan.spec.name, "config_hash": plan.config_hash, "run_id": run_id}
    listed = ray.data.from_items([{"root": plan.input}]).map_batches(
        list_inputs,
        batch_size=1,
        num_cpus=TASK_CPUS,
        max_retries=pool.max_retries,
        fn_kwargs={"output": plan.output, "fmt": cfg.fmt, "storage_options": plan.input_options,
                   "companion": plan.companion, "limit": cfg.limit or None,
                   "journal": ListingJournal(writer.parts_url, plan.output_options, constants),
                   "resume": ResumeCheck(plan.config_hash, run_id, plan.output, plan.output_options) if cfg.resume else None},
    )
    with recording_on_abort(writer, totals):
        _record(_batches(_chain(listed, plan, cfg, pool)), writer, totals, constants)
        lost = _unrecorded(writer)
        if lost.num_rows:  # blocks whose worker died on every retry: each input alone, to find the culprits
            log.warning("%d inputs were held by workers that died on every retry; trying each alone", lost.num_rows)
            _record(_batches(_chain(ray.data.from_arrow(lost), plan, cfg, pool, isolated=True)), writer, totals, constants)
            poison = _unrecorded(writer)
            reason = (f"its worker died on each of {pool.max_retries + 1} tries while processing this input "
                      "(out of memory, or a crash in a native library?); the other inputs went on")
            _record([failed_rows(poison, reason)], writer, totals, constants)
        lease.check()
    totals.seconds = time.perf_counter() - started
    totals.images_per_second = totals.converted / totals.seconds if totals.seconds else 0.0
    report.pictures(image_pairs, writer.parts_url, plan.input, plan.input_options, plan.output_options,
                    plan.spec.input_mode, report.url, run_id)  # from the listing journal, before `finish` folds it
    manifest, summary = writer.finish(totals)
    ray.get(ray.remote(fold_runs).options(num_cpus=TASK_CPUS).remote(plan.output, plan.output_options, run_id, [manifest]))
    return RunResult(totals, plan.output, manifest, summary, report=report.page_url)

