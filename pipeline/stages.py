"""The CPU steps of a run: list, read and decode, encode and write (the model step is `inference`).

Every row carries `status` (see `runs.status`) and `error`; a step only works on pending rows and
turns its own failures into failed rows, so one bad input never stops a batch; a write the store
refuses as it would refuse every other (full, access denied) leaves its row pending, which stops
the run (`RunLife.record`). Each step is given
one small typed argument (`ListStep`, `DecodeStep`, `WriteStep`). Nothing here imports torch, so
the many short-lived task workers start fast.
"""
from __future__ import annotations

import contextlib
import itertools
import posixpath
import time
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

import numpy as np
import pyarrow as pa

from pipeline.archives import ArchiveError, archive_protocol
from pipeline.batch import Batch, objects
from pipeline.codecs import IMAGE_EXTENSIONS, DecodeError, encode_image
from pipeline.keys import KeyRejected, join_url, output_relpath
from pipeline.runs.layout import RECORDS, WORK_SUFFIX, RunLayout
from pipeline.runs.manifest import LISTING_COLUMNS, STYLE_COLUMNS, ListingJournal
from pipeline.runs.resume import ResumeCheck, input_version, output_stamp
from pipeline.runs.status import Outcomes, Status
from pipeline.sources import Decoding, Found, Source
from pipeline.storage import STORAGE_ERRORS, StoreRefused, atomic_writer, filesystem, key_of, refusal, to_url
from pipeline.variants import gather, spread

LIST_BATCH_ROWS = 256
LISTING_ERROR = "listing_error"  # in a walked entry: the folder could not be listed
NOT_AN_INPUT = "not an input"  # a file of no kind the run converts, or an operator's companion image


@dataclass(frozen=True)
class Target:
    """One style's outputs: its variant's name ("" in a run of one style), the folder they are
    written under, its config hash, and the check that finds what is done (None: convert again)."""

    variant: str
    root: str
    config_hash: str
    resume: ResumeCheck | None = None


@dataclass(frozen=True)
class ListStep:
    """What the listing is given: the source, OUTPUT (never listed) and where each style's outputs go
    in it (none for training data: rows get no output key) and in which format, at most `limit`
    inputs, the run's journal."""

    source: Source
    output: str | None = None
    targets: tuple[Target, ...] = ()
    fmt: str = "png"
    limit: int | None = None
    journal: ListingJournal | None = None
    left_out: bool = False  # a row for each file that holds no input (a dry run counts them), failed NOT_AN_INPUT


def list_inputs(batch: Batch, *, step: ListStep) -> Iterator[Batch | pa.Table]:
    """Expand the source's root (the one row of `batch` only starts the task) into one row per input
    below it and target, with its version, output key and status (`skipped` when the target's resume
    check finds it done), directory by directory as the listing goes. With a journal, every row goes
    to the run's journal, and only rows with work to do flow on, gathered one per input (the journal
    records the others' manifest rows)."""
    if not step.journal:
        yield from _listed_rows(step)
        return
    try:
        for rows in _listed_rows(step):
            todo = step.journal.add(pa.table({name: rows[name] for name in LISTING_COLUMNS + STYLE_COLUMNS}))
            if todo.num_rows:
                yield gather(todo)
        step.journal.close()
    except Exception as exc:  # Ray Data drops a failed task's blocks: the journal's end says the run lost inputs
        with contextlib.suppress(OSError):  # OUTPUT takes nothing more: the missing end says it then
            step.journal.close(stopped=str(exc) if isinstance(exc, StoreRefused) else f"{type(exc).__name__}: {exc}")
        raise


def _listed_rows(step: ListStep) -> Iterator[Batch]:
    """The listing's batches, with the resume checks' marks, up to the step's limit."""
    listed = _list_inputs(step)
    if any(target.resume for target in step.targets):
        for target in step.targets:
            if target.resume:
                target.resume.load()
        listed = (_mark_done(rows, step.targets) for rows in listed)
    per_input = max(1, len(step.targets))
    yield from listed if step.limit is None else _first_rows(listed, step.limit * per_input)


