"""`stylebatch status OUTPUT`: the runs in OUTPUT on one screen; exit status 1 when the last run failed
inputs, aborted or stopped without a word (for cron mail)."""
from __future__ import annotations

import argparse

from jobs.common import add_output_argument, module_main, run_command, storage_options
from pipeline.report.status import output_status
from pipeline.storage import normalise


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """OUTPUT and storage options."""
    parser = parser or argparse.ArgumentParser(prog="stylebatch status", description=__doc__)
    add_output_argument(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Print the status; 0 if the last run went well."""
    status = output_status(normalise(args.output), storage_options(args))
    print("\n".join(status.lines))
    return 0 if status.healthy else 1


main = module_main(build_parser, run)

if __name__ == "__main__":
    run_command(main)
