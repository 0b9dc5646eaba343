"""One video segment's work: probe the source, plan segments of frame ranges, decode a segment
(a video seeked to its keyframe, or a range of frame-archive members), encode it to H.264."""
from __future__ import annotations

import os
import re
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Mapping

import av
import numpy as np
from PIL import Image

from pipeline.archives import ArchiveError, ArchiveReader, list_members
from pipeline.codecs import DEFAULT_MAX_PIXELS, DecodeError, decode_image
from pipeline.stages import objects
from pipeline.storage import filesystem, put_file
from pipeline.video.temporal import flicker, stabilise

SEGMENT_NAME = "seg-{:06d}.mp4"


@dataclass(frozen=True)
class VideoInfo:
    """What the probe learned: frame rate, size, every frame's pts (in order) and the keyframes."""

    fps: Fraction
    width: int
    height: int
    time_base: Fraction
    frame_pts: tuple[int, ...]
    keyframes: tuple[int, ...]  # indices into frame_pts
    has_audio: bool

    @property
    def frames(self) -> int:
        return len(self.frame_pts)

    @property
    def duration(self) -> float:
        return self.frames / float(self.fps)


def probe(url: str, storage_options: Mapping[str, Any]) -> VideoInfo:
    """Demux (not decode) the video stream once to find frame timestamps and keyframes."""
    fs, path = filesystem(url, storage_options)
    with fs.open(path, "rb") as f, av.open(f) as container:
        if not container.streams.video:
            raise ValueError(f"{url} has no video stream")
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        if width <= 0 or height <= 0 or width * height > DEFAULT_MAX_PIXELS:
            raise ValueError(f"its video stream declares {width}x{height} pixels a frame; up to "
                             f"{DEFAULT_MAX_PIXELS:,} are converted")
        packets = [(p.pts, p.is_keyframe) for p in container.demux(stream) if p.pts is not None]
        if not packets:
            raise ValueError(f"{url} has no video frames")
        packets.sort()
        fps = stream.average_rate or stream.guessed_rate or Fraction(25)
        return VideoInfo(
            fps=Fraction(fps), width=stream.codec_context.width, height=stream.codec_context.height,
            time_base=Fraction(stream.time_base), frame_pts=tuple(p for p, _ in packets),
            keyframes=tuple(i for i, (_, key) in enumerate(packets) if key) or (0,),
            has_audio=bool(container.streams.audio),
        )


