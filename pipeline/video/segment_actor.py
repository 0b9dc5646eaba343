"""The model step of a video run: one segment a call, streamed through the resident model.

A decode thread, the model and an encode thread are joined by bounded queues, so a segment never
sits in memory (or in the object store) whole: at most CHUNKS_IN_FLIGHT chunks of frames wait
between each pair of steps, and decoding and encoding overlap with the model. A chunk is a list of
frames, never copied into one array: on a CPU, where the model takes one frame a call, no frame is
copied between the steps.
"""
from __future__ import annotations

import os
import queue
import tempfile
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import ray
from av.codec.hwaccel import HWAccel

from pipeline.batch import Batch
from pipeline.inference import StylizeActor
from pipeline.runs.resume import output_stamp
from pipeline.runs.status import Outcomes, Status
from pipeline.storage import put_file
from pipeline.video.codec_choice import choose_decoder, choose_encoder
from pipeline.video.colour_plan import ColourPlan
from pipeline.video.segments import VideoWriter, archive_frames, video_frames
from pipeline.video.temporal import FlickerMeter, Stabiliser

CHUNK_FRAMES = 8  # frames a hand-off between threads at most,
CHUNK_BYTES = 48 << 20  # and bytes at most: 8 frames at 1080p, 2 at 4K
CHUNKS_IN_FLIGHT = 2
SEGMENTS_AT_ONCE = 2  # calls of one actor at once: on two cores, 5-11% more frames/s than one (README, Video)
_END = object()
Decoded = tuple[np.ndarray, np.ndarray | None]  # an RGB frame and its fraction (`ColourPlan.picture`)


@dataclass(frozen=True)
class SegmentJob:
    """What every segment of a run shares: where the frames come from and how the result is encoded."""

    url: str
    input_options: Mapping[str, Any]
    frame_pts: tuple[int, ...] = ()  # a video's frames, or
    members: tuple[str, ...] = ()  # a frame archive's, at `size`
    size: tuple[int, int] = (0, 0)
    max_side: int = 0
    config_hash: str = ""  # what each segment file's stamp names
    output_options: Mapping[str, Any] | None = None
    fps: Fraction = Fraction(24)
    crf: int = 18
    preset: str = "medium"
    deflicker: float = 0.0
    encoder: str = "auto"
    decoder: str = "auto"
    colour: ColourPlan = ColourPlan()  # the input's colours (or the convention's), and what becomes of HDR

    def frames(self, start: int, end: int, hwaccel: HWAccel | None) -> Iterator[Decoded]:
        """(RGB frame, the fraction of a level its rounding took off, or None: `video_frames`)."""
        if self.members:
            return ((frame, None) for frame in archive_frames(self.url, self.input_options, list(self.members), start,
                                                              end, self.size, self.max_side))
        return video_frames(self.url, self.input_options, self.frame_pts, start, end, self.max_side, hwaccel,
                            self.colour)


