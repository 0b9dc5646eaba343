"""Comic pages: panels in rows as wide as the page, laid out by their aspect ratio, on A4.

Each row is as wide as the text block and as tall as its panels allow at their own aspect ratio:
a wide panel fills a row alone, tall ones stand side by side. A page takes the row height (from a
set of candidates) that covers the most of it with panels; what is left is spread between the rows.
Under each panel its timestamp (and caption) is set at 10 pt, readable in print."""
from __future__ import annotations

import textwrap
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont, ImageOps

from pipeline.comic.shots import Panel

DPI = 200
PAGE_SIZE = (1654, 2339)  # A4 at 200 dpi
MARGIN, GUTTER = 80, 24
TEXT_PX = 28  # 10 pt at 200 dpi
CAPTION_LINES = 2  # at most, under a panel with subtitles; one line (the timestamp) where no panel has any
LINE_PX = TEXT_PX + 6
TARGET_SHARES = [k / 48 for k in range(8, 49)]  # row heights to aim at, as shares of the page's: 1/6 .. 1
MAX_PER_ROW = 4
MIN_SCALE = 0.85  # rows may be shrunk to this share of the page's width to take one more row
MAX_WHITE = 0.25


@dataclass(frozen=True)
class Row:
    """Panels (indices) of one row and the height they take on the page."""

    panels: tuple[int, ...]
    height: int
    caption: int  # the caption strip's height under it

    @property
    def depth(self) -> int:
        """The row's height with its caption strip."""
        return self.height + self.caption


def caption_px(lines: int) -> int:
    return lines * LINE_PX + 8


def content_size() -> tuple[int, int]:
    return PAGE_SIZE[0] - 2 * MARGIN, PAGE_SIZE[1] - 2 * MARGIN - LINE_PX  # the page number's line kept free


def row_height(aspects: list[float]) -> float:
    """The height at which panels of these aspect ratios (width / height) fill the text block's width."""
    return (content_size()[0] - GUTTER * (len(aspects) - 1)) / sum(aspects)


def white_share(rows: list[Row], aspects: list[float]) -> float:
    """The share of the text block that a page's panels leave uncovered (captions count as white)."""
    width, height = content_size()
    return 1 - sum(r.height * r.height * aspects[i] for r in rows for i in r.panels) / (width * height)


def _plans_for(aspects: list[float], first: int, target: float, caption: int) -> list[list[Row]]:
    """Rows from panel `first` on, each taking panels until it is no taller than `target` (at most
    MAX_PER_ROW), as many as fit on the page with rows shrunk to MIN_SCALE of their width at most;
    a plan for each number of them, its rows shrunk just enough to fit."""
    height = content_size()[1]
    natural: list[tuple[tuple[int, ...], float]] = []
    plans = []
    at = first
    while at < len(aspects):
        take = at + 1
        while take < len(aspects) and take - at < MAX_PER_ROW and row_height(aspects[at:take]) > target:
            take += 1
        candidate = [*natural, (tuple(range(at, take)), row_height(aspects[at:take]))]
        fixed = len(candidate) * caption + GUTTER * (len(candidate) - 1)
        if natural and sum(h for _, h in candidate) * MIN_SCALE + fixed > height:
            break
        natural, at = candidate, take
        scale = min(1.0, (height - fixed) / sum(h for _, h in natural))
        plans.append([Row(panels, int(h * scale), caption) for panels, h in natural])
    return plans


def plan_page(aspects: list[float], first: int, caption: int, capacity: int = 0) -> list[Row]:
    """The rows of the page that starts at panel `first`. Each candidate row height (a share of the
    page) gives plans. Of those that leave at most MAX_WHITE of the page white, the one with the
    most panels wins, failing those the one that covers most; but where the panels left are no
    more than that or than `capacity` (what earlier pages held), plus one, the page holds them
    all: the last page, as full as it comes."""
    height = content_size()[1]
    plans = [plan for share in TARGET_SHARES for plan in _plans_for(aspects, first, height * share, caption)]

    def rank(rows: list[Row]) -> tuple[bool, int, float]:
        white = white_share(rows, aspects)
        return white <= MAX_WHITE, _placed(rows, first) if white <= MAX_WHITE else 0, -white

    best = max(plans, key=rank)
    held = max(capacity, _placed(best, first)) + 1
    last = [plan for plan in plans if _placed(plan, first) == len(aspects) - first <= held]
    return max(last, key=lambda rows: -white_share(rows, aspects)) if last else best


def _placed(rows: list[Row], first: int) -> int:
    return rows[-1].panels[-1] + 1 - first


def plan_pages(aspects: list[float], caption: int = caption_px(1)) -> list[list[Row]]:
    """Every page's rows, panels in order, with caption strips `caption` pixels high."""
    pages, first, capacity = [], 0, 0
    while first < len(aspects):
        rows = plan_page(aspects, first, caption, capacity)
        pages.append(rows)
        capacity = max(capacity, _placed(rows, first))
        first = rows[-1].panels[-1] + 1
    return pages


def timestamp(seconds: float) -> str:
    return f"{int(seconds // 3600):d}:{int(seconds % 3600 // 60):02d}:{seconds % 60:05.2f}"


def layout_pages(panels: list[tuple[Panel, Image.Image]]) -> list[Image.Image]:
    """Comic pages of the panels (keyframe and stylized picture), in order, with timestamps, captions
    and page numbers."""
    font = ImageFont.load_default(size=TEXT_PX)
    width, height = content_size()
    pages = []
    lines = CAPTION_LINES if any(panel.caption for panel, _ in panels) else 1
    plans = plan_pages([picture.width / picture.height for _, picture in panels], caption_px(lines))
    for number, rows in enumerate(plans, start=1):
        page = Image.new("RGB", PAGE_SIZE, "white")
        draw = ImageDraw.Draw(page)
        spare = max(0, height - sum(r.depth for r in rows) - GUTTER * (len(rows) - 1))
        spread = len(rows) > 1 and number < len(plans)  # the last page's rows stay together at the top
        spacing = GUTTER + (spare // (len(rows) - 1) if spread else 0)
        top = MARGIN
        for row in rows:
            row_width = sum(int(row.height * panels[i][1].width / panels[i][1].height) for i in row.panels)
            left = MARGIN + (width - row_width - GUTTER * (len(row.panels) - 1)) // 2  # a shrunk row is centred
            for index in row.panels:
                panel, picture = panels[index]
                fitted = ImageOps.contain(picture, (width, row.height))
                page.paste(fitted, (left, top))
                draw.rectangle([left - 3, top - 3, left + fitted.width + 2, top + fitted.height + 2], outline="black", width=3)
                text = f"{timestamp(panel.seconds)}  {panel.caption}" if panel.caption else timestamp(panel.seconds)
                chars = max(8, int(fitted.width / (TEXT_PX * 0.55)))
                for k, line in enumerate(textwrap.wrap(text, chars)[:lines]):
                    draw.text((left, top + fitted.height + 8 + k * LINE_PX), line, fill="black", font=font)
                left += fitted.width + GUTTER
            top += row.depth + spacing
        label = f"- {number} -"
        draw.text((PAGE_SIZE[0] // 2, PAGE_SIZE[1] - MARGIN // 2 - LINE_PX // 2), label, fill="black", font=font,
                  anchor="mm")
        pages.append(page)
    return pages
