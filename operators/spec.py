"""The operator interface: declared options, presets, input mode and a builder of stylizers."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping, Protocol

import numpy as np

from operators.errors import ConfigError

InputMode = Literal["RGB", "L"]
Method = Literal["feed-forward", "optimization"]
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class Stylizer(Protocol):
    """A model resident on one device: a batch of equal-sized images in, the same count out."""

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """(N, H, W, C) uint8 in, (N, H', W', C) uint8 out."""


@dataclass(frozen=True)
class Option:
    """One `--set KEY=VALUE` option. `is_url` marks options that name a file to read."""

    name: str
    default: Any
    help: str
    is_url: bool = False

    def parse(self, text: str) -> Any:
        """Convert a command-line string to the option's type (the type of its default)."""
        kind = type(self.default)
        try:
            if kind is bool:
                low = text.strip().lower()
                if low in _TRUE | _FALSE:
                    return low in _TRUE
                raise ValueError(text)
            if kind in (int, float):
                return kind(text)
        except ValueError:
            raise ConfigError(
                f"option {self.name}={text!r} is not a valid {kind.__name__}; {self.help}"
            ) from None
        return text


@dataclass(frozen=True)
class OperatorSpec:
    """What the pipeline knows about an operator family."""

    name: str
    summary: str
    options: tuple[Option, ...]
    input_mode: InputMode
    method: Method
    batch_size: int
    build: Callable[[Mapping[str, Any], str, Mapping[str, Any]], Stylizer]
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    complete: Callable[[dict[str, Any]], dict[str, Any]] = lambda options: options
    uses_maps: Callable[[Mapping[str, Any]], bool] = lambda options: False

    def resolve(self, assignments: Mapping[str, str]) -> dict[str, Any]:
        """Defaults, then the named `preset`, then the user's `--set` values, type-checked and completed."""
        known = {o.name: o for o in self.options}
        unknown = sorted(set(assignments) - set(known) - {"preset"})
        if unknown:
            raise ConfigError(
                f"operator {self.name} has no option {', '.join(unknown)}; "
                f"it takes: {', '.join(known)} (see `stylebatch operators`)"
            )
        resolved: dict[str, Any] = {o.name: o.default for o in self.options}
        preset = assignments.get("preset")
        if preset is not None:
            if preset not in self.presets:
                raise ConfigError(
                    f"operator {self.name} has no preset {preset!r}; presets: {', '.join(self.presets) or 'none'}"
                )
            resolved.update(self.presets[preset])
            resolved["preset"] = preset
        for key, text in assignments.items():
            if key != "preset":
                resolved[key] = known[key].parse(text)
        return self.complete(resolved)

    def url_options(self) -> list[str]:
        """Names of the options that point at files (weights, style images)."""
        return [o.name for o in self.options if o.is_url]
