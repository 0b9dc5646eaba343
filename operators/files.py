"""Files an operator reads (weights, style images, maps) from any fsspec URL, through a node-local
cache checked against the store. Torch-free: the pipeline's CPU tasks import it."""
from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import Any, Iterator, Mapping

import fsspec
from filelock import FileLock

from operators.errors import ConfigError

CACHE_ENV = "STYLEBATCH_CACHE"


def cache_dir() -> Path:
    """The node-local folder where remote weight files are kept between runs."""
    return Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "stylebatch")) / "weights"


@contextlib.contextmanager
def _storage_errors(url: str) -> Iterator[None]:
    """Missing or unreadable files as one ConfigError saying what to check."""
    try:
        yield
    except FileNotFoundError:
        raise ConfigError(f"no file at {url}: check the URL (and --storage-option for its store)") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {url}: {exc}") from None


def read_bytes(url: str, storage_options: Mapping[str, Any] | None = None) -> bytes:
    """Return a file's bytes; remote files go through the node-local cache checked against the store."""
    with _storage_errors(url), open(local_copy(url, storage_options), "rb") as f:
        return f.read()


def local_copy(url: str, storage_options: Mapping[str, Any] | None = None) -> str:
    """A path on this node holding the file's content: a local file itself, a remote one's cache entry
    (downloaded when missing or when the store's ETag changed)."""
    protocol, path = fsspec.core.split_protocol(url)
    with _storage_errors(url):
        if protocol in (None, "file", "local"):
            if not os.path.isfile(path):
                raise FileNotFoundError(path)
            return path
        folder = cache_dir()
        folder.mkdir(parents=True, exist_ok=True)
        # One process of the node fills an entry at a time: fsspec downloads into the entry itself,
        # so a second download would truncate the file under a process reading it.
        with FileLock(str(folder / f"{hashlib.sha256(url.encode()).hexdigest()[:16]}.lock")):
            return fsspec.open_local(f"filecache::{url}", "rb",
                                     filecache={"cache_storage": str(folder), "check_files": True},
                                     **{protocol: dict(storage_options or {})})


def require_file(url: str, storage_options: Mapping[str, Any] | None = None) -> None:
    """A ConfigError unless a file exists at `url` (nothing is read)."""
    with _storage_errors(url):
        fs, path = fsspec.core.url_to_fs(url, **dict(storage_options or {}))
        if not fs.isfile(path):
            raise FileNotFoundError(path)


def fingerprint(url: str, storage_options: Mapping[str, Any] | None = None) -> str:
    """SHA-256 of a file's content, so that a changed file at the same URL is a new config.
    Hashed in chunks from the node-local copy: a large file is never held in memory."""
    digest = hashlib.sha256()
    with open(local_copy(url, storage_options), "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
