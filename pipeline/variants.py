"""Several styles of one corpus in one run: `--variant NAME:KEY=VALUE[,KEY=VALUE...]`, repeatable.

Each variant is the run's operator with its own options over the run's `--set` (a preset, an ONNX
style, other weights) and writes `OUTPUT/<NAME>/<rel path>/<name>.<format>`. The run lists INPUT
once and reads and decodes each input once; every model actor holds every variant's model (V
times the weights; activations are not multiplied, the models run one after another) and gives
each input one output row per variant. Each variant has its own config hash, so resume works per
variant: adding a variant later converts only it.

Rows travel in two shapes: listed rows, one per input and variant (the journal and the manifest
hold these), and gathered rows, one per input with the lists of its pending variants, their
output keys and config hashes (`gather`). A gathered row is decoded once; the model actor spreads
it (`spread`), stylizes each variant's row and gathers the results back into the input's row
(`regather`: its pictures, statuses, errors and seconds as lists), so that an input's outputs
travel to encoding as one block, not one per variant; the write step spreads them for good.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import pyarrow as pa

from operators.errors import ConfigError
from pipeline.batch import objects
from pipeline.runs.layout import WORK_SUFFIX, RunLayout
from pipeline.settings import ModelSettings

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
NEXT_PAIR = re.compile(r",(?=\s*[A-Za-z_][A-Za-z0-9_]*=)")
GATHERED = {"variant": "variants", "output": "outputs", "config_hash": "config_hashes"}  # listed -> gathered column
STYLED = {"image": "images", "status": "statuses", "error": "errors", "seconds": "seconds_each"}  # per variant once stylized


@dataclass(frozen=True)
class Variant:
    """One style of a run: its name (the folder of its outputs) and its operator options."""

    name: str
    settings: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Variant:
        """`NAME:KEY=VALUE[,KEY=VALUE...]`; a comma not followed by `KEY=` belongs to its value (a
        list of style images: `starry:style=a.jpg,b.jpg,style_blend=0.7,0.3`)."""
        name, sep, pairs = text.partition(":")
        if not sep or not NAME.fullmatch(name) or name.endswith(WORK_SUFFIX) or RunLayout.written_by_runs(name):
            raise ConfigError(f"--variant {text!r}: use NAME:KEY=VALUE[,KEY=VALUE...], NAME of letters, digits, '_', "
                              "'.' and '-' (it names the variant's folder in OUTPUT)")
        settings = {}
        for pair in filter(None, NEXT_PAIR.split(pairs)):
            key, eq, value = pair.partition("=")
            if not eq or not key.strip():
                raise ConfigError(f"--variant {text!r}: {pair!r} is not KEY=VALUE")
            settings[key.strip()] = value
        if not settings:
            raise ConfigError(f"--variant {text!r}: give at least one KEY=VALUE (what makes this variant differ)")
        return cls(name, settings)

    def model(self, base: ModelSettings) -> ModelSettings:
        """The run's model with this variant's options over its own."""
        return ModelSettings(base.operator, {**base.requested, **self.settings})


def check_names(variants: tuple[Variant, ...]) -> None:
    """Each variant's name is its own folder: no two alike (nor alike but for case, which some
    disks fold together)."""
    seen: dict[str, str] = {}
    for variant in variants:
        if variant.name.lower() in seen:
            raise ConfigError(f"--variant {variant.name} is given twice (or as {seen[variant.name.lower()]}): "
                              "name each variant once")
        seen[variant.name.lower()] = variant.name


def gather(rows: pa.Table) -> pa.Table:
    """Listed rows (one per input and variant, pending) as gathered rows: one per input (and
    archive member), in listing order, its variants, outputs and config hashes as lists."""
    columns = {name: rows[name].to_pylist() for name in rows.column_names}
    order: dict[tuple[str, str], int] = {}
    first: list[int] = []
    lists: dict[str, list[list[str]]] = {many: [] for many in GATHERED.values()}
    members = columns.get("member") or [""] * rows.num_rows
    for i, key in enumerate(zip(columns["input"], members)):
        if key not in order:
            order[key] = len(first)
            first.append(i)
            for many in lists.values():
                many.append([])
        for one, many in GATHERED.items():
            lists[many][order[key]].append(columns[one][i])
    kept = {name: [values[i] for i in first] for name, values in columns.items() if name not in GATHERED}
    return pa.table({**{name: pa.array(values, rows[name].type) for name, values in kept.items()},
                     **{name: pa.array(values, pa.list_(pa.string())) for name, values in lists.items()}})


def spread(batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Gathered rows back as one row per input and variant. Columns held per variant (GATHERED, and
    STYLED once stylized) are flattened; the others are repeated, so each variant's row of an input
    not yet stylized holds the input's decoded picture (the same array, not a copy), and a row that
    failed before (its decoding) fails in every variant with its reason."""
    origin = np.repeat(np.arange(len(batch["variants"])), [len(names) for names in batch["variants"]])
    many = {plural: singular for singular, plural in {**GATHERED, **STYLED}.items() if plural in batch}
    out = {name: column[origin] for name, column in batch.items() if name not in many and name not in many.values()}
    for plural, singular in many.items():
        values = [value for values in batch[plural] for value in values]
        out[singular] = np.array(values, np.float64) if singular == "seconds" else objects(values)
    return out


def regather(rows: Mapping[str, np.ndarray], counts: list[int]) -> dict[str, np.ndarray]:
    """`spread`'s rows, stylized, back as one row per input (`counts` rows each, in order): the
    columns that differ by variant as lists, the others as the input's first row has them."""
    starts = np.cumsum([0, *counts[:-1]]).astype(int)
    per_variant = {**GATHERED, **STYLED}
    out = {name: column[starts] for name, column in rows.items() if name not in per_variant}
    for singular, plural in per_variant.items():
        if singular in rows:
            out[plural] = objects([list(rows[singular][start : start + count]) for start, count in zip(starts, counts)])
    return out
