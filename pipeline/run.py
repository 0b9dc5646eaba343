"""One conversion run on Ray Data: list -> decode -> stylize (actor pool) -> encode/write -> manifest."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import ray

from operators.errors import ConfigError
from pipeline.archive_output import check_archive_output, pack
from pipeline.archives import DEFAULT_MAX_MEMBER_BYTES
from pipeline.cluster import bounded_retries, ensure_ray
from pipeline.codecs import DEFAULT_DECODE_SECONDS, DEFAULT_MAX_PIXELS, FORMATS
from pipeline.inference import ActorPool
from pipeline.metadata import KEEP
from pipeline.plan import ModelPlan, RunPlan, config_hash, plan_run
from pipeline.report.pictures import image_pairs
from pipeline.runs.layout import RunLayout
from pipeline.runs.lifecycle import RunLife, RunResult, batches
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
    keep_metadata: str = "none"


@dataclass(frozen=True)
class ImagePlan(RunPlan):
    """A checked `convert`: the run plan, the config hash its outputs are stamped with, and how many
    inputs a decode task reads."""

    config_hash: str = ""
    rows_per_task: int = DECODE_TASK_ROWS[0]


def image_config_hash(model: ModelPlan, fmt: str, quality: int, max_side: int, keep_metadata: str = "none") -> str:
    """What an image output depends on: the model, and how the output is sized and encoded (and
    which metadata it carries: named only when it carries some, so earlier outputs keep their hash)."""
    kept = {} if keep_metadata == "none" else {"metadata": keep_metadata}
    return config_hash({**model.identity(), "format": fmt, "quality": quality, "max_side": max_side, **kept})


def prepare(cfg: ConvertConfig) -> ImagePlan:
    """Check the whole configuration before any work; raises ConfigError with one clear message."""
    if cfg.fmt not in FORMATS:
        raise ConfigError(f"--format {cfg.fmt!r}: choose one of {', '.join(FORMATS)}")
    if cfg.keep_metadata not in KEEP:
        raise ConfigError(f"--keep-metadata {cfg.keep_metadata!r}: choose one of {', '.join(KEEP)}")
    plan = plan_run(cfg, cfg.max_pixels)
    rows_per_task = min(max(DECODE_TASK_BYTES // max(typical_input_bytes(plan.input, plan.input_options), 1),
                            DECODE_TASK_ROWS[0]), DECODE_TASK_ROWS[1])
    return ImagePlan(**vars(plan), config_hash=image_config_hash(plan.model, cfg.fmt, cfg.quality, cfg.max_side,
                                                                 cfg.keep_metadata),
                     rows_per_task=rows_per_task)


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


def _chain(ds: ray.data.Dataset, steps: tuple[DecodeStep, WriteStep], plan: ImagePlan, pool: ActorPool,
           isolated: bool = False) -> ray.data.Dataset:
    """Listed rows -> read and decode -> stylize (the pool) -> encode and write; `isolated`: one input a
    task and one task an actor at a time, so that an input whose worker dies takes no other with it."""
    decode, write = steps
    ds = ds.repartition(target_num_rows_per_block=1 if isolated else plan.rows_per_task)
    with bounded_retries():
        ds = ds.map_batches(read_and_decode, **pool.tasks(), fn_kwargs={"step": decode})
    ds = pool.apply(ds, plan.model.actor_arguments(), rows_per_call=1 if isolated else None, isolated=isolated)
    with bounded_retries():
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
        "resume": cfg.resume, "limit": cfg.limit, "archive": cfg.archive, "keep_metadata": cfg.keep_metadata,
        "pool": asdict(cfg.pool),
        "config_hash": plan.config_hash})
    with RunLife(layout, card, plan.config_hash, wait=cfg.wait, unit="images") as run:
        ensure_ray()
        tolerate_lost_blocks()
        stream_small_blocks()
        pool = ActorPool.for_cluster(cfg.pool, plan.model.spec)
        source = Source(plan.input, plan.input_options, plan.model.companion, cfg.max_member_bytes)
        steps = (DecodeStep(source, Decoding(plan.model.spec.input_mode, cfg.max_pixels, cfg.max_side, cfg.max_decode_seconds,
                                             cfg.keep_metadata)),
                 WriteStep(layout.results, plan.output_options, cfg.fmt, cfg.quality, plan.config_hash))
        listing = ListStep(source, layout.results, cfg.fmt, cfg.limit or None, run.journal(),
                           run.resume_check() if cfg.resume else None)
        with bounded_retries():
            listed = ray.data.from_items([{"root": plan.input}]).map_batches(
                list_inputs, batch_size=1, num_cpus=TASK_CPUS, max_retries=pool.max_retries, fn_kwargs={"step": listing})
        run.record(batches(_chain(listed, steps, plan, pool)))
        run.retry_lost(lambda lost: _chain(lost, steps, plan, pool, isolated=True), pool.max_retries + 1)
        note = f"{pack(layout, plan.output_options)} images in {plan.output}" if cfg.archive else ""
        return run.finish(plan.output, note=note, pictures=lambda: image_pairs(
            layout, card.run_id, plan.input, plan.input_options, plan.model.spec.input_mode))