def _mark_done(rows: Batch, targets: tuple[Target, ...]) -> Batch:
    """`rows` with each target's done rows marked `skipped` by its own resume check."""
    status = rows["status"].copy()
    for target in targets:
        mine = rows["variant"] == target.variant
        if target.resume and mine.any():
            status[mine] = target.resume.mark_done({name: column[mine] for name, column in rows.items()})["status"]
    return {**rows, "status": status}


def _first_rows(batches: Iterator[Batch], limit: int) -> Iterator[Batch]:
    for rows in batches:
        take = min(limit, len(rows["input"]))
        yield {name: column[:take] for name, column in rows.items()}
        limit -= take
        if not limit:
            return


def _list_inputs(step: ListStep) -> Iterator[Batch]:
    source, output = step.source, step.output
    out_root = filesystem(output, source.storage_options)[1] if output else None
    fs, root = filesystem(source.root, source.storage_options)
    single = fs.isfile(root)
    base = posixpath.dirname(root) if single else root
    claimed: dict[str, str] = {}
    rows: list[tuple[str, ...]] = []
    for path, info in [(root, fs.info(root))] if single else _walk(fs, root, skip=out_root):
        if LISTING_ERROR in info:
            rows.extend(_rows(Found(to_url(fs, path), "", "", info[LISTING_ERROR]), "", step, claimed))
            continue
        version = input_version(info)  # an archive's members change with the archive
        found = list(source.found_in(fs, path, base))
        if not found and step.left_out:
            kind = posixpath.splitext(path)[1].lower() or "no extension"
            found = [Found(to_url(fs, path), "", "", f"{NOT_AN_INPUT} ({kind})")]
        for one in found:
            rows.extend(_rows(one, version, step, claimed))
        if len(rows) >= LIST_BATCH_ROWS:
            yield _listed(rows)
            rows = []
    if rows:
        yield _listed(rows)


def _rows(found: Found, version: str, step: ListStep, claimed: dict[str, str]) -> list[tuple[str, ...]]:
    """The listing rows of one input, one per target (one with no output key without targets), in
    LISTING_COLUMNS + STYLE_COLUMNS order."""
    if found.problem:
        out_rel, status, error = "", Status.FAILED.value, found.problem
    elif step.targets:
        out_rel, status, error = _output_for(found.relpath, found.url, step.fmt, claimed)
    else:
        out_rel, status, error = "", Status.PENDING.value, ""
    return [(found.url, version, join_url(target.root, out_rel) if out_rel else "", status, error, found.member,
             target.variant, target.config_hash) for target in step.targets or (Target("", "", ""),)]


def _walk(fs: Any, root: str, skip: str | None) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, info) of every file below `root`, one folder at a time in name order (depth first),
    leaving out what runs wrote (OUTPUT inside INPUT: never convert our own results): the folder
    `skip`, every run's records and work areas, a folder holding records (an earlier run's OUTPUT)
    and a file with a work area beside it (a packed archive or a video that a run wrote). A folder
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
        folder_names = {posixpath.basename(info["name"].rstrip("/")) for info in entries
                        if info["type"] == "directory" and info["name"].rstrip("/") != folder.rstrip("/")}
        if folder != root and folder_names & set(RECORDS):
            continue  # an earlier run's OUTPUT
        below = []
        for info in entries:
            path = info["name"].rstrip("/")
            if path == folder.rstrip("/"):
                if info["type"] == "directory":
                    yield info["name"], {LISTING_ERROR: "keys below this prefix hold an empty path part ('//'), "
                                                        "which cannot be listed folder by folder: rename them"}
                continue  # an object store's folder marker
            name = posixpath.basename(path)
            if info["type"] == "directory":
                if path != skip and not RunLayout.written_by_runs(name):
                    below.append(path)
            elif name + WORK_SUFFIX not in folder_names:
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


