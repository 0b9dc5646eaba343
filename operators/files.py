"""Files an operator reads (weights, style images, maps) from any fsspec URL, through a node-local
cache checked against the store; any URL may pin its content (`URL#sha256=<hex>`), and plain
http must. Torch-free: the pipeline's CPU tasks import it."""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
from pathlib import Path
from typing import Any, Iterator, Mapping

import fsspec
from filelock import FileLock

from operators.errors import ConfigError

CACHE_ENV = "STYLEBATCH_CACHE"
PIN = "#sha256="
_DIGESTS: dict[tuple[str, int, int], str] = {}


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


def split_pin(url: str) -> tuple[str, str | None]:
    """(`url` without its pin, the pinned SHA-256 or None): `s3://b/paprika.pt#sha256=<64 hex digits>`."""
    base, sep, digest = url.rpartition(PIN)
    if not sep:
        return url, None
    if not re.fullmatch(r"[0-9a-fA-F]{64}", digest):
        raise ConfigError(f"{url}: a pin is {PIN} followed by the file's 64 hex digit SHA-256 (sha256sum FILE)")
    return base, digest.lower()


def _unpinned(url: str) -> tuple[str, str | None]:
    """`split_pin`, refusing plain http without a pin: anyone on the path could swap the file."""
    base, pin = split_pin(url)
    if fsspec.core.split_protocol(base)[0] == "http" and pin is None:
        raise ConfigError(f"{url}: plain http can be altered on the way; use https, or pin the file's "
                          f"content with {base}{PIN}<sha256>")
    return base, pin


def _sha256(path: str) -> str:
    """A local file's SHA-256, hashed in chunks and remembered while the file is unchanged."""
    stat = os.stat(path)
    key = (path, stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        _DIGESTS[key] = digest.hexdigest()
    return _DIGESTS[key]


def read_bytes(url: str, storage_options: Mapping[str, Any] | None = None) -> bytes:
    """Return a file's bytes; remote files go through the node-local cache checked against the store."""
    with _storage_errors(url), open(local_copy(url, storage_options), "rb") as f:
        return f.read()


def local_copy(url: str, storage_options: Mapping[str, Any] | None = None) -> str:
    """A path on this node holding the file's content: a local file itself, a remote one's cache entry
    (downloaded when missing or when the store's ETag changed); checked against the URL's pin."""
    url, pin = _unpinned(url)
    path = _local_copy(url, storage_options)
    if pin and _sha256(path) != pin and path != fsspec.core.split_protocol(url)[1]:
        os.remove(path)  # a cached copy of an older version (http servers give no ETag to check): fetch again
        path = _local_copy(url, storage_options)
    if pin and _sha256(path) != pin:
        raise ConfigError(f"{url}: its SHA-256 is {_sha256(path)} but the pin says {pin}: the file was changed "
                          "or the pin is wrong; nothing was run")
    return path


def _local_copy(url: str, storage_options: Mapping[str, Any] | None) -> str:
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
    url = _unpinned(url)[0]
    with _storage_errors(url):
        fs, path = fsspec.core.url_to_fs(url, **dict(storage_options or {}))
        if not fs.isfile(path):
            raise FileNotFoundError(path)


def fingerprint(url: str, storage_options: Mapping[str, Any] | None = None) -> str:
    """SHA-256 of a file's content, so that a changed file at the same URL is a new config.
    Hashed in chunks from the node-local copy: a large file is never held in memory."""
    return _sha256(local_copy(url, storage_options))
