"""Joining: the segment files concatenated (video packets re-timed, not re-encoded) with the
source's audio and subtitle streams copied packet for packet."""
from __future__ import annotations

import contextlib
import heapq
import os
import tempfile
from fractions import Fraction
from typing import Any, Iterator, Mapping, Sequence

import av

from pipeline.storage import filesystem, put_file
from pipeline.video.segments import STAMP_TAG


def join_segments(fs_work, segment_paths: list[str], frame_pts: list[Sequence[int]], time_base: Fraction,
                  source: str | None, output: str, storage_options: Mapping[str, Any],
                  output_options: Mapping[str, Any], stamp: str) -> None:
    """Concatenate segment files (paths on `fs_work`; video packets re-timed, not re-encoded) with the
    audio and subtitle streams of `source` (a video; None for frame archives) into OUTPUT. Each
    segment's frames take the source's timestamps (`frame_pts`, one sequence a segment, in
    `time_base`): a variable frame rate and a late start stay as they were, in step with the sound.
    OUTPUT carries `stamp`: a rerun of the same configuration on the same input keeps it."""
    with tempfile.TemporaryDirectory() as folder:
        local = os.path.join(folder, "joined" + (os.path.splitext(output)[1] or ".mp4"))
        with av.open(local, "w") as out, contextlib.ExitStack() as stack:
            out.metadata[STAMP_TAG] = stamp
            with fs_work.open(segment_paths[0], "rb") as f, av.open(f) as first:
                video_out = out.add_stream_from_template(first.streams.video[0])
            copied = []
            if source is not None:
                fs_in, source_path = filesystem(source, storage_options)
                src = stack.enter_context(av.open(stack.enter_context(fs_in.open(source_path, "rb"))))
                copied = [(s, out.add_stream_from_template(s)) for s in (*src.streams.audio, *src.streams.subtitles)
                          if _can_copy(s, out)]
            sources = [_segment_packets(fs_work, segment_paths, frame_pts, time_base, video_out)]
            sources += [_copied_packets(source, storage_options, s.index, target) for s, target in copied]
            for _, _, packet in heapq.merge(*sources, key=lambda item: (item[0], item[1])):
                out.mux(packet)
        put_file(local, output, output_options)


def _can_copy(stream: av.stream.Stream, out: av.container.OutputContainer) -> bool:
    """Whether the output container can carry this stream's codec as it is."""
    return stream.codec_context is not None and out.supported_codecs is not None and \
        stream.codec_context.name in out.supported_codecs


def _segment_packets(fs, paths: list[str], frame_pts: list[Sequence[int]], time_base: Fraction,
                     target) -> Iterator[tuple]:
    """Video packets of every segment in order, the k-th of a segment given its k-th source timestamp
    -> (seconds, order, packet). No encoder here writes B-frames (codec_choice), so packets come in
    presentation order and each one's dts is its pts."""
    order = 0
    for path, times in zip(paths, frame_pts):
        with fs.open(path, "rb") as f, av.open(f) as container:
            stream = container.streams.video[0]
            packets = (packet for packet in container.demux(stream) if packet.pts is not None)
            for pts, packet in zip(times, packets, strict=True):
                packet.pts = packet.dts = round(pts * time_base / stream.time_base)
                packet.stream = target
                order += 1
                yield float(pts * time_base), order, packet


def _copied_packets(source: str, storage_options: Mapping[str, Any], index: int, target) -> Iterator[tuple]:
    """Packets of one source stream, unchanged -> (seconds, order, packet)."""
    fs, path = filesystem(source, storage_options)
    with fs.open(path, "rb") as f, av.open(f) as container:
        stream = container.streams[index]
        for order, packet in enumerate(container.demux(stream)):
            if packet.dts is None:
                continue
            seconds = float(packet.dts * stream.time_base)
            packet.stream = target
            yield seconds, order, packet
