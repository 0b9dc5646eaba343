"""Operator names to their specs: the one place the pipeline looks operators up."""
from __future__ import annotations

import dataclasses
import importlib

from operators.errors import ConfigError
from operators.spec import OperatorSpec

# name -> the module whose SPEC it is, imported on first use: a run imports only its own operator
# (an `onnx` run, its driver and its actors never import torch: seconds off every start)
BUILT_IN = {
    "animegan": "operators.animegan",
    "fast-nst": "operators.fast_nst",
    "gatys": "operators.gatys",
    "regional-nst": "operators.regional_nst",
    "handwriting": "operators.handwriting",
    "onnx": "operators.onnx_model",
}


def built_in_operators() -> list[OperatorSpec]:
    """Every built-in operator's spec (imports them all)."""
    return [get_operator(name) for name in BUILT_IN]


def get_operator(name: str) -> OperatorSpec:
    """The spec registered under `name`, or one kept outside this package as `module.path:ATTRIBUTE`
    (importable on every node); a ConfigError lists the known names."""
    if name in BUILT_IN:
        return importlib.import_module(BUILT_IN[name]).SPEC
    module, sep, attribute = name.partition(":")
    if not sep:
        raise ConfigError(f"unknown operator {name!r}; choose one of: {', '.join(BUILT_IN)}, "
                          "or name your own as module.path:SPEC")
    try:
        spec = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"operator {name!r}: cannot import it ({exc}); the module must be importable "
                          "on every node (installed, or in the job's working_dir)") from None
    if not isinstance(spec, OperatorSpec):
        raise ConfigError(f"operator {name!r} is a {type(spec).__name__}, not an OperatorSpec")
    return dataclasses.replace(spec, name=name)  # actors look it up by the same reference
