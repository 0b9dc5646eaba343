"""A video's segments: probe the source, plan frame ranges of bounded length, decode a range
frame-exact (a video seeked to the keyframe before it, or frame-archive members), encode."""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Iterator, Mapping, Sequence

import av
import numpy as np
from av.codec.hwaccel import HWAccel
from PIL import Image

from pipeline.archives import ArchiveError, ArchiveReader, list_members
from pipeline.codecs import DEFAULT_MAX_PIXELS, DecodeError, decode_image
from pipeline.storage import filesystem
from pipeline.video.codec_choice import Encoder
from pipeline.video.orientation import clockwise_turn, upright
from pipeline.video.colour import VideoColour
from pipeline.video.colour_plan import ColourPlan
from pipeline.video.hdr_light import HdrLight

STAMP_TAG = "comment"  # the container tag that carries a segment's stamp


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
    carried: tuple[tuple[str, str], ...] = ()  # (kind, codec) of the sound and subtitle streams a join copies
    colour: VideoColour = VideoColour()
    light: HdrLight = HdrLight()  # an HDR stream's mastering display and light levels, as its first frame says

    @property
    def frames(self) -> int:
        return len(self.frame_pts)

    @property
    def duration(self) -> float:
        return self.frames / float(self.fps)


def probe(url: str, storage_options: Mapping[str, Any]) -> VideoInfo:
    """Demux the video stream once to find frame timestamps and keyframes; only the first frame is
    decoded, for its display matrix (the size is given as shown: a portrait phone clip is taller)."""
    fs, path = filesystem(url, storage_options)
    with fs.open(path, "rb") as f, av.open(f) as container:
        if not container.streams.video:
            raise ValueError(f"{url} has no video stream")
        if still_image(container.format.name):
            raise ValueError(f"it is a still image ({container.format.name.removesuffix('_pipe')}), not a video: "
                             "use `stylebatch convert` for images")
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        if width <= 0 or height <= 0 or width * height > DEFAULT_MAX_PIXELS:
            raise ValueError(f"its video stream declares {width}x{height} pixels a frame; up to "
                             f"{DEFAULT_MAX_PIXELS:,} are converted")
        packets, first = [], None
        for packet in container.demux(stream):
            if packet.pts is None:
                continue
            packets.append((packet.pts, packet.is_keyframe))
            if first is None:  # the first frame's display matrix: its packets are decoded, the rest only listed
                first = _first_frame(stream, packet)
        if len(packets) < 2:
            raise ValueError(f"it holds {len(packets)} video frames, a still image at most: use `stylebatch convert` "
                             "for images")
        packets.sort()
        fps = stream.average_rate or stream.guessed_rate or Fraction(25)
        turn = clockwise_turn(first) if first else 0
        return VideoInfo(
            fps=Fraction(fps), width=height if turn in (90, 270) else width,
            height=width if turn in (90, 270) else height,
            time_base=Fraction(stream.time_base), frame_pts=tuple(p for p, _ in packets),
            keyframes=tuple(i for i, (_, key) in enumerate(packets) if key) or (0,),
            has_audio=bool(container.streams.audio),
            carried=tuple((s.type, s.codec_context.name) for s in (*container.streams.audio, *container.streams.subtitles)
                          if s.codec_context is not None),
            colour=VideoColour.of_frame(first) if first else _stream_colour(stream.codec_context),
            light=HdrLight.of_frame(first) if first else HdrLight(),
        )


def _stream_colour(context: av.codec.context.CodecContext) -> VideoColour:
    """The colours a stream's header declares (where its first frame could not be decoded)."""
    bits = context.format.components[0].bits if context.format else 8
    return VideoColour.of(context.colorspace, context.color_range, context.color_primaries, context.color_trc,
                          context.height, bits)


def still_image(format_name: str) -> bool:
    """Whether FFmpeg read the input with one of its image demuxers (a photo given as a video)."""
    return format_name == "image2" or format_name.endswith("_pipe")


def _first_frame(stream: av.video.stream.VideoStream, packet: av.Packet) -> av.VideoFrame | bool | None:
    """The frame `packet` completes, None while the decoder still waits for more, False where it
    fails (the segments will say so: the probe only wants the display matrix)."""
    try:
        return next(iter(stream.codec_context.decode(packet)), None)
    except av.error.FFmpegError:
        return False


def container_stamp(fs: Any, path: str) -> str | None:
    """The stamp a video file carries ("" if none; None if it is not a whole video)."""
    try:
        with fs.open(path, "rb") as f, av.open(f) as container:
            return container.metadata.get(STAMP_TAG, "")
    except av.error.FFmpegError:
        return None


def stamped_segment(fs: Any, path: str, stamp: str) -> bool:
    """Whether the segment file at `path` carries `stamp`. A segment without any stamp was written
    by a release before segments carried one, into the work area of this very configuration, and
    counts as done, as it did then (segment files appear whole: `storage.put_file`); one that is
    not a whole video is made again."""
    return container_stamp(fs, path) in (stamp, "")


def stamped_video(url: str, storage_options: Mapping[str, Any], stamp: str) -> bool:
    """Whether a joined video exists at `url` and carries `stamp` (this configuration made it from
    this version of its input)."""
    fs, path = filesystem(url, storage_options)
    return fs.exists(path) and container_stamp(fs, path) == stamp


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
                     frame_pts=tuple(range(len(members))), keyframes=tuple(range(len(members))), has_audio=False,
                     colour=VideoColour.for_rgb(first.shape[0]))
    return info, members


