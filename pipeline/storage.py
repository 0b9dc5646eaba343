"""fsspec URLs and their storage options: AWS_* settings made explicit so Ray workers get them."""
from __future__ import annotations

import contextlib
import errno
import json
import os
import posixpath
import secrets
import shutil
from typing import IO, Any, Iterator, Mapping

import fsspec
from botocore.exceptions import BotoCoreError
from fsspec.core import split_protocol, url_to_fs

S3_PROTOCOLS = ("s3", "s3a")
# botocore's own retries: throttling (503 SlowDown), 500s, dropped connections and read timeouts are
# retried with exponential backoff; `--storage-option 'config_kwargs={"retries": {"mode": "adaptive"}}'`
S3_CLIENT_CONFIG = {"retries": {"mode": "standard", "max_attempts": 8}, "connect_timeout": 10, "read_timeout": 60}
STORAGE_ERRORS = (OSError, BotoCoreError)  # what a store raises once its client has given up
PARTIAL_SUFFIX = ".partial"  # a write in progress (or killed) on a local disk: never an input or an output


def parse_storage_options(pairs: list[str]) -> dict[str, Any]:
    """`KEY=VALUE` strings to a dict; JSON values (numbers, true/false, objects) are decoded."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--storage-option {pair!r}: use KEY=VALUE, e.g. endpoint_url=http://127.0.0.1:9000")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def options_for(url: str, user_options: Mapping[str, Any]) -> dict[str, Any]:
    """Storage options for `url`. For S3: the endpoint and region from the standard AWS_* variables
    (not secrets), botocore's standard retry mode with backoff and bounded timeouts, then the
    user's options (`config_kwargs` merged key by key). Credentials are never copied into options:
    every process (driver and tasks) asks the standard AWS chain itself, so temporary credentials
    refresh and no secret travels in task arguments or Ray's runtime env."""
    protocol = split_protocol(url)[0]
    if protocol not in S3_PROTOCOLS:
        return {} if protocol in (None, "file", "local") else dict(user_options)
    env = os.environ
    options: dict[str, Any] = {}
    if env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL"):
        options["endpoint_url"] = env.get("AWS_ENDPOINT_URL_S3") or env["AWS_ENDPOINT_URL"]
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region:
        options["client_kwargs"] = {"region_name": region}
    options.update(user_options)
    options["config_kwargs"] = {**S3_CLIENT_CONFIG, **dict(user_options.get("config_kwargs") or {})}
    return options


