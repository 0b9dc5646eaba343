"""Operator names to their specs: the one place the pipeline looks operators up."""
from __future__ import annotations

import dataclasses
import importlib

from operators import animegan, fast_nst, gatys, handwriting, onnx_model, regional_nst
from operators.errors import ConfigError
from operators.spec import OperatorSpec

OPERATORS: dict[str, OperatorSpec] = {
    spec.name: spec for spec in (animegan.SPEC, fast_nst.SPEC, gatys.SPEC, regional_nst.SPEC, handwriting.SPEC,
                                   onnx_model.SPEC)
}


def get_operator(name: str) -> OperatorSpec:
    """The spec registered under `name`, or one kept outside this package as `module.path:ATTRIBUTE`
    (importable on every node); a ConfigError lists the known names."""
    if name in OPERATORS:
        return OPERATORS[name]
    module, sep, attribute = name.partition(":")
    if not sep:
        raise ConfigError(f"unknown operator {name!r}; choose one of: {', '.join(OPERATORS)}, "
                          "or name your own as module.path:SPEC")
    try:
        spec = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"operator {name!r}: cannot import it ({exc}); the module must be importable "
                          "on every node (installed, or in the job's working_dir)") from None
    if not isinstance(spec, OperatorSpec):
        raise ConfigError(f"operator {name!r} is a {type(spec).__name__}, not an OperatorSpec")
    return dataclasses.replace(spec, name=name)  # actors look it up by the same reference
