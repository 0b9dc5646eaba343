"""Ray Train plumbing shared by training jobs: the run settings, one TorchTrainer for every job,
image datasets, checkpoints in object storage, the final file."""
from __future__ import annotations

import io
import os
import tempfile
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
import pyarrow.fs
import ray
import ray.train
import torch
from PIL import Image
from ray.train import CheckpointConfig, ScalingConfig
from ray.train.torch import TorchTrainer

from operators.errors import ConfigError
from pipeline.cluster import ensure_ray
from pipeline.runs.status import Status
from pipeline.settings import TASK_CPUS
from pipeline.sources import Decoding, Source
from pipeline.stages import DecodeStep, ListStep, list_inputs, read_and_decode
from pipeline.storage import filesystem, is_local, normalise, options_for, write_bytes


@dataclass(frozen=True)
class TrainRun:
    """Where a training run reads and writes and how it runs: the train command's shared flags."""

    data: str
    output: str
    workers: int = 1
    use_gpu: bool = False
    max_steps: int = 0
    checkpoint_every: int = 500
    seed: int = 42
    storage_options: dict[str, Any] = field(default_factory=dict)

    @property
    def output_url(self) -> str:
        return normalise(self.output).rstrip("/")

    @property
    def output_options(self) -> dict[str, Any]:
        return options_for(self.output_url, self.storage_options)


def fit(name: str, loop: Callable[[dict[str, Any]], None], run: TrainRun, hyperparameters: Any,
        dataset: Callable[[], ray.data.Dataset], what: str, **config: Any) -> dict[str, Any]:
    """Run `loop` on `run.workers` Ray Train workers (DDP; CPU, or one GPU each), checkpointing to
    OUTPUT/checkpoints (resumed from there when the same OUTPUT is trained again); return the
    state in the last checkpoint. `dataset` makes the training data once Ray is up; `what` names
    it in the error for a run that wrote nothing. The loop's config holds the run settings, the `hyperparameters`
    dataclass's fields, torch threads per worker and `config`."""
    ensure_ray(dashboard=True)
    storage_path, storage_fs = checkpoint_storage(run.output_url, run.output_options)
    trainer = TorchTrainer(
        loop,
        train_loop_config={**asdict(run), **asdict(hyperparameters), "threads": worker_threads(run.workers), **config},
        scaling_config=ScalingConfig(num_workers=run.workers, use_gpu=run.use_gpu,
                                     resources_per_worker={"CPU": 0.5, **({"GPU": 1} if run.use_gpu else {})}),
        run_config=ray.train.RunConfig(name=name, storage_path=storage_path, storage_filesystem=storage_fs,
                                       checkpoint_config=CheckpointConfig(num_to_keep=2)),
        datasets={"train": dataset()},
    )
    return final_state(trainer.fit(), what)


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
    source = Source(data, storage_options)
    return (
        ray.data.from_items([{"root": data}])
        .map_batches(list_inputs, batch_size=1, num_cpus=TASK_CPUS, fn_kwargs={"step": ListStep(source, output=None)})
        .repartition(target_num_rows_per_block=16)
        .map_batches(read_and_decode, num_cpus=TASK_CPUS, fn_kwargs={"step": DecodeStep(source, Decoding("RGB"))})
        .filter(lambda row: row["status"] == Status.PENDING.value)
        .map_batches(square_crops, num_cpus=TASK_CPUS, fn_kwargs={"size": size})
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
    write_bytes(url, buffer.getvalue(), storage_options)


STATE_FILE = "state.pt"


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside a DistributedDataParallel wrapper (or the module itself)."""
    return model.module if hasattr(model, "module") else model


def restore_state(device: torch.device) -> dict[str, Any] | None:
    """The state saved in Ray Train's latest checkpoint of this run, if it is resuming."""
    checkpoint = ray.train.get_checkpoint()
    if not checkpoint:
        return None
    # read in place: `as_directory` copies through a temporary folder that workers on one node share,
    # and Ray's lock on it races when they resume at once
    with checkpoint.filesystem.open_input_file(f"{checkpoint.path}/{STATE_FILE}") as f:
        return torch.load(io.BytesIO(f.read()), map_location=device, weights_only=True)


def report(metrics: dict[str, float], state: Callable[[], dict[str, Any]]) -> None:
    """ray.train.report `metrics`, with a checkpoint of `state()` written by rank 0."""
    with tempfile.TemporaryDirectory() as folder:
        saved = None
        if ray.train.get_context().get_world_rank() == 0:
            torch.save(state(), os.path.join(folder, STATE_FILE))
            saved = ray.train.Checkpoint.from_directory(folder)
        ray.train.report(metrics, checkpoint=saved)


def final_state(result: ray.train.Result, what: str) -> dict[str, Any]:
    """The state in a finished run's last checkpoint, or a ConfigError saying none was written."""
    if result.checkpoint is None:
        raise ConfigError(f"training wrote no checkpoint: is there any {what}?")
    with result.checkpoint.as_directory() as folder:
        return torch.load(os.path.join(folder, STATE_FILE), map_location="cpu", weights_only=True)


def worker_threads(workers: int) -> int:
    """Torch threads per training worker: the cluster's CPUs shared among the workers."""
    return max(1, int(ray.cluster_resources().get("CPU", 1.0)) // max(1, workers))
