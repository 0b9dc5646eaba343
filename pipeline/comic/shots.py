"""Movie to panels: shot detection, one keyframe per shot (more for long shots), subtitle captions."""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import av
import numpy as np

from pipeline.storage import filesystem
from pipeline.video.orientation import displayed_rgb

ANALYSIS_SIDE = 64


@dataclass(frozen=True)
class Panel:
    """One keyframe: its time, the shot it belongs to, the frame and any subtitle text then."""

    shot: int
    seconds: float
    frame: np.ndarray
    caption: str = ""


def colour_histogram(frame: np.ndarray) -> np.ndarray:
    """Normalised joint RGB histogram (4 bins per channel) of a small frame."""
    codes = (frame[..., 0] >> 6).astype(np.int32) * 16 + (frame[..., 1] >> 6) * 4 + (frame[..., 2] >> 6)
    hist = np.bincount(codes.ravel(), minlength=64).astype(np.float64)
    return hist / hist.sum()


def shot_starts(distances: list[float], threshold: float, min_gap: int) -> list[int]:
    """Frame indices where a new shot starts: histogram distance to the previous frame above
    `threshold`, at least `min_gap` frames after the last cut."""
    starts = [0]
    for index, distance in enumerate(distances, start=1):
        if distance > threshold and index - starts[-1] >= min_gap:
            starts.append(index)
    return starts


def subtitles(container: av.container.InputContainer) -> list[tuple[float, float, str]]:
    """(start, end, text) of every event in the file's first text subtitle stream.

    Packets are read, not decoded (libav's subtitle decoders are not needed for text and are
    fragile on odd headers); bitmap subtitles (DVD, PGS) carry no text and give no captions.
    """
    streams = [s for s in container.streams.subtitles if s.codec_context.name in SUBTITLE_TEXT]
    if not streams:
        return []
    stream = streams[0]
    text_of = SUBTITLE_TEXT[stream.codec_context.name]
    events = []
    for packet in container.demux(stream):
        if packet.pts is None or not packet.size:
            continue
        start = float(packet.pts * stream.time_base)
        end = start + float((packet.duration or 0) * stream.time_base)
        text = re.sub(r"\{[^}]*\}", "", text_of(bytes(packet)).decode("utf-8", "replace"))  # ASS override tags
        text = " ".join(text.replace("\\N", " ").replace("\\n", " ").split())
        if text:
            events.append((start, end, text))
    return events


def _ass_text(payload: bytes) -> bytes:
    """Matroska ASS packets: ReadOrder, Layer, Style, Name, MarginL, MarginR, MarginV, Effect, Text."""
    return payload.split(b",", 8)[-1]


SUBTITLE_TEXT: dict[str, Callable[[bytes], bytes]] = {
    "ass": _ass_text,
    "ssa": _ass_text,
    "subrip": lambda payload: payload,
    "srt": lambda payload: payload,
    "text": lambda payload: payload,
    "webvtt": lambda payload: payload,
    "mov_text": lambda payload: payload[2 : 2 + int.from_bytes(payload[:2], "big")],
}


def keyframes(url: str, storage_options: Mapping[str, Any], threshold: float = 0.35, min_shot_seconds: float = 0.5,
              panel_seconds: float = 8.0) -> list[Panel]:
    """Detect shots and pick the middle frame of each (one per `panel_seconds` for long shots)."""
    fs, path = filesystem(url, storage_options)
    with fs.open(path, "rb") as f, av.open(f) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 25)
        histograms, times = [], []
        for frame in container.decode(stream):
            small = frame.to_ndarray(format="rgb24", width=ANALYSIS_SIDE, height=ANALYSIS_SIDE)
            histograms.append(colour_histogram(small))
            times.append(float(frame.pts * stream.time_base) if frame.pts is not None else len(times) / fps)
    with fs.open(path, "rb") as f, av.open(f) as container:
        events = subtitles(container)
    distances = [0.5 * np.abs(a - b).sum() for a, b in zip(histograms[1:], histograms)]
    starts = shot_starts(distances, threshold, max(1, round(min_shot_seconds * fps)))
    picks: list[tuple[int, int, float, float]] = []  # shot, frame index, the panel's span in seconds
    ends = [*times[1:], times[-1] + 1 / fps]
    for shot, (start, end) in enumerate(zip(starts, [*starts[1:], len(times)])):
        count = max(1, round((end - start) / fps / panel_seconds))
        bounds = [start + k * (end - start) // count for k in range(count + 1)]
        picks += [(shot, (a + b) // 2, times[a], ends[b - 1]) for a, b in zip(bounds, bounds[1:])]
    frames = dict(_frames_at(url, storage_options, sorted(index for _, index, _, _ in picks)))
    return [Panel(shot, times[i], frames[i], _caption(events, span_start, span_end))
            for shot, i, span_start, span_end in picks]


def _frames_at(url: str, storage_options: Mapping[str, Any], indices: list[int]) -> Iterator[tuple[int, np.ndarray]]:
    """Full-size RGB frames at the given (sorted) indices, in one decoding pass."""
    wanted = set(indices)
    fs, path = filesystem(url, storage_options)
    with fs.open(path, "rb") as f, av.open(f) as container:
        for index, frame in enumerate(container.decode(container.streams.video[0])):
            if index in wanted:
                yield index, displayed_rgb(frame)
            if index >= indices[-1]:
                break


def _caption(events: list[tuple[float, float, str]], span_start: float, span_end: float) -> str:
    """The subtitles that begin during a panel's span of the film (its share of the shot), in order."""
    return " ".join(text for start, _, text in events if span_start <= start < span_end)
