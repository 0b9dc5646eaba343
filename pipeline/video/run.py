"""One `stylebatch video` run on Ray Data: segments -> decode -> actor pool -> encode -> join.

The run's life (lease, resume, records, report) is `runs.lifecycle`'s; a segment is an input like
an image: `VIDEO#frames=a-b` at the video's version, its output a stamped file in the work area."""
from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass
from typing import Any, Callable, TypeVar

import av
import pyarrow as pa
import pyarrow.compute as pc
import ray
from ray.exceptions import GetTimeoutError, RayError

from operators.errors import ConfigError
from pipeline.archives import ArchiveError, archive_protocol
from pipeline.cluster import ensure_ray, run_bounded
from pipeline.inference import ActorPool
from pipeline.report.pictures import frame_pairs
from pipeline.plan import RunPlan, plan_run
from pipeline.run import image_config_hash, tolerate_lost_blocks
from pipeline.runs.layout import RunLayout
from pipeline.runs.lifecycle import RunLife, RunResult, abort_reason, batches, worker_died
from pipeline.runs.resume import input_version, output_stamp
from pipeline.runs.status import Status
from pipeline.settings import RunRequest
from pipeline.storage import filesystem
from pipeline.video.colour_plan import ColourPlan
from pipeline.video.container import check_output_container
from pipeline.video.join import join_segments
from pipeline.video.segments import VideoInfo, plan_segments, probe, probe_frames, stamped_segment, stamped_video
from pipeline.video.segment_actor import SEGMENTS_AT_ONCE, SegmentActor, SegmentJob

log = logging.getLogger(__name__)
PROBE_SECONDS = 120
# in the work area's hash: segments cut by an older plan are never reused (frames are turned upright
# since "upright": a sideways segment of a phone clip must not be joined with upright ones; encoded in
# the input's matrix and range, and tagged, since "colour-managed": an untagged BT.601 segment of an
# HD film must not be joined with tagged BT.709 ones; in
# the input's depth since "10-bit kept": an 8-bit segment of a 10-bit film must not be joined with 10-bit ones)
SEGMENT_PLAN = "fixed-length, upright, colour-managed, 10-bit kept"
T = TypeVar("T")


@dataclass
class VideoConfig(RunRequest):
    """Everything a `video` run is asked to do (the CLI's flags)."""

    max_side: int = 0
    segment_seconds: float = 10.0
    crf: int = 18
    preset: str = "medium"
    resume: bool = True
    keep_segments: bool = False
    deflicker: float = 0.0
    encoder: str = "auto"
    decoder: str = "auto"
    hdr: str = "tonemap"
    fps: float | None = None
    wait: bool = False


def _probed(name: str, probe_fn: Callable[..., T], *args: Any) -> T:
    """Run a probe of the (untrusted) input in a task, never in the driver: a parser that crashes
    takes only its worker, one that stalls is stopped after PROBE_SECONDS. Every way it fails is
    one ConfigError (status 2) before any work."""
    try:
        return run_bounded(probe_fn, *args, seconds=PROBE_SECONDS)
    except GetTimeoutError:
        raise ConfigError(f"cannot read video {name}: reading its index took longer than {PROBE_SECONDS} s "
                          "(a damaged or hostile file?)") from None
    except (ValueError, OSError, ArchiveError, av.error.FFmpegError) as exc:
        raise ConfigError(f"cannot read video {name}: {abort_reason(exc)}") from None
    except RayError as exc:  # the probe's worker died (a crash in a native parser)
        raise ConfigError(f"cannot read video {name}: the probe's worker died reading it ({abort_reason(exc)}); "
                          "the file is damaged or not a video") from None


