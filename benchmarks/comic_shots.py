"""How well `comic` finds shot cuts: recall and precision on generated clips whose cuts are known.

Each clip is a run of shots cut from scikit-image's photographs (camera pans and zooms across them)
joined by hard cuts, cuts between two places of the same photograph (same colours, another layout),
cross-dissolves and fades through black; some shots hold a flash (a few bright frames) or a fast
pan, which are not cuts. Clips are encoded as H.264 and read back by the same code `comic` uses.

    python benchmarks/comic_shots.py [--clips 40] [--thresholds 0.2,0.25,0.3,0.35,0.4]

Prints a table per threshold (the default marked) for docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import skimage
from PIL import Image

from pipeline.comic.shots import DEFAULT_THRESHOLD, analyse, shot_starts

PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "hubble_deep_field.jpg", "ihc.png",
          "motorcycle_left.png", "retina.jpg", "color.png", "brick.png", "grass.png", "gravel.png")
FPS, SIZE = 24, (192, 108)
MIN_SHOT_SECONDS = 0.5


@dataclass
class Clip:
    frames: np.ndarray
    cuts: list[tuple[int, int]]  # (frame where the new shot is taken to start, tolerance in frames)
    kinds: list[str]
    not_cuts: list[tuple[int, str]]  # (frame, "flash" or "fast pan") where a shot holds one


def photo(name: str) -> np.ndarray:
    image = Image.open(Path(skimage.__file__).parent / "data" / name).convert("RGB")
    return np.asarray(image.resize((max(image.width, 480), max(image.height, 360))))


def shot(rng: np.random.Generator, picture: np.ndarray, frames: int, region: float | None = None,
         fast: bool = False) -> np.ndarray:
    """A camera moving across `picture` (a pan and a zoom), starting at `region` (0..1 across) if given."""
    h, w = picture.shape[:2]
    zoom0, zoom1 = rng.uniform(0.45, 0.8, 2)
    start = np.array([rng.uniform(0, 1) if region is None else region, rng.uniform(0, 1)])
    travel = rng.uniform(-0.6, 0.6, 2) * (2.5 if fast else 1.0)
    out = np.empty((frames, SIZE[1], SIZE[0], 3), np.uint8)
    for k in range(frames):
        t = k / max(1, frames - 1)
        zoom = zoom0 + (zoom1 - zoom0) * t
        cw, ch = int(w * zoom), int(w * zoom * SIZE[1] / SIZE[0])
        ch = min(ch, h)
        x, y = np.clip(start + travel * t, 0, 1)
        left, top = int(x * (w - cw)), int(y * (h - ch))
        crop = Image.fromarray(picture[top : top + ch, left : left + cw])
        out[k] = np.asarray(crop.resize(SIZE, Image.BILINEAR))
    return out


def make_clip(rng: np.random.Generator, photos: dict[str, np.ndarray]) -> Clip:
    """4-7 shots of 1-3 s, joined by random transitions, with flashes and fast pans inside shots."""
    names = list(rng.permutation(list(photos)))
    parts, cuts, kinds, not_cuts, position = [], [], [], [], 0
    previous = None
    for index in range(int(rng.integers(4, 8))):
        length = int(rng.integers(FPS, 3 * FPS))
        kind = rng.choice(["cut", "same-photo cut", "dissolve", "fade"], p=[0.4, 0.2, 0.2, 0.2]) if index else "first"
        name = previous if kind == "same-photo cut" else names[index % len(names)]
        region = None if kind != "same-photo cut" else float(rng.choice([0.0, 1.0]))
        fast = rng.uniform() < 0.2
        frames = shot(rng, photos[name], length, region, fast=fast)
        if fast:
            not_cuts.append((position, "fast pan"))
        if rng.uniform() < 0.3:  # a flash: two or three bright frames
            at, span = int(rng.integers(length // 4, length // 2)), int(rng.integers(2, 4))
            not_cuts.append((position + at, "flash"))
            frames[at : at + span] = np.clip(frames[at : at + span].astype(np.int16) + 150, 0, 255).astype(np.uint8)
        span = min(FPS // 2 if kind == "dissolve" else FPS, len(parts[-1]) - FPS // 2, length - FPS // 2) if parts else 0
        if kind in ("dissolve", "fade") and span < FPS // 4:
            kind = "cut"  # no room for a transition between two short shots
        if kind in ("first", "cut", "same-photo cut"):
            if kind != "first":
                cuts.append((position, 3))
            parts.append(frames)
            position += length
        else:
            tail = parts[-1][-span:].astype(np.float32)
            head = frames[:span].astype(np.float32)
            ramp = np.linspace(0, 1, span, dtype=np.float32)[:, None, None, None]
            if kind == "dissolve":
                mixed = (1 - ramp) * tail + ramp * head
            else:  # to black over the first half, from black over the second
                mixed = np.where(ramp < 0.5, tail * (1 - 2 * ramp), head * (2 * ramp - 1))
            parts[-1] = parts[-1][:-span]
            position -= span
            parts += [mixed.astype(np.uint8), frames[span:]]
            cuts.append((position + span // 2, span // 2 + 3))
            position += length
        kinds.append(str(kind))
        previous = name
    return Clip(np.concatenate(parts), cuts, kinds[1:], not_cuts)


def encode(clip: Clip, path: Path) -> None:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS, options={"crf": "23", "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        for array in clip.frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")))
        out.mux(stream.encode(None))


def score(found: list[int], cuts: list[tuple[int, int]]) -> tuple[int, int, int]:
    """(true positives, detected cuts, true cuts): each true cut matched to at most one detection
    within its tolerance."""
    detected = [f for f in found if f > 0]
    unmatched = list(detected)
    hits = 0
    for frame, tolerance in cuts:
        near = [f for f in unmatched if abs(f - frame) <= tolerance]
        if near:
            unmatched.remove(min(near, key=lambda f: abs(f - frame)))
            hits += 1
    return hits, len(detected), len(cuts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--thresholds", default="0.2,0.25,0.3,0.35,0.4")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    photos = {name: photo(name) for name in PHOTOS}
    thresholds = [float(t) for t in args.thresholds.split(",")]
    totals = {t: np.zeros(3, int) for t in thresholds}
    by_kind: dict[str, list[int]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for index in range(args.clips):
            clip = make_clip(rng, photos)
            path = Path(folder) / f"clip-{index}.mp4"
            encode(clip, path)
            signatures, _, fps = analyse(str(path), {})
            for t in thresholds:
                totals[t] += score(shot_starts(signatures, fps, t, MIN_SHOT_SECONDS), clip.cuts)
            found = shot_starts(signatures, fps, DEFAULT_THRESHOLD, MIN_SHOT_SECONDS)
            for cut, kind in zip(clip.cuts, clip.kinds):
                by_kind.setdefault(kind, [0, 0])
                by_kind[kind][0] += score(found, [cut])[0]
                by_kind[kind][1] += 1
    print(f"{args.clips} clips, {sum(totals[thresholds[0]][2:])} cuts, {FPS} fps, {SIZE[0]}x{SIZE[1]}\n")
    print("| threshold | recall | precision | cuts found / true / detected |")
    print("|---|---|---|---|")
    for t in thresholds:
        hits, detected, true = totals[t]
        mark = " (default)" if t == DEFAULT_THRESHOLD else ""
        print(f"| {t}{mark} | {hits / true:.3f} | {hits / max(detected, 1):.3f} | {hits} / {true} / {detected} |")
    print("\n| transition (default threshold) | recall |\n|---|---|")
    for kind, (hits, true) in sorted(by_kind.items()):
        print(f"| {kind} | {hits / true:.3f} ({hits}/{true}) |")


if __name__ == "__main__":
    main()
