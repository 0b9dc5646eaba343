"""Ray Train plumbing shared by training jobs: image datasets, storage for checkpoints, the final file."""
from __future__ import annotations

import io
from typing import Any, Mapping

import numpy as np
import pyarrow.fs
import ray
import torch
from PIL import Image

from pipeline.stages import list_inputs, read_and_decode
from pipeline.storage import filesystem, is_local


def square_crops(batch: dict[str, np.ndarray], *, size: int) -> dict[str, np.ndarray]:
    """Centre square crop of each image, resized to `size` x `size` (a fixed-shape training batch)."""
    crops = []
    for image in batch["image"]:
        h, w = image.shape[:2]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        square = Image.fromarray(image[top : top + side, left : left + side, :3].squeeze())
        crops.append(np.asarray(square.resize((size, size), Image.BICUBIC).convert("RGB")))
    return {"image": np.stack(crops) if crops else np.zeros((0, size, size, 3), np.uint8)}


def image_dataset(data: str, size: int, storage_options: Mapping[str, Any]) -> ray.data.Dataset:
    """Every decodable image under `data` as a `size`-square RGB crop; undecodable files are left out."""
    return (
        ray.data.from_items([{"root": data}])
        .map_batches(list_inputs, batch_size=1, num_cpus=0.25,
                     fn_kwargs={"output": None, "fmt": "png", "storage_options": storage_options, "done": []})
        .repartition(target_num_rows_per_block=16)
        .map_batches(read_and_decode, num_cpus=0.25,
                     fn_kwargs={"input_mode": "RGB", "max_pixels": 40_000_000, "max_side": 0,
                                "storage_options": storage_options})
        .filter(lambda row: row["status"] == "pending")
        .map_batches(square_crops, num_cpus=0.25, fn_kwargs={"size": size})
    )


def checkpoint_storage(output: str, storage_options: Mapping[str, Any]) -> tuple[str, pyarrow.fs.FileSystem | None]:
    """(storage_path, storage_filesystem) for Ray Train's RunConfig, under OUTPUT/checkpoints."""
    fs, root = filesystem(output, storage_options)
    if is_local(fs):
        return f"{root}/checkpoints", None
    return f"{root}/checkpoints", pyarrow.fs.PyFileSystem(pyarrow.fs.FSSpecHandler(fs))


def write_state_dict(state: Mapping[str, torch.Tensor], url: str, storage_options: Mapping[str, Any]) -> None:
    """torch.save a state dict to any fsspec URL."""
    buffer = io.BytesIO()
    torch.save(dict(state), buffer)
    fs, path = filesystem(url, storage_options)
    if is_local(fs):
        fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    fs.pipe_file(path, buffer.getvalue())
