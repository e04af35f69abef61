"""How many decode workers ``eval``, ``predict`` and ``bench --e2e`` run when the user gives no
``--workers``: the fewest that keep the model fed, chosen from two measurements on this machine
and these videos.

On a CPU the decode workers and the engine share the cores. Two workers on a 2-core machine do not
make decoding free: every core-second they take is one the engine's threads do not get, and a
worker the model does not need only adds memory (a 720p video's views are hundreds of MB) and
contention. So the choice compares what each side costs per view:

* ``m``, the engine's wall seconds per view at the chosen batch, alone on the machine, on ``T``
  threads: taken from the batch-size measurement (``engines.batch_size``), or measured at the
  batch the user gave (one warm-up and two timed calls);
* ``d``, a worker's seconds per view (decode + building the views, on one thread: workers run
  single-threaded), measured by building the first readable video's views in one worker (AVA:
  two consecutive keyframes' clips, the second one timed, as a worker shares frames between
  neighbours).

With ``C`` cores, ``W >= 1`` workers deliver at most ``min(W, C) / d`` views/s, the engine consumes at
most ``1 / m``, and both together cannot use more than ``C`` core-seconds per second, which bounds
the rate by ``C / (m T + d)``. In-process decoding (``W = 0``) runs the two one after the other:
``1 / (m + d)``. The choice is the smallest ``W`` whose data supply exceeds the best reachable rate
by ``HEADROOM`` (videos differ in cost, and the first one may be cheaper than the rest), or ``0``
when in-process decoding is as fast as the best (one core). Scores do not depend on ``W``: each
video is decoded and its views built the same way in any process.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from torch.utils.data import Dataset

from actionzoo.engines.base import Engine
from actionzoo.runtime.distributed import DistContext
from actionzoo.runtime.tuning import available_cores, tuning_enabled
from actionzoo.zoo.protocols import Protocol
from actionzoo.zoo.spec import ModelSpec

__all__ = ["PipelineCosts", "WorkerChoice", "HEADROOM", "PROBE_VIDEOS", "views_per_second",
           "pick_workers", "measure_costs", "view_probes", "workers_or_measured", "batch_and_workers",
           "cores_per_process"]

HEADROOM = 1.5  # data supply over the best rate: the first video stands for all of them
PROBE_VIDEOS = 3  # videos (AVA: keyframes) tried, in order, until one can be read
CPU_DEFAULT = 2  # workers when measuring is off (ACTIONZOO_TUNING=off)


@dataclass(frozen=True)
class PipelineCosts:
    """What the choice is made from (seconds per view; cores)."""

    model_s_per_view: float  # the engine, alone, at the chosen batch
    data_s_per_view: float  # one worker: decode + views, one thread
    cores: int  # cores this process may use
    model_threads: int  # of those, how many the engine computes on

    def describe(self) -> str:
        return (f"model {1000 * self.model_s_per_view:.1f} ms/view on {self.model_threads} "
                f"thread{'s' if self.model_threads != 1 else ''}, a worker "
                f"{1000 * self.data_s_per_view:.1f} ms/view, {self.cores} "
                f"core{'s' if self.cores != 1 else ''}")


@dataclass(frozen=True)
class WorkerChoice:
    workers: int
    how: str | None  # why this count, with the figures it was chosen from (None: the caller's)
    costs: PipelineCosts | None = None

    def describe(self) -> str | None:
        """The line a verb prints about its choice (None when the user gave ``--workers``)."""
        if self.how is None:
            return None
        plural = "" if self.workers == 1 else "s"
        return f"{self.workers} decode worker{plural}: {self.how}; --workers sets it"


def views_per_second(costs: PipelineCosts, workers: int) -> float:
    """The rate the pipeline can reach with ``workers`` decode processes (see the module text)."""
    m, d, cores = costs.model_s_per_view, costs.data_s_per_view, costs.cores
    threads = max(1, min(costs.model_threads, cores))
    if workers == 0:
        return 1.0 / (m + d)
    return min(1.0 / m, cores / (m * threads + d), min(workers, cores) / d)


def pick_workers(costs: PipelineCosts, max_workers: int) -> int:
    """The fewest workers (0 to ``max_workers``) that keep the model fed, by the rule above."""
    if costs.model_s_per_view <= 0 or costs.data_s_per_view <= 0:
        raise ValueError(f"costs must be positive, got {costs}")
    top = max(0, min(max_workers, costs.cores))
    if top == 0:
        return 0
    best = max(views_per_second(costs, w) for w in range(top + 1))
    if views_per_second(costs, 0) >= best * (1 - 1e-9):
        return 0
    wanted = math.ceil(HEADROOM * best * costs.data_s_per_view - 1e-9)
    return max(1, min(wanted, top))


def cores_per_process() -> int:
    """The cores this process may use, shared with the other torchrun processes on this host."""
    return max(1, available_cores() // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))


def _model_seconds_per_view(spec: ModelSpec, protocol: Protocol, engine: Engine, batch: int) -> float:
    from actionzoo.data.examples import example_inputs
    from actionzoo.engines.batch_size import remembered_rate
    from actionzoo.engines.throughput import bench_engine

    rate = remembered_rate(spec, protocol, engine.info, batch)
    if rate is None:  # the user gave the batch size: time the engine at it
        rate = bench_engine(engine, spec.name, lambda b: example_inputs(protocol, b), [batch],
                            warmup=1, min_iterations=2, min_seconds=0.0)[0].clips_per_s
    return 1.0 / rate


def view_probes(records: Sequence, protocol: Protocol, uint8: bool) -> Iterator[Dataset]:
    """The data-side probes of a recognition run: each of the first PROBE_VIDEOS videos' views."""
    from actionzoo.data.views_dataset import ViewsDataset

    for position, record in enumerate(records[:PROBE_VIDEOS]):
        yield ViewsDataset([(position, record)], protocol, uint8)


