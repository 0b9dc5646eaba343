"""`stylebatch report OUTPUT`: write every run's report page and the index again from the manifests."""
from __future__ import annotations

import argparse

from jobs.common import add_output_argument, module_main, run_command, storage_options
from pipeline.report.build import rebuild
from pipeline.storage import normalise


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """OUTPUT (a convert or comic prefix, or a video or archive file) and storage options."""
    parser = parser or argparse.ArgumentParser(prog="stylebatch report", description=__doc__)
    add_output_argument(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Rebuild and print where the index is."""
    index, pages = rebuild(normalise(args.output), storage_options(args))
    print(f"{pages} run pages; index: {index}")
    return 0


main = module_main(build_parser, run)

if __name__ == "__main__":
    run_command(main)
