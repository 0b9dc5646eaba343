"""`stylebatch preview INPUT PAGE.html --operator NAME [--variant ...] [--samples 8]`: a few of INPUT's
inputs, spread over it, in every variant, on one HTML page with a PNG contact sheet beside it
(PAGE.png), to choose a style by the pictures; nothing is written in any OUTPUT."""
from __future__ import annotations

import argparse

from jobs.common import add_run_arguments, add_variant_argument, config_of, module_main, run_command
from pipeline.codecs import DEFAULT_MAX_PIXELS
from pipeline.preview import SAMPLES, preview, write_preview
from pipeline.run import ConvertConfig, prepare

PREVIEW_SIDE = 1024  # inputs are shrunk to this unless --max-side says otherwise: a page, not the run


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """INPUT, PAGE, the model flags, --variant, --samples and the decoding limits."""
    parser = parser or argparse.ArgumentParser(prog="stylebatch preview", description=__doc__)
    add_run_arguments(parser, "folder, prefix or single image: local path or fsspec URL (s3://...)",
                      "the page to write, PAGE.html (local path or fsspec URL); the contact sheet goes beside it "
                      "as PAGE.png")
    add_variant_argument(parser)
    parser.add_argument("--samples", type=int, default=SAMPLES, help="inputs on the page, spread over INPUT")
    parser.add_argument("--max-side", type=int, default=PREVIEW_SIDE,
                        help=f"shrink inputs so the longer side is at most N first (default {PREVIEW_SIDE}; 0: as they "
                             "are, as convert runs them)")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                        help="leave out images with more pixels than this (decompression-bomb guard)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Write the page and the sheet and say where they are."""
    if args.samples < 1:
        raise ValueError(f"--samples {args.samples}: show at least 1 input")
    cfg = config_of(ConvertConfig, args)
    plan = prepare(cfg)
    result = preview(plan, cfg, args.samples)
    page, sheet = write_preview(result, cfg.output, cfg.storage_options, plan.model.spec.name)
    variants = f" x {len(result.variants)} variants" if result.variants[0] else ""
    print(f"preview: {len(result.inputs)} inputs{variants}: {page}  contact sheet: {sheet}; nothing was written in "
          "any OUTPUT")
    return 0


main = module_main(build_parser, run)

if __name__ == "__main__":
    run_command(main)
