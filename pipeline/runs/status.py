"""How an input ends in a run, and a run's counts of them."""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


class Status(str, Enum):
    """An input's status in a row: `pending` while it travels the chain, then exactly one of the
    manifest's three. The values are what the manifest stores."""

    PENDING = "pending"
    CONVERTED = "converted"
    SKIPPED = "skipped"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


DONE = (Status.CONVERTED, Status.SKIPPED)  # what a rerun need not do again


@dataclass(kw_only=True)
class Counts:
    """How many inputs of a run ended how; converted + skipped + failed = inputs."""

    inputs: int = 0
    converted: int = 0
    skipped: int = 0
    failed: int = 0

    @classmethod
    def of(cls, rows: pa.Table) -> Counts:
        """The counts of a table of manifest rows."""
        counts = cls()
        counts.count(rows)
        return counts

    def count(self, rows: pa.Table) -> None:
        """Add a table of manifest rows to the counts."""
        for entry in rows["status"].value_counts().to_pylist():
            status = Status(entry["values"])
            if status is Status.PENDING:
                raise ValueError("a manifest row is settled: converted, skipped or failed, never pending")
            setattr(self, status.value, getattr(self, status.value) + entry["counts"])
        self.inputs += rows.num_rows

    @classmethod
    def by_variant(cls, rows: pa.Table) -> list[tuple[str, Counts]]:
        """The counts of each variant of a run of several styles, in name order; [] for a run of one."""
        if "variant" not in rows.column_names:
            return []
        names = sorted(name for name in pc.unique(rows["variant"]).to_pylist() if name)
        return [(name, cls.of(rows.filter(pc.equal(rows["variant"], name)))) for name in names]

    def clear(self) -> None:
        """Zero the counts (before they are counted again from the joined manifest)."""
        self.inputs = self.converted = self.skipped = self.failed = 0


@dataclass(kw_only=True)
class Totals(Counts):
    """A run's counts, time and rate, as its summary file (`_manifest/<run_id>.json`) holds them."""

    run_id: str
    operator: str
    config_hash: str
    seconds: float = 0.0
    images_per_second: float = 0.0
    aborted: bool = False


class Outcomes:
    """The status and error columns of a batch, copied for one step to settle its rows: a step works
    only on pending rows and turns its own failures into failed rows, so one bad input never stops
    a batch."""

    def __init__(self, batch: Mapping[str, np.ndarray]) -> None:
        self.status, self.error = batch["status"].copy(), batch["error"].copy()

    def pending(self, i: int) -> bool:
        return self.status[i] == Status.PENDING

    def fail(self, i: int, reason: str) -> None:
        self.status[i], self.error[i] = Status.FAILED.value, reason

    def refuse(self, i: int, line: str) -> None:
        """The store took no write: the row stays pending (this input did not fail; the run stops,
        and the rerun does it) with the store's `line` for the run to end with."""
        self.error[i] = line

    def settle(self, i: int, status: Status) -> None:
        self.status[i] = status.value

    def columns(self) -> dict[str, np.ndarray]:
        """The batch's new status and error columns."""
        return {"status": self.status, "error": self.error}
