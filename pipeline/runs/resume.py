"""What earlier runs into an OUTPUT already did, so that a rerun does only the rest.

An input is done when a run with the same config converted (or skipped) the same version of it (its
URL, size and ETag or mtime) and its output still exists. The record of that is one compact state
file per config (`_manifest/state/<config hash>.parquet`: one key per input version), folded in at
the end of every run, so a rerun reads one file however many runs came before. Outputs written by a
killed run after its last manifest part are recognised by the stamp each output carries (config
hash, input, version), never converted twice.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import posixpath
import time
from collections import OrderedDict
from typing import Any, Callable, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.codecs import read_stamp
from pipeline.runs.layout import RunLayout
from pipeline.runs.manifest import finish_killed_runs
from pipeline.runs.status import DONE, Status
from pipeline.storage import PARTIAL_SUFFIX, atomic_writer, key_of, to_url

STALE_PARTIAL_SECONDS = 120  # a write in progress is younger: this run's own, or a clock apart
log = logging.getLogger(__name__)


def input_version(info: Mapping[str, Any]) -> str:
    """Size plus ETag (object stores) or modification time (disks) of a listed object: it changes
    when the input is replaced in place."""
    tag = info.get("ETag") or info.get("etag") or info.get("mtime") or info.get("LastModified") or ""
    return f"{info.get('size', '')}:{str(tag).strip(chr(34))}"


def done_key(inputs: pa.Array, versions: pa.Array) -> pa.Array:
    """One string per (input, version): what the state holds."""
    return pc.binary_join_element_wise(inputs, versions, "\n")


def output_stamp(config_hash: str, input_url: str, version: str) -> str:
    """What an output carries to say which config made it from which input version."""
    digest = hashlib.sha256(f"{input_url}\n{version}".encode()).hexdigest()[:24]
    return f"stylebatch {config_hash} {digest}"


def image_stamp(fs: Any, path: str) -> str:
    """The stamp an image output carries ("" if none, or not a whole image)."""
    return read_stamp(fs.cat_file(path))


def load_done(layout: RunLayout, config_hash: str) -> pa.Array:
    """The done keys of `config_hash` (empty when no run with it finished; a corrupt state is
    skipped with a warning and rebuilt by this run)."""
    fs, path = layout.fs(layout.state(config_hash))
    try:
        with fs.open(path, "rb") as f:
            return pq.read_table(f)["key"].combine_chunks()
    except FileNotFoundError:
        return pa.array([], pa.string())
    except (OSError, pa.ArrowException, KeyError) as exc:
        log.warning("skipping unreadable resume state %s (%s); its inputs count as not done", to_url(fs, path), exc)
        return pa.array([], pa.string())


def fold_into_state(layout: RunLayout, manifests: list[str]) -> None:
    """Add the done rows of run `manifests` to the state of each config they name, atomically.
    Each manifest is folded once: at the end of its run, or by the next run if it was killed."""
    fs = layout.fs(layout.manifest_dir)[0]
    by_config: dict[str, list[pa.Array]] = {}
    for path in manifests:
        try:
            with fs.open(path, "rb") as f:
                table = pq.read_table(f, columns=["input", "input_version", "status", "config_hash"])
        except (OSError, pa.ArrowException) as exc:  # unreadable, or from a release without input versions
            log.warning("not resuming from %s (%s); its inputs count as not done", to_url(fs, path), exc)
            continue
        table = table.filter(pc.is_in(table["status"], value_set=pa.array([status.value for status in DONE])))
        for config_hash in pc.unique(table["config_hash"]).to_pylist():
            rows = table.filter(pc.equal(table["config_hash"], config_hash))
            by_config.setdefault(config_hash, []).append(done_key(rows["input"], rows["input_version"]).combine_chunks())
    for config_hash, keys in by_config.items():
        merged = pc.unique(pa.chunked_array([load_done(layout, config_hash), *keys]).combine_chunks())
        with atomic_writer(fs, layout.fs(layout.state(config_hash))[1]) as f:
            pq.write_table(pa.table({"key": merged}), f)


def fold_runs(layout: RunLayout, current_run: str, manifests: list[str]) -> None:
    """Fold `manifests` into the state, with those of runs killed before they could fold their own
    (any run but `current_run` that left manifest parts)."""
    fold_into_state(layout, [*manifests, *finish_killed_runs(layout, current_run)])


Stamped = Callable[[Any, str, str], bool]


def stamped_image(fs: Any, path: str, stamp: str) -> bool:
    """Whether the image at `path` carries `stamp`."""
    return image_stamp(fs, path) == stamp


class ResumeCheck:
    """Marks listed inputs (images, or a video's segments) that are done as `skipped`: in the state
    of this config with their output present, or not in it but with an output that `stamped` says
    this config made from this input version (a killed run's).

    An image run loads it in the listing task, so the driver never holds the done keys and the run
    starts no task of its own for the fold."""

    def __init__(self, config_hash: str, run_id: str, layout: RunLayout, stamped: Stamped = stamped_image,
                 fold: bool = True) -> None:
        self.config_hash, self.run_id, self.layout, self.stamped = config_hash, run_id, layout, stamped
        self.fold = fold  # False for a dry run, which writes nothing: a killed run's outputs are known by their stamps
        self._known: pa.Array | None = None
        self._index: OutputIndex | None = None

    def load(self) -> ResumeCheck:
        """Fold the runs killed before they could fold their own into the state, then read what this
        config has done: the first step of a run's listing, before any row is checked."""
        if self.fold:
            fold_runs(self.layout, self.run_id, [])
        self._known = load_done(self.layout, self.config_hash)
        self._index = OutputIndex(self.layout.fs(self.layout.results)[0], stamped=self.stamped)
        return self

    def mark_done(self, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._known is None or self._index is None:
            raise RuntimeError("ResumeCheck.load() comes before mark_done()")
        keys = done_key(pa.array(rows["input"], pa.string()), pa.array(rows["input_version"], pa.string()))
        known = pc.is_in(keys, value_set=self._known).to_numpy(zero_copy_only=False)
        statuses = rows["status"].copy()
        for i, status in enumerate(statuses):
            if status != Status.PENDING:
                continue
            path = self._index.path_of(str(rows["output"][i]))
            if known[i]:
                done = self._index.exists(path)
            else:  # only then is the output read: to see whether a killed run wrote it
                done = self._index.stamped(path, output_stamp(self.config_hash, str(rows["input"][i]),
                                                              str(rows["input_version"][i])))
            if done:
                statuses[i] = Status.SKIPPED.value
        return {**rows, "status": statuses}


class OutputIndex:
    """Which outputs exist, one directory listing at a time (on S3 one request per 1,000 keys, never
    one per input); the most recently used directories are kept. Temporary files that killed runs
    left in a listed directory (`.partial`, older than `stale_before`) are deleted on the way."""

    def __init__(self, fs: Any, keep: int = 64, stale_before: float | None = None,
                 stamped: Stamped = stamped_image) -> None:
        self.fs, self.keep, self._stamped = fs, keep, stamped
        self.stale_before = time.time() - STALE_PARTIAL_SECONDS if stale_before is None else stale_before
        self.listed: OrderedDict[str, set[str]] = OrderedDict()

    def path_of(self, url: str) -> str:
        return key_of(self.fs, url)

    def exists(self, path: str) -> bool:
        folder, name = posixpath.split(path)
        if folder not in self.listed:
            try:
                entries = self.fs.ls(folder, detail=True)
            except (FileNotFoundError, NotADirectoryError):
                entries = []
            names = set()
            for entry in entries:
                if entry["name"].endswith(PARTIAL_SUFFIX) and (entry.get("mtime") or 0) < self.stale_before:
                    with contextlib.suppress(OSError):
                        self.fs.rm_file(entry["name"])  # this run holds the lease: nobody else writes here
                    continue
                names.add(posixpath.basename(entry["name"].rstrip("/")))
            self.listed[folder] = names
            if len(self.listed) > self.keep:
                self.listed.popitem(last=False)
        self.listed.move_to_end(folder)
        return name in self.listed[folder]

    def stamped(self, path: str, stamp: str) -> bool:
        """The output exists and carries `stamp` (written by this config from this input version)."""
        if not self.exists(path):
            return False
        try:
            return self._stamped(self.fs, path, stamp)
        except OSError:
            return False
