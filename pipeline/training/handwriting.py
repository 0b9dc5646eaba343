"""`stylebatch train handwriting`: the U-Net GAN on paired line shards, on Ray Train (DDP).

Each step: the generator writes the typed crops by hand; the PatchGAN learns real (typed, target)
pairs from (typed, generated) ones; the generator then minimises alpha * L1 + beta * gradient L1
+ gamma * adversarial. After every epoch rank 0 measures the held-out figure (mean L1 to the
target, against the typed input as it is) and a checkpoint goes to OUTPUT/checkpoints.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import ray
import ray.train
import torch

from operators.errors import ConfigError
from operators.handwriting import (
    LineConverter,
    PatchDiscriminator,
    UNetGenerator,
    discriminator_loss,
    generator_loss,
)
from operators.weights import check_checkpoint, load_into, load_state_dict
from pipeline.storage import filesystem, normalise, options_for, write_bytes
from pipeline.training.line_shards import heldout_pairs, training_pairs
from pipeline.training.trainer import (
    TrainRun,
    fit,
    report,
    restore_state,
    unwrap,
    write_state_dict,
)

FINAL_NAME = "handwriting.pth"
METRICS_NAME = "metrics.json"


@dataclass(frozen=True)
class HandwritingHyperparameters:
    """How the U-Net GAN learns (the train command's handwriting flags)."""

    crop_width: int = 256
    batch_size: int = 8
    epochs: int = 10
    lr: float = 2e-4
    alpha: float = 1.0
    beta: float = 1.0
    gamma: float = 0.01
    intensity: str = "l1"
    heldout_lines: int = 200
    init: str = ""  # generator .pth to start from (fine-tuning) when OUTPUT holds no checkpoint yet


def heldout_l1(convert: Callable[[list[np.ndarray]], list[np.ndarray]],
               pairs: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """Mean absolute difference (0-1 scale, over all pixels) to the handwritten targets of: the
    model's output, the typed input itself (identity), and a blank page; plus the gain over identity."""
    outputs = convert([typed for typed, _ in pairs])
    sums = {"model": 0.0, "identity": 0.0, "blank": 0.0}
    pixels = 0
    for (typed, hand), out in zip(pairs, outputs):
        target = hand.astype(np.float32)
        sums["model"] += float(np.abs(out.astype(np.float32) - target).sum())
        sums["identity"] += float(np.abs(typed.astype(np.float32) - target).sum())
        sums["blank"] += float(np.abs(255.0 - target).sum())
        pixels += target.size
    figures = {f"l1_{name}": total / (255.0 * max(pixels, 1)) for name, total in sums.items()}
    figures["gain_over_identity"] = 1.0 - figures["l1_model"] / max(figures["l1_identity"], 1e-12)
    return figures


def _to_unit(batch: torch.Tensor) -> torch.Tensor:
    """(N, H, W) uint8 to (N, 1, H, W) in [-1, 1]."""
    return batch.float().unsqueeze(1) / 127.5 - 1.0


def train_loop(config: dict[str, Any]) -> None:
    """One Ray Train worker: DDP generator and discriminator, Adam (beta1 0.5) for both."""
    rank = ray.train.get_context().get_world_rank()
    torch.manual_seed(config["seed"] + rank)
    torch.set_num_threads(config["threads"])
    device = ray.train.torch.get_device()
    generator = ray.train.torch.prepare_model(UNetGenerator())
    discriminator = ray.train.torch.prepare_model(PatchDiscriminator())
    opt_g = torch.optim.Adam(generator.parameters(), lr=config["lr"], betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=config["lr"], betas=(0.5, 0.999))
    epoch, step = 0, 0
    state = restore_state(device)
    if state:
        unwrap(generator).load_state_dict(state["generator"])
        unwrap(discriminator).load_state_dict(state["discriminator"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        epoch, step = int(state["epoch"]), int(state["step"])
    elif config["init"]:
        load_into(unwrap(generator), load_state_dict(config["init"], options_for(config["init"], config["storage_options"])),
                  config["init"])  # a float16 file loads into the float32 network as the operator loads it
    pairs = heldout_pairs(config["data"], config["data_options"], config["heldout_lines"]) if rank == 0 else []
    shard = ray.train.get_dataset_shard("train")

    def snapshot() -> dict[str, Any]:
        return {"generator": unwrap(generator).state_dict(), "discriminator": unwrap(discriminator).state_dict(),
                "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "epoch": epoch, "step": step}

    def losses_of(terms: dict[str, torch.Tensor], d_loss: torch.Tensor) -> dict[str, float]:
        return {"epoch": epoch, "step": step, "discriminator": float(d_loss),
                **{name: float(value) for name, value in terms.items()}}

    def done() -> bool:
        return bool(config["max_steps"]) and step >= config["max_steps"]

    while epoch < config["epochs"] and not done():
        for batch in shard.iter_torch_batches(batch_size=config["batch_size"], device=device, drop_last=True):
            typed, hand = _to_unit(batch["typed"]), _to_unit(batch["hand"])
            fake = generator(typed)
            both = discriminator(torch.cat([typed, typed]), torch.cat([hand, fake.detach()]))
            d_loss = discriminator_loss(*both.chunk(2))
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            terms = generator_loss(fake, hand, discriminator(typed, fake), alpha=config["alpha"],
                                   beta=config["beta"], gamma=config["gamma"], intensity=config["intensity"])
            opt_g.zero_grad()
            terms["generator"].backward()
            opt_g.step()
            step += 1
            if step % config["checkpoint_every"] == 0:
                report(losses_of(terms, d_loss), snapshot)
            if done():
                break
        epoch += 1
        metrics = losses_of(terms, d_loss)
        if pairs:
            net = unwrap(generator)
            metrics.update(heldout_l1(LineConverter(net, str(device)), pairs))
            net.train()
            append_history(config["metrics_url"], metrics, config["output_options"])
        report(metrics, snapshot)


def train_handwriting(run: TrainRun, hyper: HandwritingHyperparameters) -> str:
    """Train, checkpointing to OUTPUT/checkpoints; write OUTPUT/handwriting.pth (generator state
    dict, float16) and OUTPUT/metrics.json (each epoch's losses and held-out figure); return the .pth URL.

    Rerunning with the same OUTPUT resumes from the last checkpoint.
    """
    if hyper.intensity not in ("l1", "l2"):
        raise ConfigError(f"--intensity must be l1 or l2, not {hyper.intensity!r}")
    data = normalise(run.data).rstrip("/")
    data_options = options_for(data, run.storage_options)
    fs, root = filesystem(data, data_options)
    if not fs.glob(f"{root}/train/*.parquet"):
        raise ConfigError(f"no line shards under {run.data}/train: write them with `stylebatch handwriting-data {run.data}`")
    init = normalise(hyper.init) if hyper.init else ""
    if init:
        check_checkpoint(UNetGenerator, init, options_for(init, run.storage_options))
    state = fit("handwriting", train_loop, run, hyper, lambda: training_pairs(data, hyper.crop_width, data_options),
                f"line pair under {run.data}/train", data=data, data_options=data_options,
                metrics_url=f"{run.output_url}/{METRICS_NAME}", output_options=run.output_options, init=init)
    final = f"{run.output_url}/{FINAL_NAME}"
    generator = {k: v.half() if v.is_floating_point() else v for k, v in state["generator"].items()}
    write_state_dict(generator, final, run.output_options)
    return final


def append_history(url: str, metrics: dict[str, Any], storage_options: dict[str, Any]) -> None:
    """Add one epoch's figures to the run's metrics.json (kept across resumed runs)."""
    fs, path = filesystem(url, storage_options)
    history = json.loads(fs.cat_file(path)) if fs.exists(path) else []
    history = [m for m in history if m["epoch"] != metrics["epoch"]] + [metrics]
    write_bytes(url, json.dumps(history, indent=2).encode(), storage_options)
