"""How legible the handwriting model's pages are, read by Tesseract, against the same text set in
the hand font; plus the secondary L1 figure on held-out line pairs and a before/after sample sheet.

    python benchmarks/eval_handwriting.py --pages 2 --seed 7 --sheet docs/handwriting-sample.jpg

Held-out pages (`pipeline/training/eval_pages.py`): typed in three faces no training split uses
(FreeMono, FreeSerif, FreeSans at 29-32 px), slightly skewed, photographed (uneven light, blur,
noise, JPEG), each page one kind of line: lower-case prose, capitals and digits, punctuation.
Each page goes through the handwriting operator whole, as `stylebatch convert` runs it; the
figure is Tesseract's character error rate (CER) of the output over the CER of the same text set
in the hand font on the same layout (small print, prose at 12-18 px photographed at that size:
the hand font at the size the operator writes it, enlarged). The real photographed page
(scikit-image's `page`, at its own size) is held to the CER of the photo itself. Grey paper: share of the paper away from the ink that is not white.
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict

import numpy as np
from PIL import Image

from operators.handwriting import HandwritingStylizer, LineConverter, UNetGenerator, shipped_checkpoint
from operators.weights import load_into, load_state_dict
from pipeline.training.eval_pages import (
    EVAL_FONTS,
    EVAL_KINDS,
    GOALS,
    PHOTO_TEXT,
    SMALL_PRINT_SIZES,
    eval_page,
    photo_page,
    small_print_page,
)
from pipeline.training.handwriting import heldout_l1
from pipeline.training.legibility import character_errors, grey_paper, read_text
from pipeline.training.line_shards import decode_png, shard_table


def heldout(seed: int, count: int, shard_lines: int = 500) -> list[tuple[np.ndarray, np.ndarray]]:
    """The first `count` held-out pairs of the data set written with `seed`."""
    pairs: list[tuple[np.ndarray, np.ndarray]] = []
    for index in range(-(-count // shard_lines)):
        table = shard_table(seed, "heldout", index, min(shard_lines, count - index * shard_lines))
        pairs += [(decode_png(t), decode_png(h)) for t, h in zip(table["typed"].to_pylist(), table["hand"].to_pylist())]
    return pairs


def legibility(stylizer: HandwritingStylizer, seed: int, pages: int) -> tuple[dict, list]:
    """CER of the typed input, the hand font and ours per (face, kind), pooled per kind; and the
    (typed, ours) pages kept for the sample sheet (mono lower case, serif capitals, sans punctuation)."""
    counts: dict[tuple[str, str], dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    grey, kept = [], []
    for face in EVAL_FONTS:
        for kind in EVAL_KINDS:
            for index in range(pages):
                page = eval_page(seed, face, kind, index)
                ours = stylizer.page(page.typed)
                grey.append(grey_paper(ours))
                for name, image in (("typed", page.typed), ("hand_font", page.hand), ("ours", ours)):
                    edits, length = character_errors(page.text, read_text(image))
                    for key in ((face, kind), ("all", kind)):
                        counts[key][name][0] += edits
                        counts[key][name][1] += length
                if index == 0 and list(EVAL_FONTS).index(face) == EVAL_KINDS.index(kind):  # one face per kind
                    kept.append((kind, page.typed, ours))
    for face in EVAL_FONTS:
        for index in range(len(SMALL_PRINT_SIZES) * pages):  # each size `pages` times
            page = small_print_page(seed, face, index)
            size = SMALL_PRINT_SIZES[index % len(SMALL_PRINT_SIZES)]
            ours = stylizer.page(page.typed)
            for name, image in (("typed", page.typed), ("hand_font", page.hand), ("ours", ours)):
                edits, length = character_errors(page.text, read_text(image))
                for key in ((face, "small_print"), ("all", "small_print"), (f"{size}px", "small_print")):
                    counts[key][name][0] += edits
                    counts[key][name][1] += length
            if index == 1 and face == "serif":
                kept.append(("small_print", page.typed, ours))
    rows = {}
    for (face, kind), by_name in counts.items():
        cer = {name: edits / max(length, 1) for name, (edits, length) in by_name.items()}
        rows[f"{face}/{kind}"] = {**cer, "ratio": cer["ours"] / max(cer["hand_font"], 1e-9)}
    photo = photo_page()
    ours = stylizer.page(photo)
    photo_cer = {name: character_errors(PHOTO_TEXT, read_text(image)) for name, image in (("photo", photo), ("ours", ours))}
    rows["photo"] = {name: edits / length for name, (edits, length) in photo_cer.items()}
    rows["photo"]["ratio"] = rows["photo"]["ours"] / max(rows["photo"]["photo"], 1e-9)
    rows["grey_paper"] = {"mean": float(np.mean(grey)), "max": float(np.max(grey)), "photo": grey_paper(ours)}
    kept.append(("photo", photo, ours))
    return rows, kept


def before_after_sheet(kept: list, crop: tuple[int, int, int, int] = (60, 360, 60, 960)) -> Image.Image:
    """Typed | ours side by side: the top lines of one page of each kind (rows and columns `crop`),
    then a whole small-print page and the whole photographed page (theirs come out enlarged)."""
    top, bottom, left, right = crop
    pairs = [(typed, ours) if kind in ("photo", "small_print") else
             (typed[top:bottom, left:right], ours[top:bottom, left:right]) for kind, typed, ours in kept]
    width = max(image.shape[1] for pair in pairs for image in pair)
    rows = []
    for pair in pairs:
        height = max(image.shape[0] for image in pair)
        cells = [np.pad(image, ((0, height - image.shape[0]), (0, width - image.shape[1])), constant_values=255)
                 for image in pair]
        rows.append(np.concatenate([cells[0], np.full((cells[0].shape[0], 8), 160, np.uint8), cells[1]], axis=1))
        rows.append(np.full((8, rows[-1].shape[1]), 160, np.uint8))
    return Image.fromarray(np.concatenate(rows[:-1]))


def table(rows: dict) -> str:
    """README table: pooled per kind, then the photographed page."""
    lines = ["| held-out pages | CER typed input | CER hand font | CER ours | ours / hand font | goal |",
             "|---|---|---|---|---|---|"]
    for kind in EVAL_KINDS:
        row = rows[f"all/{kind}"]
        lines.append(f"| {kind} (3 faces) | {row['typed']:.3f} | {row['hand_font']:.3f} | {row['ours']:.3f} | "
                     f"{row['ratio']:.2f}x | {GOALS[kind]}x |")
    for size in ("all", *(f"{size}px" for size in SMALL_PRINT_SIZES)):
        row = rows[f"{size}/small_print"]
        name = "12-18 px" if size == "all" else size
        lines.append(f"| small print photographed at {name} (3 faces) | {row['typed']:.3f} | {row['hand_font']:.3f} | "
                     f"{row['ours']:.3f} | {row['ratio']:.2f}x | {GOALS['small_print']}x |")
    photo = rows["photo"]
    lines.append(f"| photographed page | {photo['photo']:.3f} (the photo) | - | {photo['ours']:.3f} | "
                 f"{photo['ratio']:.2f}x the photo | {GOALS['photo']}x |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default="", help="generator .pth (default: the shipped model)")
    parser.add_argument("--pages", type=int, default=2, help="pages per typed face and kind of line")
    parser.add_argument("--lines", type=int, default=400, help="held-out line pairs for the L1 figure")
    parser.add_argument("--seed", type=int, default=7, help="data seed of the held-out pages and pairs")
    parser.add_argument("--sheet", default="", help="write a before/after sample sheet PNG here")
    args = parser.parse_args()
    url = args.weights or shipped_checkpoint()
    stylizer = HandwritingStylizer({"weights": url, "tile": 1024}, "cpu", {})
    rows, kept = legibility(stylizer, args.seed, args.pages)
    net = UNetGenerator()
    load_into(net, load_state_dict(url), url)
    rows["l1"] = heldout_l1(LineConverter(net, "cpu"), heldout(args.seed, args.lines))
    print(json.dumps({"weights": url, "pages_per_face_and_kind": args.pages, **rows}, indent=2))
    print()
    print(table(rows))
    if args.sheet:
        before_after_sheet(kept).save(args.sheet)


if __name__ == "__main__":
    main()
