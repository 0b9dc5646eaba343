"""`stylebatch convert INPUT OUTPUT --operator NAME ...`: stylize every image under INPUT."""
from __future__ import annotations

import argparse

from jobs.common import (
    add_run_arguments,
    add_variant_argument,
    add_wait_argument,
    config_of,
    module_main,
    report,
    run_command,
)
from pipeline.archives import DEFAULT_MAX_MEMBER_BYTES
from pipeline.codecs import DEFAULT_DECODE_SECONDS, DEFAULT_MAX_PIXELS, FORMATS
from pipeline.metadata import KEEP
from pipeline.run import ConvertConfig, convert


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The convert command's arguments (on `parser` when given, for the CLI's subcommand)."""
    parser = parser or argparse.ArgumentParser(prog="stylebatch convert", description=__doc__)
    add_run_arguments(parser, "folder, prefix or single image: local path or fsspec URL (s3://...)",
                      "output prefix: local path or fsspec URL")
    parser.add_argument("--format", dest="fmt", default="png", choices=sorted(FORMATS), help="output format")
    parser.add_argument("--quality", type=int, default=95, help="JPEG/WebP/AVIF quality")
    parser.add_argument("--keep-metadata", nargs="?", const="camera", default="none", choices=KEEP,
                        help="carry the inputs' EXIF to the outputs: `camera` (the flag alone: capture date, camera, "
                             "lens, exposure) or `all` (location included); by default outputs carry none")
    parser.add_argument("--max-side", type=int, default=0, help="shrink inputs so the longer side is at most N")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                        help="refuse images with more pixels than this (decompression-bomb guard)")
    parser.add_argument("--max-decode-seconds", type=float, default=DEFAULT_DECODE_SECONDS,
                        help="fail an input whose decoding takes longer than this")
    parser.add_argument("--max-member-bytes", type=int, default=DEFAULT_MAX_MEMBER_BYTES,
                        help="refuse an archive member that inflates past this many bytes (zip-bomb guard)")
    parser.add_argument("--no-resume", dest="resume", action="store_false",
                        help="convert again what earlier runs converted with the same config")
    parser.add_argument("--limit", type=int, help="convert at most N inputs")
    add_variant_argument(parser)
    parser.add_argument("--archive", action="store_true",
                        help="write one archive OUTPUT (.zip or .tar) instead of a prefix; "
                             "OUTPUT.work/ keeps the images and manifests for resuming")
    add_wait_argument(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the conversion and print where everything went; 1 if any input failed."""
    return report(convert(config_of(ConvertConfig, args)))


main = module_main(build_parser, run)

if __name__ == "__main__":
    run_command(main)