def convert_video(cfg: VideoConfig) -> RunResult:
    """Stylize a whole video; totals count segments, the summary line reports frames/s."""
    plan = plan_run(cfg)
    ColourPlan(hdr=cfg.hdr)  # a wrong --hdr is said before the probe
    check_output_container(plan.output, cfg.encoder, ())
    info, frames_from = _probe_source(cfg, plan)
    colour = ColourPlan(info.colour, cfg.hdr, info.light)
    codec = "hevc" if colour.keeps_hdr and cfg.encoder == "auto" else None
    for stream in check_output_container(plan.output, cfg.encoder, info.carried, codec):
        log.info("OUTPUT's container cannot hold the input's %s stream: the output leaves it out", stream)
    # the model's part is hashed as an image run hashes it (PNG at quality 95), as earlier releases
    # did: their work areas keep their names
    model = image_config_hash(plan.model, "png", 95, cfg.max_side)
    identity = (f"{model}|{cfg.max_side}|{cfg.segment_seconds}|{cfg.crf}|{cfg.preset}|{info.frames}"
                f"|{info.fps}|{SEGMENT_PLAN}|{cfg.encoder}" + (f"|hdr={cfg.hdr}" if colour.is_hdr else ""))
    video_hash = hashlib.sha256(identity.encode()).hexdigest()[:16]
    layout = RunLayout.for_video(plan.output, plan.output_options).work_area(video_hash)
    segments = plan_segments(info, cfg.segment_seconds)
    card = plan.card("video", layout, {
        "segment_seconds": cfg.segment_seconds, "segments": len(segments), "frames": info.frames, "fps": str(info.fps),
        "size": f"{info.width}x{info.height}", "max_side": cfg.max_side, "crf": cfg.crf, "preset": cfg.preset,
        "encoder": cfg.encoder, "decoder": cfg.decoder, "hdr": cfg.hdr, "deflicker": cfg.deflicker,
        "pool": asdict(cfg.pool),
        "config_hash": video_hash})
    with RunLife(layout, card, video_hash, wait=cfg.wait, unit="segments") as run:
        listed = _segment_rows(plan, info, segments, layout)
        stamp = output_stamp(video_hash, plan.input, listed["input_version"][0])
        finished = cfg.resume and stamped_video(plan.output, plan.output_options, stamp)
        if finished:
            listed["status"] = [Status.SKIPPED.value] * len(segments)
        elif cfg.resume:
            listed = run.resume_check(stamped_segment).load().mark_done(listed)
        journal = run.journal()
        todo = journal.add(pa.table(listed))
        journal.close()
        ensure_ray()
        if finished:
            return run.finish(plan.output, frames=0, note=f"skipped: already converted ({plan.output} carries this "
                                                           "configuration's stamp); --no-resume converts it again")
        tolerate_lost_blocks()
        pool = ActorPool.for_cluster(cfg.pool, plan.model.spec, actor_per_core=False)
        figures = _Figures()
        if todo.num_rows:
            job = SegmentJob(url=plan.input, input_options=plan.input_options, max_side=cfg.max_side,
                             config_hash=video_hash, output_options=plan.output_options, fps=info.fps, crf=cfg.crf,
                             preset=cfg.preset, deflicker=cfg.deflicker, encoder=cfg.encoder, decoder=cfg.decoder,
                             colour=colour, **frames_from)
            ds = pool.apply(ray.data.from_items(todo.to_pylist(), override_num_blocks=todo.num_rows),
                            {**plan.model.actor_arguments(), "job": job}, actor=SegmentActor, rows_per_call=1,
                            calls_per_actor=SEGMENTS_AT_ONCE)
            run.record(figures.add(table) for table in batches(ds))
            run.fail_lost(worker_died(pool.max_retries + 1, "segment", "rerun to try it again"))
        note = "\n".join(filter(None, [f"colour: {colour.describe()}",
                                        figures.note(cfg.deflicker)]))
        if run.totals.failed:
            return run.finish(f"(not joined: {run.totals.failed} segments failed; rerun to retry them)",
                              frames=figures.frames, note=note)
        _join(plan, info, segments, layout, cfg.keep_segments, stamp, with_sound="frame_pts" in frames_from)
        pictures = (lambda: frame_pairs(plan.input, plan.input_options, plan.output, plan.output_options,  # noqa: E731
                                        layout.report_dir, card.run_id)) if "frame_pts" in frames_from else None
        return run.finish(plan.output, frames=figures.frames, pictures=pictures, note=note)


def probe_video(name: str, url: str, storage_options: dict[str, Any]) -> VideoInfo:
    """Probe a video (in a task): ConfigError if it is not one, or cannot be read."""
    return _probed(name, probe, url, storage_options)


