"""Quality of a handwriting model on held-out pairs, and a sample sheet (typed | model | target).

    python benchmarks/eval_handwriting.py --lines 400 --seed 7 --sheet docs/handwriting-sample.png

Held-out pairs are rendered here exactly as `stylebatch handwriting-data --seed SEED` writes its
held-out split: words and typed fonts that the training split never uses. The figure is the mean
absolute difference (0-1 grey scale, every pixel) to the handwritten target of the model's
output, of the typed input itself (identity) and of blank paper.
"""
from __future__ import annotations

import argparse
import json

import numpy as np
from PIL import Image

from operators.handwriting import LineConverter, UNetGenerator, shipped_checkpoint
from operators.weights import load_into, load_state_dict
from pipeline.training.handwriting import heldout_l1
from pipeline.training.line_shards import decode_png, shard_table


def heldout(seed: int, count: int, shard_lines: int = 500) -> list[tuple[np.ndarray, np.ndarray]]:
    """The first `count` held-out pairs of the data set written with `seed`."""
    pairs: list[tuple[np.ndarray, np.ndarray]] = []
    for index in range(-(-count // shard_lines)):
        table = shard_table(seed, "heldout", index, min(shard_lines, count - index * shard_lines))
        pairs += [(decode_png(t), decode_png(h)) for t, h in zip(table["typed"].to_pylist(), table["hand"].to_pylist())]
    return pairs


def sample_sheet(pairs: list[tuple[np.ndarray, np.ndarray]], outputs: list[np.ndarray], rows: int) -> Image.Image:
    """Rows of typed | ours | target lines, separated by thin grey rules."""
    width = max(p[0].shape[1] for p in pairs[:rows])
    strips = []
    for (typed, hand), out in list(zip(pairs, outputs))[:rows]:
        cells = [np.pad(img, ((0, 0), (0, width - img.shape[1])), constant_values=255) for img in (typed, out, hand)]
        rule = np.full((64, 6), 160, np.uint8)
        strips.append(np.concatenate([cells[0], rule, cells[1], rule, cells[2]], axis=1))
        strips.append(np.full((4, strips[-1].shape[1]), 200, np.uint8))
    return Image.fromarray(np.concatenate(strips))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default="", help="generator .pth (default: the shipped model)")
    parser.add_argument("--lines", type=int, default=400)
    parser.add_argument("--seed", type=int, default=7, help="data seed of the held-out pairs")
    parser.add_argument("--sheet", default="", help="write a sample sheet PNG here")
    parser.add_argument("--sheet-rows", type=int, default=8)
    args = parser.parse_args()
    url = args.weights or shipped_checkpoint()
    net = UNetGenerator()
    load_into(net, load_state_dict(url), url)
    convert = LineConverter(net, "cpu")
    pairs = heldout(args.seed, args.lines)
    print(json.dumps({"weights": url, "lines": len(pairs), **heldout_l1(convert, pairs)}, indent=2))
    if args.sheet:
        shown = pairs[: args.sheet_rows]
        sample_sheet(shown, convert([typed for typed, _ in shown]), args.sheet_rows).save(args.sheet)


if __name__ == "__main__":
    main()
