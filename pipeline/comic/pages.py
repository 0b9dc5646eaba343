"""Comic pages: panels laid out in a grid on A4, with timestamps, captions and page numbers."""
from __future__ import annotations

from PIL import Image, ImageDraw, ImageOps

from pipeline.comic.shots import Panel

PAGE_SIZE = (1654, 2339)  # A4 at 200 dpi
MARGIN, GUTTER, CAPTION = 80, 28, 44


def layout_pages(panels: list[tuple[Panel, Image.Image]], columns: int = 2, rows: int = 3) -> list[Image.Image]:
    """Comic pages: a grid of panels fitted with their aspect ratio, gutters, timestamps, captions, page numbers."""
    width, height = PAGE_SIZE
    cell_w = (width - 2 * MARGIN - (columns - 1) * GUTTER) // columns
    cell_h = (height - 2 * MARGIN - (rows - 1) * GUTTER) // rows
    per_page = columns * rows
    pages = []
    for first in range(0, len(panels), per_page):
        page = Image.new("RGB", PAGE_SIZE, "white")
        draw = ImageDraw.Draw(page)
        for slot, (panel, picture) in enumerate(panels[first : first + per_page]):
            row, column = divmod(slot, columns)
            left = MARGIN + column * (cell_w + GUTTER)
            top = MARGIN + row * (cell_h + GUTTER)
            fitted = ImageOps.contain(picture, (cell_w, cell_h - CAPTION))
            x, y = left + (cell_w - fitted.width) // 2, top
            page.paste(fitted, (x, y))
            draw.rectangle([x - 3, y - 3, x + fitted.width + 2, y + fitted.height + 2], outline="black", width=3)
            stamp = f"{int(panel.seconds // 3600):d}:{int(panel.seconds % 3600 // 60):02d}:{panel.seconds % 60:05.2f}"
            text = f"{stamp}  {panel.caption}" if panel.caption else stamp
            draw.text((x, y + fitted.height + 8), text[:120], fill="black")
        number = f"- {len(pages) + 1} -"
        draw.text((width // 2 - 4 * len(number), height - MARGIN // 2), number, fill="black")
        pages.append(page)
    return pages
