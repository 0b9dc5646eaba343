"""OUTPUT's layout: every place a run writes, in one object, so no other module joins these paths.

A run whose OUTPUT is a folder keeps its records in it (`OUTPUT/_manifest`, `OUTPUT/_report`);
a run whose OUTPUT is one file (a video, an `--archive`) keeps them, and its work, in `OUTPUT.work/`.
A video's manifests and segments sit one level deeper, in a work area per configuration
(`OUTPUT.work/<config hash>/`), so that segments cut for another configuration are never joined.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

import fsspec

from pipeline.storage import filesystem, to_url

MANIFEST_DIR = "_manifest"
REPORT_DIR = "_report"
PARTS_DIR = "_parts"
LISTING_DIR = "listed"
STATE_DIR = "state"
LEASE_NAME = "lease.json"
WORK_SUFFIX = ".work"
SEGMENT_NAME = "seg-{:06d}.mp4"
RECORDS = (MANIFEST_DIR, REPORT_DIR)  # what a run keeps for itself beside its outputs


@dataclass(frozen=True)
class RunLayout:
    """Where one OUTPUT's results and records are.

    `results`: where outputs are written (OUTPUT, or OUTPUT.work for an archive run, packed later);
    `home`: the lease and the report; `records`: the manifest folder's parent (the home, or a
    video's work area)."""

    output: str
    results: str
    home: str
    records: str
    storage_options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def for_folder(cls, output: str, storage_options: Mapping[str, Any]) -> RunLayout:
        """A run that writes a folder of outputs (`convert`, a comic's panels)."""
        return cls(output, output, output, output, dict(storage_options))

    @classmethod
    def for_archive(cls, output: str, storage_options: Mapping[str, Any]) -> RunLayout:
        """`convert --archive`: outputs and records in OUTPUT.work/, then packed into OUTPUT."""
        work = output + WORK_SUFFIX
        return cls(output, work, work, work, dict(storage_options))

    @classmethod
    def for_video(cls, output: str, storage_options: Mapping[str, Any]) -> RunLayout:
        """A video run before its configuration is known: lease and report in OUTPUT.work/."""
        work = output + WORK_SUFFIX
        return cls(output, output, work, work, dict(storage_options))

    def work_area(self, config_hash: str) -> RunLayout:
        """This video layout with its records and segments in OUTPUT.work/<config hash>/."""
        return replace(self, records=f"{self.home}/{config_hash}")

    @classmethod
    def of_records(cls, manifest_dir: str, storage_options: Mapping[str, Any]) -> RunLayout:
        """The layout that reads the runs recorded in `manifest_dir` (a run card names it)."""
        records = manifest_dir.rstrip("/").rsplit("/", 1)[0]
        return cls(records, records, records, records, dict(storage_options))

    @classmethod
    def of_existing(cls, output: str, storage_options: Mapping[str, Any]) -> RunLayout:
        """The layout earlier runs left in OUTPUT (for `report` and `status`): one-file outputs have
        their records in OUTPUT.work/."""
        fs, root = filesystem(output, storage_options)
        if fs.exists(f"{root}{WORK_SUFFIX}/{REPORT_DIR}") or fs.isfile(root):
            return cls.for_video(output, storage_options)
        return cls.for_folder(output, storage_options)

    @property
    def one_file(self) -> bool:
        """Whether OUTPUT is one file (a video or an archive), its records beside it in OUTPUT.work/."""
        return self.home != self.output

    @property
    def manifest_dir(self) -> str:
        return f"{self.records}/{MANIFEST_DIR}"

    @property
    def report_dir(self) -> str:
        return f"{self.home}/{REPORT_DIR}"

    @property
    def lease(self) -> str:
        return f"{self.home}/{MANIFEST_DIR}/{LEASE_NAME}"

    @property
    def parts_root(self) -> str:
        """Where runs still going (or killed) keep their manifest parts, a folder per run."""
        return f"{self.manifest_dir}/{PARTS_DIR}"

    def parts_dir(self, run_id: str) -> str:
        return f"{self.parts_root}/{run_id}"

    def listing_dir(self, run_id: str) -> str:
        """The run's listing journal: the inputs it sent on with work to do."""
        return f"{self.parts_dir(run_id)}/{LISTING_DIR}"

    def manifest(self, run_id: str) -> str:
        return f"{self.manifest_dir}/{run_id}.parquet"

    def summary(self, run_id: str) -> str:
        return f"{self.manifest_dir}/{run_id}.json"

    def state(self, config_hash: str) -> str:
        """The resume state of one configuration: a key per input version it has done."""
        return f"{self.manifest_dir}/{STATE_DIR}/{config_hash}.parquet"

    def segment(self, index: int) -> str:
        """A video segment's file in the work area."""
        return f"{self.records}/{SEGMENT_NAME.format(index)}"

    @property
    def keyframes(self) -> str:
        """A comic's keyframes, as found in the video (the input of its panels' run)."""
        return f"{self.output}/keyframes"

    @property
    def panels(self) -> str:
        """A comic's stylized panels: an image run of its own, with its own records."""
        return f"{self.output}/panels"

    def page(self, number: int) -> str:
        return f"{self.output}/page-{number:03d}.png"

    @property
    def pdf(self) -> str:
        return f"{self.output}/comic.pdf"

    def manifest_dirs(self) -> list[tuple[str, str]]:
        """(manifest folder, kind of run) of every run this OUTPUT holds records of: a one-file
        OUTPUT has a video's work areas and an archive run's folder."""
        if not self.one_file:
            return [(self.manifest_dir, "convert")]
        fs, home = filesystem(self.home, self.storage_options)
        areas = [(to_url(fs, path), "video") for path in fs.glob(f"{home}/*/{MANIFEST_DIR}")]
        return [*areas, (f"{self.home}/{MANIFEST_DIR}", "convert")]

    @staticmethod
    def written_by_runs(name: str) -> bool:
        """Whether a folder named `name` is one a run writes for itself (records, a work area): a
        listing never takes inputs from it."""
        return name in RECORDS or name.endswith(WORK_SUFFIX)

    @staticmethod
    def is_record(relative: str) -> bool:
        """Whether a path relative to `results` is one of the run's own records rather than an output."""
        return relative.split("/", 1)[0] in RECORDS

    def fs(self, url: str) -> tuple[fsspec.AbstractFileSystem, str]:
        """The filesystem of one of this layout's URLs and the path in it."""
        return filesystem(url, self.storage_options)
