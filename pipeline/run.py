"""One conversion run on Ray Data: list -> decode -> stylize (actor pool) -> encode/write -> manifest."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import ray

from operators.errors import ConfigError
from operators.files import fingerprint
from operators.registry import get_operator
from operators.spec import Companion, OperatorSpec
from pipeline.archive_output import check_archive_output, pack
from pipeline.archives import DEFAULT_MAX_MEMBER_BYTES
from pipeline.cluster import ensure_ray
from pipeline.codecs import DEFAULT_DECODE_SECONDS, DEFAULT_MAX_PIXELS, FORMATS
from pipeline.inference import ActorPool
from pipeline.report.card import RunCard
from pipeline.report.pictures import image_pairs
from pipeline.runs.layout import RunLayout
from pipeline.runs.lifecycle import RunLife, RunResult, batches, new_run_id
from pipeline.settings import TASK_CPUS, RunRequest
from pipeline.sources import Decoding, Source
from pipeline.stages import (
    DecodeStep,
    ListStep,
    WriteStep,
    encode_and_write,
    list_inputs,
    read_and_decode,
    typical_input_bytes,
)
from pipeline.storage import filesystem, normalise, options_for

DECODE_TASK_BYTES = 1 << 20  # input bytes a decode task reads: 4 photos, or 256 thumbnails
DECODE_TASK_ROWS = (4, 256)
BLOCK_BYTES = 1 << 16


@dataclass
class ConvertConfig(RunRequest):
    """Everything a `convert` run is asked to do (the CLI's flags)."""

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

    def actor_arguments(self) -> dict[str, Any]:
        """What each model actor is built from."""
        return {"operator": self.spec.name, "options": self.options, "storage_options": self.weight_storage_options,
                "max_pixels": self.max_pixels}

    def card(self, kind: str, layout: RunLayout, settings: dict[str, Any]) -> RunCard:
        """The card of a new run of this plan into `layout` (see `pipeline.report`)."""
        return RunCard(run_id=new_run_id(), kind=kind, input=self.input, output=layout.output,
                       manifest_dir=layout.manifest_dir, operator=self.spec.name, options=self.options,
                       files=self.files, settings=settings)


def prepare(cfg: ConvertConfig) -> Plan:
    """Check the whole configuration before any work; raises ConfigError with one clear message.

    The operator's own check runs here (options, files present, checkpoint keys and shapes);
    the model itself is built only in the actors.
    """
    if cfg.fmt not in FORMATS:
        raise ConfigError(f"--format {cfg.fmt!r}: choose one of {', '.join(FORMATS)}")
    spec = get_operator(cfg.model.operator)
    options = spec.resolve(cfg.model.requested)
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


def _chain(ds: ray.data.Dataset, steps: tuple[DecodeStep, WriteStep], plan: Plan, pool: ActorPool,
           isolated: bool = False) -> ray.data.Dataset:
    """Listed rows -> read and decode -> stylize (the pool) -> encode and write; `isolated`: one input a
    task and one task an actor at a time, so that an input whose worker dies takes no other with it."""
    decode, write = steps
    ds = ds.repartition(target_num_rows_per_block=1 if isolated else plan.rows_per_task)
    ds = ds.map_batches(read_and_decode, **pool.tasks(), fn_kwargs={"step": decode})
    ds = pool.apply(ds, plan.actor_arguments(), rows_per_call=1 if isolated else None, isolated=isolated)
    return ds.map_batches(encode_and_write, **pool.tasks(), fn_kwargs={"step": write})


def convert(cfg: ConvertConfig) -> RunResult:
    """Run one conversion to the end; every listed input gets exactly one manifest row.

    With `archive`, images go to the work area OUTPUT.work/ and are then packed into OUTPUT.
    Only one run at a time works in an OUTPUT (see `runs.lease`).
    """
    plan = prepare(cfg)
    if cfg.archive:
        check_archive_output(plan.output)
    layout = (RunLayout.for_archive if cfg.archive else RunLayout.for_folder)(plan.output, plan.output_options)
    card = plan.card("convert", layout, {
        "format": cfg.fmt, "quality": cfg.quality, "max_side": cfg.max_side, "max_pixels": cfg.max_pixels,
        "resume": cfg.resume, "limit": cfg.limit, "archive": cfg.archive, "pool": asdict(cfg.pool),
        "config_hash": plan.config_hash})
    with RunLife(layout, card, plan.config_hash, wait=cfg.wait, unit="images") as run:
        ensure_ray()
        tolerate_lost_blocks()
        stream_small_blocks()
        pool = ActorPool.for_cluster(cfg.pool, plan.spec)
        source = Source(plan.input, plan.input_options, plan.companion, cfg.max_member_bytes)
        steps = (DecodeStep(source, Decoding(plan.spec.input_mode, cfg.max_pixels, cfg.max_side, cfg.max_decode_seconds)),
                 WriteStep(layout.results, plan.output_options, cfg.fmt, cfg.quality, plan.config_hash))
        listing = ListStep(source, layout.results, cfg.fmt, cfg.limit or None, run.journal(),
                           run.resume_check() if cfg.resume else None)
        listed = ray.data.from_items([{"root": plan.input}]).map_batches(
            list_inputs, batch_size=1, num_cpus=TASK_CPUS, max_retries=pool.max_retries, fn_kwargs={"step": listing})
        run.record(batches(_chain(listed, steps, plan, pool)))
        run.retry_lost(lambda lost: _chain(lost, steps, plan, pool, isolated=True), pool.max_retries + 1)
        note = f"{pack(layout, plan.output_options)} images in {plan.output}" if cfg.archive else ""
        return run.finish(run.totals.converted, plan.output, note=note, pictures=lambda: image_pairs(
            layout, card.run_id, plan.input, plan.input_options, plan.spec.input_mode))
