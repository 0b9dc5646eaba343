"""`stylebatch plan`: what a `convert` would do and about how long it would take, with nothing written
in OUTPUT.

The survey is the run's own listing (resume checks read OUTPUT's state and stamps, and fold
nothing) followed by a header read of every input that would be converted (its first bytes: the
pixel count, and the refusals the decoder would make before any model work). The estimate times a
sample of k inputs, spread over the listing, through the run's own decode and model pool on this
cluster, and scales their seconds per pixel to every input left to convert: the pool's start
(model loading) once, the work shared by the pool's actors.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import ray

from pipeline.batch import Batch
from pipeline.codecs import DecodeError, encode_image, image_size
from pipeline.inference import ActorPool
from pipeline.report.page import failures_by_reason
from pipeline.report.pictures import spread
from pipeline.run import (
    ConvertConfig,
    ImagePlan,
    decode_step,
    layout_of,
    listed,
    prepare_ray,
    stylized_rows,
)
from pipeline.runs.resume import ResumeCheck
from pipeline.runs.status import Outcomes, Status
from pipeline.sources import Source
from pipeline.stages import NOT_AN_INPUT, ListStep, Target
from pipeline.storage import STORAGE_ERRORS, filesystem, key_of
from pipeline.variants import gather

HEAD_BYTES = 1 << 18  # enough for a header behind a large EXIF block; a file whose header lies deeper is read whole
SAMPLE_INPUTS = 8
SURVEY = pa.schema([*((name, pa.string()) for name in ("input", "input_version", "output", "member", "status", "error", "variant",
                                                        "config_hash")), ("pixels", pa.int64())])


@dataclass(frozen=True)
class HeaderStep:
    """Where inputs are read from and the run's limits on them."""

    source: Source
    max_pixels: int
    max_side: int


def read_headers(batch: Batch, *, step: HeaderStep) -> Batch:
    """Each pending row's pixel count as the model would get it (after --max-side), from its
    header; failed with the decoder's reason where the header already says it would fail. Archive
    members are left at 0 pixels (they are read whole when decoded). An input's rows (one per
    variant) come together: its header is read once."""
    fs = filesystem(step.source.root, step.source.storage_options)[0]
    outcomes, pixels = Outcomes(batch), np.zeros(len(batch["input"]), np.int64)
    last: tuple[str, int | str] = ("", 0)
    for i, url in enumerate(batch["input"]):
        if not outcomes.pending(i) or batch["member"][i]:
            continue
        if last[0] != url:
            last = (str(url), _pixels(fs, str(url), step))
        if isinstance(last[1], str):
            outcomes.fail(i, last[1])
        else:
            pixels[i] = last[1]
    return {**batch, **outcomes.columns(), "pixels": pixels}


def _pixels(fs: Any, url: str, step: HeaderStep) -> int | str:
    """The pixels the model would get from one input, or why it would be refused."""
    try:
        with fs.open(key_of(fs, url), "rb", block_size=HEAD_BYTES) as f:
            head = f.read(HEAD_BYTES)
        try:
            width, height = image_size(head, step.max_pixels)
        except DecodeError:
            if len(head) < HEAD_BYTES:
                raise
            width, height = image_size(fs.cat_file(key_of(fs, url)), step.max_pixels)
    except DecodeError as exc:
        return str(exc)
    except STORAGE_ERRORS as exc:
        return f"cannot read input: {exc}"
    scale = min(1.0, step.max_side / max(width, height)) if step.max_side else 1.0
    return round(width * scale) * round(height * scale)


@dataclass(frozen=True)
class Estimate:
    """A timed sample's figures: its inputs, their seconds per megapixel through decode and model
    (each variant's), the pool's start, and the run time they give for the rest."""

    inputs: int
    rates: tuple[float, ...]  # seconds per megapixel, one per sampled input and variant
    start_seconds: float
    actors: int
    seconds: tuple[float, float, float]  # (low, median, high) for the whole run

    def describe(self, gpus: float, cpus: float) -> list[str]:
        low, median, high = self.seconds
        rates = sorted(self.rates)
        return [f"  estimated run time on this cluster ({cpus:g} CPUs, {gpus:g} GPUs; {self.actors} model actors): "
                f"{duration(median)} (from {duration(low)} to {duration(high)})",
                f"    from a timed sample of {self.inputs} inputs: {rates[0]:.2f}-{rates[-1]:.2f} s per megapixel "
                f"through decoding and the model alone (median {statistics.median(rates):.2f}), the pool's start "
                f"{self.start_seconds:.1f} s; scaled by the pool's pace over the sample, writing included"]


