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
COLOURS, ORIENTATIONS = 64, 8  # bins of a cell's signature: joint RGB at 4 levels, then edge orientations
FLAT_STRENGTH = 2.0  # mean edge strength (grey levels a pixel) below which a cell counts as flat
DARK_SHARE, FLAT_SHARE = 0.9, 0.25  # black: this much in the darkest colour bin, edges this weak
GRID = 3  # cells a side of a frame's signature
WINDOW_SECONDS = 0.5  # frames compared on each side of a cut: a fade's length, a short shot's
DEFAULT_THRESHOLD = 0.3
SHOT_DETECTOR = "windowed medians of cell colour and edge histograms"  # keyframes found by another are found again


@dataclass(frozen=True)
class Panel:
    """One keyframe: its time, the shot it belongs to, the frame and any subtitle text then."""

    shot: int
    seconds: float
    frame: np.ndarray
    caption: str = ""


def frame_signature(small: np.ndarray) -> np.ndarray:
    """(GRID*GRID, COLOURS + ORIENTATIONS) float32: for each cell of a GRID x GRID grid over a small frame,
    the joint RGB histogram (4 levels a channel) and the histogram of edge orientations (weighted by
    edge strength), each normalised to half the weight. Cells see where colours are, orientations
    what is drawn there: two places of one street share their colours, not their layout and edges."""
    codes = (small[..., 0] >> 6).astype(np.int32) * 16 + (small[..., 1] >> 6) * 4 + (small[..., 2] >> 6)
    grey = small.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    gy, gx = np.gradient(grey)
    strength = np.hypot(gx, gy)
    orientation = np.minimum((np.arctan2(gy, gx) % np.pi) / np.pi * ORIENTATIONS, ORIENTATIONS - 1).astype(np.int32)
    signature = []
    for cell in _cells(codes.shape):
        colours = np.bincount(codes[cell].ravel(), minlength=COLOURS).astype(np.float32)
        edges = np.bincount(orientation[cell].ravel(), strength[cell].ravel(), minlength=ORIENTATIONS).astype(np.float32)
        floor = FLAT_STRENGTH * colours.sum()  # a flat cell (black, a wall) has next to no edges, not noise's
        signature.append(np.concatenate([colours / (2 * colours.sum()), edges / (2 * max(edges.sum(), floor))]))
    return np.stack(signature)


