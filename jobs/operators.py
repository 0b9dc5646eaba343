"""`stylebatch operators`: list the operators, their options with defaults, and presets."""
from __future__ import annotations

import argparse

from jobs.common import module_main, run_command
from operators.registry import built_in_operators


def describe() -> str:
    """A readable listing of every registered operator."""
    lines = []
    for spec in built_in_operators():
        lines.append(f"{spec.name}: {spec.summary}")
        lines.append(f"  input {spec.input_mode}, {spec.method}, preferred GPU batch {spec.batch_size}")
        for option in spec.options:
            lines.append(f"  --set {option.name}={option.default!r}".ljust(44) + f" {option.help}")
        if spec.presets:
            lines.append(f"  presets (--set preset=NAME): {', '.join(spec.presets)}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Print the listing."""
    print(describe())
    return 0


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """No arguments."""
    return parser or argparse.ArgumentParser(prog="stylebatch operators", description=__doc__)


main = module_main(build_parser, run)

if __name__ == "__main__":
    run_command(main)
