"""`stylebatch comic INPUT_VIDEO OUTPUT_PREFIX --operator NAME ...`: a movie as stylized comic pages."""
from __future__ import annotations

import argparse

from jobs.common import add_model_arguments, model_settings, module_main, pool_settings, run_command, storage_options
from pipeline.comic.run import ComicConfig, make_comic


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The comic command's arguments."""
    parser = parser or argparse.ArgumentParser(prog="stylebatch comic", description=__doc__)
    parser.add_argument("input", help="video file: local path or fsspec URL")
    parser.add_argument("output", help="prefix for keyframes, panels, page PNGs and comic.pdf")
    add_model_arguments(parser)
    parser.add_argument("--threshold", type=float, default=0.35, help="shot-cut histogram distance (0..1)")
    parser.add_argument("--panel-seconds", type=float, default=8.0, help="one more panel per this much of a long shot")
    parser.add_argument("--columns", type=int, default=2)
    parser.add_argument("--rows", type=int, default=3)
    parser.add_argument("--max-side", type=int, default=0, help="shrink keyframes before stylizing")
    return parser


def run(args: argparse.Namespace) -> int:
    """Make the pages and print where they went."""
    result, pages, pdf = make_comic(ComicConfig(
        input=args.input, output=args.output, model=model_settings(args), pool=pool_settings(args),
        storage_options=storage_options(args), threshold=args.threshold, panel_seconds=args.panel_seconds,
        columns=args.columns, rows=args.rows, max_side=args.max_side,
    ))
    print(result.line())
    print(f"{len(pages)} pages: {pages[0]} ... ; pdf: {pdf}")
    return result.exit_code


main = module_main(build_parser, run)

if __name__ == "__main__":
    run_command(main)
