"""`stylebatch plan INPUT OUTPUT --operator NAME ...`: what `convert` would do with the same flags, and
about how long it would take on this cluster, with nothing written in OUTPUT."""
from __future__ import annotations

import argparse

from jobs import convert
from jobs.common import config_of, module_main, run_command
from pipeline.dry_run import SAMPLE_INPUTS, plan_convert
from pipeline.run import ConvertConfig, prepare


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """convert's arguments, and the size of the timed sample."""
    parser = convert.build_parser(parser or argparse.ArgumentParser(prog="stylebatch plan", description=__doc__))
    parser.add_argument("--samples", type=int, default=SAMPLE_INPUTS,
                        help="inputs timed through decoding and the model for the estimate (0: no estimate)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Print the plan; 0, or 2 (raised as ConfigError) for a configuration `convert` would refuse."""
    cfg = config_of(ConvertConfig, args)
    plan = prepare(cfg)
    for line in plan_convert(plan, cfg, max(0, args.samples)).lines(plan):
        print(line)
    return 0


main = module_main(build_parser, run)

if __name__ == "__main__":
    run_command(main)