def _cells(shape: tuple[int, ...]) -> list[tuple[slice, slice]]:
    h, w = shape[:2]
    return [(slice(r * h // GRID, (r + 1) * h // GRID), slice(c * w // GRID, (c + 1) * w // GRID))
            for r in range(GRID) for c in range(GRID)]


def signature_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Histogram distance 0..1 (half the L1 distance, averaged over the cells) of signatures `a`, `b`
    (any leading shape)."""
    return 0.5 * np.abs(a - b).sum(axis=-1).mean(axis=-1)


def cut_scores(signatures: np.ndarray, window: int, chunk: int = 2048) -> np.ndarray:
    """For each frame t, the distance between the median signature of the `window` frames before it
    and of the `window` frames from it on (0 at the first frame). Medians make it blind to a flash or
    a few odd frames, windows see a fade whole, and a pan changes the frames a window apart little."""
    n = len(signatures)
    padded = np.concatenate([np.repeat(signatures[:1], window, 0), signatures, np.repeat(signatures[-1:], window, 0)])
    scores = np.zeros(n, np.float32)
    for first in range(1, n, chunk):
        last = min(n, first + chunk)
        before = np.lib.stride_tricks.sliding_window_view(padded[first : last + window], window, axis=0)
        after = np.lib.stride_tricks.sliding_window_view(padded[first + window : last + 2 * window], window, axis=0)
        scores[first:last] = signature_distance(np.median(before[: last - first], axis=-1),
                                                np.median(after[: last - first], axis=-1))
    return scores


def shot_starts(signatures: np.ndarray, fps: float, threshold: float, min_shot_seconds: float) -> list[int]:
    """Frame indices where a shot starts. A cut is where the cut score peaks above `threshold` (the
    highest within half a window each side), placed at the frame nearby that differs most from the
    one before it (the cut itself, or the steepest moment of a fade); the highest peaks are taken
    first, and none closer than `min_shot_seconds` to another."""
    window = max(2, round(WINDOW_SECONDS * fps))
    half = window // 2
    scores = cut_scores(signatures, window)
    steps = np.concatenate([[0.0], signature_distance(signatures[1:], signatures[:-1])])
    padded = np.concatenate([np.zeros(half), scores, np.zeros(half)])
    local_max = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1).max(axis=1)
    peaks = np.flatnonzero((scores > threshold) & (scores >= local_max))
    min_gap = max(1, round(min_shot_seconds * fps))
    cuts: list[int] = []
    for peak in sorted(peaks, key=lambda p: -scores[p]):
        near = slice(max(1, peak - half), min(len(scores), peak + half + 1))
        cut = near.start + int(np.argmax(steps[near]))
        if all(abs(cut - other) >= min_gap for other in cuts) and cut >= min_gap:
            cuts.append(cut)
    return [0, *_through_black(sorted(cuts), signatures, 2 * window)]


def _through_black(cuts: list[int], signatures: np.ndarray, within: int) -> list[int]:
    """One cut for a fade through black: two cuts fewer than `within` frames apart with black frames
    between them (dark and flat: a night sky with stars is no fade) become one, in the middle of
    the black."""
    dark = np.flatnonzero((signatures[:, :, 0].mean(axis=1) * 2 > DARK_SHARE)
                          & (signatures[:, :, COLOURS:].sum(axis=2).mean(axis=1) * 2 < FLAT_SHARE))
    merged: list[int] = []
    for cut in cuts:
        if merged and cut - merged[-1] < within:
            black = dark[(dark >= merged[-1]) & (dark < cut)]
            if black.size:
                merged[-1] = int(black[black.size // 2])
                continue
        merged.append(cut)
    return merged


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


def keyframes(url: str, storage_options: Mapping[str, Any], threshold: float = DEFAULT_THRESHOLD,
              min_shot_seconds: float = 0.5, panel_seconds: float = 8.0) -> list[Panel]:
    """Detect shots and pick the middle frame of each (one per `panel_seconds` for long shots)."""
    signatures, times, fps = analyse(url, storage_options)
    fs, path = filesystem(url, storage_options)
    with fs.open(path, "rb") as f, av.open(f) as container:
        events = subtitles(container)
    starts = shot_starts(signatures, fps, threshold, min_shot_seconds)
    picks: list[tuple[int, int, float, float]] = []  # shot, frame index, the panel's span in seconds
    ends = [*times[1:], times[-1] + 1 / fps]
    for shot, (start, end) in enumerate(zip(starts, [*starts[1:], len(times)])):
        count = max(1, round((end - start) / fps / panel_seconds))
        bounds = [start + k * (end - start) // count for k in range(count + 1)]
        picks += [(shot, (a + b) // 2, times[a], ends[b - 1]) for a, b in zip(bounds, bounds[1:])]
    frames = dict(_frames_at(url, storage_options, sorted(index for _, index, _, _ in picks)))
    return [Panel(shot, times[i], frames[i], _caption(events, span_start, span_end))
            for shot, i, span_start, span_end in picks]


def analyse(url: str, storage_options: Mapping[str, Any]) -> tuple[np.ndarray, list[float], float]:
    """Every frame's signature and time in seconds, and the frame rate, in one decoding pass."""
    fs, path = filesystem(url, storage_options)
    with fs.open(path, "rb") as f, av.open(f) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 25)
        signatures, times = [], []
        for frame in container.decode(stream):
            small = frame.to_ndarray(format="rgb24", width=ANALYSIS_SIDE, height=ANALYSIS_SIDE)
            signatures.append(frame_signature(small))
            times.append(float(frame.pts * stream.time_base) if frame.pts is not None else len(times) / fps)
    if not signatures:
        raise ValueError(f"{url} has no video frames")
    return np.stack(signatures), times, fps


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
