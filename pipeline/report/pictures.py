"""The report's before/after thumbnails: a sample spread over the run, small JPEGs beside the report.

Inputs are untrusted, so the pictures are made in a Ray task (`in_task`), with the run's own
reader and decoder and their limits; a run's result never depends on them (a failure leaves the
gallery empty and says so in the log)."""
from __future__ import annotations

import logging
from typing import Any, Callable, Iterable, Mapping, TypeVar

import av
import numpy as np
import pyarrow as pa
from PIL import Image

from pipeline.cluster import run_bounded
from pipeline.codecs import DEFAULT_MAX_PIXELS, decode_image, encode_image
from pipeline.runs.layout import RunLayout
from pipeline.runs.manifest import converted_listing
from pipeline.runs.status import Status
from pipeline.sources import Decoding, Source
from pipeline.stages import DecodeStep, read_and_decode
from pipeline.storage import filesystem, key_of, write_bytes
from pipeline.video.orientation import displayed_rgb

THUMB_SIDE = 256
GALLERY_SIZE = 48
FRAME_PAIRS = 4
PICTURE_SECONDS = 300
Pair = tuple[str, np.ndarray, np.ndarray]
T = TypeVar("T")
log = logging.getLogger(__name__)


def spread(count: int, wanted: int) -> list[int]:
    """Up to `wanted` indices of `count` items, evenly spread from the first to the last."""
    if count <= wanted:
        return list(range(count))
    return sorted({round(k * (count - 1) / (wanted - 1)) for k in range(wanted)}) if wanted > 1 else [0]


def thumbnail(image: np.ndarray | Image.Image) -> bytes:
    """A JPEG whose longer side is at most THUMB_SIDE."""
    picture = image if isinstance(image, Image.Image) else Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image)
    picture = picture.convert("RGB")
    picture.thumbnail((THUMB_SIDE, THUMB_SIDE))
    return encode_image(np.asarray(picture), "jpg", 85)


def save_pairs(pairs: Iterable[Pair], report_url: str, run_id: str, storage_options: Mapping[str, Any]) -> list[dict[str, str]]:
    """Write each (name, before, after) as REPORT/<run_id>/NNN-before.jpg and -after.jpg; returns the
    gallery entries (paths relative to REPORT, as the page links them)."""
    entries = []
    for k, (name, before, after) in enumerate(pairs):
        entry = {"input": name, "before": f"{run_id}/{k:03d}-before.jpg", "after": f"{run_id}/{k:03d}-after.jpg"}
        write_bytes(f"{report_url}/{entry['before']}", thumbnail(before), storage_options)
        write_bytes(f"{report_url}/{entry['after']}", thumbnail(after), storage_options)
        entries.append(entry)
    return entries


def image_pairs(layout: RunLayout, run_id: str, input_root: str, input_options: Mapping[str, Any],
                input_mode: str) -> list[dict[str, str]]:
    """Thumbnails of up to GALLERY_SIZE inputs the run converted (from its listing journal, so archive
    members are read as the run read them) and of their outputs."""
    output_options, report_url = layout.storage_options, layout.report_dir
    listed = converted_listing(layout, run_id)
    if not listed.num_rows:  # nothing converted (a rerun that skipped everything)
        return []
    chosen = listed.take(pa.array(spread(listed.num_rows, GALLERY_SIZE), pa.int64()))
    batch = {name: np.array(chosen[name].to_pylist(), object) for name in chosen.column_names}
    batch["status"] = np.array([Status.PENDING.value] * chosen.num_rows, object)
    batch["error"] = np.array([""] * chosen.num_rows, object)
    source = Source(input_root, input_options)
    before = read_and_decode(batch, step=DecodeStep(source, Decoding(input_mode, DEFAULT_MAX_PIXELS, THUMB_SIDE)))
    out_fs = filesystem(str(batch["output"][0]), output_options)[0]
    pairs = []
    for i, status in enumerate(before["status"]):
        if status != Status.PENDING:
            continue  # changed or gone since the run read it
        try:
            after = decode_image(out_fs.cat_file(key_of(out_fs, str(batch["output"][i]))), "RGB", max_side=THUMB_SIDE)
        except (OSError, ValueError) as exc:
            log.warning("no thumbnail of %s: %s", batch["output"][i], exc)
            continue
        variant = str(batch["variant"][i]) if "variant" in batch and batch["variant"][i] else ""
        pairs.append((str(batch["input"][i]) + (f" ({variant})" if variant else ""), before["image"][i], after))
    return save_pairs(pairs, report_url, run_id, output_options)


def frame_pairs(input_url: str, input_options: Mapping[str, Any], output_url: str, output_options: Mapping[str, Any],
                report_url: str, run_id: str) -> list[dict[str, str]]:
    """FRAME_PAIRS frames spread over the movie, from the input and the same instants of the output."""
    duration = _duration(output_url, output_options)
    times = [duration * (k + 0.5) / FRAME_PAIRS for k in range(FRAME_PAIRS)]
    before, after = _frames_at(input_url, input_options, times), _frames_at(output_url, output_options, times)
    return save_pairs([(f"{t:.1f} s", a, b) for t, a, b in zip(times, before, after)], report_url, run_id, output_options)


def _duration(url: str, options: Mapping[str, Any]) -> float:
    fs, path = filesystem(url, options)
    with fs.open(path, "rb") as f, av.open(f) as container:
        stream = container.streams.video[0]
        if stream.duration is not None:
            return float(stream.duration * stream.time_base)
        return container.duration / av.time_base if container.duration else 0.0


def _frames_at(url: str, options: Mapping[str, Any], times: list[float]) -> list[Image.Image]:
    """The first frame at or after each time (seconds from the stream's start), seeking to the
    keyframe before it."""
    fs, path = filesystem(url, options)
    pictures = []
    with fs.open(path, "rb") as f, av.open(f) as container:
        stream = container.streams.video[0]
        origin = stream.start_time or 0
        for t in times:
            target = origin + int(t / stream.time_base)
            container.seek(target, stream=stream, backward=True)
            for frame in container.decode(stream):
                if frame.pts is None or frame.pts >= target:
                    image = Image.fromarray(displayed_rgb(frame))  # the input as shown: the output is upright
                    image.thumbnail((THUMB_SIDE, THUMB_SIDE))
                    pictures.append(image)
                    break
    return pictures


def in_task(make: Callable[..., list[T]], *args: Any) -> list[T]:
    """`make(*args)` in a Ray task with a time limit; an empty list (and a warning) if it fails."""
    try:
        return run_bounded(make, *args, seconds=PICTURE_SECONDS)
    except Exception as exc:  # the gallery is a convenience: never a reason for a run to fail
        log.warning("the report has no pictures: %s", exc)
        return []
