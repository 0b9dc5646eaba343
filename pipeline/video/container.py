"""What OUTPUT's container can hold, checked before any frame: the video codec the run encodes with,
and the sound and subtitle streams the join copies (those it cannot hold are dropped, and said so)."""
from __future__ import annotations

import os
import posixpath
import tempfile
from collections.abc import Iterable

import av

from operators.errors import ConfigError

CODEC_OF_ENCODER = {"auto": "h264", "libx264": "h264", "h264_nvenc": "h264", "libx265": "hevc", "hevc_nvenc": "hevc"}
SUGGESTED = ".mp4, .mkv or .mov"


def container_codecs(output: str) -> tuple[str, set[str]]:
    """(FFmpeg's name of the container OUTPUT's extension chooses, the codecs it can hold)."""
    extension = posixpath.splitext(output.rstrip("/"))[1].lower()
    if not extension:
        raise ConfigError(f"OUTPUT {output} has no extension to choose a container by: end it with {SUGGESTED}")
    with tempfile.TemporaryDirectory() as folder:
        try:
            with av.open(os.path.join(folder, "probe" + extension), "w") as container:
                return container.format.name, set(container.supported_codecs or ())
        except (ValueError, av.FFmpegError):
            raise ConfigError(f"OUTPUT {output}: no video container goes by {extension}; use {SUGGESTED}") from None


def check_output_container(output: str, encoder: str, carried: Iterable[tuple[str, str]],
                           codec: str | None = None) -> list[str]:
    """Raise ConfigError when OUTPUT's container cannot hold the encoder's video (`codec` where the
    run chose it: HEVC for HDR kept); return the streams (as "audio aac") of `carried` that it
    cannot hold and the join will leave out."""
    name, codecs = container_codecs(output)
    video = codec or CODEC_OF_ENCODER.get(encoder, encoder)
    if video not in codecs and encoder not in codecs:
        raise ConfigError(f"OUTPUT {output}: the {name} container cannot hold {video} video (--encoder {encoder}); "
                          f"use {SUGGESTED}")
    return [f"{kind} {codec}" for kind, codec in carried if codec not in codecs]
