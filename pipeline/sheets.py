"""Side-by-side contact sheets of inputs and their stylized outputs."""
from __future__ import annotations

from PIL import Image, ImageDraw, ImageOps

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
