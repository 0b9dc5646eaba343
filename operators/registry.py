"""Operator names to their specs: the one place the pipeline looks operators up."""
from __future__ import annotations

from operators import animegan, onnx_model
from operators.errors import ConfigError
from operators.spec import OperatorSpec

OPERATORS: dict[str, OperatorSpec] = {spec.name: spec for spec in (animegan.SPEC, onnx_model.SPEC)}


def get_operator(name: str) -> OperatorSpec:
    """The spec registered under `name`, or a ConfigError listing the known names."""
    try:
        return OPERATORS[name]
    except KeyError:
        raise ConfigError(f"unknown operator {name!r}; choose one of: {', '.join(OPERATORS)}") from None
