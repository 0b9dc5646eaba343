"""`convert --archive`: a run writes into OUTPUT.work/ (its resume state), then every image there is
packed, streamed, into the one archive OUTPUT (.zip or .tar), under its mirrored name."""
from __future__ import annotations

import io
import tarfile
import time
import zipfile
from collections.abc import Mapping
from typing import Any

from operators.errors import ConfigError
from pipeline.archives import archive_protocol
from pipeline.runs.layout import RunLayout
from pipeline.storage import PARTIAL_SUFFIX, atomic_writer, filesystem


def check_archive_output(output: str) -> None:
    """ConfigError unless OUTPUT names an archive that `pack` can write."""
    if archive_protocol(output) is None:
        raise ConfigError(f"--archive writes one archive: OUTPUT must end in .zip or .tar, not {output}")


def pack(layout: RunLayout, storage_options: Mapping[str, Any]) -> int:
    """Write every image of an archive run's work area (its records left out) into the archive
    OUTPUT; returns the member count. The archive appears whole or not at all (see
    `storage.atomic_writer`)."""
    output = layout.output
    fs, root = layout.fs(layout.results)
    files = sorted(p for p in fs.find(root) if not layout.is_record(p[len(root) + 1 :]) and not p.endswith(PARTIAL_SUFFIX))
    out_fs, out_path = filesystem(output, storage_options)
    with atomic_writer(out_fs, out_path) as sink:
        if archive_protocol(output) == "zip":
            with zipfile.ZipFile(sink, "w", zipfile.ZIP_STORED) as archive:
                for path in files:
                    info = zipfile.ZipInfo(path[len(root) + 1 :], time.localtime()[:6])
                    archive.writestr(info, fs.cat_file(path))
        else:
            with tarfile.open(fileobj=sink, mode="w|") as archive:
                for path in files:
                    data = fs.cat_file(path)
                    info = tarfile.TarInfo(path[len(root) + 1 :])
                    info.size, info.mtime = len(data), int(time.time())
                    archive.addfile(info, io.BytesIO(data))
    return len(files)