@dataclass(frozen=True)
class PlanSummary:
    """What `plan` prints: the rows the listing made (one per input and variant, with their bytes
    and pixels), how long the survey took, and the estimate (None when nothing is left to do)."""

    rows: pa.Table
    variants: tuple[str, ...]
    survey_seconds: float
    estimate: Estimate | None

    def lines(self, plan: ImagePlan) -> list[str]:
        rows, per_input = self.rows, max(1, len(self.variants))
        inputs = rows.filter(pc.invert(pc.starts_with(rows["error"], NOT_AN_INPUT)))
        left_out = rows.filter(pc.starts_with(rows["error"], NOT_AN_INPUT))
        todo = inputs.filter(pc.equal(inputs["status"], Status.PENDING.value))
        skipped = inputs.filter(pc.equal(inputs["status"], Status.SKIPPED.value))
        refused = inputs.filter(pc.equal(inputs["status"], Status.FAILED.value))
        styles = f", {len(self.variants)} variants ({', '.join(self.variants)})" if self.variants else ""
        lines = [f"plan: {plan.input} -> {plan.output} ({plan.model.spec.name}{styles}); nothing was written",
                 f"  inputs: {inputs.num_rows // per_input} ({_size(inputs, per_input)})",
                 f"  to convert: {_count(todo, self.variants)} ({_size(todo, per_input, distinct=True)}, "
                 f"{pc.sum(todo['pixels']).as_py() or 0:,} pixels to the model)",
                 f"  skipped, done by earlier runs: {_count(skipped, self.variants)}",
                 f"  refused before any model work: {_count(refused, self.variants)}"]
        once = refused.group_by(["input", "status", "error"]).aggregate([])  # an input's variants fail alike
        for reason, names in failures_by_reason(once):
            lines.append(f"    {len(names):>7}  {reason}  (e.g. {names[0]})")
        if left_out.num_rows:
            kinds = pc.value_counts(left_out["error"]).to_pylist()
            lines.append(f"  left out, not inputs: {left_out.num_rows // per_input} files ("
                         + ", ".join(f"{k['values'][len(NOT_AN_INPUT) + 2:-1]} {k['counts'] // per_input}"
                                     for k in kinds) + ")")
        if self.estimate:
            resources = ray.cluster_resources()
            lines += self.estimate.describe(resources.get("GPU", 0.0), resources.get("CPU", 0.0))
        elif todo.num_rows:
            lines.append("  no estimate: no input was timed (--samples 0)")
        else:
            lines.append("  nothing to convert: no model work")
        lines.append(f"  (the listing and header reads took {duration(self.survey_seconds)})")
        return lines


def plan_convert(plan: ImagePlan, cfg: ConvertConfig, samples: int = SAMPLE_INPUTS) -> PlanSummary:
    """Survey INPUT as `convert` would list it, then time `samples` of the inputs left to do."""
    prepare_ray()
    layout = layout_of(plan, cfg)
    pool = ActorPool.for_cluster(cfg.pool, plan.model.spec)
    decode = decode_step(plan, cfg)
    targets = tuple(Target(style.variant, style.root(layout.results), style.config_hash,
                           ResumeCheck(style.config_hash, "", layout, fold=False) if cfg.resume else None)
                    for style in plan.styles)
    step = ListStep(decode.source, layout.results, targets, cfg.fmt, cfg.limit or None, left_out=True)
    started = time.perf_counter()
    rows = survey(plan, cfg, step, pool)
    survey_seconds = time.perf_counter() - started
    variants = tuple(style.variant for style in plan.styles if style.variant)
    todo = rows.filter(pc.equal(rows["status"], Status.PENDING.value))
    estimate = _timed_sample(todo, plan, cfg, decode, pool, samples) if todo.num_rows and samples else None
    return PlanSummary(rows, variants, survey_seconds, estimate)


def survey(plan: ImagePlan, cfg: ConvertConfig, step: ListStep, pool: ActorPool) -> pa.Table:
    """INPUT's rows as the listing `step` makes them, each pending one's header read (`read_headers`),
    collected (SURVEY's columns)."""
    headers = HeaderStep(step.source, cfg.max_pixels, cfg.max_side)
    ds = listed(plan, step, pool.max_retries).map_batches(read_headers, fn_kwargs={"step": headers}, **pool.tasks())
    batches = list(ds.iter_batches(batch_format="pyarrow", batch_size=None))
    return pa.concat_tables(batches).select(SURVEY.names).cast(SURVEY) if batches else SURVEY.empty_table()


