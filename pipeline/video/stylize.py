"""The model step of a video run: the image pipeline's resident model, fed whole segments."""
from __future__ import annotations

import numpy as np

from pipeline.inference import StylizeActor
from pipeline.stages import Batch, objects


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
