"""What an INPUT holds and how one input is read: the kinds of source, kept at the edges of the chain.

Listing asks a `Source` which inputs a listed file holds (an image file is one input; a `.zip` or
`.tar` is one input per image member, or one failed row; an operator's companion image beside an
input is none). Reading asks it for one input's pixels (an object by its exact key, or a member
through its archive, plus the companion image's channels when the operator takes one). The
listing loop and the decode step never branch on the kind themselves.
"""
from __future__ import annotations

import functools
import posixpath
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, NamedTuple

import numpy as np
from PIL import Image

from operators.spec import Companion
from pipeline.archives import (
    DEFAULT_MAX_MEMBER_BYTES,
    ArchiveError,
    ArchiveReader,
    archive_of,
    archive_protocol,
    list_members,
    member_url,
)
from pipeline.codecs import DEFAULT_DECODE_SECONDS, DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS, DecodeError, decode_image
from pipeline.keys import companion_url, is_companion
from pipeline.metadata import kept_exif
from pipeline.storage import filesystem, key_of, to_url


class Found(NamedTuple):
    """One input a listed file holds: its URL, the member of an archive (or ""), its path relative
    to INPUT (what its output key mirrors), and why it cannot be converted (or "")."""

    url: str
    member: str
    relpath: str
    problem: str = ""


@dataclass(frozen=True)
class Source:
    """The inputs below one INPUT root and how each is read: archives expand into members, an
    operator's companion images go with their inputs instead of being inputs."""

    root: str
    storage_options: Mapping[str, Any]
    companion: Companion | None = None
    max_member_bytes: int = DEFAULT_MAX_MEMBER_BYTES

    def found_in(self, fs: Any, path: str, base: str) -> Iterator[Found]:
        """The inputs the file `path` holds (`base`: the folder that relative paths start from)."""
        url = to_url(fs, path)
        if archive_protocol(path):
            try:
                members = list_members(fs, path)
            except ArchiveError as exc:
                yield Found(url, "", "", str(exc))
                return
            for member in members:  # an archive's members mirror into OUTPUT/<archive name>/
                yield Found(member_url(url, member.name), member.name,
                            f"{posixpath.splitext(path)[0]}/{member.name}"[len(base) + 1 :], member.problem)
        elif self.is_image(path):
            yield Found(url, "", path[len(base) + 1 :])

    def is_image(self, path: str) -> bool:
        """An image file that is an input (a companion kept beside its input is not)."""
        return posixpath.splitext(path)[1].lower() in IMAGE_EXTENSIONS and not (
            self._sibling_suffix and is_companion(path, self._sibling_suffix))

    @functools.cached_property
    def _sibling_suffix(self) -> str:
        """The suffix of companion images kept beside their inputs ("" when there are none): asked
        once per listed file, so worked out once."""
        return self.companion.suffix if self.companion and not self.companion.prefix else ""

    @property
    def channels(self) -> int:
        """Channels a decoded input has beyond the operator's own mode (the companion's)."""
        return self.companion.channels if self.companion else 0

    def reader(self) -> Reader:
        """A reader for one task's inputs (it keeps the archives it opened)."""
        fs = filesystem(self.root, self.storage_options)[0]
        return Reader(self, fs, ArchiveReader(fs, self.max_member_bytes))


@dataclass(frozen=True)
class Decoding:
    """How an input's bytes become the model's pixels: its mode and the run's limits."""

    input_mode: str
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_side: int = 0
    max_decode_seconds: float = DEFAULT_DECODE_SECONDS
    keep_metadata: str = "none"  # which EXIF outputs carry (`metadata.KEEP`)

    @property
    def channels(self) -> int:
        return 3 if self.input_mode == "RGB" else 1


class Reader:
    """Reads inputs of one `Source` through the filesystem of its root, by their exact keys."""

    def __init__(self, source: Source, fs: Any, archives: ArchiveReader) -> None:
        self.source, self.fs, self.archives = source, fs, archives

    def image(self, url: str, member: str, decoding: Decoding) -> np.ndarray:
        """An input decoded to an upright (H, W, C) uint8 array, its companion's channels appended.
        Raises DecodeError or ArchiveError (the input is bad) or a storage error (out of reach)."""
        return self.image_and_metadata(url, member, decoding)[0]

    def image_and_metadata(self, url: str, member: str, decoding: Decoding) -> tuple[np.ndarray, bytes]:
        """`image`, and the EXIF block its output keeps (`decoding.keep_metadata`; b"" for none)."""
        data = (self.archives.read(key_of(self.fs, archive_of(url, member)), member) if member
                else self.fs.cat_file(key_of(self.fs, url)))
        image = decode_image(data, decoding.input_mode, decoding.max_pixels, decoding.max_side,
                             decoding.max_decode_seconds)
        companion = self.source.companion
        if companion:
            image = np.concatenate([image, self._companion(url, image.shape, companion)], -1)
        return image, kept_exif(data, decoding.keep_metadata)

    def _companion(self, url: str, shape: tuple[int, ...], companion: Companion) -> np.ndarray:
        """The input's companion image as (H, W, C) uint8 at the image's size, resized with
        nearest-neighbour sampling (a map's colours stay its colours)."""
        location = companion_url(url, self.source.root, companion.suffix, companion.prefix)
        try:
            fs = filesystem(companion.prefix or self.source.root, self.source.storage_options)[0]
            image = decode_image(fs.cat_file(key_of(fs, location)), companion.mode)
        except (FileNotFoundError, DecodeError) as exc:
            raise DecodeError(f"no usable {companion.what} at {location} ({exc}); {companion.hint}") from None
        if image.shape[:2] != shape[:2]:
            resized = Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image)
            image = np.asarray(resized.resize((shape[1], shape[0]), Image.NEAREST)).reshape(shape[0], shape[1], -1)
        return image