def natural_key(name: str) -> list:
    """Sort key that orders frame2.png before frame10.png."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def probe_frames(url: str, fps: float, storage_options: Mapping[str, Any]) -> tuple[VideoInfo, list[str]]:
    """A frame archive as a video: its image members in natural order at `fps`, every frame a keyframe.

    The size is the first frame's (rounded down to even sides, as H.264 needs).
    """
    fs, path = filesystem(url, storage_options)
    listed = list_members(fs, path)
    refused = [m for m in listed if m.problem]
    if refused:
        raise ValueError(f"{url}: member {refused[0].name}: {refused[0].problem}")
    members = sorted((m.name for m in listed), key=natural_key)
    if not members:
        raise ValueError(f"{url} holds no image members")
    first = decode_image(ArchiveReader(fs).read(path, members[0]), "RGB")
    rate = Fraction(fps).limit_denominator(1001)
    info = VideoInfo(fps=rate, width=first.shape[1] // 2 * 2, height=first.shape[0] // 2 * 2, time_base=1 / rate,
                     frame_pts=tuple(range(len(members))), keyframes=tuple(range(len(members))), has_audio=False)
    return info, members


def decode_frame_segments(batch: dict[str, np.ndarray], *, url: str, members: list[str], size: tuple[int, int],
                          max_side: int, storage_options: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Read and decode each segment's archive members (RGB uint8, (T, H, W, 3)); every frame must have
    the first frame's (width, height) `size`."""
    clips, statuses, errors = [], [], []
    fs, path = filesystem(url, storage_options)
    archive = ArchiveReader(fs)
    for start, end in zip(batch["start"], batch["end"]):
        try:
            frames = []
            for member in members[start:end]:
                try:
                    frame = decode_image(archive.read(path, member), "RGB")
                except (DecodeError, ArchiveError) as exc:
                    raise ValueError(f"frame {member}: {exc}") from None
                if (frame.shape[1] // 2 * 2, frame.shape[0] // 2 * 2) != size:
                    raise ValueError(f"frame {member} is {frame.shape[1]}x{frame.shape[0]}, the first frame "
                                     f"{size[0]}x{size[1]}: frames of one video must share a size")
                frames.append(_fit(frame[: size[1], : size[0]], max_side))
            clips.append(np.stack(frames))
            statuses.append("pending")
            errors.append("")
        except (ValueError, OSError) as exc:
            clips.append(np.zeros((0, 0, 0, 3), np.uint8))
            statuses.append("failed")
            errors.append(f"cannot decode frames {start}-{end - 1}: {exc}")
    return {**batch, "frames": objects(clips), "status": np.array(statuses, object), "error": np.array(errors, object)}


def plan_segments(info: VideoInfo, seconds: float) -> list[tuple[int, int]]:
    """[start, end) frame ranges that begin at keyframes and last at least `seconds` (the last may be shorter)."""
    target = max(1, round(seconds * float(info.fps)))
    starts = [0]
    for key in info.keyframes:
        if key - starts[-1] >= target:
            starts.append(key)
    return list(zip(starts, [*starts[1:], info.frames]))


def decode_segments(batch: dict[str, np.ndarray], *, url: str, frame_pts: tuple[int, ...], max_side: int,
                    storage_options: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Decode each segment's frames (RGB uint8, (T, H, W, 3)) by seeking to its first keyframe."""
    fs, path = filesystem(url, storage_options)
    clips, statuses, errors = [], [], []
    for start, end in zip(batch["start"], batch["end"]):
        wanted = set(frame_pts[start:end])
        frames: dict[int, np.ndarray] = {}
        try:
            with fs.open(path, "rb") as f, av.open(f) as container:
                stream = container.streams.video[0]
                container.seek(frame_pts[start], stream=stream, backward=True)
                for frame in container.decode(stream):
                    if frame.pts in wanted:
                        frames[frame.pts] = _fit(frame.to_ndarray(format="rgb24"), max_side)
                    if frame.pts is not None and frame.pts >= frame_pts[end - 1]:
                        break
            if len(frames) != end - start:
                raise ValueError(f"decoded {len(frames)} of {end - start} frames")
            clips.append(np.stack([frames[p] for p in sorted(frames)]))
            statuses.append("pending")
            errors.append("")
        except (av.FFmpegError, ValueError, OSError) as exc:
            clips.append(np.zeros((0, 0, 0, 3), np.uint8))
            statuses.append("failed")
            errors.append(f"cannot decode frames {start}-{end - 1}: {exc}")
    return {**batch, "frames": objects(clips), "status": np.array(statuses, object), "error": np.array(errors, object)}


def _fit(frame: np.ndarray, max_side: int) -> np.ndarray:
    """Shrink so the longer side is at most `max_side` (even sides, as H.264 needs)."""
    h, w = frame.shape[:2]
    if not max_side or max(h, w) <= max_side:
        return frame
    scale = max_side / max(h, w)
    size = (max(2, round(w * scale / 2) * 2), max(2, round(h * scale / 2) * 2))
    return np.asarray(Image.fromarray(frame).resize(size, Image.LANCZOS))


def encode_segments(batch: dict[str, np.ndarray], *, work: str, fps: Fraction, crf: int, preset: str,
                    deflicker: float, storage_options: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Smooth (if asked), measure flicker and encode each stylized segment to H.264 in
    WORK/seg-NNNNNN.mp4 (written whole, so a segment file is never half there)."""
    statuses, errors, seconds = batch["status"].copy(), batch["error"].copy(), []
    flicker_in, flicker_raw, flicker_out = [], [], []
    for i, (segment, frames, stylized) in enumerate(zip(batch["segment"], batch["frames"], batch["stylized"])):
        start = time.perf_counter()
        smoothed = stabilise(frames, stylized, deflicker) if statuses[i] == "pending" else stylized
        flicker_in.append(flicker(frames))
        flicker_raw.append(flicker(stylized))
        flicker_out.append(flicker(smoothed))
        if statuses[i] == "pending":
            try:
                with tempfile.TemporaryDirectory() as folder:
                    local = os.path.join(folder, "segment.mp4")
                    write_h264(smoothed, local, fps, crf, preset)
                    put_file(local, f"{work}/{SEGMENT_NAME.format(int(segment))}", storage_options)
                statuses[i] = "converted"
            except (av.FFmpegError, OSError, ValueError) as exc:
                statuses[i], errors[i] = "failed", f"cannot encode segment: {exc}"
        seconds.append(time.perf_counter() - start)
    return {key: value for key, value in batch.items() if key not in ("frames", "stylized")} | {
        "status": statuses, "error": errors, "encode_seconds": np.array(seconds),
        "flicker_in": np.array(flicker_in), "flicker_raw": np.array(flicker_raw), "flicker_out": np.array(flicker_out)}


def write_h264(frames: np.ndarray, path: str, fps: Fraction, crf: int, preset: str) -> None:
    """(T, H, W, 3) uint8 frames to an H.264 MP4 without B-frames, so segments join cleanly."""
    with av.open(path, "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": preset, "x264-params": "bframes=0"}
        for index, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb24")
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