class SegmentActor(StylizeActor):
    """The image pipeline's resident model, given a whole segment a call: it decodes, stylizes and
    encodes the segment to its row's output (a file of the work area), stamped, streaming; returns status, flicker figures, the seconds
    it took and when it finished.

    SEGMENTS_AT_ONCE calls run at once, in threads, taking turns at the model: a segment's decoder
    starts and its encoder drains (x264 holds some 40 frames in its lookahead) while the other one
    keeps the model and the cores busy."""

    def __init__(self, job: SegmentJob, **actor_arguments: Any) -> None:
        super().__init__(**actor_arguments)
        self.job = job
        self.model_turn = threading.Lock()  # one resident model, one forward pass at a time
        has_gpu = bool(ray.get_gpu_ids())
        # a GPU actor reserves its share of the node's cores for the CPU encoder (`ActorPool`): x264
        # takes that many threads; a CPU actor's encoder shares the node with the model's threads
        threads = int(ray.get_runtime_context().get_assigned_resources().get("CPU", 0)) if has_gpu else 0
        self.encoder, encoder_why = choose_encoder(job.encoder, has_gpu, job.crf, job.preset, job.colour.keeps_hdr,
                                                   threads)
        self.hwaccel, decoder_why = choose_decoder("cpu" if job.members else job.decoder, has_gpu)
        self.codecs = (f"decoder {'cuda (NVDEC)' if self.hwaccel else 'cpu'} ({decoder_why}), "
                       f"encoder {self.encoder.name} ({encoder_why})")

    def __call__(self, batch: Batch) -> Batch:
        outcomes = Outcomes(batch)
        rows = len(batch["input"])
        figures = {key: np.zeros(rows) for key in ("flicker_in", "flicker_raw", "flicker_out", "seconds")}
        figures["finished_at"] = np.zeros(rows, np.int64)
        for i, (start, end) in enumerate(zip(batch["start"], batch["end"])):
            began = time.perf_counter()
            try:
                stamp = output_stamp(self.job.config_hash, str(batch["input"][i]), str(batch["input_version"][i]))
                for key, value in self._segment(str(batch["output"][i]), int(start), int(end), stamp).items():
                    figures[key][i] = value
                outcomes.settle(i, Status.CONVERTED)
            except Exception as exc:  # a bad segment (decode, model, encode) fails alone
                outcomes.fail(i, f"{type(exc).__name__}: {exc}")  # the row's input names its frames
            figures["seconds"][i] = time.perf_counter() - began
            figures["finished_at"][i] = time.time_ns() // 1_000_000  # here, not when the driver hears of it
        return {**batch, **outcomes.columns(), **figures, "codecs": np.array([self.codecs] * rows, object),
                "placement": np.array([self.placement] * rows, object)}

    def _segment(self, output: str, start: int, end: int, stamp: str) -> dict[str, float]:
        job = self.job
        decoded: queue.Queue = queue.Queue(CHUNKS_IN_FLIGHT)
        styled: queue.Queue = queue.Queue(CHUNKS_IN_FLIGHT)
        stop = threading.Event()
        meters = {key: FlickerMeter() for key in ("flicker_in", "flicker_raw")}
        # unsmoothed, the output is the raw sequence: measured once
        meters["flicker_out"] = FlickerMeter() if job.deflicker > 0 else meters["flicker_raw"]
        stabilise = Stabiliser(job.deflicker)
        with tempfile.TemporaryDirectory() as folder:
            local = os.path.join(folder, "segment.mp4")
            writer = VideoWriter(local, job.fps, self.encoder, stamp, job.colour)

            def encode(item: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray | None]]) -> None:
                frames, stylized, fractions = item
                smoothed = stabilise(frames, stylized)
                meters["flicker_in"].add(frames)
                meters["flicker_raw"].add(stylized)
                if meters["flicker_out"] is not meters["flicker_raw"]:
                    meters["flicker_out"].add(smoothed)
                writer.write(smoothed, fractions)

            decoder = _Worker(lambda: frame_chunks(job.frames(start, end, self.hwaccel), self.max_batch), decoded, stop)
            encoder = _Worker(lambda: _drain(styled, stop), None, stop, consume=encode)
            try:
                for chunk in _drain(decoded, stop):
                    frames = [frame for frame, _ in chunk]
                    with self.model_turn:
                        out = [image for k in range(0, len(frames), self.max_batch)
                               for image in self.model(_batch(frames[k : k + self.max_batch]))]
                    _put(styled, (frames, out, [fraction for _, fraction in chunk]), stop)
                _put(styled, _END, stop)
                encoder.join()
            finally:
                stop.set()
                decoder.join()
                encoder.join()
                writer.close()
            decoder.raise_error()
            encoder.raise_error()
            if writer.count != end - start:
                raise ValueError(f"encoded {writer.count} of {end - start} frames")
            put_file(local, output, job.output_options or {})
        return {key: meter.value for key, meter in meters.items()}


class _Worker:
    """A thread that either fills `out` from `produce()` (then puts _END) or hands each item of
    `produce()` to `consume`; its error is kept for the caller, and it stops when `stop` is set."""

    def __init__(self, produce: Callable[[], Iterator[Any]], out: queue.Queue | None, stop: threading.Event,
                 consume: Callable[[Any], None] | None = None) -> None:
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(produce, out, stop, consume), daemon=True)
        self.thread.start()

    def _run(self, produce: Callable[[], Iterator[Any]], out: queue.Queue | None, stop: threading.Event,
             consume: Callable[[Any], None] | None) -> None:
        try:
            for item in produce():
                if out is not None:
                    _put(out, item, stop)
                else:
                    consume(item)
        except BaseException as exc:  # handed to the caller, which raises it
            self.error = exc
            stop.set()
        finally:
            if out is not None and not stop.is_set():
                _put(out, _END, stop)

    def join(self) -> None:
        self.thread.join()

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error


def frame_chunks(frames: Iterator[Decoded], model_batch: int) -> Iterator[list[Decoded]]:
    """Decoded frames in lists of CHUNK_FRAMES, fewer where that passes CHUNK_BYTES (large frames),
    at least a model batch (a GPU's batch is not split to save memory)."""
    chunk: list[Decoded] = []
    for frame in frames:
        if not chunk:
            size = max(model_batch, min(CHUNK_FRAMES, CHUNK_BYTES // frame[0].nbytes), 1)
        chunk.append(frame)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _batch(frames: Sequence[np.ndarray]) -> np.ndarray:
    """Frames as one (N, H, W, C) model batch; one frame is a view, not a copy."""
    return frames[0][None] if len(frames) == 1 else np.stack(frames)


def _put(out: queue.Queue, item: Any, stop: threading.Event) -> None:
    """Put, waiting for room while the segment is still going."""
    while not stop.is_set():
        try:
            out.put(item, timeout=0.1)
            return
        except queue.Full:
            continue


def _drain(source: queue.Queue, stop: threading.Event) -> Iterator[Any]:
    """Items until _END, or until the segment stops."""
    while not stop.is_set():
        try:
            item = source.get(timeout=0.1)
        except queue.Empty:
            continue
        if item is _END:
            return
        yield item
