"""Operator names to their specs: the one place the pipeline looks operators up."""
from __future__ import annotations

from operators import animegan, fast_nst, gatys, handwriting, onnx_model, regional_nst
from operators.errors import ConfigError
from operators.spec import OperatorSpec

OPERATORS: dict[str, OperatorSpec] = {
    spec.name: spec for spec in (animegan.SPEC, fast_nst.SPEC, gatys.SPEC, regional_nst.SPEC, handwriting.SPEC,
                                   onnx_model.SPEC)
}


def get_operator(name: str) -> OperatorSpec:
    """The spec registered under `name`, or a ConfigError listing the known names."""
    try:
        return OPERATORS[name]
    except KeyError:
        raise ConfigError(f"unknown operator {name!r}; choose one of: {', '.join(OPERATORS)}") from None
