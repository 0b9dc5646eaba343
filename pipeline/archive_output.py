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
from pipeline.keys import WORK_SUFFIX
from pipeline.manifest import MANIFEST_DIR
from pipeline.report.card import REPORT_DIR
from pipeline.storage import PARTIAL_SUFFIX, atomic_writer, filesystem


def archive_work_area(output: str) -> str:
    """Where an archive run keeps its images and manifests before (and after) packing."""
    if archive_protocol(output) is None:
        raise ConfigError(f"--archive writes one archive: OUTPUT must end in .zip or .tar, not {output}")
    return output + WORK_SUFFIX


def pack(work: str, output: str, storage_options: Mapping[str, Any]) -> int:
    """Write every image under `work` (manifests and reports left out) into the archive `output`; returns the member count.

    The archive appears whole or not at all (see `storage.atomic_writer`).
    """
    fs, root = filesystem(work, storage_options)
    records = (MANIFEST_DIR + "/", REPORT_DIR + "/")  # the run's own records stay in the work area
    files = sorted(p for p in fs.find(root) if not p[len(root) + 1 :].startswith(records)
                   and not p.endswith(PARTIAL_SUFFIX))
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

