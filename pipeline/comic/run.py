"""`stylebatch comic`: keyframes of every shot, stylized by the image pipeline, laid out as pages and a PDF."""
from __future__ import annotations

import io
import posixpath
import time
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

from operators.errors import ConfigError
from pipeline.codecs import encode_image
from pipeline.comic.pages import layout_pages
from pipeline.comic.shots import keyframes
from pipeline.report.build import RunReport
from pipeline.report.card import load_cards
from pipeline.report.pictures import Pair, save_pairs
from pipeline.run import ConvertConfig, convert
from pipeline.runs.layout import RunLayout
from pipeline.runs.lifecycle import RunResult
from pipeline.settings import RunRequest
from pipeline.storage import filesystem, normalise, options_for, to_url, write_bytes


@dataclass
class ComicConfig(RunRequest):
    """What a comic run is asked to do (the CLI's flags)."""

    threshold: float = 0.35
    panel_seconds: float = 8.0
    columns: int = 2
    rows: int = 3
    max_side: int = 0


def make_comic(cfg: ComicConfig) -> tuple[RunResult, list[str], str]:
    """Returns the stylization run's result, the page URLs and the PDF's URL."""
    started = time.time()
    source, output = normalise(cfg.input), normalise(cfg.output)
    source_options, output_options = options_for(source, cfg.storage_options), options_for(output, cfg.storage_options)
    try:
        panels = keyframes(source, source_options, cfg.threshold, panel_seconds=cfg.panel_seconds)
    except (OSError, ValueError, IndexError) as exc:
        raise ConfigError(f"cannot read video {cfg.input}: {exc}") from None
    layout = RunLayout.for_folder(output, output_options)
    names = [f"panel-{k:04d}" for k in range(len(panels))]
    for name, panel in zip(names, panels):
        write_bytes(f"{layout.keyframes}/{name}.png", encode_image(panel.frame, "png"), output_options)
    result = convert(ConvertConfig(input=layout.keyframes, output=layout.panels, model=cfg.model,
                                   pool=cfg.pool, storage_options=cfg.storage_options, max_side=cfg.max_side))
    fs = filesystem(output, output_options)[0]
    pictures = []
    for name, panel in zip(names, panels):
        styled, photo = (filesystem(f"{folder}/{name}.png", output_options)[1]
                         for folder in (layout.panels, layout.keyframes))
        source_path = styled if fs.exists(styled) else photo  # a failed panel stays a photo
        pictures.append((panel, Image.open(io.BytesIO(fs.cat_file(source_path))).convert("RGB")))
    pages = layout_pages(pictures, cfg.columns, cfg.rows)
    page_urls = []
    for number, page in enumerate(pages, start=1):
        buffer = io.BytesIO()
        page.save(buffer, format="PNG")
        write_bytes(layout.page(number), buffer.getvalue(), output_options)
        page_urls.append(to_url(fs, filesystem(layout.page(number), output_options)[1]))
    buffer = io.BytesIO()
    pages[0].save(buffer, format="PDF", save_all=True, append_images=pages[1:], resolution=200)
    write_bytes(layout.pdf, buffer.getvalue(), output_options)
    pairs = [(name, panel.frame, np.asarray(picture)) for name, (panel, picture) in zip(names, pictures)]
    result = replace(result, report=_report(cfg, layout, result, started, len(pages), pairs))
    return result, page_urls, to_url(fs, filesystem(layout.pdf, output_options)[1])


def _report(cfg: ComicConfig, layout: RunLayout, result: RunResult, started: float, pages: int,
            pairs: list[Pair]) -> str | None:
    """The comic's report in OUTPUT/_report: the panels' run (its rows, options and files) with the
    keyframe/panel pairs and links to the pages; returns the page's URL."""
    options = layout.storage_options
    panels_layout = RunLayout.for_folder(layout.panels, options)
    panels_run = {card.run_id: card for card in load_cards(panels_layout.report_dir, options)}
    links = [posixpath.relpath(url, layout.report_dir) for url in [*map(layout.page, range(1, pages + 1)), layout.pdf]]
    card = replace(panels_run[result.totals.run_id], kind="comic", input=normalise(cfg.input), output=layout.output,
                   started_at=started, pages=links)
    card.settings = {**card.settings, "threshold": cfg.threshold, "panel_seconds": cfg.panel_seconds,
                     "columns": cfg.columns, "rows": cfg.rows}
    report = RunReport(card, layout.report_dir, options)
    card.pictures = save_pairs(pairs, report.url, card.run_id, options)
    report.write(card.state)
    return report.page_url
