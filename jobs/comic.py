"""`stylebatch comic INPUT_VIDEO OUTPUT_PREFIX --operator NAME ...`: a movie as stylized comic pages."""
from __future__ import annotations

import argparse

from jobs.common import add_run_arguments, config_of, module_main, report, run_command
from pipeline.comic.run import ComicConfig, make_comic
from pipeline.comic.shots import DEFAULT_THRESHOLD


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The comic command's arguments."""
    parser = parser or argparse.ArgumentParser(prog="stylebatch comic", description=__doc__)
    add_run_arguments(parser, "video file: local path or fsspec URL",
                      "prefix for keyframes, panels, page PNGs and comic.pdf")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                        help="cut score above which a cut is taken (0..1; lower finds more cuts)")
    parser.add_argument("--panel-seconds", type=float, default=8.0, help="one more panel per this much of a long shot")
    parser.add_argument("--max-side", type=int, default=0, help="shrink keyframes before stylizing")
    parser.add_argument("--no-resume", dest="resume", action="store_false",
                        help="find the shots and stylize the panels again, even if an earlier run did")
    return parser


def run(args: argparse.Namespace) -> int:
    """Make the pages and print where they went."""
    result, pages, pdf = make_comic(config_of(ComicConfig, args))
    return report(result, f"{len(pages)} pages: {pages[0]} ... ; pdf: {pdf}")


main = module_main(build_parser, run)

if __name__ == "__main__":
    run_command(main)
