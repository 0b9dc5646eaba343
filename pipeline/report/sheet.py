"""Contact sheets: labelled pictures in a grid on one PNG (the styles gallery, `preview`)."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

LABEL = 30  # rows of each cell's label band


def contact_sheet(cells: list[tuple[str, np.ndarray | None]], columns: int, tile: int = 256) -> Image.Image:
    """`cells` (label, picture or None for an empty cell) row by row, `columns` a row, each picture
    fitted into a `tile`-wide cell under its label; cells are as tall as the tallest picture's
    shape asks."""
    shapes = [picture.shape for _, picture in cells if picture is not None]
    tall = max((tile * h // w for h, w, *_ in shapes), default=tile)
    rows = -(-len(cells) // columns)
    page = Image.new("RGB", (columns * tile, rows * (tall + LABEL)), "white")
    draw = ImageDraw.Draw(page)
    font = ImageFont.load_default(size=LABEL - 12)
    for k, (label, picture) in enumerate(cells):
        left, top = k % columns * tile, k // columns * (tall + LABEL)
        if picture is not None:
            cell = Image.fromarray(picture.squeeze(-1) if picture.shape[-1] == 1 else picture)
            cell.thumbnail((tile - 8, tall - 8))
            page.paste(cell, (left + (tile - cell.width) // 2, top + LABEL))
        draw.text((left + 4, top + 6), _fitted(draw, label, font, tile - 8), fill="black", font=font)
    return page


def _fitted(draw: ImageDraw.ImageDraw, label: str, font: ImageFont.ImageFont, width: int) -> str:
    """`label`, shortened from the left with an ellipsis to fit `width` pixels (a path's end says most)."""
    if draw.textlength(label, font=font) <= width:
        return label
    while label and draw.textlength("…" + label, font=font) > width:
        label = label[1:]
    return "…" + label
