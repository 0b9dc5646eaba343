"""Reading weight files from any fsspec URL, cached per node, and loading them safely."""
from __future__ import annotations

import hashlib
import io
import os
import pickle
from pathlib import Path
from typing import Any, Mapping

import fsspec
import torch

from operators.errors import ConfigError

CACHE_ENV = "STYLEBATCH_CACHE"


def cache_dir() -> Path:
    """The node-local folder where remote weight files are kept between runs."""
    return Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "stylebatch")) / "weights"


def read_bytes(url: str, storage_options: Mapping[str, Any] | None = None) -> bytes:
    """Return a file's bytes; remote files go through a node-local cache checked against the store."""
    protocol = fsspec.core.split_protocol(url)[0] or "file"
    options = dict(storage_options or {})
    try:
        if protocol in ("file", "local"):
            with fsspec.open(url, "rb") as f:
                return f.read()
        cached = f"filecache::{url}"
        with fsspec.open(
            cached,
            "rb",
            filecache={"cache_storage": str(cache_dir()), "check_files": True},
            **{protocol: options},
        ) as f:
            return f.read()
    except FileNotFoundError:
        raise ConfigError(f"no file at {url}: check the URL (and --storage-option for its store)") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {url}: {exc}") from None


def fingerprint(url: str, storage_options: Mapping[str, Any] | None = None) -> str:
    """SHA-256 of a file's content, so that a changed file at the same URL is a new config."""
    return hashlib.sha256(read_bytes(url, storage_options)).hexdigest()


def load_state_dict(url: str, storage_options: Mapping[str, Any] | None = None) -> dict[str, torch.Tensor]:
    """Load a PyTorch state dict with `weights_only=True`; pickled code is refused."""
    data = read_bytes(url, storage_options)
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
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
