"""`stylebatch train OPERATOR --data URL --output URL ...`: train a model on Ray Train."""
from __future__ import annotations

import argparse

from jobs.common import run_command
from operators.errors import ConfigError
from pipeline.storage import parse_storage_options
from pipeline.train_fast_nst import FastNSTTrainConfig, train_fast_nst

TRAINABLE = ("fast-nst",)


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The train command's arguments."""
    parser = parser or argparse.ArgumentParser(prog="stylebatch train", description=__doc__)
    parser.add_argument("operator", help=f"what to train: {', '.join(TRAINABLE)}")
    parser.add_argument("--data", required=True, help="prefix of content images (any fsspec URL)")
    parser.add_argument("--output", required=True, help="prefix for checkpoints and the final .pth")
    parser.add_argument("--style", required=True, help="style image URL")
    parser.add_argument("--vgg-weights", required=True, help="torchvision vgg16-397923af.pth URL, or 'torchvision'")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--style-size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=4, help="per worker")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--max-steps", type=int, default=0, help="stop after N optimiser steps (0: no limit)")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--content-weight", type=float, default=1e5)
    parser.add_argument("--style-weight", type=float, default=1e10)
    parser.add_argument("--tv-weight", type=float, default=0.0)
    parser.add_argument("--workers", type=int, default=1, help="Ray Train workers (DDP)")
    parser.add_argument("--gpu", action="store_true", help="one GPU per worker")
    parser.add_argument("--checkpoint-every", type=int, default=500, help="steps between checkpoints")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--storage-option", dest="storage_options", action="append", default=[], metavar="KEY=VALUE")
    return parser


def run(args: argparse.Namespace) -> int:
    """Train and print where the model went."""
    if args.operator not in TRAINABLE:
        raise ConfigError(f"operator {args.operator!r} has no training job; trainable: {', '.join(TRAINABLE)}")
    final = train_fast_nst(FastNSTTrainConfig(
        data=args.data, output=args.output, style=args.style, vgg_weights=args.vgg_weights,
        image_size=args.image_size, style_size=args.style_size, batch_size=args.batch_size, epochs=args.epochs,
        max_steps=args.max_steps, lr=args.lr, content_weight=args.content_weight, style_weight=args.style_weight,
        tv_weight=args.tv_weight, workers=args.workers, use_gpu=args.gpu, checkpoint_every=args.checkpoint_every,
        seed=args.seed, storage_options=parse_storage_options(args.storage_options),
    ))
    print(f"model: {final}  (use it with: stylebatch convert IN OUT --operator {args.operator} --weights {final})")
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m jobs.train ...`"""
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    run_command(main)
