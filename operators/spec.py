"""The operator interface: declared options and presets, input mode, companion inputs, the files a
configuration depends on, a cheap check for the driver and a builder for the actors.

See operators/README.md ("Adding an operator") for the contract with a complete example.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping, Protocol

import numpy as np

from operators.errors import ConfigError
from operators.files import require_file

InputMode = Literal["RGB", "L"]
Method = Literal["feed-forward", "optimization"]
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class Stylizer(Protocol):
    """A model resident on one device: a batch of equal-sized images in, the same count out."""

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """(N, H, W, C) uint8 in, (N, H', W', C) uint8 out."""


class StylizerBuilder(Protocol):
    """Loads the model onto `device` ("auto": the first GPU, else the CPU). Runs once in every
    actor (never on the driver), so it may be slow and memory-hungry; raises ConfigError when the
    options or files do not make a model."""

    def __call__(self, options: Mapping[str, Any], device: str, storage_options: Mapping[str, Any]) -> Stylizer:
        ...


class Validator(Protocol):
    """Checks resolved options and files on the driver before any work: cheap (no network is
    built, no big file is read whole); raises ConfigError with what to change."""

    def __call__(self, options: Mapping[str, Any], storage_options: Mapping[str, Any]) -> None:
        ...


@dataclass(frozen=True)
class Companion:
    """An image that travels with every input and is appended to it as more channels (regional
    style transfer's colour maps): `<name><suffix>.png` beside the input (such files are then not
    inputs themselves), or `prefix/<rel>/<name>.png` when a prefix is given."""

    what: str
    suffix: str
    prefix: str = ""
    mode: InputMode = "RGB"
    hint: str = ""

    @property
    def channels(self) -> int:
        return 3 if self.mode == "RGB" else 1


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


def no_companion(options: Mapping[str, Any]) -> Companion | None:
    """Most operators read nothing beside their inputs."""
    return None


def keep_options(options: dict[str, Any]) -> dict[str, Any]:
    """Most operators need no completion of their options."""
    return options


@dataclass(frozen=True)
class OperatorSpec:
    """What the pipeline knows about an operator family. The hooks left at their defaults:
    `files` maps each `is_url` option to the file it names, `validate` checks that those files exist,
    `companion` reads nothing beside the inputs, `complete` changes nothing."""

    name: str
    summary: str
    options: tuple[Option, ...]
    input_mode: InputMode
    method: Method
    batch_size: int
    build: StylizerBuilder
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    complete: Callable[[dict[str, Any]], dict[str, Any]] = keep_options
    files: Callable[[Mapping[str, Any]], dict[str, list[str]]] | None = None
    validate: Validator | None = None
    companion: Callable[[Mapping[str, Any]], Companion | None] = no_companion

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

    def files_of(self, options: Mapping[str, Any]) -> dict[str, list[str]]:
        """URLs of the files this configuration reads (weights, style images, maps), per option:
        their content is part of the run's identity, so new weights at the same URL are a new
        configuration."""
        if self.files is not None:
            return self.files(options)
        return {o.name: [str(options[o.name])] if options.get(o.name) else [] for o in self.options if o.is_url}

    def check(self, options: Mapping[str, Any], storage_options: Mapping[str, Any]) -> None:
        """The driver's check before any work (the operator's `validate`, else: its files exist)."""
        if self.validate is not None:
            self.validate(options, storage_options)
            return
        for urls in self.files_of(options).values():
            for url in urls:
                require_file(url, storage_options)
