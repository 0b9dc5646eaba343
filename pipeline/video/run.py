"""One `stylebatch video` run on Ray Data: segments -> decode -> actor pool -> encode -> join."""
from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, TypeVar

import av
import pyarrow as pa
import ray
from ray.exceptions import GetTimeoutError, RayError

from operators.errors import ConfigError
from pipeline.archives import ArchiveError, archive_protocol
from pipeline.cluster import ensure_ray, run_bounded
from pipeline.inference import ActorPool
from pipeline.keys import WORK_SUFFIX
from pipeline.lease import Lease
from pipeline.manifest import MANIFEST_DIR, ManifestWriter, Totals
from pipeline.report.build import reporting
from pipeline.report.pictures import frame_pairs
from pipeline.run import (
    ConvertConfig,
    Plan,
    RunResult,
    abort_reason,
    new_run_id,
    prepare,
    recording_on_abort,
    tolerate_lost_blocks,
)
from pipeline.settings import ModelSettings, PoolSettings
from pipeline.storage import filesystem, to_url
from pipeline.video.join import join_segments
from pipeline.video.segments import SEGMENT_NAME, VideoInfo, plan_segments, probe, probe_frames
from pipeline.video.stylize import SEGMENTS_AT_ONCE, SegmentActor, SegmentJob

PROBE_SECONDS = 120
# in the work area's hash: segments cut by an older plan are never reused (frames are turned upright
# since "upright": a sideways segment of a phone clip must not be joined with upright ones)
SEGMENT_PLAN = "fixed-length, upright"
T = TypeVar("T")


@dataclass
class VideoConfig:
    """Everything a `video` run is asked to do (the CLI's flags)."""

    input: str
    output: str
    model: ModelSettings
    pool: PoolSettings = field(default_factory=PoolSettings)
    storage_options: dict[str, Any] = field(default_factory=dict)
    max_side: int = 0
    segment_seconds: float = 10.0
    crf: int = 18
    preset: str = "medium"
    resume: bool = True
    keep_segments: bool = False
    deflicker: float = 0.0
    encoder: str = "auto"
    decoder: str = "auto"
    fps: float | None = None
    wait: bool = False


