"""Output keys: INPUT/<rel>/<name>.<ext> becomes OUTPUT/<rel>/<name>.<format>, never outside OUTPUT."""
from __future__ import annotations

import posixpath
import unicodedata


class KeyRejected(Exception):
    """The input's name would leave the output prefix or cannot be stored safely."""


def output_relpath(relpath: str, fmt: str) -> str:
    """The output path relative to OUTPUT for an input path relative to INPUT."""
    if not relpath or relpath.startswith(("/", "\\")) or "\\" in relpath:
        raise KeyRejected(f"unsafe name {relpath!r}: absolute or backslash paths are not written")
    parts = relpath.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise KeyRejected(f"unsafe name {relpath!r}: '..', '.' or empty path parts would leave the output prefix")
        if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in part):
            raise KeyRejected(f"unsafe name {relpath!r}: control or invisible characters; rename the input")
    stem = posixpath.splitext(parts[-1])[0] or parts[-1]
    return "/".join([*parts[:-1], f"{stem}.{fmt}"])


def join_url(prefix: str, relpath: str) -> str:
    """OUTPUT prefix plus a relative path, with exactly one slash between."""
    return prefix.rstrip("/") + "/" + relpath
