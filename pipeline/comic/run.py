"""`stylebatch comic`: keyframes of every shot, stylized by the image pipeline, laid out as pages and a PDF."""
from __future__ import annotations

import io
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from PIL import Image

from operators.errors import ConfigError
from pipeline.codecs import encode_image
from pipeline.comic.pages import layout_pages
from pipeline.comic.shots import keyframes
from pipeline.report.build import RunReport
from pipeline.report.card import REPORT_DIR, load_cards
from pipeline.report.pictures import Pair, save_pairs
from pipeline.run import ConvertConfig, RunResult, convert
from pipeline.settings import ModelSettings, PoolSettings
from pipeline.storage import filesystem, normalise, options_for, to_url, write_bytes


@dataclass
class ComicConfig:
    """What a comic run is asked to do (the CLI's flags)."""

    input: str
    output: str
    model: ModelSettings
    pool: PoolSettings = field(default_factory=PoolSettings)
    storage_options: dict[str, Any] = field(default_factory=dict)
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
    fs, root = filesystem(output, output_options)
    names = [f"panel-{k:04d}" for k in range(len(panels))]
    for name, panel in zip(names, panels):
        write_bytes(f"{output}/keyframes/{name}.png", encode_image(panel.frame, "png"), output_options)
    result = convert(ConvertConfig(input=f"{output}/keyframes", output=f"{output}/panels", model=cfg.model,
                                   pool=cfg.pool, storage_options=cfg.storage_options, max_side=cfg.max_side))
    pictures = []
    for name, panel in zip(names, panels):
        styled = f"{root}/panels/{name}.png"
        source_path = styled if fs.exists(styled) else f"{root}/keyframes/{name}.png"  # a failed panel stays a photo
        pictures.append((panel, Image.open(io.BytesIO(fs.cat_file(source_path))).convert("RGB")))
    pages = layout_pages(pictures, cfg.columns, cfg.rows)
    page_urls = []
    for number, page in enumerate(pages, start=1):
        buffer = io.BytesIO()
        page.save(buffer, format="PNG")
        write_bytes(f"{output}/page-{number:03d}.png", buffer.getvalue(), output_options)
        page_urls.append(to_url(fs, f"{root}/page-{number:03d}.png"))
    buffer = io.BytesIO()
    pages[0].save(buffer, format="PDF", save_all=True, append_images=pages[1:], resolution=200)
    write_bytes(f"{output}/comic.pdf", buffer.getvalue(), output_options)
    pairs = [(name, panel.frame, np.asarray(picture)) for name, (panel, picture) in zip(names, pictures)]
    result = replace(result, report=_report(cfg, output, output_options, result, started, len(pages), pairs))
    return result, page_urls, to_url(fs, f"{root}/comic.pdf")


def _report(cfg: ComicConfig, output: str, output_options: dict[str, Any], result: RunResult, started: float,
            pages: int, pairs: list[Pair]) -> str | None:
    """The comic's report in OUTPUT/_report: the panels' run (its rows, options and files) with the
    keyframe/panel pairs and links to the pages; returns the page's URL."""
    panels_run = {card.run_id: card for card in load_cards(f"{output}/panels/{REPORT_DIR}", output_options)}
    card = replace(panels_run[result.totals.run_id], kind="comic", input=normalise(cfg.input), output=output,
                   started_at=started, pages=[f"../page-{n:03d}.png" for n in range(1, pages + 1)] + ["../comic.pdf"])
    card.settings = {**card.settings, "threshold": cfg.threshold, "panel_seconds": cfg.panel_seconds,
                     "columns": cfg.columns, "rows": cfg.rows}
    report = RunReport(card, f"{output}/{REPORT_DIR}", output_options)
    card.pictures = save_pairs(pairs, report.url, card.run_id, output_options)
    report.write(card.state)
    return report.page_url