def _probe_source(cfg: VideoConfig, plan: RunPlan) -> tuple[VideoInfo, dict[str, Any]]:
    """The input's frames as the segment actors will read them (a video's frame times, or a frame
    archive's members and size), after the checks that need no probe."""
    companion = plan.model.companion
    if companion:
        raise ConfigError(f"operator {plan.model.spec.name} reads a {companion.what} with every image; "
                          "video frames have none (choose a mode or operator without one)")
    frame_archive = archive_protocol(plan.input) is not None
    if frame_archive and not cfg.fps:
        raise ConfigError(f"{cfg.input} is a frame archive, which has no frame rate: pass --fps (e.g. --fps 24)")
    if cfg.fps and not frame_archive:
        raise ConfigError("--fps is for frame archives (.zip/.tar); a video keeps its own frame rate")
    if frame_archive:
        info, members = _probed(cfg.input, probe_frames, plan.input, cfg.fps, plan.input_options)
        return info, {"members": tuple(members), "size": (info.width, info.height)}
    info = probe_video(cfg.input, plan.input, plan.input_options)
    return info, {"frame_pts": info.frame_pts}


def _join(plan: RunPlan, info: VideoInfo, segments: list[tuple[int, int]], layout: RunLayout, keep_segments: bool,
          stamp: str, with_sound: bool) -> None:
    """Join the work area's segments into OUTPUT at the input's frame times (with the input's sound
    and subtitles, `with_sound`), stamped, then remove them unless kept."""
    fs_work = layout.fs(layout.records)[0]
    paths = [layout.fs(layout.segment(i))[1] for i in range(len(segments))]
    join_segments(fs_work, paths, [info.frame_pts[a:b] for a, b in segments], info.time_base,
                  plan.input if with_sound else None, plan.output, plan.input_options, plan.output_options, stamp)
    if not keep_segments:
        fs_work.rm([path for path in paths if fs_work.exists(path)])


def _segment_rows(plan: RunPlan, info: VideoInfo, segments: list[tuple[int, int]],
                  layout: RunLayout) -> dict[str, Any]:
    """The video's listing: a row per segment, as an image run lists its inputs (input VIDEO#frames=a-b
    at the video's version, output its file in the work area), with its frame range."""
    fs, path = filesystem(plan.input, plan.input_options)
    version = input_version(fs.info(path))
    n = len(segments)
    return {
        "input": [f"{plan.input}#frames={a}-{b - 1}" for a, b in segments],
        "input_version": [version] * n,
        "output": [layout.segment(i) for i in range(n)],
        "status": [Status.PENDING.value] * n, "error": [""] * n, "member": [""] * n,
        "width": [info.width] * n, "height": [info.height] * n,
        "start": [a for a, _ in segments], "end": [b for _, b in segments],
    }


class _Figures:
    """What the segments' rows say beyond the manifest: frames stylized by this run, the codecs the
    actors chose, and the flicker figures weighted by segment length."""

    def __init__(self) -> None:
        self.frames = 0
        self.codecs: set[str] = set()
        self.flicker = {"flicker_in": 0.0, "flicker_raw": 0.0, "flicker_out": 0.0}

    def add(self, table: pa.Table) -> pa.Table:
        lengths = pc.subtract(table["end"], table["start"])
        converted = pc.equal(table["status"], Status.CONVERTED.value)
        self.frames += pc.sum(pc.filter(lengths, converted)).as_py() or 0
        self.codecs.update(table["codecs"].to_pylist())
        for key in self.flicker:
            self.flicker[key] += pc.sum(pc.multiply(table[key], lengths)).as_py() or 0.0
        return table

    def note(self, deflicker: float) -> str:
        """The run's closing lines: codecs used, and the flicker (output / input)."""
        lines = sorted(self.codecs)
        if self.flicker["flicker_in"]:
            raw = self.flicker["flicker_raw"] / self.flicker["flicker_in"]
            out = self.flicker["flicker_out"] / self.flicker["flicker_in"]
            smoothing = f" (per-frame stylization {raw:.2f}, {100 * (1 - out / raw):.0f}% less)" if deflicker else ""
            lines.append(f"flicker (consecutive-frame change, output / input): {out:.2f}{smoothing}")
        return "\n".join(lines)
