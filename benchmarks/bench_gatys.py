"""Gatys optimisation: a batch of images optimised at once vs one at a time, on one device.

    python benchmarks/bench_gatys.py --images 4 --size 256 --steps 20

VGG-19 weights are random in torchvision's file format (the compute is that of the real ones).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image

from operators.registry import get_operator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--size", type=int, default=256, help="working size (images are this square)")
    parser.add_argument("--steps", type=int, default=20, help="L-BFGS iterations")
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.images, args.size, args.size, 3), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as work:
        vgg = Path(work) / "vgg19-dcbb9e9d.pth"
        torch.manual_seed(0)
        torch.save(torchvision.models.vgg19(weights=None).state_dict(), vgg)
        style = Path(work) / "style.png"
        Image.fromarray(rng.integers(0, 256, (args.size, args.size, 3), dtype=np.uint8)).save(style)
        spec = get_operator("gatys")
        stylize = spec.build(spec.resolve({"vgg_weights": str(vgg), "style": str(style), "size": str(args.size),
                                           "steps": str(args.steps)}), device, {})
        stylize(images[:1])  # warm-up
        start = time.perf_counter()
        stylize(images)
        batched = args.images / (time.perf_counter() - start)
        start = time.perf_counter()
        for i in range(args.images):
            stylize(images[i : i + 1])
        single = args.images / (time.perf_counter() - start)
    print(f"gatys on {device}, {args.images} images {args.size}x{args.size}, {args.steps} L-BFGS steps\n")
    print("| mode | images/s | vs one at a time |\n|---|---|---|")
    print(f"| batched ({args.images} at once) | {batched:.3f} | {batched / single:.2f}x |")
    print(f"| one at a time | {single:.3f} | 1.00x |")


if __name__ == "__main__":
    main()
