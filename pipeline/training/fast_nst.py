"""`stylebatch train fast-nst`: Johnson et al.'s perceptual-loss training on Ray Train (DDP)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ray
import ray.train
import torch

from operators.fast_nst import (
    CONTENT_LAYER,
    STYLE_LAYERS,
    TransformerNet,
    perceptual_loss,
    style_targets,
)
from operators.files import read_bytes, require_file
from operators.images import load_rgb
from operators.tensors import resize, to_tensor
from operators.vgg import check_vgg, load_vgg
from pipeline.storage import normalise, options_for
from pipeline.training.trainer import (
    TrainRun,
    fit,
    image_dataset,
    report,
    restore_state,
    unwrap,
    write_state_dict,
)

FINAL_NAME = "fast-nst.pth"


@dataclass(frozen=True)
class FastNSTHyperparameters:
    """What fast-nst learns from and how (the train command's fast-nst flags)."""

    style: str
    vgg_weights: str
    image_size: int = 256
    style_size: int = 256
    batch_size: int = 4
    epochs: int = 2
    lr: float = 1e-3
    content_weight: float = 1e5
    style_weight: float = 1e10
    tv_weight: float = 0.0


def train_loop(config: dict[str, Any]) -> None:
    """One Ray Train worker: DDP TransformerNet, frozen VGG-16, Adam; checkpoints every N steps."""
    torch.manual_seed(config["seed"])
    torch.set_num_threads(config["threads"])
    device = ray.train.torch.get_device()
    model = ray.train.torch.prepare_model(TransformerNet())
    files = config["weight_storage_options"]
    vgg = load_vgg("vgg16", config["vgg_weights"], [CONTENT_LAYER, *STYLE_LAYERS], files).to(device)
    style_image = load_rgb(read_bytes(config["style"], files))
    style = to_tensor(style_image[None], device, 0.0, 255.0, torch.float32)
    grams = style_targets(vgg, resize(style, (config["style_size"], config["style_size"])))
    optimizer = torch.optim.Adam(model.parameters(), lr=config["lr"])
    epoch, step = 0, 0
    state = restore_state(device)
    if state:
        unwrap(model).load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        epoch, step = int(state["epoch"]), int(state["step"])
    shard = ray.train.get_dataset_shard("train")

    def snapshot() -> dict[str, Any]:
        return {"model": unwrap(model).state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch, "step": step}

    while epoch < config["epochs"] and not (config["max_steps"] and step >= config["max_steps"]):
        for batch in shard.iter_torch_batches(batch_size=config["batch_size"], dtypes=torch.float32, device=device):
            content = batch["image"].permute(0, 3, 1, 2).contiguous()
            losses = perceptual_loss(vgg, model(content), content, grams, config["content_weight"],
                                     config["style_weight"], config["tv_weight"])
            optimizer.zero_grad()
            losses["loss"].backward()
            optimizer.step()
            step += 1
            if step % config["checkpoint_every"] == 0:
                report({"epoch": epoch, "step": step, **{k: float(v) for k, v in losses.items()}}, snapshot)
            if config["max_steps"] and step >= config["max_steps"]:
                break
        epoch += 1
        report({"epoch": epoch, "step": step, **{k: float(v) for k, v in losses.items()}}, snapshot)


def train_fast_nst(run: TrainRun, hyper: FastNSTHyperparameters) -> str:
    """Train, write OUTPUT/checkpoints/... while going and OUTPUT/fast-nst.pth at the end; returns its URL.

    Rerunning with the same OUTPUT resumes from the last checkpoint.
    """
    data = normalise(run.data)
    weight_storage_options = options_for(hyper.style, run.storage_options)
    check_vgg("vgg16", hyper.vgg_weights, [CONTENT_LAYER, *STYLE_LAYERS], weight_storage_options)  # fail fast
    require_file(hyper.style, weight_storage_options)
    state = fit("fast-nst", train_loop, run, hyper,
                lambda: image_dataset(data, hyper.image_size, options_for(data, run.storage_options)),
                f"image under {run.data}", weight_storage_options=weight_storage_options)
    final = f"{run.output_url}/{FINAL_NAME}"
    write_state_dict(state["model"], final, run.output_options)
    return final
