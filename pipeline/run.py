"""One conversion run on Ray Data: list -> decode -> stylize (actor pool) -> encode/write -> manifest."""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import ray

from operators.errors import ConfigError
from pipeline.archive_output import check_archive_output, pack
from pipeline.archives import DEFAULT_MAX_MEMBER_BYTES
from pipeline.cluster import bounded_retries, ensure_ray
from pipeline.codecs import DEFAULT_DECODE_SECONDS, DEFAULT_MAX_PIXELS, FORMATS
from pipeline.inference import ActorPool
from pipeline.metadata import KEEP
from pipeline.keys import join_url
from pipeline.plan import ModelPlan, RunPlan, config_hash, plan_model, plan_run
from pipeline.report.pictures import image_pairs
from pipeline.runs.layout import RunLayout
from pipeline.runs.lifecycle import RunLife, RunResult, batches
from pipeline.settings import TASK_CPUS, RunRequest
from pipeline.sources import Decoding, Source
from pipeline.variants import Variant, check_names, gather, spread
from pipeline.stages import (
    DecodeStep,
    ListStep,
    Target,
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
    variants: tuple[Variant, ...] = ()  # several styles in one pass (`--variant`); none: the one model


@dataclass(frozen=True)
class Style:
    """One style a run writes: its variant's name ("" in a run of one), its checked model, and the
    config hash its outputs are stamped with."""

    variant: str
    model: ModelPlan
    config_hash: str

    def root(self, results: str) -> str:
        """Where its outputs go: the results folder, or the variant's folder in it."""
        return join_url(results, self.variant) if self.variant else results


@dataclass(frozen=True)
class ImagePlan(RunPlan):
    """A checked `convert`: the run plan, each style it writes (its model and the config hash its
    outputs are stamped with), the run's config hash (the one style's, or one over them all) and
    how many inputs a decode task reads."""

    styles: tuple[Style, ...] = ()
    config_hash: str = ""
    rows_per_task: int = DECODE_TASK_ROWS[0]

    @property
    def variant_options(self) -> dict[str, dict[str, Any]]:
        """Each variant's resolved options ({} in a run of one style)."""
        return {style.variant: style.model.options for style in self.styles if style.variant}

    def actor_arguments(self) -> dict[str, Any]:
        """What each model actor is built from: the model, or every variant's."""
        variants = self.variant_options
        return {**self.model.actor_arguments(), "variants": variants} if variants else self.model.actor_arguments()


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
    check_names(cfg.variants)
    plan = plan_run(replace(cfg, model=cfg.variants[0].model(cfg.model)) if cfg.variants else cfg, cfg.max_pixels)
    styles = tuple(_style(variant.name, plan_model(variant.model(cfg.model), cfg.storage_options, cfg.max_pixels), cfg)
                   for variant in cfg.variants) or (_style("", plan.model, cfg),)
    for style in styles:
        if style.model.companion != plan.model.companion:
            raise ConfigError(f"--variant {style.variant} changes the image read with every input (a map, mask "
                              "or doodle): give its options by --set, alike for every variant")
    rows_per_task = min(max(DECODE_TASK_BYTES // max(typical_input_bytes(plan.input, plan.input_options), 1),
                            DECODE_TASK_ROWS[0]), DECODE_TASK_ROWS[1])
    run_hash = styles[0].config_hash if len(styles) == 1 and not styles[0].variant else config_hash(
        {style.variant: style.config_hash for style in styles})
    return ImagePlan(**vars(plan), styles=styles, config_hash=run_hash, rows_per_task=rows_per_task)


def _style(variant: str, model: ModelPlan, cfg: ConvertConfig) -> Style:
    return Style(variant, model, image_config_hash(model, cfg.fmt, cfg.quality, cfg.max_side, cfg.keep_metadata))


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


def pickle_ragged_columns() -> None:
    """Ragged images and per-variant lists travel as pickled objects: said up front, so that Ray
    Data does not warn in every worker that it fell back to that."""
    ray.data.DataContext.get_current().enable_fallback_to_arrow_object_ext_type = True


def stylized(ds: ray.data.Dataset, decode: DecodeStep, plan: ImagePlan, pool: ActorPool,
             isolated: bool = False) -> ray.data.Dataset:
    """Gathered rows -> read and decode -> stylize (the pool): still one row per input, its
    variants' pictures in `images` (`variants.regather`); `isolated`: one input a task and one
    task an actor at a time, so that an input whose worker dies takes no other with it."""
    ds = ds.repartition(target_num_rows_per_block=1 if isolated else plan.rows_per_task)
    with bounded_retries():
        ds = ds.map_batches(read_and_decode, **pool.tasks(), fn_kwargs={"step": decode})
    return pool.apply(ds, plan.actor_arguments(), rows_per_call=1 if isolated else None, isolated=isolated)


def stylized_rows(ds: ray.data.Dataset, decode: DecodeStep, plan: ImagePlan, pool: ActorPool) -> ray.data.Dataset:
    """`stylized`, one row per input and variant (`image`, `status`, `error`, `seconds` each its own)."""
    return stylized(ds, decode, plan, pool).map_batches(spread, num_cpus=TASK_CPUS, batch_format="numpy")


def _chain(ds: ray.data.Dataset, steps: tuple[DecodeStep, WriteStep], plan: ImagePlan, pool: ActorPool,
           isolated: bool = False) -> ray.data.Dataset:
    """`stylized`, then encode and write (an input's outputs, one per variant, come as one row)."""
    decode, write = steps
    ds = stylized(ds, decode, plan, pool, isolated)
    with bounded_retries():
        return ds.map_batches(encode_and_write, **pool.tasks(), fn_kwargs={"step": write})


def listed(plan: ImagePlan, step: ListStep, max_retries: int) -> ray.data.Dataset:
    """INPUT's rows as the listing `step` makes them, in one task that streams them as it goes."""
    with bounded_retries():
        return ray.data.from_items([{"root": plan.input}]).map_batches(
            list_inputs, batch_size=1, num_cpus=TASK_CPUS, max_retries=max_retries, fn_kwargs={"step": step})


def decode_step(plan: ImagePlan, cfg: ConvertConfig) -> DecodeStep:
    """How a `convert` reads and decodes its inputs."""
    source = Source(plan.input, plan.input_options, plan.model.companion, cfg.max_member_bytes)
    return DecodeStep(source, Decoding(plan.model.spec.input_mode, cfg.max_pixels, cfg.max_side, cfg.max_decode_seconds,
                                       cfg.keep_metadata))


def layout_of(plan: ImagePlan, cfg: ConvertConfig) -> RunLayout:
    """Where a `convert` writes: OUTPUT, or OUTPUT.work/ for an archive."""
    return (RunLayout.for_archive if cfg.archive else RunLayout.for_folder)(plan.output, plan.output_options)


def prepare_ray() -> None:
    """Ray, with Ray Data set up as runs use it."""
    ensure_ray()
    tolerate_lost_blocks()
    stream_small_blocks()
    pickle_ragged_columns()


def convert(cfg: ConvertConfig) -> RunResult:
    """Run one conversion to the end; every listed input gets exactly one manifest row.

    With `archive`, images go to the work area OUTPUT.work/ and are then packed into OUTPUT.
    Only one run at a time works in an OUTPUT (see `runs.lease`).
    """
    plan = prepare(cfg)
    if cfg.archive:
        check_archive_output(plan.output)
    layout = layout_of(plan, cfg)
    card = plan.card("convert", layout, {
        "format": cfg.fmt, "quality": cfg.quality, "max_side": cfg.max_side, "max_pixels": cfg.max_pixels,
        "resume": cfg.resume, "limit": cfg.limit, "archive": cfg.archive, "keep_metadata": cfg.keep_metadata,
        "pool": asdict(cfg.pool),
        "config_hash": plan.config_hash,
        **({"variants": plan.variant_options} if cfg.variants else {})})
    with RunLife(layout, card, plan.config_hash, wait=cfg.wait, unit="images") as run:
        prepare_ray()
        pool = ActorPool.for_cluster(cfg.pool, plan.model.spec)
        steps = (decode_step(plan, cfg), WriteStep(layout.results, plan.output_options, cfg.fmt, cfg.quality))
        source = steps[0].source
        targets = tuple(Target(style.variant, style.root(layout.results), style.config_hash,
                               run.resume_check(config_hash=style.config_hash) if cfg.resume else None)
                        for style in plan.styles)
        listing = ListStep(source, layout.results, targets, cfg.fmt, cfg.limit or None, run.journal())
        run.record(batches(_chain(listed(plan, listing, pool.max_retries), steps, plan, pool)))
        run.retry_lost(lambda lost: _chain(lost.map_batches(gather, batch_size=None, batch_format="pyarrow"), steps,
                                           plan, pool, isolated=True), pool.max_retries + 1)
        run.check_listing()
        notes = [f"{len(plan.styles)} variants, each input once in each: "
                 + ", ".join(f"{style.variant}/" for style in plan.styles)] if cfg.variants else []
        if cfg.archive:
            notes.append(f"{pack(layout, plan.output_options)} images in {plan.output}")
        note = "\n".join(notes)
        return run.finish(plan.output, note=note, pictures=lambda: image_pairs(
            layout, card.run_id, plan.input, plan.input_options, plan.model.spec.input_mode))
