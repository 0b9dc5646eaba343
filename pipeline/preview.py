"""`stylebatch preview`: a few of INPUT's inputs in every variant, on one HTML page (pictures inside
it, so it travels as one file) and a PNG contact sheet beside it, to choose a style by the pictures
before a run spends a night on it. Nothing is written in any OUTPUT.

The inputs are spread over the listing as `convert` makes it (refused ones left out: the header
read of `plan`); each goes through the run's own decode and model pool, every variant's model
resident in each actor, as `convert --variant` would run it."""
from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass

import numpy as np
import ray
from PIL import Image

from pipeline.codecs import encode_image
from pipeline.dry_run import sample_of, survey
from pipeline.inference import ActorPool
from pipeline.report.page import STYLE
from pipeline.report.sheet import contact_sheet
from pipeline.run import (
    ConvertConfig,
    ImagePlan,
    decode_step,
    prepare_ray,
    stylized_rows,
)
from pipeline.runs.status import Status
from pipeline.stages import ListStep, Target, read_and_decode
from pipeline.storage import options_for, write_bytes

SAMPLES = 8
PAGE_SIDE = 768  # the longer side of a picture on the page


@dataclass(frozen=True)
class Preview:
    """Each sampled input's name, its picture and its picture in each variant (or why it failed)."""

    variants: tuple[str, ...]
    options: dict[str, dict]  # variant -> the options it differs in
    root: str  # INPUT: names are shown below it
    inputs: tuple[str, ...]
    originals: tuple[np.ndarray, ...]
    styled: dict[tuple[str, str], np.ndarray | str]  # (input, variant) -> picture, or the reason it failed

    def shown(self, name: str) -> str:
        """An input's name as the page shows it: its path below INPUT."""
        root = self.root.rstrip("/") + "/"
        return name[len(root):] if name.startswith(root) else name.rsplit("/", 1)[-1]


def preview(plan: ImagePlan, cfg: ConvertConfig, samples: int = SAMPLES) -> Preview:
    """Stylize `samples` inputs spread over INPUT's listing in every style of `plan`."""
    prepare_ray()
    pool = ActorPool.for_cluster(cfg.pool, plan.model.spec)
    decode = decode_step(plan, cfg)
    targets = tuple(Target(style.variant, "", style.config_hash) for style in plan.styles)
    chosen, sample = sample_of(survey(plan, cfg, ListStep(decode.source, None, targets, cfg.fmt), pool), samples)
    if not len(chosen):
        raise ValueError(f"no input under {plan.input} can be converted (see `stylebatch plan` for why)")
    out = stylized_rows(ray.data.from_arrow(sample), decode, plan, pool).take_all()
    styled = {(row["input"], row["variant"]): row["image"] if row["status"] == Status.PENDING.value else row["error"]
              for row in out}
    inputs = tuple(chosen.to_pylist())
    batch = {name: np.array(sample[name].to_pylist(), object) for name in ("input", "member", "status", "error")}
    originals = read_and_decode(batch, step=decode)["image"]
    by_input = dict(zip(batch["input"], originals))  # a gathered row per input: read once
    variants = tuple(style.variant for style in plan.styles)
    return Preview(variants, _differing(plan.variant_options or {"": plan.model.options}), plan.input,
                   inputs, tuple(by_input[name] for name in inputs), styled)


def _differing(options: dict[str, dict]) -> dict[str, dict]:
    """Each variant's options that differ between the variants (all of them for a single style)."""
    keys = sorted({key for chosen in options.values() for key in chosen})
    if len(options) > 1:
        keys = [key for key in keys if len({json.dumps(chosen.get(key), default=str) for chosen in options.values()}) > 1]
    return {name: {key: chosen.get(key) for key in keys if key in chosen} for name, chosen in options.items()}


def write_preview(result: Preview, page_url: str, storage_options: dict, operator: str) -> tuple[str, str]:
    """PAGE.html and PAGE.png (the contact sheet) from `result`; returns both URLs."""
    sheet_url = (page_url[: -len(".html")] if page_url.endswith(".html") else page_url) + ".png"
    options = options_for(page_url, storage_options)
    write_bytes(page_url, _page(result, operator, sheet_url.rsplit("/", 1)[-1]).encode(), options)
    buffer = io.BytesIO()
    _sheet(result).save(buffer, format="PNG")
    write_bytes(sheet_url, buffer.getvalue(), options)
    return page_url, sheet_url


def _title(variant: str) -> str:
    """A variant's column heading ("styled" for a run of one style)."""
    return variant or "styled"


def _sheet(result: Preview) -> Image.Image:
    """One row per input: the input, then each variant's picture (an empty cell where it failed)."""
    cells = []
    for name, original in zip(result.inputs, result.originals):
        cells.append((result.shown(name), original))
        for variant in result.variants:
            picture = result.styled.get((name, variant))
            cells.append((_title(variant) if isinstance(picture, np.ndarray) else f"{variant}: failed",
                          picture if isinstance(picture, np.ndarray) else None))
    return contact_sheet(cells, 1 + len(result.variants))


def _embedded(picture: np.ndarray) -> str:
    """A picture as a JPEG data URL at most PAGE_SIDE on its longer side."""
    image = Image.fromarray(picture.squeeze(-1) if picture.shape[-1] == 1 else picture)
    image.thumbnail((PAGE_SIDE, PAGE_SIDE))
    return "data:image/jpeg;base64," + base64.b64encode(encode_image(np.asarray(image.convert("RGB")), "jpg", 88)).decode()


def _page(result: Preview, operator: str, sheet_name: str) -> str:
    """The page: a row per input, a column per variant with the options it differs in."""
    head = "".join(f"<th>{html.escape(_title(v))}<br><code>"
                   + html.escape(", ".join(f"{k}={val}" for k, val in result.options.get(v, {}).items()))
                   + "</code></th>" for v in result.variants)
    rows = []
    for name, original in zip(result.inputs, result.originals):
        shown = html.escape(result.shown(name))
        cells = [f'<td><img src="{_embedded(original)}" alt="{shown}"><br><code>{shown}</code></td>']
        for variant in result.variants:
            picture = result.styled.get((name, variant), "not stylized")
            cells.append(f'<td><img src="{_embedded(picture)}" alt="{shown} in {html.escape(_title(variant))}"></td>'
                         if isinstance(picture, np.ndarray) else f'<td class="failed">failed: {html.escape(picture)}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>stylebatch preview: {html.escape(operator)}</title>
<style>{STYLE} td img {{ max-width: 100%; }} td {{ vertical-align: top; }} td.failed {{ color: #c53030; }}</style></head><body>
<h1>Preview: <code>{html.escape(operator)}</code> on {len(result.inputs)} inputs</h1>
<p>Each row is one input, then the same input in each variant, headed by the options in which the
variants differ. Contact sheet: <a href="{html.escape(sheet_name)}">{html.escape(sheet_name)}</a>.
Nothing was written in any OUTPUT: <code>stylebatch convert INPUT OUTPUT</code> with the same flags
writes every input so (each variant in <code>OUTPUT/&lt;variant&gt;/</code>).</p>
<table><tr><th>input</th>{head}</tr>{''.join(rows)}</table>
</body></html>
"""
