"""What the driver checks before any work, for every kind of run: the operator with its resolved
options and the content of every file they name, and INPUT and OUTPUT with their storage options.
A bad configuration is one ConfigError here (exit status 2), before Ray runs anything."""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any, Mapping

from operators.errors import ConfigError
from operators.files import fingerprint
from operators.registry import get_operator
from operators.spec import Companion, OperatorSpec
from pipeline.codecs import DEFAULT_MAX_PIXELS
from pipeline.report.card import RunCard
from pipeline.runs.layout import RunLayout
from pipeline.runs.lifecycle import new_run_id
from pipeline.settings import ModelSettings, RunRequest
from pipeline.storage import filesystem, normalise, options_for

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelPlan:
    """The operator of a run, checked: its resolved options, the SHA-256 of each file an option
    names, the storage options those files are read with, and the pixel limit of style images."""

    spec: OperatorSpec
    options: dict[str, Any]
    files: dict[str, list[str]]
    storage_options: dict[str, Any]
    max_pixels: int = DEFAULT_MAX_PIXELS

    @property
    def companion(self) -> Companion | None:
        """The image read with every input, if the operator takes one."""
        return self.spec.companion(self.options)

    def actor_arguments(self) -> dict[str, Any]:
        """What each model actor is built from."""
        return {"operator": self.spec.name, "options": self.options, "storage_options": self.storage_options,
                "max_pixels": self.max_pixels}

    def identity(self) -> dict[str, Any]:
        """What makes the model's outputs what they are (new weights at the same URL are another model)."""
        return {"operator": self.spec.name, "options": self.options, "files": self.files}


@dataclass(frozen=True)
class RunPlan:
    """A checked request: the model, and INPUT and OUTPUT as absolute URLs with their storage options."""

    model: ModelPlan
    input: str
    output: str
    input_options: dict[str, Any]
    output_options: dict[str, Any]

    def card(self, kind: str, layout: RunLayout, settings: dict[str, Any]) -> RunCard:
        """The card of a new run of this plan into `layout` (see `pipeline.report`)."""
        return RunCard(run_id=new_run_id(), kind=kind, input=self.input, output=layout.output,
                       manifest_dir=layout.manifest_dir, operator=self.model.spec.name, options=self.model.options,
                       files=self.model.files, settings=settings)


def plan_model(model: ModelSettings, storage_options: Mapping[str, Any], max_pixels: int = DEFAULT_MAX_PIXELS) -> ModelPlan:
    """Resolve and check the operator (options, files present and pinned, checkpoint keys and
    shapes); the network itself is built only in the actors."""
    spec = get_operator(model.operator)
    options = spec.resolve(model.requested)
    files = spec.files_of(options)
    weight_options = options_for(next((u for urls in files.values() for u in urls), ""), storage_options)
    spec.check(options, weight_options)
    digests = {option: [fingerprint(url, weight_options) for url in urls] for option, urls in files.items()}
    return ModelPlan(spec, options, digests, weight_options, max_pixels)


def plan_run(request: RunRequest, max_pixels: int = DEFAULT_MAX_PIXELS) -> RunPlan:
    """Check a request: INPUT reachable and there, then the model."""
    source, output = normalise(request.input), normalise(request.output)
    input_options = options_for(source, request.storage_options)
    try:
        fs, root = filesystem(source, input_options)
        exists = fs.exists(root)
    except Exception as exc:  # credentials, endpoint or permission problems surface here first
        raise ConfigError(f"cannot read input {request.input}: {exc}") from None
    if not exists:
        raise ConfigError(f"input {request.input} does not exist (or is empty); check the path or URL")
    model = plan_model(request.model, request.storage_options, max_pixels)
    if output.startswith(source.rstrip("/") + "/"):
        log.info("OUTPUT lies inside INPUT: the listing leaves out OUTPUT and everything runs write there "
                 "(_manifest, _report, *.work folders, earlier runs' OUTPUTs)")
    return RunPlan(model, source, output, input_options, options_for(output, request.storage_options))


def config_hash(identity: Mapping[str, Any]) -> str:
    """The short hash that names a configuration (resume state, stamps, a video's work area)."""
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