def work_area(output: str, config_hash: str) -> str:
    """Where a run keeps its finished segments and manifests: OUTPUT.work/<config hash>."""
    return f"{output}{WORK_SUFFIX}/{config_hash}"


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
    plan = prepare(ConvertConfig(input=cfg.input, output=cfg.output, model=cfg.model, pool=cfg.pool,
                                 storage_options=cfg.storage_options, max_side=cfg.max_side))
    if plan.companion:
        raise ConfigError(f"operator {plan.spec.name} reads a {plan.companion.what} with every image; "
                          "video frames have none (choose a mode or operator without one)")
    frame_archive = archive_protocol(plan.input) is not None
    if frame_archive and not cfg.fps:
        raise ConfigError(f"{cfg.input} is a frame archive, which has no frame rate: pass --fps (e.g. --fps 24)")
    if cfg.fps and not frame_archive:
        raise ConfigError("--fps is for frame archives (.zip/.tar); a video keeps its own frame rate")
    if frame_archive:
        info, members = _probed(cfg.input, probe_frames, plan.input, cfg.fps, plan.input_options)
        source = {"members": tuple(members), "size": (info.width, info.height)}
    else:
        info = _probed(cfg.input, probe, plan.input, plan.input_options)
        source = {"frame_pts": info.frame_pts}
    identity = (f"{plan.config_hash}|{cfg.max_side}|{cfg.segment_seconds}|{cfg.crf}|{cfg.preset}|{info.frames}"
                f"|{info.fps}|{SEGMENT_PLAN}|{cfg.encoder}")
    config_hash = hashlib.sha256(identity.encode()).hexdigest()[:16]
    work = work_area(plan.output, config_hash)
    fs_work, work_root = filesystem(work, plan.output_options)
    segments = plan_segments(info, cfg.segment_seconds)
    run_id = new_run_id()
    card = plan.card("video", run_id, plan.output, f"{work}/{MANIFEST_DIR}", {
        "segment_seconds": cfg.segment_seconds, "segments": len(segments), "frames": info.frames, "fps": str(info.fps),
        "size": f"{info.width}x{info.height}", "max_side": cfg.max_side, "crf": cfg.crf, "preset": cfg.preset,
        "encoder": cfg.encoder, "decoder": cfg.decoder, "deflicker": cfg.deflicker, "pool": asdict(cfg.pool),
        "config_hash": config_hash})
    with Lease(f"{plan.output}{WORK_SUFFIX}", plan.output_options, run_id, wait=cfg.wait) as lease, \
            reporting(card, f"{plan.output}{WORK_SUFFIX}", plan.output_options) as report:
        done = set(fs_work.glob(f"{work_root}/seg-*.mp4")) if cfg.resume else set()
        names = [f"{work_root}/{SEGMENT_NAME.format(i)}" for i in range(len(segments))]
        todo = [{"segment": i, "start": a, "end": b, "status": "pending", "error": ""}
                for i, (a, b) in enumerate(segments) if names[i] not in done]

        ensure_ray()
        tolerate_lost_blocks()
        pool = ActorPool.for_cluster(cfg.pool, plan.spec, actor_per_core=False)
        started = time.perf_counter()
        totals = Totals(run_id=run_id, operator=plan.spec.name, config_hash=config_hash)
        writer = ManifestWriter(work, run_id, plan.output_options)
        skipped = [i for i in range(len(segments)) if names[i] in done]
        _record(writer, totals, skipped, ["skipped"] * len(skipped), [""] * len(skipped), segments, names, plan, info,
                run_id, config_hash)
        flicker_sums = {"flicker_in": 0.0, "flicker_raw": 0.0, "flicker_out": 0.0}
        converted_frames = 0  # frames stylized by this run (a resumed run skips finished segments)
        codecs: set[str] = set()  # what the actors chose, said once each in the run's note
        if todo:
            job = SegmentJob(url=plan.input, input_options=plan.input_options, max_side=cfg.max_side, work=work,
                             output_options=plan.output_options, fps=info.fps, crf=cfg.crf, preset=cfg.preset,
                             deflicker=cfg.deflicker, encoder=cfg.encoder, decoder=cfg.decoder, **source)
            ds = pool.stylize(ray.data.from_items(todo, override_num_blocks=len(todo)),
                              {**plan.model(), "job": job}, actor=SegmentActor, rows_per_call=1,
                              calls_per_actor=SEGMENTS_AT_ONCE)
            recorded: set[int] = set()
            with recording_on_abort(writer, totals, unit="segments"):
                for batch in ds.iter_batches(batch_format="numpy", batch_size=None):
                    codecs.update(batch["codecs"])
                    lengths = batch["end"] - batch["start"]
                    converted_frames += int(lengths[batch["status"] == "converted"].sum())
                    for key in flicker_sums:
                        flicker_sums[key] += float((batch[key] * lengths).sum())
                    _record(writer, totals, [int(s) for s in batch["segment"]], list(batch["status"]),
                            list(batch["error"]), segments, names, plan, info, run_id, config_hash,
                            [float(s) for s in batch["seconds"]], [int(t) for t in batch["finished_at"]])
                    recorded.update(int(s) for s in batch["segment"])
                lease.check()
            lost = [row["segment"] for row in todo if row["segment"] not in recorded]
            reason = (f"its worker died on each of {pool.max_retries + 1} tries while processing this segment "
                      "(out of memory, or a crash in a native library?); rerun to try it again")
            _record(writer, totals, lost, ["failed"] * len(lost), [reason] * len(lost), segments, names, plan, info,
                    run_id, config_hash)
        if not totals.failed:
            join_segments(fs_work, names, [info.frame_pts[a:b] for a, b in segments], info.time_base,
                          None if frame_archive else plan.input, plan.output, plan.input_options, plan.output_options)
            if not cfg.keep_segments:
                fs_work.rm([n for n in names if fs_work.exists(n)])
            if not frame_archive:
                report.pictures(frame_pairs, plan.input, plan.input_options, plan.output, plan.output_options,
                                report.url, run_id)
        totals.seconds = time.perf_counter() - started
        totals.images_per_second = converted_frames / totals.seconds if totals.seconds else 0.0
        manifest, summary = writer.finish(totals)
        output = (plan.output if not totals.failed
                  else f"(not joined: {totals.failed} segments failed; rerun to retry them)")
        note = "\n".join(sorted(codecs))
        if flicker_sums["flicker_in"]:
            raw = flicker_sums["flicker_raw"] / flicker_sums["flicker_in"]
            out = flicker_sums["flicker_out"] / flicker_sums["flicker_in"]
            smoothing = (f" (per-frame stylization {raw:.2f}, {100 * (1 - out / raw):.0f}% less)"
                         if cfg.deflicker else "")
            note += ("\n" if note else "") + f"flicker (consecutive-frame change, output / input): {out:.2f}{smoothing}"
        card.note = note
        return RunResult(totals, output, manifest, summary, unit="frames", note=note, report=report.page_url)


def _record(writer: ManifestWriter, totals: Totals, indices: list[int], statuses: list[str], errors: list[str],
            segments: list[tuple[int, int]], names: list[str], plan: Plan, info: VideoInfo, run_id: str,
            config_hash: str, seconds: list[float] | None = None, finished_at: list[int] | None = None) -> None:
    """Manifest rows for segments: input is VIDEO#frames=a-b, output the segment file, seconds the time
    its actor spent on it, finished_at when its actor finished it (epoch ms; by default now)."""
    if not indices:
        return
    fs_work = filesystem(names[0], plan.output_options)[0]
    writer.add(pa.table({
        "input": [f"{plan.input}#frames={segments[i][0]}-{segments[i][1] - 1}" for i in indices],
        "input_version": [""] * len(indices),  # segments resume by their files in the work area
        "output": [to_url(fs_work, names[i]) for i in indices],
        "status": statuses, "error": errors,
        "operator": [plan.spec.name] * len(indices), "config_hash": [config_hash] * len(indices),
        "width": [info.width] * len(indices), "height": [info.height] * len(indices),
        "seconds": seconds or [0.0] * len(indices),
        "finished_at": pa.array(finished_at or [time.time_ns() // 1_000_000] * len(indices),
                                pa.timestamp("ms", tz="UTC")),
        "run_id": [run_id] * len(indices),
    }))
    for status in statuses:
        setattr(totals, status, getattr(totals, status) + 1)
    totals.inputs += len(indices)

