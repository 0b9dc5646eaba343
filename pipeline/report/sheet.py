"""Contact sheets: labelled pictures in a grid on one PNG (the styles gallery, `preview`)."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

LABEL = 30  # rows of each cell's label band


def contact_sheet(cells: list[tuple[str, np.ndarray | None]], columns: int, tile: int = 256) -> Image.Image:
    """`cells` (label, picture or None for an empty cell) row by row, `columns` a row, each picture
    fitted into a `tile`-wide cell under its label; each row is as tall as its tallest picture's
    shape asks."""
    rows = [cells[k : k + columns] for k in range(0, len(cells), columns)]
    heights = [max((tile * p.shape[0] // p.shape[1] for _, p in row if p is not None), default=tile // 2) for row in rows]
    page = Image.new("RGB", (columns * tile, sum(heights) + LABEL * len(rows)), "white")
    draw = ImageDraw.Draw(page)
    font = ImageFont.load_default(size=LABEL - 12)
    top = 0
    for row, tall in zip(rows, heights):
        for column, (label, picture) in enumerate(row):
            left = column * tile
            if picture is not None:
                cell = Image.fromarray(picture.squeeze(-1) if picture.shape[-1] == 1 else picture)
                cell.thumbnail((tile - 8, tall - 8))
                page.paste(cell, (left + (tile - cell.width) // 2, top + LABEL))
            draw.text((left + 4, top + 6), _fitted(draw, label, font, tile - 8), fill="black", font=font)
        top += tall + LABEL
    return page


def _fitted(draw: ImageDraw.ImageDraw, label: str, font: ImageFont.ImageFont, width: int) -> str:
    """`label`, shortened from the left with an ellipsis to fit `width` pixels (a path's end says most)."""
    if draw.textlength(label, font=font) <= width:
        return label
    while label and draw.textlength("…" + label, font=font) > width:
        label = label[1:]
    return "…" + label
