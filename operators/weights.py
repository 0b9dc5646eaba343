"""Loading PyTorch checkpoints safely (`weights_only=True`) and checking them against a network
without building it."""
from __future__ import annotations

import pickle
from typing import Any, Callable, Mapping

import torch

from operators.errors import ConfigError
from operators.files import local_copy
from operators.spec import Validator


def load_state_dict(url: str, storage_options: Mapping[str, Any] | None = None) -> dict[str, torch.Tensor]:
    """Load a PyTorch state dict with `weights_only=True`; pickled code is refused. Tensors are
    memory-mapped from the node-local copy where the file allows it, so a check that reads only
    keys and shapes costs no memory."""
    path = local_copy(url, storage_options)
    try:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:  # files of the legacy (pre-zip) format cannot be mapped
            if "mmap" not in str(exc):
                raise
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = str(exc).splitlines()[0]
        raise ConfigError(
            f"refusing {url}: it holds pickled Python objects, not only tensors ({reason}); "
            "load it in a trusted session and re-save with torch.save(model.state_dict(), path)"
        ) from None
    except Exception as exc:  # torch.load raises many types on files that are not checkpoints
        raise ConfigError(
            f"{url} is not a PyTorch checkpoint ({type(exc).__name__}: {exc}); pass a .pt/.pth state dict"
        ) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError(f"{url} is not a state dict of tensors; save it with torch.save(model.state_dict(), path)")
    return state


def load_into(model: torch.nn.Module, state: Mapping[str, torch.Tensor], url: str) -> None:
    """Load a state dict strictly, turning key or shape mismatches into one clear ConfigError."""
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = " ".join(str(exc).split())[:400]
        raise ConfigError(
            f"{url} does not fit {type(model).__name__}: {first}; is it a checkpoint for this operator?"
        ) from None


def check_checkpoint(network: Callable[[], torch.nn.Module], url: str, storage_options: Mapping[str, Any],
                     adapt: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] = dict) -> None:
    """A ConfigError unless the checkpoint at `url` (after `adapt`) has exactly the network's keys
    and shapes. The network is made on the meta device and the file is memory-mapped: nothing is
    allocated or read but the keys and shapes."""
    with torch.device("meta"):
        model = network()
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in adapt(load_state_dict(url, storage_options)).items()}
    problems = [f"missing {k}" for k in expected if k not in found]
    problems += [f"unexpected {k}" for k in found if k not in expected]
    problems += [f"{k} is {found[k]}, not {expected[k]}" for k in expected if k in found and found[k] != expected[k]]
    if problems:
        more = f" and {len(problems) - 3} more" if len(problems) > 3 else ""
        raise ConfigError(f"{url} does not fit {type(model).__name__}: {'; '.join(problems[:3])}{more}; "
                          "is it a checkpoint for this operator?")


def weights_check(network: Callable[[], torch.nn.Module],
                  url_of: Callable[[Mapping[str, Any]], str] = lambda options: options["weights"],
                  adapt: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] = dict) -> Validator:
    """An operator's driver-side check (`OperatorSpec.validate`): the checkpoint its options name has
    exactly `network`'s keys and shapes, found without building the network."""

    def check(options: Mapping[str, Any], storage_options: Mapping[str, Any]) -> None:
        check_checkpoint(network, url_of(options), storage_options, adapt)

    return check

