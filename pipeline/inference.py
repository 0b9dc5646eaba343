"""The model step of a run: an actor holding one operator model resident on its device."""
from __future__ import annotations

import time
from typing import Any, Mapping

import numpy as np
import torch

from operators.registry import get_operator
from pipeline.stages import Batch, objects


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
        return {**batch, "image": objects(images), "status": statuses, "error": errors, "seconds": seconds}

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


class SegmentStylizeActor(StylizeActor):
    """The same resident model, fed whole video segments (T, H, W, 3) in batches of frames.

    The input frames stay in the row beside the stylized ones: temporal smoothing needs both.
    """

    def __call__(self, batch: Batch) -> Batch:
        clips, statuses, errors = list(batch["frames"]), batch["status"].copy(), batch["error"].copy()
        stylized = [frames[:0] for frames in clips]
        for i, frames in enumerate(clips):
            if statuses[i] != "pending":
                continue
            try:
                stylized[i] = np.concatenate([self.stylize(frames[k : k + self.max_batch])
                                              for k in range(0, len(frames), self.max_batch)])
            except Exception as exc:  # a model error fails its segment, not the job
                statuses[i], errors[i] = "failed", f"model failed: {type(exc).__name__}: {exc}"
        return {**batch, "stylized": objects(stylized), "status": statuses, "error": errors}
