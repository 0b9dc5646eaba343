"""The per-batch steps of a run: list, decode, stylize (actor), encode and write.

Every row carries `status` (pending | skipped | failed | converted) and `error`; a step only
works on pending rows and turns its own failures into failed rows, so one bad input never
stops a batch.
"""
from __future__ import annotations

import posixpath
import time
from typing import Any, Iterator, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import ray
import torch

from operators.registry import get_operator
from pipeline.codecs import IMAGE_EXTENSIONS, DecodeError, decode_image, encode_image
from pipeline.keys import KeyRejected, join_url, output_relpath
from pipeline.storage import filesystem, is_local, to_url

Batch = dict[str, np.ndarray]
LIST_BATCH_ROWS = 256


def _objects(values: list) -> np.ndarray:
    """A 1-D object array (keeps ragged image arrays apart)."""
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def list_inputs(
    batch: Batch, *, output: str, fmt: str, storage_options: Mapping[str, Any], done: list[ray.ObjectRef]
) -> Iterator[Batch]:
    """Expand each input root into one row per image below it, with output key and resume status."""
    converted = ray.get(done[0])
    _, out_root = filesystem(output, storage_options)
    for root_url in batch["root"]:
        fs, root = filesystem(str(root_url), storage_options)
        paths = [root] if fs.isfile(root) else sorted(fs.find(root))
        base = posixpath.dirname(root) if fs.isfile(root) else root
        claimed: dict[str, str] = {}
        rows: list[tuple[str, str, str, str]] = []
        for path in paths:
            if path == out_root or path.startswith(out_root + "/"):
                continue  # OUTPUT inside INPUT: never convert our own results
            if posixpath.splitext(path)[1].lower() not in IMAGE_EXTENSIONS:
                continue
            url = to_url(fs, path)
            rows.append((url, *_output_for(path[len(base) + 1 :], url, fmt, output, claimed)))
            if len(rows) == LIST_BATCH_ROWS:
                yield _listed(rows, converted)
                rows = []
        if rows:
            yield _listed(rows, converted)


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


def _listed(rows: list[tuple[str, str, str, str]], converted: pa.Array) -> Batch:
    inputs, outputs, statuses, errors = (list(column) for column in zip(*rows))
    done = pc.is_in(pa.array(inputs, pa.string()), value_set=converted).to_numpy(zero_copy_only=False)
    statuses = ["skipped" if d and s == "pending" else s for d, s in zip(done, statuses)]
    return {
        "input": np.array(inputs, dtype=object),
        "output": np.array(outputs, dtype=object),
        "status": np.array(statuses, dtype=object),
        "error": np.array(errors, dtype=object),
    }


def read_and_decode(
    batch: Batch, *, input_mode: str, max_pixels: int, max_side: int, storage_options: Mapping[str, Any]
) -> Batch:
    """Fetch each pending input's bytes and decode them to an upright uint8 array."""
    channels = 3 if input_mode == "RGB" else 1
    images, widths, heights, seconds = [], [], [], []
    statuses, errors = batch["status"].copy(), batch["error"].copy()
    for i, url in enumerate(batch["input"]):
        start = time.perf_counter()
        image = np.zeros((0, 0, channels), np.uint8)
        if statuses[i] == "pending":
            try:
                fs, path = filesystem(str(url), storage_options)
                image = decode_image(fs.cat_file(path), input_mode, max_pixels, max_side)
            except DecodeError as exc:
                statuses[i], errors[i] = "failed", str(exc)
            except OSError as exc:
                statuses[i], errors[i] = "failed", f"cannot read input: {exc}"
        images.append(image)
        heights.append(image.shape[0])
        widths.append(image.shape[1])
        seconds.append(time.perf_counter() - start)
    return {
        **batch,
        "status": statuses,
        "error": errors,
        "image": _objects(images),
        "width": np.array(widths, np.int32),
        "height": np.array(heights, np.int32),
        "seconds": np.array(seconds, np.float64),
    }


class StylizeActor:
    """Holds one operator model resident on this actor's device; stylizes equal-shape groups."""

    def __init__(self, operator: str, options: Mapping[str, Any], storage_options: Mapping[str, Any],
                 max_batch: int, threads: int) -> None:
        if threads:
            torch.set_num_threads(threads)
        self.stylize = get_operator(operator).build(options, "auto", storage_options)
        self.max_batch = max_batch

    def __call__(self, batch: Batch) -> Batch:
        images = list(batch["image"])
        statuses, errors = batch["status"].copy(), batch["error"].copy()
        seconds = batch["seconds"].copy()
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, status in enumerate(statuses):
            if status == "pending":
                groups.setdefault(images[i].shape, []).append(i)
        for members in groups.values():
            for start in range(0, len(members), self.max_batch):
                self._run(members[start : start + self.max_batch], images, statuses, errors, seconds)
        return {**batch, "image": _objects(images), "status": statuses, "error": errors, "seconds": seconds}

    def _run(self, rows: list[int], images: list, statuses: np.ndarray, errors: np.ndarray, seconds: np.ndarray) -> None:
        """One forward pass over `rows`; if it fails, each row is tried alone so one image fails alone."""
        start = time.perf_counter()
        try:
            out = self.stylize(np.stack([images[i] for i in rows]))
        except Exception as exc:  # a model error must fail its own inputs, not the job
            if len(rows) > 1:
                for i in rows:
                    self._run([i], images, statuses, errors, seconds)
                return
            statuses[rows[0]], errors[rows[0]] = "failed", f"model failed: {type(exc).__name__}: {exc}"
            images[rows[0]] = images[rows[0]][:0, :0]
            return
        share = (time.perf_counter() - start) / len(rows)
        for k, i in enumerate(rows):
            images[i] = out[k]
            seconds[i] += share


def encode_and_write(batch: Batch, *, fmt: str, quality: int, storage_options: Mapping[str, Any]) -> Batch:
    """Encode each stylized image and write it to its output key; returns manifest columns."""
    statuses, errors, seconds = batch["status"].copy(), batch["error"].copy(), batch["seconds"].copy()
    for i, image in enumerate(batch["image"]):
        if statuses[i] != "pending":
            continue
        start = time.perf_counter()
        try:
            fs, path = filesystem(str(batch["output"][i]), storage_options)
            if is_local(fs):
                fs.makedirs(posixpath.dirname(path), exist_ok=True)
            fs.pipe_file(path, encode_image(image, fmt, quality))
            statuses[i] = "converted"
        except (OSError, ValueError) as exc:
            statuses[i], errors[i] = "failed", f"cannot write output: {exc}"
        seconds[i] += time.perf_counter() - start
    return {key: value for key, value in batch.items() if key != "image"} | {
        "status": statuses,
        "error": errors,
        "seconds": seconds,
        "finished_at": np.full(len(statuses), np.datetime64(time.time_ns(), "ns").astype("datetime64[ms]")),
    }
