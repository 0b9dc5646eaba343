"""The `stylebatch` console script: one subcommand per job module."""
from __future__ import annotations

import argparse
import importlib
import sys

from jobs.common import run_command
from jobs.console import set_up

COMMANDS = {  # name: (module, summary)
    "demo": ("jobs.demo", "convert the bundled sample photos with the bundled style model"),
    "operators": ("jobs.operators", "list operators, their options and presets"),
    "styles": ("jobs.styles", "a gallery of the bundled model's 26 styles on one photo, with their numbers"),
    "convert": ("jobs.convert", "stylize every image under INPUT into OUTPUT"),
    "plan": ("jobs.plan", "what convert would do with the same flags, and about how long it would take; writes nothing"),
    "preview": ("jobs.preview", "a few inputs in every variant on one HTML page and a contact sheet, to choose a style"),
    "video": ("jobs.video", "stylize a whole video in parallel segments, keeping its sound"),
    "comic": ("jobs.comic", "turn a video into stylized comic pages (PNG + PDF)"),
    "train": ("jobs.train", "train a model on Ray Train (fast-nst, handwriting)"),
    "report": ("jobs.report", "write the run reports of OUTPUT again from its manifests"),
    "status": ("jobs.status", "the runs in OUTPUT on one screen (exit 1 if the last one failed inputs)"),
    "handwriting-data": ("jobs.handwriting_data", "write paired typed/handwritten line shards for training"),
}


def main(argv: list[str] | None = None) -> int:
    """Parse the subcommand and run it. Only the named command's module is imported (the others
    bring torch and Ray Train: seconds of start-up for nothing)."""
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="stylebatch", description="Batch image stylization on Ray.")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, summary) in COMMANDS.items():
        sub = commands.add_parser(name, help=summary)
        if argv[:1] == [name]:
            module = importlib.import_module(module_name)
            sub.description = module.__doc__
            module.build_parser(sub)
            sub.set_defaults(run=module.run)
    args = parser.parse_args(argv)
    set_up(getattr(args, "verbose", True))
    return args.run(args)


def entry() -> None:
    """Console-script entry point."""
    run_command(main)


if __name__ == "__main__":
    entry()
