"""The `stylebatch` console script: one subcommand per job module."""
from __future__ import annotations

import argparse

from jobs import comic, convert, demo, handwriting_data, operators, report, status, train, video
from jobs.common import run_command

COMMANDS = {
    "demo": (demo, "convert the bundled sample photos with the bundled style model"),
    "operators": (operators, "list operators, their options and presets"),
    "convert": (convert, "stylize every image under INPUT into OUTPUT"),
    "video": (video, "stylize a whole video in parallel segments, keeping its sound"),
    "comic": (comic, "turn a video into stylized comic pages (PNG + PDF)"),
    "train": (train, "train a model on Ray Train (fast-nst, handwriting)"),
    "report": (report, "write the run reports of OUTPUT again from its manifests"),
    "status": (status, "the runs in OUTPUT on one screen (exit 1 if the last one failed inputs)"),
    "handwriting-data": (handwriting_data, "write paired typed/handwritten line shards for training"),
}


def main(argv: list[str] | None = None) -> int:
    """Parse the subcommand and run it."""
    parser = argparse.ArgumentParser(prog="stylebatch", description="Batch image stylization on Ray.")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, (module, summary) in COMMANDS.items():
        sub = commands.add_parser(name, help=summary, description=module.__doc__)
        module.build_parser(sub)
        sub.set_defaults(run=module.run)
    args = parser.parse_args(argv)
    return args.run(args)


def entry() -> None:
    """Console-script entry point."""
    run_command(main)


if __name__ == "__main__":
    entry()
