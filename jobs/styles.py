"""`stylebatch styles`: the bundled 26-style model's styles applied to one photo, on a gallery page
(`styles.html`) and a contact sheet (`styles.png`), each with the number that `--set style=N` takes.

The styles have numbers, not names (the model ships without any): choose by the pictures."""
from __future__ import annotations

import argparse
import html
from pathlib import Path

import numpy as np
from PIL import Image

from jobs.common import module_main, run_command
from jobs.demo import sample_dir
from operators.onnx_model import MULTISTYLE26_DEFAULT
from operators.registry import get_operator
from pipeline.codecs import decode_image
from pipeline.report.sheet import contact_sheet

STYLES = 26
TILE, COLUMNS = 256, 6


def stylized(photo: np.ndarray) -> list[np.ndarray]:
    """The photo in each of the bundled model's styles, in style order (one model, one style at a time)."""
    spec = get_operator("onnx")
    results = []
    for style in range(STYLES):
        model = spec.build(spec.resolve({"preset": "multistyle26", "style": str(style)}), "cpu", {})
        results.append(model(photo[None])[0])
    return results


def sheet(pictures: list[np.ndarray]) -> Image.Image:
    """The pictures in a grid, each under its style number (the default marked)."""
    return contact_sheet([(f"style {style}" + (" (default)" if str(style) == MULTISTYLE26_DEFAULT else ""), picture)
                          for style, picture in enumerate(pictures)], COLUMNS, TILE)


def gallery_page(photo_name: str, count: int) -> str:
    """styles.html: each style's picture with its number and the flag that chooses it."""
    figures = "\n".join(
        f'<figure><img src="style-{k:02d}.jpg" alt="style {k}"><figcaption>style {k}'
        + (" (default)" if str(k) == MULTISTYLE26_DEFAULT else "") + f"<br><code>--set style={k}</code></figcaption></figure>"
        for k in range(count))
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>stylebatch: the bundled model's styles</title>
<style>body{{font-family:sans-serif;margin:2em}} figure{{display:inline-block;margin:.5em;text-align:center}}
img{{max-width:240px;border:1px solid #ccc}} code{{font-size:90%}}</style></head><body>
<h1>The 26 styles of the bundled model (<code>--set preset=multistyle26</code>)</h1>
<p>Applied to <code>{html.escape(photo_name)}</code>. Choose one with <code>--set style=N</code>, or blend several
with <code>--set style=3:0.5,12:0.5</code>; without <code>style</code> the default, {MULTISTYLE26_DEFAULT}, is used.</p>
<figure><img src="photo.jpg" alt="the photo"><figcaption>the photo</figcaption></figure>
{figures}
</body></html>
"""


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """Where the gallery goes, and which photo it shows."""
    parser = parser or argparse.ArgumentParser(prog="stylebatch styles", description=__doc__)
    parser.add_argument("--output", default="styles", help="local folder for styles.html, styles.png and the pictures")
    parser.add_argument("--photo", help="the photo to show the styles on (default: a bundled sample photograph)")
    parser.add_argument("--side", type=int, default=384, help="longer side of the pictures (the model runs at it)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Write the gallery and print where it is."""
    photo_path = Path(args.photo) if args.photo else sample_dir() / "chelsea.png"
    photo = decode_image(photo_path.read_bytes(), "RGB", max_side=args.side)
    folder = Path(args.output).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    pictures = stylized(photo)
    Image.fromarray(photo).save(folder / "photo.jpg", quality=90)
    for style, picture in enumerate(pictures):
        Image.fromarray(picture).save(folder / f"style-{style:02d}.jpg", quality=90)
    sheet(pictures).save(folder / "styles.png")
    (folder / "styles.html").write_text(gallery_page(photo_path.name, len(pictures)))
    print(f"{len(pictures)} styles of the bundled model on {photo_path.name}: {folder / 'styles.html'}  "
          f"sheet: {folder / 'styles.png'}")
    return 0


main = module_main(build_parser, run)

if __name__ == "__main__":
    run_command(main)