def _output_for(relpath: str, url: str, fmt: str, claimed: dict[str, str]) -> tuple[str, str, str]:
    """(output path relative to each target's root, status, error) for one input."""
    try:
        out_rel = output_relpath(relpath, fmt)
    except KeyRejected as exc:
        return "", Status.FAILED.value, str(exc)
    if out_rel in claimed:
        return "", Status.FAILED.value, f"output {out_rel} is already written for {claimed[out_rel]}; rename one of the two inputs"
    claimed[out_rel] = url
    return out_rel, Status.PENDING.value, ""


def _listed(rows: list[tuple[str, ...]]) -> Batch:
    return {name: np.array(column, dtype=object) for name, column in zip(LISTING_COLUMNS + STYLE_COLUMNS, zip(*rows))}


@dataclass(frozen=True)
class DecodeStep:
    """Where inputs are read from and how they are decoded."""

    source: Source
    decoding: Decoding


def read_and_decode(batch: Batch, *, step: DecodeStep) -> Batch:
    """Fetch each pending input's pixels through its source (by its exact key, under the run's
    limits) as an upright uint8 array."""
    channels = step.decoding.channels + step.source.channels
    images, metadata, widths, heights, seconds = [], [], [], [], []
    reader = step.source.reader()
    outcomes = Outcomes(batch)
    for i, url in enumerate(batch["input"]):
        start = time.perf_counter()
        image, exif = np.zeros((0, 0, channels), np.uint8), b""
        if outcomes.pending(i):
            try:
                image, exif = reader.image_and_metadata(str(url), str(batch["member"][i]), step.decoding)
            except (DecodeError, ArchiveError) as exc:
                outcomes.fail(i, str(exc))
            except STORAGE_ERRORS as exc:
                denied = refusal(exc, str(url), reading=True) if isinstance(exc, OSError) else None
                outcomes.fail(i, f"cannot read input: {denied or exc}")
        images.append(image)
        metadata.append(exif)
        heights.append(image.shape[0])
        widths.append(image.shape[1])
        seconds.append(time.perf_counter() - start)
    return {
        **batch,
        **outcomes.columns(),
        "image": objects(images),
        "metadata": objects(metadata),
        "width": np.array(widths, np.int32),
        "height": np.array(heights, np.int32),
        "seconds": np.array(seconds, np.float64),
    }


@dataclass(frozen=True)
class WriteStep:
    """Where outputs go (the results root, written through its filesystem) and how they are encoded
    (each stamped with its row's config hash)."""

    root: str
    storage_options: Mapping[str, Any]
    fmt: str
    quality: int


def encode_and_write(batch: Batch, *, step: WriteStep) -> Batch:
    """Encode each stylized image, stamped with its config and input version, and write it to its
    output key through the filesystem of the results root; returns manifest columns, one row per
    input and variant (gathered rows are spread here)."""
    if "variants" in batch:
        batch = spread(batch)
    fs = filesystem(step.root, step.storage_options)[0]
    outcomes, seconds = Outcomes(batch), batch["seconds"].copy()
    for i, image in enumerate(batch["image"]):
        if not outcomes.pending(i):
            continue
        start = time.perf_counter()
        try:
            stamp = output_stamp(str(batch["config_hash"][i]), str(batch["input"][i]), str(batch["input_version"][i]))
            with atomic_writer(fs, key_of(fs, str(batch["output"][i]))) as f:
                f.write(encode_image(image, step.fmt, step.quality, stamp, exif=batch["metadata"][i]))
            outcomes.settle(i, Status.CONVERTED)
        except StoreRefused as exc:  # a full disk or revoked access: every later write would fail too
            outcomes.refuse(i, exc.line)
            break
        except (*STORAGE_ERRORS, ValueError) as exc:
            outcomes.fail(i, f"cannot write output: {exc}")
        seconds[i] += time.perf_counter() - start
    return {key: value for key, value in batch.items() if key not in ("image", "metadata")} | {
        **outcomes.columns(),
        "seconds": seconds,
        "finished_at": np.full(len(seconds), np.datetime64(time.time_ns(), "ns").astype("datetime64[ms]")),
    }
