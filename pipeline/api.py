"""stylebatch from Python: style models as one step of any Ray Data pipeline, and the CLI's runs as
functions (docs/python-api.md).

    ds = ray.data.read_images("s3://bucket/photos/")
    ds = stylize(ds, "onnx", options={"preset": "multistyle26", "style": "5"})
    ds.filter(lambda row: row["status"] == "converted").write_images("s3://bucket/styled/", column="image")

`stylize` adds the model actor pool to a dataset and nothing else: the caller's pipeline owns where
rows come from and go. `convert` and `video` are the CLI's runs (listing, resume, manifest, lease,
report), raising instead of exiting: ConfigError (exit status 2), RunAborted (3) and InputsFailed
(1: the others converted and recorded).
"""
from __future__ import annotations

from dataclasses import fields
from typing import Any, Mapping

import numpy as np
import ray

from operators.errors import ConfigError
from pipeline.batch import Batch, objects
from pipeline.cluster import ensure_ray
from pipeline.codecs import DEFAULT_MAX_PIXELS, DecodeError, array_in_mode
from pipeline.inference import ActorPool
from pipeline.plan import plan_model
from pipeline.run import ConvertConfig
from pipeline.run import convert as run_convert
from pipeline.runs.lifecycle import RunAborted, RunResult
from pipeline.runs.status import Outcomes, Status
from pipeline.settings import TASK_CPUS, ModelSettings, PoolSettings, RunRequest
from pipeline.variants import Variant
from pipeline.video.run import VideoConfig, convert_video

__all__ = ["stylize", "convert", "video", "InputsFailed", "ConfigError", "RunAborted", "RunResult", "PoolSettings"]


class InputsFailed(Exception):
    """Some inputs failed (each with its reason in the manifest); every other one was converted or
    skipped and recorded. `result` is the run's RunResult; the same call again retries only the failed."""

    def __init__(self, result: RunResult) -> None:
        super().__init__("\n".join(result.failure_lines()))
        self.result = result


def stylize(ds: ray.data.Dataset, operator: str, *, weights: str | None = None,
            options: Mapping[str, Any] | None = None, pool: PoolSettings | None = None,
            storage_options: Mapping[str, Any] | None = None, max_pixels: int = DEFAULT_MAX_PIXELS) -> ray.data.Dataset:
    """`ds` with its `image` column (HWC uint8 arrays, as `ray.data.read_images` makes them)
    stylized by `operator` with `options` (as `--set` takes them), through a pool of actors each
    holding the model resident on its device, sized as the CLI sizes it (`pool` overrides).

    Every other column passes through. Each row gains `status` ("converted" or "failed") and `error`
    (why, or ""): a row whose picture is not one, is larger than `max_pixels`, or fails in the model
    fails alone with an empty `image`, and the dataset goes on. The operator is checked (options,
    weights present and loadable) here, before anything runs: ConfigError."""
    model = plan_model(ModelSettings(operator, _requested(options, weights)), storage_options or {}, max_pixels)
    if model.companion:
        raise ConfigError(f"operator {operator} reads an image beside each input ({model.companion.what}): "
                          "use convert(), which finds it beside each input")
    ensure_ray()
    actors = ActorPool.for_cluster(pool or PoolSettings(), model.spec)
    ds = ds.map_batches(_model_rows, num_cpus=TASK_CPUS, batch_format="numpy",
                        fn_kwargs={"mode": model.spec.input_mode, "max_pixels": max_pixels})
    ds = actors.apply(ds, model.actor_arguments())
    return ds.map_batches(_settled_rows, num_cpus=TASK_CPUS, batch_format="numpy")


