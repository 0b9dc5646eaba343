"""Argument parsing shared by the commands, and the one way they report errors and exit."""
from __future__ import annotations

import argparse
import sys
from typing import Callable

from operators.errors import ConfigError

USAGE_ERROR = 2


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """--operator, --weights, --set and the pool/batch flags that every model command takes."""
    parser.add_argument("--operator", required=True, help="operator name (see `stylebatch operators`)")
    parser.add_argument("--weights", help="URL of the model weights (shortcut for --set weights=URL)")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                        help="operator option; repeatable; --set preset=NAME picks a preset")
    parser.add_argument("--batch-size", type=int, help="images per forward pass (default: operator's choice)")
    parser.add_argument("--actors", type=int, help="model actors in the pool (default: one per GPU, or 1)")
    parser.add_argument("--gpus-per-actor", type=float, help="GPUs each actor reserves (default 1 if the cluster has GPUs)")
    parser.add_argument("--storage-option", dest="storage_options", action="append", default=[],
                        metavar="KEY=VALUE", help="fsspec storage option, e.g. endpoint_url=http://host:9000")


def parse_settings(pairs: list[str], weights: str | None) -> dict[str, str]:
    """`--set KEY=VALUE` pairs (plus --weights) as a dict."""
    settings = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {pair!r}: use KEY=VALUE")
        settings[key.strip()] = value
    if weights:
        settings["weights"] = weights
    return settings


def run_command(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> None:
    """Run a command's main and exit with its status; configuration errors print one line, exit 2."""
    try:
        status = main(argv)
    except (ConfigError, ValueError) as exc:
        print(f"stylebatch: error: {exc}", file=sys.stderr)
        status = USAGE_ERROR
    sys.exit(status)
