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


def companion_url(input_url: str, input_root: str, suffix: str, prefix: str) -> str:
    """Where an input's companion image is: PREFIX/<rel>/<name>.png with a prefix, else
    <name><suffix>.png beside the input."""
    stem = posixpath.splitext(input_url)[0]
    if not prefix:
        return stem + suffix + ".png"
    root = input_root.rstrip("/") + "/"
    relative = stem[len(root) :] if stem.startswith(root) else posixpath.basename(stem)  # INPUT may be one file
    return join_url(prefix, relative + ".png")


def is_companion(path: str, suffix: str) -> bool:
    """Whether a file is a companion image (<name><suffix>.<ext>) rather than an input."""
    return posixpath.splitext(posixpath.splitext(path)[0])[1].lower() == suffix
