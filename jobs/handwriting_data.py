"""`stylebatch handwriting-data OUTPUT`: paired typed/handwritten line shards (and typed page scans)."""
from __future__ import annotations

import argparse

from jobs.common import add_storage_argument, module_main, run_command, storage_options
from pipeline.training.line_render import HAND_FONT
from pipeline.training.line_shards import LineDataConfig, generate


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The command's arguments."""
    parser = parser or argparse.ArgumentParser(prog="stylebatch handwriting-data", description=__doc__)
    parser.add_argument("output", help="prefix to write shards to (any fsspec URL)")
    parser.add_argument("--train-lines", type=int, default=8000)
    parser.add_argument("--heldout-lines", type=int, default=400, help="unseen words in unseen typed fonts")
    parser.add_argument("--pages", type=int, default=0, help="also write N typed page scans under OUTPUT/pages/")
    parser.add_argument("--seed", type=int, default=7, help="data seed: the same seed writes the same shards")
    parser.add_argument("--shard-lines", type=int, default=500)
    parser.add_argument("--hand-font", default=HAND_FONT, help="handwriting font file name (installed)")
    add_storage_argument(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Write the shards and print where they went."""
    summary = generate(LineDataConfig(
        output=args.output, train_lines=args.train_lines, heldout_lines=args.heldout_lines, pages=args.pages,
        seed=args.seed, shard_lines=args.shard_lines, hand_font=args.hand_font,
        storage_options=storage_options(args),
    ))
    print(f"wrote {len(summary['shards'])} shards and {len(summary['pages'])} pages to {args.output} "
          f"(train with: stylebatch train handwriting --data {args.output} --output MODEL_PREFIX)")
    return 0


main = module_main(build_parser, run)

if __name__ == "__main__":
    run_command(main)
