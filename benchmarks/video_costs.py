"""Where a video run's CPU time goes: each step of a segment's path on its own, CPU seconds per
frame (all threads of this process), over the same generated clip that bench_video.py uses.

    python benchmarks/video_costs.py --size 1920x1080 --frames 96

Steps: decode (PyAV, frame threads as the pipeline sets them), YUV to RGB (the pipeline's
`frame_rgb`, and swscale's for comparison), the null model (the `onnx` operator's conversions and
an identity graph, a frame a call as on a CPU actor), RGB to YUV (the pipeline's `rgb_to_yuv`, and
swscale's for comparison), the HDR tone map each way (10-bit PQ: `--hdr tonemap`, and back for
`--hdr keep`), libx264 encode of YUV frames with the pipeline's options (crf 18 preset medium, no
B-frames), and of the decoded frames themselves, with and without the source's picture types (see
bench_video.transcode). A plain transcode needs decode and encode; the pipeline adds the rest.
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Callable

import av
import numpy as np
from av.video.frame import PictureType
from bench_video import make_input
from null_model import identity_model

from operators.registry import get_operator
from pipeline.inference import keep_freed_memory
from pipeline.video.codec_choice import Encoder
from pipeline.video.colour import VideoColour, frame_rgb, rgb_to_yuv
from pipeline.video.tonemap import PQ, ToneMap

PQ_10 = VideoColour("bt2020", primaries=9, transfer=PQ, bits=10)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def per_frame(step: Callable[[], object], frames: int, repeat: int) -> float:
    """Least CPU milliseconds per frame over `repeat` runs of `step` (after one warm-up run)."""
    step()
    best = float("inf")
    for _ in range(repeat):
        start = cpu_seconds()
        step()
        best = min(best, (cpu_seconds() - start) / frames * 1000)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    keep_freed_memory()  # as in a model actor
    with tempfile.TemporaryDirectory() as work:
        source = Path(work) / "input.mp4"
        make_input(source, width, height, args.frames / 24)
        spec = get_operator("onnx")
        model = spec.build(spec.resolve({"weights": str(identity_model(Path(work) / "null.onnx"))}), "cpu", {})

        def decode() -> list[av.VideoFrame]:
            with av.open(str(source)) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                return list(container.decode(stream))

        frames = decode()
        rgb = np.stack([frame.to_ndarray(format="rgb24") for frame in frames])
        yuv = [rgb_to_yuv(image, VideoColour()) for image in rgb]
        encoder = Encoder.of("libx264", 18, "medium")  # the pipeline's own options for x264
        source_types = [frame.pict_type for frame in frames]

        def encode(pictures: list[av.VideoFrame]) -> None:
            with av.open(str(Path(work) / "out.mp4"), "w") as out:
                stream = out.add_stream(encoder.name, rate=24)
                stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
                stream.options = dict(encoder.options)
                for index, frame in enumerate(pictures):
                    frame.pts, frame.time_base = index, Fraction(1, 24)
                    out.mux(stream.encode(frame))
                out.mux(stream.encode(None))

        def pipeline_frames() -> list[av.VideoFrame]:
            """New pictures from the pipeline's YUV arrays: x264 chooses their types."""
            return [av.VideoFrame.from_ndarray(planes, format="yuv420p") for planes in yuv]

        def decoded_frames(keep_types: bool) -> list[av.VideoFrame]:
            """The decoded frames themselves, as a plain transcode passes them on: each keeps the
            source's picture type, which x264 then obeys, unless it is cleared."""
            for frame, kind in zip(frames, source_types):
                frame.pict_type = kind if keep_types else PictureType.NONE
            return frames

        pq_frames = []  # the same pictures as 10-bit PQ HDR: the tone map's input
        for image in rgb:
            frame = av.VideoFrame.from_ndarray(rgb_to_yuv(image, PQ_10), format="yuv420p10le")
            PQ_10.tag(frame)
            pq_frames.append(frame)
        tone = ToneMap(PQ)

        n, repeat = len(frames), args.repeat
        steps = {
            "decode": per_frame(decode, n, repeat),
            "YUV to RGB (frame_rgb)": per_frame(lambda: [frame_rgb(f) for f in frames], n, repeat),
            "YUV to RGB (swscale, for comparison)": per_frame(lambda: [f.to_ndarray(format="rgb24") for f in frames],
                                                              n, repeat),
            "null model (a frame a call)": per_frame(lambda: [model(image[None]) for image in rgb], n, repeat),
            "RGB to YUV (rgb_to_yuv)": per_frame(lambda: [rgb_to_yuv(image, VideoColour()) for image in rgb], n, repeat),
            "HDR PQ 10-bit to SDR (ToneMap.to_sdr, --hdr tonemap)": per_frame(
                lambda: [tone.to_sdr(frame) for frame in pq_frames], n, repeat),
            "SDR back to HDR PQ (ToneMap.to_hdr, --hdr keep)": per_frame(lambda: [tone.to_hdr(image) for image in rgb],
                                                                         n, repeat),
            "RGB to YUV (swscale, for comparison)": per_frame(
                lambda: [av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p") for image in rgb],
                n, repeat),
            "x264 crf 18 medium": per_frame(lambda: encode(pipeline_frames()), n, repeat),
            "x264, decoded frames with the source's types (a plain transcode)": per_frame(
                lambda: encode(decoded_frames(keep_types=True)), n, repeat),
            "x264, decoded frames with their types cleared": per_frame(
                lambda: encode(decoded_frames(keep_types=False)), n, repeat),
        }
    print(f"\n{args.size}, {n} frames, CPU ms per frame (least of {repeat} runs), {time.strftime('%Y-%m-%d %H:%M')}\n")
    print("| step | CPU ms per frame |\n|---|---|")
    for name, ms in steps.items():
        print(f"| {name} | {ms:.1f} |")


if __name__ == "__main__":
    main()