def _data_seconds_per_view(probes: Iterable[Dataset]) -> float | None:
    """A worker's seconds per view on the first probe with a readable item, from its last such
    item (a probe of consecutive items measures the steady state, where a worker reuses what the
    previous item decoded). None: no probe could be read."""
    from actionzoo.runtime.workers import load_in_workers

    for probe in probes:
        readable = [item for item in load_in_workers(probe, 1) if item.rows]
        if readable:
            item = readable[-1]
            return (item.decode_s + item.preprocess_s) / len(item.rows)
    return None


def measure_costs(spec: ModelSpec, protocol: Protocol, engine: Engine, batch: int,
                  records: Sequence, probes: Iterable[Dataset] | None = None) -> PipelineCosts | None:
    """Both sides' cost per view on this machine (None when no probe could be read). ``probes``:
    datasets of a few work items each, in one worker (default: :func:`view_probes` of
    ``records``)."""
    if probes is None:
        probes = view_probes(records, protocol, engine.takes_uint8)
    data = _data_seconds_per_view(probes)
    if data is None:
        return None
    cores = cores_per_process()
    threads = engine.info.threads or cores
    return PipelineCosts(_model_seconds_per_view(spec, protocol, engine, batch), max(data, 1e-6),
                         cores, min(threads, cores))


def workers_or_measured(workers: int | None, spec: ModelSpec, protocol: Protocol, engine: Engine,
                        batch: int, records: Sequence,
                        probes: Iterable[Dataset] | None = None) -> WorkerChoice:
    """``workers`` if given; on CUDA every core (the engine computes elsewhere); otherwise the
    fewest that keep the model fed, measured (``CPU_DEFAULT`` when measuring is off).
    ``records``: the work items (never more workers than them); ``probes``: see
    :func:`measure_costs`."""
    if workers is not None:
        return WorkerChoice(workers, None)
    if engine.info.device.startswith("cuda"):
        return WorkerChoice(cores_per_process(), "every core: the engine computes on "
                            f"{engine.info.device}")
    if not tuning_enabled():
        return WorkerChoice(CPU_DEFAULT, "the default, measuring is off (ACTIONZOO_TUNING=off)")
    costs = measure_costs(spec, protocol, engine, batch, records, probes)
    if costs is None:
        return WorkerChoice(CPU_DEFAULT, f"the default, none of the first {PROBE_VIDEOS} items "
                            "could be read to measure the data side")
    chosen = pick_workers(costs, max_workers=len(records))
    rate = views_per_second(costs, chosen)
    return WorkerChoice(chosen, f"measured: {costs.describe()}; {rate:.1f} views/s", costs)


def batch_and_workers(batch: int | None, workers: int | None, spec: ModelSpec, protocol: Protocol,
                      engine: Engine, records: Sequence, ctx: DistContext,
                      probes: Iterable[Dataset] | None = None) -> tuple[int, WorkerChoice]:
    """The batch size and the worker count a run uses, each measured where None (the batch
    first, for the views each process scores; the worker count is chosen at it). One process
    chooses and prints them; every process gets its choice."""
    from actionzoo.engines.batch_size import batch_size_or_best

    choice = None
    if ctx.is_main:
        views = math.ceil(len(records) / ctx.world_size) * protocol.num_views
        batch = batch_size_or_best(batch, spec, protocol, engine, views=max(1, views))
        choice = workers_or_measured(workers, spec, protocol, engine, batch, records, probes)
        if choice.how:
            print(choice.describe(), flush=True)
    return ctx.broadcast_object((batch, choice))
