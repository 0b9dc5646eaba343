"""The model step of a run: a pool of actors, each holding one operator model resident on its device."""
from __future__ import annotations

import ctypes
import logging
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
import ray

from operators.images import limit_pixels
from operators.registry import get_operator
from operators.spec import OperatorSpec
from pipeline.batch import Batch, objects
from pipeline.cluster import bounded_retries
from pipeline.runs.status import Outcomes
from pipeline.settings import CPU_ACTORS_MAX, TASK_CPUS, PoolSettings
from pipeline.variants import regather, spread

log = logging.getLogger(__name__)
# glibc's mallopt parameters (malloc.h) and the size up to which freed memory is kept for reuse
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
KEPT_HEAP_BYTES = 1 << 30


def keep_freed_memory() -> None:
    """Make glibc keep freed memory in the process for the next allocation.

    By default an allocation above glibc's mmap threshold (at most 32 MiB: one 64-channel
    activation at 384x384 is 38 MiB) is mapped fresh from the kernel and unmapped when freed, so
    every forward pass on a CPU page-faults and zeroes each large activation again. With the
    thresholds raised, AnimeGANv2 at 384x384 runs 10-15% faster on one core (README, Benchmark).
    The actor's memory stays at its peak working set between calls instead of dropping back to
    the weights. Other C libraries (musl) have no mallopt: nothing changes there."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.mallopt(M_MMAP_THRESHOLD, KEPT_HEAP_BYTES)
    libc.mallopt(M_TRIM_THRESHOLD, KEPT_HEAP_BYTES)


def where_it_runs(operator: str, model: object, gpus: list) -> str:
    """The run note's line for one actor's model: where it really runs (its `placement`), and a
    warning where the actor holds a GPU but the model runs on the CPU (never silent)."""
    placed = getattr(model, "placement", "") or "cpu"
    line = f"{operator} on {placed}"
    if gpus and placed.startswith("cpu"):
        hint = ("ONNX Runtime has no working CUDA provider on this node: install stylebatch[gpu] "
                "(onnxruntime-gpu in place of onnxruntime)" if "ExecutionProvider" in placed
                else "torch sees no CUDA device on this node")
        line = f"warning: a model actor holds GPU {','.join(map(str, gpus))} but {line}: {hint}"
    return line


class StylizeActor:
    """Holds one operator model resident on this actor's device (or one per variant of a run of
    several styles); stylizes equal-shape groups."""

    def __init__(self, operator: str, options: Mapping[str, Any], storage_options: Mapping[str, Any],
                 max_batch: int, threads: int, max_pixels: int,
                 variants: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        keep_freed_memory()
        spec = get_operator(operator)  # imports its module, and torch only if the operator uses it
        if threads and "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)
        limit_pixels(max_pixels)  # style images and maps obey the run's --max-pixels too
        self.models = {name: spec.build(variant_options, "auto", storage_options)
                       for name, variant_options in (variants or {"": options}).items()}
        self.model = next(iter(self.models.values()))
        self.max_batch = max_batch
        self.placement = where_it_runs(operator, self.model, ray.get_gpu_ids())
        if self.placement.startswith("warning"):
            log.warning(self.placement)

    def __call__(self, batch: Batch) -> Batch:
        """Stylize each pending row's `image`. Gathered rows (a run's, with `variants`) are spread
        into one row per input and variant, each through its variant's model, and gathered back:
        an input's outputs leave the actor as one row."""
        if "variants" in batch:  # not through self(...): Ray runs an actor's calls on one thread, wrapped
            out = regather(self._stylize(spread(batch)), [len(names) for names in batch["variants"]])
        else:
            out = self._stylize(batch)
        rows = len(next(iter(batch.values())))  # one out per row in, gathered or not
        return {**out, "placement": np.full(rows, self.placement, object)}

    def _stylize(self, batch: Batch) -> Batch:
        """Each pending row through its variant's model, in groups of one variant and shape."""
        images = list(batch["image"])
        variants = batch["variant"] if "variant" in batch else [""] * len(images)
        outcomes, seconds = Outcomes(batch), batch["seconds"].copy()
        groups: dict[tuple[str, tuple[int, ...]], list[int]] = {}
        for i in range(len(images)):
            if outcomes.pending(i):
                groups.setdefault((variants[i], images[i].shape), []).append(i)
        for (variant, _), members in groups.items():
            for start in range(0, len(members), self.max_batch):
                self._run(self.models[variant], members[start : start + self.max_batch], images, outcomes, seconds)
        return {**batch, "image": objects(images), **outcomes.columns(), "seconds": seconds}

    def _run(self, model: Callable[[np.ndarray], Any], rows: list[int], images: list, outcomes: Outcomes,
             seconds: np.ndarray) -> None:
        """One forward pass of `model` over `rows`; if it fails, each row is tried alone so one image
        fails alone."""
        start = time.perf_counter()
        try:
            out = model(np.stack([images[i] for i in rows]))
        except Exception as exc:  # a model error must fail its own inputs, not the job
            if len(rows) > 1:
                for i in rows:
                    self._run(model, [i], images, outcomes, seconds)
                return
            outcomes.fail(rows[0], f"model failed: {type(exc).__name__}: {exc}")
            images[rows[0]] = images[rows[0]][:0, :0]
            return
        share = (time.perf_counter() - start) / len(rows)
        for k, i in enumerate(rows):
            images[i] = out[k]
            seconds[i] += share


