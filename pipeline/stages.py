"""The CPU steps of a run: list, read and decode, encode and write (the model step is `inference`).

Every row carries `status` (pending | skipped | failed | converted) and `error`; a step only
works on pending rows and turns its own failures into failed rows, so one bad input never
stops a batch. Nothing here imports torch, so the many short-lived task workers start fast.
"""
from __future__ import annotations

import itertools
import posixpath
import time
from typing import Any, Iterator, Mapping

import numpy as np
import pyarrow as pa
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
from pipeline.codecs import DEFAULT_DECODE_SECONDS, IMAGE_EXTENSIONS, DecodeError, decode_image, encode_image
from pipeline.keys import KeyRejected, companion_url, is_companion, join_url, output_relpath
from pipeline.manifest import LISTING_COLUMNS, ListingJournal
from pipeline.resume import ResumeCheck, input_version, output_stamp
from pipeline.storage import STORAGE_ERRORS, atomic_writer, filesystem, key_of, to_url

Batch = dict[str, np.ndarray]
LIST_BATCH_ROWS = 256
LISTING_ERROR = "listing_error"  # in a walked entry: the folder could not be listed


def objects(values: list) -> np.ndarray:
    """A 1-D object array (keeps ragged image arrays apart)."""
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def list_inputs(
    batch: Batch, *, output: str | None, fmt: str, storage_options: Mapping[str, Any],
    companion: Companion | None = None, limit: int | None = None, journal: ListingJournal | None = None,
    resume: ResumeCheck | None = None,
) -> Iterator[Batch]:
    """Expand each input root into one row per image below it (at most `limit`), with its version,
    output key and status (`skipped` when `resume` finds it done), directory by directory as the
    listing goes. With a `journal`, every row goes to the run's journal and only inputs with work
    to do flow on (the journal records the others' manifest rows).

    With `output` None (training data) rows carry no output key; companion images kept beside
    their inputs (<name><suffix>.png) are not inputs themselves.
    """
    listed = _list_inputs(batch, output, fmt, storage_options, companion)
    if resume:
        listed = (resume.mark_done(rows) for rows in listed)
    for rows in listed if limit is None else _first_rows(listed, limit):
        if journal:
            todo = journal.add(pa.table({name: rows[name] for name in LISTING_COLUMNS}))
            if todo.num_rows:
                yield todo
        else:
            yield rows
    if journal:
        journal.close()


def _first_rows(batches: Iterator[Batch], limit: int) -> Iterator[Batch]:
    for rows in batches:
        take = min(limit, len(rows["input"]))
        yield {name: column[:take] for name, column in rows.items()}
        limit -= take
        if not limit:
            return


def _list_inputs(
    batch: Batch, output: str | None, fmt: str, storage_options: Mapping[str, Any], companion: Companion | None,
) -> Iterator[Batch]:
    sibling_suffix = companion.suffix if companion and not companion.prefix else None
    out_root = filesystem(output, storage_options)[1] if output else None
    for root_url in batch["root"]:
        fs, root = filesystem(str(root_url), storage_options)
        single = fs.isfile(root)
        base = posixpath.dirname(root) if single else root
        claimed: dict[str, str] = {}
        rows: list[tuple[str, ...]] = []
        for path, info in [(root, fs.info(root))] if single else _walk(fs, root, skip=out_root):
            url = to_url(fs, path)
            if LISTING_ERROR in info:
                rows.append((url, "", "", "failed", info[LISTING_ERROR], ""))
                continue
            version = input_version(info)  # an archive's members change with the archive
            if archive_protocol(path):
                try:
                    members = list_members(fs, path)
                except ArchiveError as exc:
                    rows.append((url, version, "", "failed", str(exc), ""))
                    continue
                for member in members:  # an archive's members mirror into OUTPUT/<archive name>/
                    named = f"{posixpath.splitext(path)[0]}/{member.name}"[len(base) + 1 :]
                    rows.append(_row(member_url(url, member.name), version, member.name, named, fmt, output, claimed,
                                     member.problem))
            elif posixpath.splitext(path)[1].lower() in IMAGE_EXTENSIONS and not (
                    sibling_suffix and is_companion(path, sibling_suffix)):
                rows.append(_row(url, version, "", path[len(base) + 1 :], fmt, output, claimed))
            if len(rows) >= LIST_BATCH_ROWS:
                yield _listed(rows)
                rows = []
        if rows:
            yield _listed(rows)