def _model_rows(batch: Batch, *, mode: str, max_pixels: int) -> Batch:
    """Each row's picture in the operator's mode and its status (failed where it is no picture or
    too large), ready for the pool."""
    rows = len(batch["image"])
    if "status" not in batch:
        batch = {**batch, "status": np.full(rows, Status.PENDING.value, object), "error": np.full(rows, "", object)}
    outcomes, images = Outcomes(batch), []
    for i, image in enumerate(batch["image"]):
        try:
            if not outcomes.pending(i):
                raise DecodeError(str(batch["error"][i]))
            picture = array_in_mode(np.asarray(image), mode)
            if picture.shape[0] * picture.shape[1] > max_pixels:
                raise DecodeError(f"{picture.shape[1]}x{picture.shape[0]} pixels is over max_pixels ({max_pixels:,})")
        except DecodeError as exc:
            outcomes.fail(i, str(exc))
            picture = np.zeros((0, 0, 3 if mode == "RGB" else 1), np.uint8)
        images.append(picture)
    return {**batch, **outcomes.columns(), "image": objects(images), "seconds": np.zeros(rows)}


def _settled_rows(batch: Batch) -> Batch:
    """The pool's rows as the caller's: pending ones converted, the pool's timing and placement
    dropped (an actor whose GPU goes unused says so in its log)."""
    status = np.where(batch["status"] == Status.PENDING.value, Status.CONVERTED.value, batch["status"]).astype(object)
    return {name: column for name, column in batch.items() if name not in ("seconds", "placement")} | {"status": status}


def convert(input: str, output: str, operator: str, *, weights: str | None = None,
            options: Mapping[str, Any] | None = None, variants: Mapping[str, Mapping[str, Any]] | None = None,
            pool: PoolSettings | None = None, storage_options: Mapping[str, Any] | None = None,
            check: bool = True, **settings: Any) -> RunResult:
    """`stylebatch convert INPUT OUTPUT --operator OPERATOR`: every image under `input` into
    `output`, resumed, with its manifest and report. `options` are `--set`, `variants` are
    `--variant NAME:...` ({"paprika": {"preset": "paprika"}, ...}), `settings` the other flags by their
    ConvertConfig names (fmt="jpg", quality=90, max_side=1024, limit=..., archive=True, wait=True,
    keep_metadata="camera"). With `check`, failed inputs raise InputsFailed."""
    extra = {"variants": tuple(Variant(name, _requested(chosen)) for name, chosen in (variants or {}).items())}
    return _run(run_convert, ConvertConfig, input, output, operator, weights, options, pool, storage_options, check,
                {**settings, **extra})


def video(input: str, output: str, operator: str, *, weights: str | None = None,
          options: Mapping[str, Any] | None = None, pool: PoolSettings | None = None,
          storage_options: Mapping[str, Any] | None = None, check: bool = True, **settings: Any) -> RunResult:
    """`stylebatch video INPUT OUTPUT --operator OPERATOR`: one movie (or an archive of frames) into
    one video file; `settings` are the other flags by their VideoConfig names (crf=18,
    preset="medium", encoder="auto", hdr="keep", deflicker=0.5, segment_seconds=..., max_side=...)."""
    return _run(convert_video, VideoConfig, input, output, operator, weights, options, pool, storage_options, check,
                settings)


def _run(runner: Any, config: type[RunRequest], input: str, output: str, operator: str, weights: str | None,
         options: Mapping[str, Any] | None, pool: PoolSettings | None, storage_options: Mapping[str, Any] | None,
         check: bool, settings: Mapping[str, Any]) -> RunResult:
    known = {f.name for f in fields(config)} - {f.name for f in fields(RunRequest)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ConfigError(f"{'video' if config is VideoConfig else 'convert'}(): no setting {', '.join(unknown)}; it takes: {', '.join(sorted(known))}")
    cfg = config(input=str(input), output=str(output), model=ModelSettings(operator, _requested(options, weights)),
                 pool=pool or PoolSettings(), storage_options=dict(storage_options or {}), **settings)
    result = runner(cfg)
    if check and result.exit_code:
        raise InputsFailed(result)
    return result


def _requested(options: Mapping[str, Any] | None, weights: str | None = None) -> dict[str, str]:
    """Operator options as `--set` gives them: text, parsed and checked by the operator."""
    requested = {key: str(value) for key, value in (options or {}).items()}
    if weights:
        requested["weights"] = str(weights)
    return requested