@dataclass(frozen=True)
class ActorPool:
    """How many model actors, what each reserves, its torch threads and its batch size, how many
    decode (and encode) tasks may run at once beside them, and how often work whose worker died is
    tried again."""

    size: int
    num_gpus: float
    num_cpus: float
    threads: int
    batch_size: int
    cpu_tasks: int
    max_retries: int

    @classmethod
    def for_cluster(cls, settings: PoolSettings, spec: OperatorSpec, actor_per_core: bool = True) -> ActorPool:
        """One actor per GPU (batches of the operator's size). Without GPUs, one image at a time (a
        batch is no faster per image on a CPU and costs memory) and, with `actor_per_core`, one
        single-threaded actor per core up to CPU_ACTORS_MAX (beyond that each actor gets several
        threads): separate actors outrun one actor using every core, whose threads wait for each
        other whenever a decode task or a Ray process takes a core (README, Benchmark). Otherwise
        (an actor that runs threads of its own, as the video segment actor does) one actor. Actors
        reserve a fraction of a CPU so that read, decode and encode tasks can always run; those
        tasks run at most one per two CPUs at a time, so that a small node starts a few task
        workers, not one per queued block, while the model loads. A GPU actor that decodes and
        encodes itself (not `actor_per_core`: video) reserves its share of its node's cores but
        one, since a GPU without NVENC (H100, H200, A100) leaves the encoding to x264 there."""
        resources = ray.cluster_resources()
        cpus, gpus = int(resources.get("CPU", 1.0)), resources.get("GPU", 0.0)
        gpus_per_actor = settings.gpus_per_actor if settings.gpus_per_actor is not None else (1.0 if gpus else 0.0)
        if gpus_per_actor:
            size = settings.actors or max(1, int(gpus / gpus_per_actor))
            batch_size = settings.batch_size or spec.batch_size
        else:
            size = settings.actors or (max(1, min(cpus, CPU_ACTORS_MAX)) if actor_per_core else 1)
            batch_size = settings.batch_size or 1
        num_cpus = 1.0 if gpus_per_actor and cpus >= size + 2 else 0.5
        if gpus_per_actor and not actor_per_core:
            num_cpus = max(num_cpus, float(int(cpus_per_gpu(ray.nodes()) * gpus_per_actor) - 1))
        return cls(size=size, num_gpus=gpus_per_actor, num_cpus=num_cpus,
                   threads=0 if gpus_per_actor else max(1, min(_largest_node_cpus(cpus), cpus // size)),
                   batch_size=batch_size, cpu_tasks=max(1, cpus // 2), max_retries=settings.max_retries)

    def _strategy(self, isolated: bool, calls_per_actor: int) -> ray.data.ActorPoolStrategy:
        """A GPU pool starts whole. A CPU pool starts with one actor and grows as work queues: the
        first actor loads without its siblings' start-up competing for the cores, and the run's
        first outputs come seconds sooner. `calls_per_actor` > 1 runs that many calls of an actor at
        once, in threads (the actor keeps its model to one call at a time)."""
        in_flight = 1 if isolated else None
        threaded = {"max_concurrent_calls_per_actor": calls_per_actor,
                    "enable_true_multi_threading": calls_per_actor > 1}
        if self.num_gpus:
            return ray.data.ActorPoolStrategy(size=self.size, max_tasks_in_flight_per_actor=in_flight, **threaded)
        return ray.data.ActorPoolStrategy(min_size=1, max_size=self.size, initial_size=1,
                                          max_tasks_in_flight_per_actor=in_flight, **threaded)

    def tasks(self) -> dict[str, Any]:
        """`map_batches` arguments of a CPU step beside the pool: bounded concurrency, bounded retries
        when its worker dies (Ray's default retries forever)."""
        return {"num_cpus": TASK_CPUS, "compute": ray.data.TaskPoolStrategy(size=self.cpu_tasks),
                "max_retries": self.max_retries}

    def apply(self, ds: ray.data.Dataset, actor_arguments: Mapping[str, Any], actor: type = StylizeActor,
                rows_per_call: int | None = None, isolated: bool = False, calls_per_actor: int = 1) -> ray.data.Dataset:
        """`ds` through the pool: each `actor` is built from `actor_arguments` (operator, options,
        storage_options) and called with `rows_per_call` rows (default: the batch size), up to
        `calls_per_actor` calls at once. `isolated` sends an actor one call at a time, so that an
        input that kills it costs no other input a try."""
        with bounded_retries():
            return ds.map_batches(
                actor,
                batch_size=rows_per_call or self.batch_size,
                compute=self._strategy(isolated, calls_per_actor),
                num_gpus=self.num_gpus,
                num_cpus=self.num_cpus,
                fn_constructor_kwargs={**actor_arguments, "max_batch": self.batch_size, "threads": self.threads},
                # a dead actor is always replaced (each death costs a call one of its bounded retries),
                # so a poison input cannot empty the pool
                max_restarts=-1,
                max_task_retries=self.max_retries,
            )


def cpus_per_gpu(nodes: list[dict[str, Any]]) -> float:
    """The fewest CPUs per GPU on a live node with GPUs, of `ray.nodes()` (0 where there is none)."""
    return min((node["Resources"].get("CPU", 0) / node["Resources"]["GPU"] for node in nodes
                if node["Alive"] and node["Resources"].get("GPU")), default=0.0)


def _largest_node_cpus(default: int) -> int:
    """The most CPUs one live node has: an actor's threads never outnumber its node's cores."""
    return max((int(node["Resources"].get("CPU", 0)) for node in ray.nodes() if node["Alive"]), default=default)