def _row(url: str, version: str, member: str, relpath: str, fmt: str, output: str | None, claimed: dict[str, str],
         problem: str = "") -> tuple[str, ...]:
    """One listing row, in LISTING_COLUMNS order."""
    if problem:
        return url, version, "", "failed", problem, member
    out, status, error = _output_for(relpath, url, fmt, output, claimed) if output else ("", "pending", "")
    return url, version, out, status, error, member


def _walk(fs: Any, root: str, skip: str | None) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, info) of every file below `root`, one folder at a time in name order (depth first),
    leaving out the folder `skip` (OUTPUT inside INPUT: never convert our own results). A folder
    that cannot be listed comes out as (folder, {LISTING_ERROR: reason}), and so does a prefix whose
    keys hold an empty path part ('//'), which no folder listing reaches."""
    folders = [root]
    while folders:
        folder = folders.pop()
        try:
            entries = sorted(fs.ls(folder, detail=True), key=lambda info: info["name"])
        except STORAGE_ERRORS as exc:
            if folder == root:
                raise  # INPUT itself is gone or out of reach: the run cannot go on
            yield folder, {LISTING_ERROR: f"cannot list this folder ({type(exc).__name__}: {exc}); nothing in it "
                                          "was converted: check its permissions and run again"}
            continue
        below = []
        for info in entries:
            path = info["name"].rstrip("/")
            if path == folder.rstrip("/"):
                if info["type"] == "directory":
                    yield info["name"], {LISTING_ERROR: "keys below this prefix hold an empty path part ('//'), "
                                                        "which cannot be listed folder by folder: rename them"}
                continue  # an object store's folder marker
            if info["type"] == "directory":
                if path != skip:
                    below.append(path)
            else:
                yield path, info
        folders.extend(reversed(below))


def typical_input_bytes(url: str, storage_options: Mapping[str, Any], sample: int = 32, look_at: int = 1000) -> int:
    """The median size of the first `sample` images under `url` (among its first `look_at` files;
    0 when none): the run sizes its decode tasks by it."""
    fs, root = filesystem(url, storage_options)
    files = [(root, fs.info(root))] if fs.isfile(root) else itertools.islice(_walk(fs, root, skip=None), look_at)
    images = (info.get("size") or 0 for path, info in files if LISTING_ERROR not in info
              and (posixpath.splitext(path)[1].lower() in IMAGE_EXTENSIONS or archive_protocol(path)))
    sizes = sorted(itertools.islice(images, sample))
    return sizes[len(sizes) // 2] if sizes else 0


def _output_for(relpath: str, url: str, fmt: str, output: str, claimed: dict[str, str]) -> tuple[str, str, str]:
    """(output URL, status, error) for one input."""
    try:
        out_rel = output_relpath(relpath, fmt)
    except KeyRejected as exc:
        return "", "failed", str(exc)
    if out_rel in claimed:
        return "", "failed", f"output {out_rel} is already written for {claimed[out_rel]}; rename one of the two inputs"
    claimed[out_rel] = url
    return join_url(output, out_rel), "pending", ""


def _listed(rows: list[tuple[str, ...]]) -> Batch:
    return {name: np.array(column, dtype=object) for name, column in zip(LISTING_COLUMNS, zip(*rows))}


def read_and_decode(
    batch: Batch, *, input_mode: str, max_pixels: int, max_side: int, storage_options: Mapping[str, Any],
    root: str, companion: Companion | None = None, max_member_bytes: int = DEFAULT_MAX_MEMBER_BYTES,
    max_decode_seconds: float = DEFAULT_DECODE_SECONDS,
) -> Batch:
    """Fetch each pending input's bytes through the filesystem of the input root `root`, by its exact
    key, and decode them to an upright uint8 array.

    With a `companion`, each input's companion image (found relative to `root`) is read too and
    appended as more channels, resized to the image with nearest-neighbour sampling.
    """
    channels = (3 if input_mode == "RGB" else 1) + (companion.channels if companion else 0)
    images, widths, heights, seconds = [], [], [], []
    fs = filesystem(root, storage_options)[0]
    archives = ArchiveReader(fs, max_member_bytes)
    statuses, errors = batch["status"].copy(), batch["error"].copy()
    for i, url in enumerate(batch["input"]):
        start = time.perf_counter()
        image = np.zeros((0, 0, channels), np.uint8)
        if statuses[i] == "pending":
            try:
                member = str(batch["member"][i])
                data = (archives.read(key_of(fs, archive_of(str(url), member)), member) if member
                        else fs.cat_file(key_of(fs, str(url))))
                image = decode_image(data, input_mode, max_pixels, max_side, max_decode_seconds)
                if companion:
                    extra = _companion(str(url), root, image.shape, companion, storage_options)
                    image = np.concatenate([image, extra], -1)
            except (DecodeError, ArchiveError) as exc:
                statuses[i], errors[i] = "failed", str(exc)
            except STORAGE_ERRORS as exc:
                statuses[i], errors[i] = "failed", f"cannot read input: {exc}"
        images.append(image)
        heights.append(image.shape[0])
        widths.append(image.shape[1])
        seconds.append(time.perf_counter() - start)
    return {
        **batch,
        "status": statuses,
        "error": errors,
        "image": objects(images),
        "width": np.array(widths, np.int32),
        "height": np.array(heights, np.int32),
        "seconds": np.array(seconds, np.float64),
    }


def _companion(url: str, root: str, shape: tuple[int, ...], companion: Companion,
               storage_options: Mapping[str, Any]) -> np.ndarray:
    """The input's companion image as (H, W, C) uint8 at the image's size."""
    location = companion_url(url, root, companion.suffix, companion.prefix)
    try:
        fs = filesystem(companion.prefix or root, storage_options)[0]
        image = decode_image(fs.cat_file(key_of(fs, location)), companion.mode)
    except (FileNotFoundError, DecodeError) as exc:
        raise DecodeError(f"no usable {companion.what} at {location} ({exc}); {companion.hint}") from None
    if image.shape[:2] != shape[:2]:
        resized = Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image)
        image = np.asarray(resized.resize((shape[1], shape[0]), Image.NEAREST)).reshape(shape[0], shape[1], -1)
    return image


def encode_and_write(batch: Batch, *, fmt: str, quality: int, storage_options: Mapping[str, Any],
                     config_hash: str, root: str) -> Batch:
    """Encode each stylized image, stamped with its config and input version, and write it to its
    output key through the filesystem of the output root `root`; returns manifest columns."""
    fs = filesystem(root, storage_options)[0]
    statuses, errors, seconds = batch["status"].copy(), batch["error"].copy(), batch["seconds"].copy()
    for i, image in enumerate(batch["image"]):
        if statuses[i] != "pending":
            continue
        start = time.perf_counter()
        try:
            stamp = output_stamp(config_hash, str(batch["input"][i]), str(batch["input_version"][i]))
            with atomic_writer(fs, key_of(fs, str(batch["output"][i]))) as f:
                f.write(encode_image(image, fmt, quality, stamp))
            statuses[i] = "converted"
        except (*STORAGE_ERRORS, ValueError) as exc:
            statuses[i], errors[i] = "failed", f"cannot write output: {exc}"
        seconds[i] += time.perf_counter() - start
    return {key: value for key, value in batch.items() if key != "image"} | {
        "status": statuses,
        "error": errors,
        "seconds": seconds,
        "finished_at": np.full(len(statuses), np.datetime64(time.time_ns(), "ns").astype("datetime64[ms]")),
    }
