"""What a new user sees on their own machine with the bundled 26-style model: photos per second at
512 px through `stylebatch convert`, and 720p frames per second through `stylebatch video`, each run
as the README's commands run (a fresh local Ray, start-up included).

    python benchmarks/bundled_speed.py [--photos 150] [--seconds 10]

Inputs are made from scikit-image's photographs (crops at 512 px; a 720p clip panning across one);
prints a table for docs/benchmarks.md and the README.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import skimage
from PIL import Image

PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png", "hubble_deep_field.jpg")


def photos(folder: Path, count: int, side: int = 512) -> Path:
    """`count` different 512 px photographs (crops and flips of the samples)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    sources = [Image.open(Path(skimage.__file__).parent / "data" / name).convert("RGB") for name in PHOTOS]
    for k in range(count):
        image = sources[k % len(sources)]
        scale = rng.uniform(1.0, 1.6)
        big = image.resize((int(image.width * scale), int(image.height * scale)))
        left, top = int(rng.integers(0, big.width - image.width + 1)), int(rng.integers(0, big.height - image.height + 1))
        crop = big.crop((left, top, left + image.width, top + image.height))
        crop.thumbnail((side, side))
        crop.save(folder / f"photo-{k:04d}.jpg", quality=92)
    return folder


def clip(path: Path, seconds: float, size: tuple[int, int] = (1280, 720), fps: int = 24) -> Path:
    """A 720p H.264 clip of a camera panning across a photograph."""
    picture = Image.open(Path(skimage.__file__).parent / "data" / "motorcycle_left.png").convert("RGB")
    wide = np.asarray(picture.resize((size[0] * 2, size[1])))  # twice as wide as the frame: room to pan
    frames = int(seconds * fps)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"crf": "20", "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for k in range(frames):
            x = int(k / max(1, frames - 1) * (wide.shape[1] - size[0]))
            frame = np.ascontiguousarray(wide[:, x : x + size[0]])
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode(None))
    return path


def run(*args: str) -> tuple[float, str]:
    """Run `stylebatch ARGS`; (wall seconds, the summary line)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "jobs.cli", *args], capture_output=True, text=True, check=True)
    return time.perf_counter() - started, done.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=150)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    model = ["--operator", "onnx", "--set", "preset=multistyle26"]
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        source = photos(root / "photos", args.photos)
        video = clip(root / "clip.mp4", args.seconds)
        convert_wall, convert_line = run("convert", str(source), str(root / "styled"), *model)
        video_wall, video_line = run("video", str(video), str(root / "clip-styled.mp4"), *model)
    rate = re.compile(r"\(([\d.]+) (images|frames)/s\)")
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, no GPU"
    print(f"machine: {machine}\n")
    print("| command | inputs | whole command s | rate in the run's summary |\n|---|---|---|---|")
    print(f"| `stylebatch convert` 512 px photos | {args.photos} photos | {convert_wall:.0f} | "
          f"{rate.search(convert_line).group(1)} photos/s ({args.photos / convert_wall:.2f} with start-up) |")
    frames = int(args.seconds * 24)
    print(f"| `stylebatch video` 720p | {frames} frames | {video_wall:.0f} | "
          f"{rate.search(video_line).group(1)} frames/s ({frames / video_wall:.2f} with start-up) |")


if __name__ == "__main__":
    main()
