"""`stylebatch comic`: keyframes of every shot, stylized by the image pipeline, laid out as pages and a PDF."""
from __future__ import annotations

import io
import json
import posixpath
import time
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

from operators.errors import ConfigError
from pipeline.codecs import decode_image, encode_image
from pipeline.comic.pages import layout_pages
from pipeline.comic.shots import DEFAULT_THRESHOLD, SHOT_DETECTOR, Panel, keyframes
from pipeline.plan import RunPlan, config_hash, plan_run
from pipeline.report.build import RunReport
from pipeline.report.card import load_cards
from pipeline.report.pictures import Pair, save_pairs
from pipeline.run import ConvertConfig, convert
from pipeline.runs.layout import RunLayout
from pipeline.runs.lifecycle import RunResult, check_writable
from pipeline.runs.resume import input_version
from pipeline.settings import RunRequest

KEYFRAME_INDEX = "panels.json"  # the keyframes' times and captions, and what found them
from pipeline.storage import filesystem, normalise, to_url, write_bytes
from pipeline.video.run import probe_video


@dataclass
class ComicConfig(RunRequest):
    """What a comic run is asked to do (the CLI's flags)."""

    threshold: float = DEFAULT_THRESHOLD
    panel_seconds: float = 8.0
    max_side: int = 0
    resume: bool = True


def make_comic(cfg: ComicConfig) -> tuple[RunResult, list[str], str]:
    """Returns the stylization run's result, the page URLs and the PDF's URL."""
    started = time.time()
    plan = plan_run(cfg)  # the operator and INPUT, before the video is read
    output, output_options = plan.output, plan.output_options
    layout = RunLayout.for_folder(output, output_options)
    probe_video(cfg.input, plan.input, plan.input_options)  # a video (not a photo), readable
    check_writable(layout)
    names, panels, found_before = _keyframes(cfg, plan, layout)
    result = convert(ConvertConfig(input=layout.keyframes, output=layout.panels, model=cfg.model,
                                   pool=cfg.pool, storage_options=cfg.storage_options, max_side=cfg.max_side,
                                   resume=cfg.resume))
    if found_before and not result.totals.converted and not result.totals.failed:
        skipped = ("skipped: already converted (the keyframes and panels of this video and these settings are there); "
                   "the pages are laid out again; --no-resume converts it again")
        result = replace(result, note="\n".join(filter(None, [result.note, skipped])))
    fs = filesystem(output, output_options)[0]
    pictures = []
    for name, panel in zip(names, panels):
        styled, photo = (filesystem(f"{folder}/{name}.png", output_options)[1]
                         for folder in (layout.panels, layout.keyframes))
        source_path = styled if fs.exists(styled) else photo  # a failed panel stays a photo
        pictures.append((panel, Image.open(io.BytesIO(fs.cat_file(source_path))).convert("RGB")))
    pages = layout_pages(pictures)
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


def _keyframes(cfg: ComicConfig, plan: RunPlan, layout: RunLayout) -> tuple[list[str], list[Panel], bool]:
    """The panels' names, the panels, and whether they were found by an earlier run of the same video
    (this version of it) with the same settings: then their keyframes are read back, not the video
    again. Otherwise the video is read for its shots and the keyframes written, their index last."""
    fs, folder = filesystem(layout.keyframes, plan.output_options)
    source_fs, source = filesystem(plan.input, plan.input_options)
    version = input_version(source_fs.info(source))
    stamp = config_hash({"input": plan.input, "version": version, "threshold": cfg.threshold,
                         "panel_seconds": cfg.panel_seconds, "detector": SHOT_DETECTOR})
    index = f"{folder}/{KEYFRAME_INDEX}"
    if cfg.resume and fs.exists(index):
        known = json.loads(fs.cat_file(index))
        names = [f"panel-{k:04d}" for k in range(len(known["panels"]))]
        if known.get("stamp") == stamp and all(fs.exists(f"{folder}/{name}.png") for name in names):
            panels = [Panel(p["shot"], p["seconds"], decode_image(fs.cat_file(f"{folder}/{name}.png"), "RGB"), p["caption"])
                      for name, p in zip(names, known["panels"])]
            return names, panels, True
    try:
        panels = keyframes(plan.input, plan.input_options, cfg.threshold, panel_seconds=cfg.panel_seconds)
    except (OSError, ValueError, IndexError) as exc:
        raise ConfigError(f"cannot read video {cfg.input}: {exc}") from None
    if fs.exists(folder):
        fs.rm(folder, recursive=True)  # another video or settings: its keyframes are not this comic's
    names = [f"panel-{k:04d}" for k in range(len(panels))]
    for name, panel in zip(names, panels):
        write_bytes(f"{layout.keyframes}/{name}.png", encode_image(panel.frame, "png"), plan.output_options)
    write_bytes(f"{layout.keyframes}/{KEYFRAME_INDEX}", json.dumps({"stamp": stamp, "panels": [
        {"shot": p.shot, "seconds": p.seconds, "caption": p.caption} for p in panels]}).encode(), plan.output_options)
    return names, panels, False


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
    card.settings = {**card.settings, "threshold": cfg.threshold, "panel_seconds": cfg.panel_seconds}
    report = RunReport(card, layout.report_dir, options)
    card.pictures = save_pairs(pairs, report.url, card.run_id, options)
    report.write(card.state)
    return report.page_url
