"""The whole-movie check: a generated 2-minute 640x360 film with sound and subtitles goes through
`stylebatch video` and `stylebatch comic` on local Ray; prints what came out and how fast.

    python benchmarks/movie_run.py --minutes 2 --work movie-run

The film: twelve shots, each a slow pan and zoom over one of scikit-image's sample photographs
(real picture content, hard cuts between shots), a two-tone AAC track and one subtitle per shot
(Matroska, ASS). The model is the bundled 26-style ONNX network.
"""
from __future__ import annotations

import argparse
import json
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from pipeline.comic.run import ComicConfig, make_comic
from pipeline.settings import ModelSettings
from pipeline.video.run import VideoConfig, convert_video

FPS = 24
SIZE = (640, 360)
PHOTOS = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png", "hubble_deep_field.jpg",
          "ihc.png", "retina.jpg", "color.png", "logo.png", "camera.png", "moon.png")
ASS_HEADER = (b"[Script Info]\nScriptType: v4.00+\n\n[Events]\n"
              b"Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n")


def photos() -> list[np.ndarray]:
    """The sample photographs as RGB arrays."""
    import skimage

    folder = Path(skimage.__file__).parent / "data"
    return [np.asarray(Image.open(folder / name).convert("RGB")) for name in PHOTOS if (folder / name).exists()]


def shot_frame(photo: np.ndarray, progress: float) -> np.ndarray:
    """A 640x360 view of `photo`, panning left to right and zooming in as `progress` goes 0 -> 1."""
    h, w = photo.shape[:2]
    zoom = 1.0 + 0.25 * progress
    crop_w = min(w, round(h * SIZE[0] / SIZE[1])) / zoom
    crop_h = crop_w * SIZE[1] / SIZE[0]
    left = (w - crop_w) * progress
    top = (h - crop_h) / 2
    view = Image.fromarray(photo).resize(SIZE, Image.BILINEAR, box=(left, top, left + crop_w, top + crop_h))
    return np.asarray(view)


def make_movie(path: Path, minutes: float) -> tuple[int, int]:
    """Write the film; returns (frames, shots)."""
    pictures = photos()
    frames = round(minutes * 60 * FPS)
    shot_frames = frames // len(pictures)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = *SIZE, "yuv420p"
        video.options = {"g": str(2 * FPS), "preset": "veryfast", "crf": "20"}
        audio = out.add_stream("aac", rate=44100)
        captions = out.add_stream("ass")
        captions.time_base = Fraction(1, 1000)
        captions.codec_context.extradata = ASS_HEADER
        for t in range(frames):
            shot = min(t // shot_frames, len(pictures) - 1)
            frame = av.VideoFrame.from_ndarray(shot_frame(pictures[shot], (t % shot_frames) / shot_frames), "rgb24")
            frame.pts = t
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        seconds = frames / FPS
        for start in range(0, int(44100 * seconds), 1024):
            n = np.arange(start, start + 1024) / 44100
            wave = 0.15 * np.sin(2 * np.pi * 440 * n) + 0.1 * np.sin(2 * np.pi * 660 * n * (1 + (n // 10) % 2))
            chunk = av.AudioFrame.from_ndarray(wave.astype(np.float32)[None], format="fltp", layout="mono")
            chunk.sample_rate, chunk.pts, chunk.time_base = 44100, start, Fraction(1, 44100)
            out.mux(audio.encode(chunk))
        out.mux(audio.encode(None))
        for shot in range(len(pictures)):
            packet = av.Packet(f"{shot},0,Default,,0,0,0,,Scene {shot + 1}: {PHOTOS[shot].split('.')[0]}".encode())
            packet.stream, packet.time_base = captions, Fraction(1, 1000)
            packet.pts = packet.dts = round(1000 * (shot * shot_frames + FPS // 2) / FPS)
            packet.duration = 3000
            out.mux(packet)
    return frames, len(pictures)


def streams(path: Path) -> dict:
    """Decoded frame count, duration and stream kinds of a file."""
    with av.open(str(path)) as container:
        kinds = {"audio": len(container.streams.audio), "subtitles": len(container.streams.subtitles)}
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return {"frames": frames, "seconds": round(frames / float(stream.average_rate), 3), **kinds,
                "size": f"{stream.codec_context.width}x{stream.codec_context.height}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--work", default="movie-run", help="folder for the film and everything made from it")
    parser.add_argument("--style", default="7")
    parser.add_argument("--deflicker", type=float, default=0.0)
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    source = work / "film.mkv"
    started = time.perf_counter()
    frames, shots = make_movie(source, args.minutes)
    made = time.perf_counter() - started
    settings = {"preset": "multistyle26", "style": args.style}
    video = convert_video(VideoConfig(input=str(source), output=str(work / "film-styled.mkv"), model=ModelSettings("onnx",
                                      settings), preset="veryfast", deflicker=args.deflicker, resume=False))
    print(video.line())
    comic, pages, pdf = make_comic(ComicConfig(input=str(source), output=str(work / "comic"), model=ModelSettings("onnx",
                                               settings)))
    print(comic.line())
    report = {"film": {"frames": frames, "shots": shots, "generated_in_s": round(made, 1), **streams(source)},
              "styled": streams(work / "film-styled.mkv"),
              "video_frames_per_s": round(video.totals.images_per_second, 2), "video_seconds": round(video.totals.seconds, 1),
              "flicker": video.note, "comic_panels": comic.totals.converted, "comic_pages": len(pages), "comic_pdf": pdf,
              "comic_seconds": round(comic.totals.seconds, 1)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