def filesystem(url: str, options: Mapping[str, Any]) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem for `url` and the path within it (no trailing slash).

    fsspec reuses filesystem instances (and their listing caches) within a process; a Ray
    worker or driver lives across runs, so listings are always taken fresh.
    """
    fs, path = url_to_fs(url, **options)
    fs.invalidate_cache()
    return fs, path.rstrip("/") or path


class StoreRefused(OSError):
    """A store refused a write for a reason that refuses every other write too (a full disk, access
    denied, a read-only filesystem): a run stops at once instead of failing its inputs one by one.
    Its message is the line a user reads."""

    def __init__(self, line: str, code: int | None = None) -> None:
        super().__init__(code, line)
        self.line = line

    def __str__(self) -> str:
        return self.line


def refusal(exc: OSError, url: str, reading: bool = False) -> str | None:
    """The line saying why writing (or `reading`) `url` failed, when every other write to its store
    would fail the same way (full, read-only, access denied); None for an error of this one object
    (a retry or another key may succeed)."""
    if isinstance(exc, StoreRefused):
        return exc.line
    protocol, path = split_protocol(url)
    verb, access, action = ("reading", "read", "s3:GetObject") if reading else ("writing", "write", "s3:PutObject")
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (f"no space left on device: the filesystem at {mount_point(path)} is full ({verb} {url}); "
                "free space there or give another OUTPUT")
    if exc.errno == errno.EROFS:
        return f"the filesystem at {mount_point(path)} is read-only ({verb} {url})"
    if isinstance(exc, PermissionError) or exc.errno in (errno.EACCES, errno.EPERM):
        if protocol in S3_PROTOCOLS:
            return (f"access denied: {action} refused on bucket {path.split('/', 1)[0]} ({verb} {url}); "
                    f"give these credentials {access} access to it")
        return f"permission denied {verb} {url}: check its owner and permissions"
    return None


def mount_point(path: str) -> str:
    """The mount point of the local filesystem that holds `path` (or would, once written)."""
    path = os.path.abspath(path)
    while not os.path.ismount(path):
        path = os.path.dirname(path)
    return path


@contextlib.contextmanager
def refusals_raised(fs: fsspec.AbstractFileSystem, path: str) -> Iterator[None]:
    """Raise StoreRefused for an error writing `path` that every other write would meet too."""
    try:
        yield
    except OSError as exc:
        line = refusal(exc, to_url(fs, path))
        if line is None or isinstance(exc, StoreRefused):
            raise
        raise StoreRefused(line, exc.errno) from exc


@contextlib.contextmanager
def atomic_writer(fs: fsspec.AbstractFileSystem, path: str) -> Iterator[IO[bytes]]:
    """A binary file that appears at `path` whole or not at all (StoreRefused where the store takes no
    writes). An object store's PUT (and a multipart upload, completed on close) is atomic already;
    on a local or NFS disk the bytes go to a hidden temporary name in the same folder and are
    renamed into place, so a killed write or a full disk never leaves a truncated file that a later
    run would trust."""
    with refusals_raised(fs, path), _whole_or_nothing(fs, path) as f:
        yield f


@contextlib.contextmanager
def _whole_or_nothing(fs: fsspec.AbstractFileSystem, path: str) -> Iterator[IO[bytes]]:
    if not is_local(fs):
        with fs.open(path, "wb") as f:
            yield f
        return
    folder = posixpath.dirname(path) or "/"
    fs.makedirs(folder, exist_ok=True)
    partial = posixpath.join(folder, f".{posixpath.basename(path)}.{secrets.token_hex(4)}{PARTIAL_SUFFIX}")
    try:
        with open(partial, "wb") as f:
            yield f
        os.replace(partial, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(partial)


def write_bytes(url: str, data: bytes, options: Mapping[str, Any]) -> None:
    """Write one object whole (see `atomic_writer`)."""
    fs, path = filesystem(url, options)
    with atomic_writer(fs, path) as f:
        f.write(data)


def put_file(local_path: str, url: str, options: Mapping[str, Any]) -> None:
    """Copy a local file to `url` whole (see `atomic_writer`)."""
    fs, path = filesystem(url, options)
    if not is_local(fs):
        with refusals_raised(fs, path):
            fs.put_file(local_path, path)  # uploads whole, in parts where large
        return
    with atomic_writer(fs, path) as f, open(local_path, "rb") as source:
        shutil.copyfileobj(source, f, 1 << 20)


def is_local(fs: fsspec.AbstractFileSystem) -> bool:
    """Whether `fs` is the local disk (where folders must exist before files are written)."""
    protocols = fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,)
    return "file" in protocols


def to_url(fs: fsspec.AbstractFileSystem, path: str) -> str:
    """A path of `fs` as a URL users recognise: plain for local files, protocol://path otherwise."""
    if is_local(fs):
        return path
    protocol = fs.protocol[0] if isinstance(fs.protocol, (tuple, list)) else fs.protocol
    return f"{protocol}://{path}"


def key_of(fs: fsspec.AbstractFileSystem, url: str) -> str:
    """The exact path in `fs` of a URL made by `to_url` (or a root URL a user gave): the protocol
    prefix cut off, nothing in the name interpreted (`::`, `://`, `~` are data)."""
    protocols = fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,)
    for protocol in protocols:
        if url.startswith(f"{protocol}://"):
            return url[len(protocol) + 3 :]
    return url


def normalise(url: str) -> str:
    """Local paths made absolute (Ray workers may run elsewhere); URLs unchanged, trailing / dropped."""
    protocol = split_protocol(url)[0]
    if protocol in (None, "file", "local"):
        return os.path.abspath(os.path.expanduser(split_protocol(url)[1]))
    return url.rstrip("/")
