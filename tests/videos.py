"""Test videos made with PyAV: a moving pattern, an AAC audio track, short GOPs."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from pipeline.video.colour import VideoColour, rgb_to_yuv
from pipeline.video.colour_plan import ColourPlan


def moving_pattern(frames: int, width: int, height: int, seed: int = 0) -> np.ndarray:
    """(T, H, W, 3) uint8: a textured square sliding over a gradient."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // width, y * 255 // height, np.full_like(x, 90)], -1).astype(np.uint8)
    texture = rng.integers(0, 255, (height // 3, width // 3, 3), dtype=np.uint8)
    clips = np.repeat(base[None], frames, axis=0)
    for t in range(frames):
        left = (t * 2) % (width - texture.shape[1])
        clips[t, height // 3 : height // 3 + texture.shape[0], left : left + texture.shape[1]] = texture
    return clips


ASS_HEADER = (b"[Script Info]\nScriptType: v4.00+\n\n[Events]\n"
              b"Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n")


def subtitle_stream(out: av.container.OutputContainer) -> av.stream.Stream:
    """An ASS subtitle stream (Matroska carries it); add it before anything is muxed."""
    stream = out.add_stream("ass")
    stream.time_base = Fraction(1, 1000)
    stream.codec_context.extradata = ASS_HEADER
    return stream


def mux_subtitles(out: av.container.OutputContainer, stream: av.stream.Stream,
                  events: list[tuple[float, float, str]]) -> None:
    """One packet per (start s, end s, text) event."""
    for order, (start, end, text) in enumerate(events):
        packet = av.Packet(f"{order},0,Default,,0,0,0,,{text}".encode())
        packet.stream, packet.time_base = stream, Fraction(1, 1000)
        packet.pts = packet.dts = round(start * 1000)
        packet.duration = round((end - start) * 1000)
        out.mux(packet)


def make_video(path: Path, frames: int = 72, width: int = 64, height: int = 48, fps: int = 24, gop: int = 12,
               audio: bool = True, subtitles: list[tuple[float, float, str]] | None = None) -> Path:
    """An H.264 video with keyframes every `gop` frames, (optionally) a 440 Hz AAC track and, in a
    .mkv `path`, subtitle events."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0"}
        sound = out.add_stream("aac", rate=44100) if audio else None
        captions = subtitle_stream(out) if subtitles else None
        for t, array in enumerate(moving_pattern(frames, width, height)):
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            frame.pts = t
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound is not None:
            samples = 1024
            total = int(44100 * frames / fps)
            for start in range(0, total, samples):
                t = (np.arange(start, start + samples) / 44100.0).astype(np.float32)
                wave = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
                frame = av.AudioFrame.from_ndarray(wave, format="fltp", layout="mono")
                frame.sample_rate, frame.pts, frame.time_base = 44100, start, Fraction(1, 44100)
                out.mux(sound.encode(frame))
            out.mux(sound.encode(None))
        if captions is not None:
            mux_subtitles(out, captions, subtitles)
    return path


def describe(path: Path) -> dict:
    """Frame count, duration, size and stream kinds of a video file."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return {"frames": frames, "fps": float(stream.average_rate), "width": stream.codec_context.width,
                "height": stream.codec_context.height, "audio": len(container.streams.audio),
                "subtitles": len(container.streams.subtitles),
                "duration": frames / float(stream.average_rate),
                "container_duration": container.duration / 1e6 if container.duration else None}


def make_shots_video(path: Path, colours: list[tuple[int, int, int]], frames_per_shot: int = 24,
                     width: int = 64, height: int = 48, subtitles: list[tuple[float, float, str]] | None = None) -> Path:
    """A video of hard cuts: one shot per colour, each a moving pattern tinted with that colour
    (and subtitle events when `path` is .mkv)."""
    clips = []
    for shot, colour in enumerate(colours):
        pattern = moving_pattern(frames_per_shot, width, height, seed=shot).astype(np.float32)
        clips.append(np.clip(0.3 * pattern + 0.7 * np.array(colour, np.float32), 0, 255).astype(np.uint8))
    frames = np.concatenate(clips)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=24)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        captions = subtitle_stream(out) if subtitles else None
        for t, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            frame.pts = t
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if captions is not None:
            mux_subtitles(out, captions, subtitles)
    return path


def colour_clip(path: Path, pictures: np.ndarray, colour: VideoColour, tagged: bool = True, fps: int = 24,
                crf: int = 12, x264_params: str = "bframes=0") -> Path:
    """A clip of RGB `pictures` whose YUV is in `colour`'s matrix, range and depth, its stream tagged
    so (or not); an HDR one holds them graded to HDR by the tone map's inverse. x264 at `crf`."""
    tone = ColourPlan(colour).tone
    options = {"crf": str(crf), "preset": "veryfast"} | ({"x264-params": x264_params} if x264_params else {})
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps, options=options)
        stream.width, stream.height = pictures.shape[2], pictures.shape[1]
        stream.pix_fmt = "yuv420p10le" if colour.bits > 8 else "yuv420p"
        if tagged:
            colour.tag(stream.codec_context)
        for t, rgb in enumerate(pictures):
            rgb = np.ascontiguousarray(rgb)
            frame = av.VideoFrame.from_ndarray(rgb_to_yuv(tone.to_hdr(rgb) if tone else rgb, colour),
                                               format=stream.pix_fmt)
            if tagged:
                colour.tag(frame)
            frame.pts = t
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path