def plan_segments(info: VideoInfo, seconds: float) -> list[tuple[int, int]]:
    """[start, end) frame ranges of `seconds` each (the last may be shorter), wherever the keyframes
    are: a segment is decoded from the keyframe before its start, frames before it dropped."""
    length = max(1, round(seconds * float(info.fps)))
    return [(start, min(start + length, info.frames)) for start in range(0, info.frames, length)]


def video_frames(url: str, storage_options: Mapping[str, Any], frame_pts: tuple[int, ...], start: int, end: int,
                 max_side: int, hwaccel: HWAccel | None = None,
                 colour: ColourPlan | None = None) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """Frames [start, end) of a video, in order, frame-exact, as (RGB uint8 as `colour` has the
    model see it, the fraction rounding took off where the output is deeper: `ColourPlan.picture`),
    upright: the decoder (on the device when `hwaccel` says so) seeks to the keyframe before
    `start`; earlier frames are dropped. A frame shrunk to `max_side` keeps no fraction."""
    wanted = frame_pts[start:end]
    fs, path = filesystem(url, storage_options)
    with fs.open(path, "rb") as f, av.open(f, hwaccel=hwaccel) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        container.seek(wanted[0], stream=stream, backward=True)
        index = 0
        for frame in container.decode(stream):
            if frame.pts is None or frame.pts < wanted[index]:
                continue  # before the cut (or before a frame the probe saw: never kept twice)
            if frame.pts != wanted[index]:
                raise ValueError(f"frame {start + index} (pts {wanted[index]}) is missing from the stream")
            rgb, fraction = (colour or ColourPlan.of_frame(frame)).picture(frame)  # 8-bit, whatever the format
            turn = clockwise_turn(frame)
            rgb = _even(upright(rgb, turn))
            fitted = _fit(rgb, max_side)
            yield fitted, (_even(upright(fraction, turn)) if fraction is not None and fitted is rgb else None)
            index += 1
            if index == len(wanted):
                return
    raise ValueError(f"the stream ended after {index} of {len(wanted)} frames")


def archive_frames(url: str, storage_options: Mapping[str, Any], members: list[str], start: int, end: int,
                   size: tuple[int, int], max_side: int) -> Iterator[np.ndarray]:
    """Members [start, end) of a frame archive as RGB uint8 arrays; every frame must have the first
    frame's (width, height) `size`."""
    fs, path = filesystem(url, storage_options)
    archive = ArchiveReader(fs)
    for member in members[start:end]:
        try:
            frame = decode_image(archive.read(path, member), "RGB")
        except (DecodeError, ArchiveError) as exc:
            raise ValueError(f"frame {member}: {exc}") from None
        if (frame.shape[1] // 2 * 2, frame.shape[0] // 2 * 2) != size:
            raise ValueError(f"frame {member} is {frame.shape[1]}x{frame.shape[0]}, the first frame "
                             f"{size[0]}x{size[1]}: frames of one video must share a size")
        yield _fit(frame[: size[1], : size[0]], max_side)


def _even(frame: np.ndarray) -> np.ndarray:
    """Odd sides cropped by one pixel: 4:2:0 video, what every output encoder writes, needs even sides."""
    return frame[: frame.shape[0] // 2 * 2, : frame.shape[1] // 2 * 2]


def _fit(frame: np.ndarray, max_side: int) -> np.ndarray:
    """Shrink so the longer side is at most `max_side` (even sides, as H.264 needs)."""
    h, w = frame.shape[:2]
    if not max_side or max(h, w) <= max_side:
        return frame
    scale = max_side / max(h, w)
    size = (max(2, round(w * scale / 2) * 2), max(2, round(h * scale / 2) * 2))
    return np.asarray(Image.fromarray(frame).resize(size, Image.LANCZOS))


class VideoWriter:
    """Frames appended chunk by chunk to a video file by `encoder` (no B-frames, so segments join
    cleanly), as 4:2:0 in `colour`'s output matrix, range and depth and tagged with them, the file
    tagged with `stamp`. The file is opened at the first frame (its size is the frames')."""

    def __init__(self, path: str, fps: Fraction, encoder: Encoder, stamp: str = "",
                 colour: ColourPlan = ColourPlan()) -> None:
        self.path, self.fps, self.encoder, self.stamp, self.colour = path, fps, encoder, stamp, colour
        self.container: av.container.OutputContainer | None = None
        self.count = 0

    def write(self, frames: Sequence[np.ndarray], fractions: Sequence[np.ndarray | None] = ()) -> None:
        """Append `frames` (RGB uint8), each with its input's `fractions` where `ColourPlan.picture`
        kept them."""
        output = self.colour.output
        planar = "yuv420p10le" if output.bits > 8 else "yuv420p"
        if self.container is None:
            self.container = av.open(self.path, "w")
            if self.stamp:
                self.container.metadata[STAMP_TAG] = self.stamp
            self.stream = self.container.add_stream(self.encoder.name, rate=self.fps)
            self.stream.height, self.stream.width = frames[0].shape[:2]
            self.stream.pix_fmt = self.encoder.pixel_format(output.bits)
            self.stream.options = dict(self.encoder.carrying(self.colour.light).options if self.colour.keeps_hdr
                                       else self.encoder.options)
            output.tag(self.stream.codec_context)
        for array, fraction in itertools.zip_longest(frames, fractions[: len(frames)]):
            frame = av.VideoFrame.from_ndarray(self.colour.yuv(array, fraction), format=planar)
            if self.stream.pix_fmt != planar:  # NVENC's semi-planar layouts: a copy, no conversion
                frame = frame.reformat(format=self.stream.pix_fmt)
            frame.pts = self.count
            self.container.mux(self.stream.encode(frame))
            self.count += 1

    def close(self) -> None:
        if self.container is not None:
            self.container.mux(self.stream.encode(None))
            self.container.close()
            self.container = None
