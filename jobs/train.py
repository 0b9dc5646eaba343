"""`stylebatch train OPERATOR --data URL --output URL ...`: train a model on Ray Train."""
from __future__ import annotations

import argparse

from jobs.common import add_storage_argument, module_main, run_command, storage_options
from operators.errors import ConfigError
from pipeline.training.fast_nst import FastNSTHyperparameters, train_fast_nst
from pipeline.training.handwriting import HandwritingHyperparameters, train_handwriting
from pipeline.training.trainer import TrainRun

TRAINABLE = ("fast-nst", "handwriting")


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The train command's arguments: common ones, then one group per trainable operator."""
    parser = parser or argparse.ArgumentParser(prog="stylebatch train", description=__doc__)
    parser.add_argument("operator", help=f"what to train: {', '.join(TRAINABLE)}")
    parser.add_argument("--data", required=True,
                        help="fast-nst: prefix of content images; handwriting: line shards from `stylebatch handwriting-data`")
    parser.add_argument("--output", required=True, help="prefix for checkpoints and the final .pth")
    parser.add_argument("--batch-size", type=int, help="per worker (fast-nst 4, handwriting 8)")
    parser.add_argument("--epochs", type=int, help="passes over the data (fast-nst 2, handwriting 10)")
    parser.add_argument("--max-steps", type=int, default=0, help="stop after N optimiser steps (0: no limit)")
    parser.add_argument("--lr", type=float, help="Adam learning rate (fast-nst 1e-3, handwriting 2e-4)")
    parser.add_argument("--workers", type=int, default=1, help="Ray Train workers (DDP)")
    parser.add_argument("--gpu", action="store_true", help="one GPU per worker")
    parser.add_argument("--checkpoint-every", type=int, default=500, help="steps between checkpoints")
    parser.add_argument("--seed", type=int, default=42)
    add_storage_argument(parser)
    nst = parser.add_argument_group("fast-nst")
    nst.add_argument("--style", help="style image URL")
    nst.add_argument("--vgg-weights", help="torchvision vgg16-397923af.pth URL, or 'torchvision'")
    nst.add_argument("--image-size", type=int, default=256)
    nst.add_argument("--style-size", type=int, default=256)
    nst.add_argument("--content-weight", type=float, default=1e5)
    nst.add_argument("--style-weight", type=float, default=1e10)
    nst.add_argument("--tv-weight", type=float, default=0.0)
    hand = parser.add_argument_group("handwriting")
    hand.add_argument("--crop-width", type=int, default=256, help="width of the training crops (pixels)")
    hand.add_argument("--alpha", type=float, default=1.0, help="weight of the intensity loss")
    hand.add_argument("--beta", type=float, default=1.0, help="weight of the gradient loss")
    hand.add_argument("--gamma", type=float, default=0.01, help="weight of the adversarial loss")
    hand.add_argument("--intensity", choices=("l1", "l2"), default="l1")
    hand.add_argument("--heldout-lines", type=int, default=200, help="held-out pairs scored after each epoch")
    hand.add_argument("--init", default="", help="generator .pth to start from (fine-tuning; ignored when OUTPUT "
                      "already holds a checkpoint, which is resumed)")
    return parser


def _given(args: argparse.Namespace, *names: str) -> dict[str, object]:
    """The shared flags the user set (None means: the operator's own default)."""
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def run(args: argparse.Namespace) -> int:
    """Train and print where the model went."""
    settings = TrainRun(data=args.data, output=args.output, workers=args.workers, use_gpu=args.gpu,
                        max_steps=args.max_steps, checkpoint_every=args.checkpoint_every, seed=args.seed,
                        storage_options=storage_options(args))
    given = _given(args, "batch_size", "epochs", "lr")
    if args.operator == "fast-nst":
        if not args.style or not args.vgg_weights:
            raise ConfigError("train fast-nst needs --style URL and --vgg-weights URL")
        final = train_fast_nst(settings, FastNSTHyperparameters(
            **given, style=args.style, vgg_weights=args.vgg_weights, image_size=args.image_size,
            style_size=args.style_size, content_weight=args.content_weight, style_weight=args.style_weight,
            tv_weight=args.tv_weight,
        ))
    elif args.operator == "handwriting":
        final = train_handwriting(settings, HandwritingHyperparameters(
            **given, crop_width=args.crop_width, alpha=args.alpha, beta=args.beta, gamma=args.gamma,
            intensity=args.intensity, heldout_lines=args.heldout_lines, init=args.init,
        ))
    else:
        raise ConfigError(f"operator {args.operator!r} has no training job; trainable: {', '.join(TRAINABLE)}")
    print(f"model: {final}  (use it with: stylebatch convert IN OUT --operator {args.operator} --weights {final})")
    return 0


main = module_main(build_parser, run)

if __name__ == "__main__":
    run_command(main)