def sample_of(rows: pa.Table, samples: int) -> tuple[pa.Array, pa.Table]:
    """(up to `samples` inputs spread over the pending `rows` in listing order, their rows gathered
    one per input, ready for decoding)."""
    pending = rows.filter(pc.equal(rows["status"], Status.PENDING.value))
    names = pc.unique(pending["input"])
    chosen = names.take(pa.array(spread(len(names), samples), pa.int64()))
    return chosen, gather(pending.filter(pc.is_in(pending["input"], value_set=chosen)).drop_columns(["pixels"]))


def _timed_sample(todo: pa.Table, plan: ImagePlan, cfg: ConvertConfig, decode: Any, pool: ActorPool,
                  samples: int) -> Estimate:
    """Time `samples` inputs spread over `todo` through decoding and the pool, and scale: the pool's
    start is the wait for the first output; the rest of the sample gives the pool's seconds per
    megapixel as it ran (its actors sharing the cluster with decoding), and encoding one output in
    the format asked adds the write step's share. The range follows the sampled inputs' spread."""
    chosen, sample = sample_of(todo, samples)
    started, first, tables, encode = time.perf_counter(), 0.0, [], 0.0
    for batch in stylized_rows(ray.data.from_arrow(sample), decode, plan, pool).iter_batches(batch_size=None):
        first = first or time.perf_counter() - started
        done = [i for i, status in enumerate(batch["status"]) if status == Status.PENDING.value]
        if done and not encode:  # one output, encoded as the run would: seconds per megapixel
            image = batch["image"][done[0]]
            began = time.perf_counter()
            encode_image(image, cfg.fmt, cfg.quality)
            encode = (time.perf_counter() - began) / max(image.shape[0] * image.shape[1], 1) * 1e6
        tables.append(pa.table({name: batch[name][done] for name in ("seconds", "width", "height")}))
    wall = time.perf_counter() - started
    worked = pa.concat_tables(tables)
    seconds, pixels = worked["seconds"].to_numpy(), (worked["width"].to_numpy() * worked["height"].to_numpy()).astype(float)
    rates = tuple(float(s / max(p, 1) * 1e6) for s, p in zip(seconds, pixels)) or (0.0,)
    after_first = float(pixels.sum() - (pixels[0] if pixels.size else 0)) / 1e6
    pool_rate = (wall - first) / after_first if after_first > 0 else statistics.median(rates) / pool.size
    remaining = float(pc.sum(todo["pixels"]).as_py() or 0) / 1e6
    members = pc.sum(pc.not_equal(todo["member"], "")).as_py() or 0  # archive members: the sample's median size
    remaining += members * float(np.median(pixels) if pixels.size else 0) / 1e6
    median = statistics.median(rates) or 1.0
    low, mid, high = (first + remaining * (pool_rate * rate / median + encode / pool.cpu_tasks)
                      for rate in (min(rates), median, max(rates)))
    return Estimate(len(chosen), rates, first, pool.size, (low, mid, high))


def _count(rows: pa.Table, variants: tuple[str, ...]) -> str:
    """"12" in a run of one style; "12 outputs (a 4, b 8)" in a run of several."""
    if not variants:
        return f"{rows.num_rows}"
    by_variant = pc.value_counts(rows["variant"]).to_pylist()
    counts = {entry["values"]: entry["counts"] for entry in by_variant}
    return f"{rows.num_rows} outputs (" + ", ".join(f"{name} {counts.get(name, 0)}" for name in variants) + ")"


def _size(rows: pa.Table, per_input: int, distinct: bool = False) -> str:
    """The bytes of the inputs in `rows` (each input once), from the sizes the listing read."""
    inputs = rows.group_by(["input", "input_version"]).aggregate([]) if distinct or per_input > 1 else rows
    sizes = [int(version.split(":", 1)[0]) for version in inputs["input_version"].to_pylist()
             if version and version.split(":", 1)[0].isdigit()]
    total = sum(sizes)
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if total >= scale:
            return f"{total / scale:,.1f} {unit}"
    return f"{total} bytes"


def duration(seconds: float) -> str:
    """"2 h 05 min", "3 min 20 s" or "42 s"."""
    seconds = round(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"
