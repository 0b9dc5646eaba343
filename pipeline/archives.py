"""Frame archives (.tar, .zip) as inputs, read with the standard library through the archive's own
filesystem: a member is its archive plus its exact name, never a URL chain.

What an upload may hold is refused member by member, each with its reason: links (never followed),
devices and fifos, encrypted members, nested archives, names stored twice; a member is read in
chunks up to a byte limit whatever its header says, so a zip bomb costs one failed row and no
more memory than the limit. An archive that cannot be read at all is one failed row.
"""
from __future__ import annotations

import posixpath
import stat
import tarfile
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass
from typing import IO, Any, Iterator

import fsspec

from pipeline.codecs import IMAGE_EXTENSIONS

ARCHIVE_PROTOCOLS = {".zip": "zip", ".tar": "tar"}
DEFAULT_MAX_MEMBER_BYTES = 256 << 20
CHUNK = 1 << 20
ARCHIVE_ERRORS = (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError, NotImplementedError, RuntimeError,
                  ValueError, KeyError, OSError)


class ArchiveError(Exception):
    """An archive or member that cannot be read safely; the message says why and what to do."""


@dataclass(frozen=True)
class Member:
    """An archive entry that is an input: an image to convert, or one refused with its `problem`."""

    name: str
    problem: str = ""


def archive_protocol(path: str) -> str | None:
    """'zip' or 'tar' for an archive path, None for anything else."""
    return ARCHIVE_PROTOCOLS.get(posixpath.splitext(path)[1].lower())


def member_url(archive_url: str, member: str) -> str:
    """How a member is named in the manifest (fsspec's chained form, zip://frames/0001.png::s3://bucket/clip.zip);
    a display name only: members are opened by `read_member`, never through this string."""
    return f"{archive_protocol(archive_url)}://{member}::{archive_url}"


def archive_of(input_url: str, member: str) -> str:
    """The archive URL inside a member's manifest name, cut at known lengths (never parsed)."""
    return input_url[len("zip://") + len(member) + len("::"):]


def list_members(fs: fsspec.AbstractFileSystem, path: str) -> list[Member]:
    """The entries of an archive that are inputs (images, or refused ones), sorted by name.

    Raises ArchiveError when the archive itself cannot be read."""
    try:
        with fs.open(path, "rb") as file:
            entries = list(_zip_entries(file) if archive_protocol(path) == "zip" else _tar_entries(file))
    except ARCHIVE_ERRORS as exc:
        raise ArchiveError(f"cannot read the archive ({type(exc).__name__}: {exc}); it is corrupt, truncated or "
                           "not a plain .zip/.tar: upload it again") from None
    counts = Counter(name for name, _ in entries)
    members = {}
    for name, problem in entries:
        extension = posixpath.splitext(name)[1].lower()
        if extension in ARCHIVE_PROTOCOLS:
            problem = problem or "a nested archive: extract it and convert its contents"
        elif extension not in IMAGE_EXTENSIONS:
            continue
        if counts[name] > 1:
            problem = f"the archive holds {counts[name]} members with this name; which one is meant is ambiguous"
        members[name] = Member(name, problem)
    return sorted(members.values(), key=lambda m: m.name)


def _zip_entries(file: IO[bytes]) -> Iterator[tuple[str, str]]:
    for info in zipfile.ZipFile(file).infolist():
        kind = stat.S_IFMT(info.external_attr >> 16) if info.create_system == 3 else 0  # Unix file type, if any
        if info.is_dir():
            continue
        if kind == stat.S_IFLNK:
            yield info.filename, "a symbolic link: links in archives are not followed"
        elif kind and kind != stat.S_IFREG:
            yield info.filename, "not a regular file (device, fifo or socket)"
        elif info.flag_bits & 0x1:
            yield info.filename, "encrypted: store it unencrypted"
        else:
            yield info.filename, ""


def _tar_entries(file: IO[bytes]) -> Iterator[tuple[str, str]]:
    with tarfile.open(fileobj=file, mode="r:") as archive:
        for info in archive:
            if info.isdir():
                continue
            if info.issym() or info.islnk():
                yield info.name, "a link (symbolic or hard): links in archives are not followed"
            elif not info.isreg():
                yield info.name, "not a regular file (device, fifo or socket)"
            else:
                yield info.name, ""
        file.seek(archive.offset)  # tarfile stops quietly at a cut header: look for tar's end marker
        end = file.read(2 * tarfile.BLOCKSIZE)
        if len(end) < 2 * tarfile.BLOCKSIZE or end.strip(b"\0"):
            raise EOFError(f"no end-of-archive marker after {archive.offset:,} bytes: the file is truncated")


class ArchiveReader:
    """Reads members of archives on one filesystem, keeping each archive open (and a tar's index)
    across the members of a batch."""

    def __init__(self, fs: fsspec.AbstractFileSystem, max_bytes: int = DEFAULT_MAX_MEMBER_BYTES) -> None:
        self.fs, self.max_bytes = fs, max_bytes
        self.opened: dict[str, zipfile.ZipFile | tuple[tarfile.TarFile, dict[str, tarfile.TarInfo]]] = {}

    def read(self, path: str, member: str) -> bytes:
        """A member's bytes; ArchiveError if it cannot be read, is not a plain file or inflates past the limit."""
        try:
            archive = self.opened.get(path) or self._open(path)
            if isinstance(archive, zipfile.ZipFile):
                stream = archive.open(member)
            else:
                tar, index = archive
                if not index[member].isreg():
                    raise ArchiveError("not a regular file: links in archives are not followed")
                stream = tar.extractfile(index[member])
            with stream:
                return _read_capped(stream, self.max_bytes)
        except ARCHIVE_ERRORS as exc:
            raise ArchiveError(f"cannot read this member of the archive ({type(exc).__name__}: {exc})") from None

    def _open(self, path: str) -> zipfile.ZipFile | tuple[tarfile.TarFile, dict[str, tarfile.TarInfo]]:
        file = self.fs.open(path, "rb")
        if archive_protocol(path) == "zip":
            archive: Any = zipfile.ZipFile(file)
        else:
            tar = tarfile.open(fileobj=file, mode="r:")
            archive = (tar, {info.name: info for info in tar})
        self.opened[path] = archive
        return archive


def _read_capped(stream: IO[bytes], max_bytes: int) -> bytes:
    chunks, total = [], 0
    while chunk := stream.read(min(CHUNK, max_bytes + 1 - total)):
        chunks.append(chunk)
        total += len(chunk)
        if total > max_bytes:
            raise ArchiveError(f"the member inflates past {max_bytes:,} bytes (--max-member-bytes): "
                               "a decompression bomb, or raise the limit")
    return b"".join(chunks)
