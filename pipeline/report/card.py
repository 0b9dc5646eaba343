"""The run card: what a run was asked to do and with which software, saved beside its report when the
run starts (so a run that aborts still has one) and again when it ends. The report page and
`stylebatch status` are built from the card and the run's manifest, never from the run's memory."""
from __future__ import annotations

import importlib.metadata
import json
import platform
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

from pipeline.storage import atomic_writer, filesystem

CARD_SUFFIX = ".json"
PACKAGES = ("stylebatch", "ray", "torch", "onnxruntime", "av", "pillow", "numpy", "pyarrow", "fsspec", "s3fs")


def versions() -> dict[str, str]:
    """Python and the installed versions of the packages a result depends on (read from their
    metadata: nothing is imported for it)."""
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


@dataclass
class RunCard:
    """One run: its kind (`convert`, `video`, `comic`), where it read and wrote, the operator with its
    resolved options and the SHA-256 of every file they name, the other settings, the versions, and
    how it ended (`running` until then, `completed` or `aborted` with the reason)."""

    run_id: str
    kind: str
    input: str
    output: str
    manifest_dir: str  # URL of the `_manifest` folder that holds this run's rows
    operator: str
    options: dict[str, Any]
    files: dict[str, list[str]]
    settings: dict[str, Any]
    versions: dict[str, str] = field(default_factory=versions)
    started_at: float = field(default_factory=time.time)
    ended_at: float | None = None
    state: str = "running"
    reason: str = ""  # why an aborted run stopped
    note: str = ""  # the run's closing lines (codecs used, flicker)
    pictures: list[dict[str, str]] = field(default_factory=list)  # input name, before and after files (report-relative)
    pages: list[str] = field(default_factory=list)  # a comic's page URLs

    def save(self, report_url: str, storage_options: Mapping[str, Any]) -> None:
        """Write the card as REPORT/<run_id>.json."""
        fs, root = filesystem(report_url, storage_options)
        with atomic_writer(fs, f"{root}/{self.run_id}{CARD_SUFFIX}") as f:
            f.write(json.dumps(asdict(self), indent=2, default=str).encode())

    def end(self, state: str, reason: str = "") -> None:
        """Mark how the run ended."""
        self.ended_at, self.state, self.reason = time.time(), state, reason


def load_cards(report_url: str, storage_options: Mapping[str, Any]) -> list[RunCard]:
    """Every run card under REPORT, oldest first (run ids sort by start time); unreadable ones skipped."""
    fs, root = filesystem(report_url, storage_options)
    cards = []
    for path in sorted(fs.glob(f"{root}/*{CARD_SUFFIX}")):
        try:
            cards.append(RunCard(**json.loads(fs.cat_file(path))))
        except (ValueError, TypeError, OSError):
            continue  # not a card (written by something else, or cut short)
    return cards
