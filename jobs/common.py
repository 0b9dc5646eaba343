"""What the commands share: the model, pool and storage flags, and the one way they report errors and exit."""
from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Callable, TypeVar

from operators.errors import ConfigError
from jobs.console import CONSOLE, set_up
from pipeline.runs.lifecycle import RunAborted, RunInterrupted, RunResult, stop_on_signals
from pipeline.settings import CPU_ACTORS_MAX, DEFAULT_MAX_RETRIES, ModelSettings, PoolSettings, RunRequest
from pipeline.storage import parse_storage_options
from pipeline.variants import Variant

USAGE_ERROR = 2
RUN_ABORTED = 3
Command = Callable[[argparse.Namespace], int]
C = TypeVar("C", bound=RunRequest)


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


def add_variant_argument(parser: argparse.ArgumentParser) -> None:
    """--variant NAME:KEY=VALUE,..., repeatable: several styles in one pass."""
    parser.add_argument("--variant", dest="variants", action="append", default=[], type=Variant.parse,
                        metavar="NAME:KEY=VALUE[,KEY=VALUE...]",
                        help="a style to write, its options over --set, to OUTPUT/NAME/; repeatable (e.g. --variant "
                             "paprika:preset=paprika --variant face:preset=face_paint_512_v2): each input is read and decoded "
                             "once for all of them")


def add_verbose_argument(parser: argparse.ArgumentParser) -> None:
    """--verbose: Ray's own logging on the terminal too."""
    parser.add_argument("--verbose", action="store_true",
                        help="show Ray's own logging and the workers' output (by default they go to the log folder "
                             "that the final line names)")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ModelSettings and PoolSettings, plus --storage-option and --verbose: every model
    command takes them."""
    add_verbose_argument(parser)
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
    requested = {}
    for pair in args.settings:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {pair!r}: use KEY=VALUE")
        requested[key.strip()] = value
    if args.weights:
        requested["weights"] = args.weights
    return ModelSettings(args.operator, requested)


def pool_settings(args: argparse.Namespace) -> PoolSettings:
    """--batch-size, --actors, --gpus-per-actor, --max-retries as PoolSettings."""
    if args.max_retries < 0:
        raise ConfigError(f"--max-retries {args.max_retries}: use 0 or more")
    return PoolSettings(batch_size=args.batch_size, actors=args.actors, gpus_per_actor=args.gpus_per_actor,
                        max_retries=args.max_retries)


def storage_options(args: argparse.Namespace) -> dict[str, object]:
    """--storage-option pairs as fsspec options."""
    return parse_storage_options(args.storage_options)


def add_run_arguments(parser: argparse.ArgumentParser, input_help: str, output_help: str) -> None:
    """INPUT, OUTPUT and the model flags: what every model-running command takes first."""
    parser.add_argument("input", help=input_help)
    parser.add_argument("output", help=output_help)
    add_model_arguments(parser)


def config_of(config: type[C], args: argparse.Namespace) -> C:
    """A command's config from its parsed flags: the RunRequest part from INPUT, OUTPUT and the model
    flags, every other field from the flag of the same name."""
    request = {"input": args.input, "output": args.output, "model": model_settings(args), "pool": pool_settings(args),
               "storage_options": storage_options(args)}
    own = {f.name: tuple(value) if isinstance(value := getattr(args, f.name), list) else value
           for f in dataclasses.fields(config) if f.name not in request and hasattr(args, f.name)}
    return config(**request, **own)


def report(result: RunResult, *lines: str) -> int:
    """Print a command's own `lines`, then the run's closing lines (the summary last, naming where
    Ray's logs are), and return its exit status."""
    for line in lines:
        print(line)
    print(result.line(CONSOLE.logs()))
    return result.exit_code


def run_command(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> None:
    """Run a command's main and exit with its status; configuration errors print one line and exit 2,
    a run that could not complete prints one line and exits 3, an interrupted one (Ctrl-C, SIGTERM)
    one line and 130 or 143."""
    stop_on_signals()
    try:
        status = main(argv)
    except (ConfigError, ValueError) as exc:
        print(f"stylebatch: error: {exc}", file=sys.stderr)
        status = USAGE_ERROR
    except RunAborted as exc:
        print(f"stylebatch: {exc}", file=sys.stderr)
        status = RUN_ABORTED
    except RunInterrupted as stop:
        recorded = f" ({stop.recorded})" if stop.recorded else ""
        print(f"stylebatch: interrupted; the same command continues{recorded}", file=sys.stderr)
        status = stop.exit_code
    sys.exit(status)


def module_main(build_parser: Callable[[], argparse.ArgumentParser], run: Command) -> Callable[[list[str] | None], int]:
    """The `main(argv)` of `python -m jobs.<command>`: parse with the command's parser, run it."""

    def main(argv: list[str] | None = None) -> int:
        args = build_parser().parse_args(argv)
        set_up(getattr(args, "verbose", True))
        return run(args)

    return main
