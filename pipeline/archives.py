"""Frame archives (.tar, .zip) as inputs: each image member is a record named `zip://member::archive-url`."""
from __future__ import annotations

import posixpath
from typing import Any, Mapping

import fsspec

from pipeline.codecs import IMAGE_EXTENSIONS
from pipeline.storage import filesystem

ARCHIVE_PROTOCOLS = {".zip": "zip", ".tar": "tar"}


def archive_protocol(path: str) -> str | None:
    """'zip' or 'tar' for an archive path, None for anything else."""
    return ARCHIVE_PROTOCOLS.get(posixpath.splitext(path)[1].lower())


def open_archive(fs: fsspec.AbstractFileSystem, path: str) -> fsspec.AbstractFileSystem:
    """A read-only filesystem over the archive's members."""
    return fsspec.filesystem(archive_protocol(path), fo=fs.open(path, "rb"))


def image_members(fs: fsspec.AbstractFileSystem, path: str) -> list[str]:
    """Image members of an archive, sorted by name."""
    members = open_archive(fs, path).find("")
    return sorted(m for m in members if posixpath.splitext(m)[1].lower() in IMAGE_EXTENSIONS)


def member_url(archive_url: str, member: str) -> str:
    """fsspec's chained form: zip://frames/0001.png::s3://bucket/clip.zip."""
    return f"{archive_protocol(archive_url)}://{member}::{archive_url}"


def split_member_url(url: str) -> tuple[str, str] | None:
    """(member, archive URL) of a member URL, or None for a plain URL."""
    head, sep, archive = url.partition("::")
    protocol, _, member = head.partition("://")
    if not sep or protocol not in ARCHIVE_PROTOCOLS.values():
        return None
    return member, archive


def read_member(url: str, storage_options: Mapping[str, Any], opened: dict[str, Any]) -> bytes:
    """Bytes of an archive member; `opened` keeps archives open across the members of one batch."""
    member, archive = split_member_url(url)
    if archive not in opened:
        fs, path = filesystem(archive, storage_options)
        opened[archive] = open_archive(fs, path)
    return opened[archive].cat_file(member)
