"""What the commands share: the model, pool and storage flags, and the one way they report errors and exit."""
from __future__ import annotations

import argparse
import sys
from typing import Callable

from operators.errors import ConfigError
from pipeline.run import RunAborted
from pipeline.settings import CPU_ACTORS_MAX, DEFAULT_MAX_RETRIES, ModelSettings, PoolSettings
from pipeline.storage import parse_storage_options

USAGE_ERROR = 2
RUN_ABORTED = 3
Command = Callable[[argparse.Namespace], int]


def add_storage_argument(parser: argparse.ArgumentParser) -> None:
    """--storage-option, repeatable."""
    parser.add_argument("--storage-option", dest="storage_options", action="append", default=[],
                        metavar="KEY=VALUE", help="fsspec storage option, e.g. endpoint_url=http://host:9000")


def add_output_argument(parser: argparse.ArgumentParser) -> None:
    """OUTPUT of earlier runs and --storage-option: what `report` and `status` read."""
    parser.add_argument("output", help="the OUTPUT of earlier runs (a prefix, or a video or archive file): "
                                       "local path or fsspec URL")
    add_storage_argument(parser)


def add_wait_argument(parser: argparse.ArgumentParser) -> None:
    """--wait: queue behind a run that holds OUTPUT instead of exiting with status 2."""
    parser.add_argument("--wait", action="store_true",
                        help="if another run holds OUTPUT, wait for it to finish (or for its lease to expire)")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ModelSettings and PoolSettings, plus --storage-option: every model command takes them."""
    parser.add_argument("--operator", required=True, help="operator name (see `stylebatch operators`)")
    parser.add_argument("--weights", help="URL of the model weights (shortcut for --set weights=URL)")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                        help="operator option; repeatable; --set preset=NAME picks a preset")
    parser.add_argument("--batch-size", type=int, help="images per forward pass (default: operator's choice)")
    parser.add_argument("--actors", type=int, help="model actors in the pool (default: one per GPU; "
                        f"without GPUs one per core, at most {CPU_ACTORS_MAX}, or 1 for video)")
    parser.add_argument("--gpus-per-actor", type=float, help="GPUs each actor reserves (default 1 if the cluster has GPUs)")
    parser.add_argument("--max-retries", type=int, default=DEFAULT_MAX_RETRIES, metavar="N",
                        help="tries again after a worker died (out of memory, a crash, a lost node) before only "
                             f"the inputs it held fail (default {DEFAULT_MAX_RETRIES})")
    add_storage_argument(parser)


def model_settings(args: argparse.Namespace) -> ModelSettings:
    """--operator, --set pairs and --weights as ModelSettings."""
    settings = {}
    for pair in args.settings:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {pair!r}: use KEY=VALUE")
        settings[key.strip()] = value
    if args.weights:
        settings["weights"] = args.weights
    return ModelSettings(args.operator, settings)


def pool_settings(args: argparse.Namespace) -> PoolSettings:
    """--batch-size, --actors, --gpus-per-actor, --max-retries as PoolSettings."""
    if args.max_retries < 0:
        raise ConfigError(f"--max-retries {args.max_retries}: use 0 or more")
    return PoolSettings(batch_size=args.batch_size, actors=args.actors, gpus_per_actor=args.gpus_per_actor,
                        max_retries=args.max_retries)


def storage_options(args: argparse.Namespace) -> dict[str, object]:
    """--storage-option pairs as fsspec options."""
    return parse_storage_options(args.storage_options)


def run_command(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> None:
    """Run a command's main and exit with its status; configuration errors print one line and exit 2,
    a run that could not complete prints one line and exits 3."""
    try:
        status = main(argv)
    except (ConfigError, ValueError) as exc:
        print(f"stylebatch: error: {exc}", file=sys.stderr)
        status = USAGE_ERROR
    except RunAborted as exc:
        print(f"stylebatch: {exc}", file=sys.stderr)
        status = RUN_ABORTED
    sys.exit(status)


def module_main(build_parser: Callable[[], argparse.ArgumentParser], run: Command) -> Callable[[list[str] | None], int]:
    """The `main(argv)` of `python -m jobs.<command>`: parse with the command's parser, run it."""

    def main(argv: list[str] | None = None) -> int:
        return run(build_parser().parse_args(argv))

    return main
