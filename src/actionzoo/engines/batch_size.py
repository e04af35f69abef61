"""The batch size an engine runs fastest at, measured on this machine once and remembered.

Batch size is not a free choice on a CPU: X3D-S through OpenVINO costs twice as much per clip at
batch 8 as at batch 1 on one machine, and less at batch 8 on another. ``eval`` and ``predict`` use
the measured best when the user gives no ``--batch-size``, and say which one they used; ``bench``
sweeps record what they measure for them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from actionzoo.engines.base import Engine, EngineInfo
from actionzoo.runtime.tuning import recall, remembered, store
from actionzoo.zoo.protocols import Protocol
from actionzoo.zoo.spec import ModelSpec

__all__ = ["best_batch_size", "batch_size_or_best", "soonest_batch", "remember_sweep", "remembered_rate", "DEFAULT_BATCH", "CANDIDATES", "CUDA_CANDIDATES"]

DEFAULT_BATCH = 8  # when measuring is off (ACTIONZOO_TUNING=off)
CANDIDATES = (1, 2, 4, 8, 16)
CUDA_CANDIDATES = (1, 2, 4, 8, 16, 32, 64, 128)  # a GPU wants large view batches


def _what(spec: ModelSpec, protocol: Protocol, info: EngineInfo) -> dict[str, object]:
    return {"choice": "batch size", "model": spec.name, "view": list(protocol.view_shape),
            **info.key(), "threads": info.threads}


def soonest_batch(clips_per_s: dict[str, float], views: int) -> int:
    """The measured batch size that scores ``views`` views soonest. Every engine call runs a full
    batch (the last one zero-padded, ``engines.batches``), so ``views`` take ``ceil(views / b)``
    calls of ``b / rate(b)`` seconds each: a batch larger than the run pays for its padding."""
    def seconds(batch: int) -> float:
        return math.ceil(views / batch) * batch / clips_per_s[str(batch)]

    return min((int(b) for b, rate in clips_per_s.items() if rate > 0),
               key=lambda b: (seconds(b), -b), default=DEFAULT_BATCH)


def best_batch_size(spec: ModelSpec, protocol: Protocol, engine: Engine,
                    candidates: Sequence[int] | None = None,
                    views: int | None = None) -> tuple[int, str]:
    """(batch size, how it was chosen). Measures clips/s at each candidate (one warm-up, two timed
    calls) until throughput falls twice in a row; remembered per model, view, engine and machine.
    The candidates go up to 16 views on a CPU and 128 on a CUDA device. ``views``: how many views
    the run scores; a run with fewer views than the fastest batch takes the batch that finishes
    it soonest (:func:`soonest_batch`)."""
    from actionzoo.engines.throughput import bench_engine
    from actionzoo.data.examples import example_inputs

    if candidates is None:
        on_cuda = engine.info.device.startswith("cuda")
        candidates = CUDA_CANDIDATES if on_cuda else CANDIDATES

    def measure() -> dict:
        best, rates, falls = 1, {}, 0
        for batch in candidates:
            try:
                row = bench_engine(engine, spec.name, lambda b: example_inputs(protocol, b), [batch],
                                   warmup=1, min_iterations=2, min_seconds=0.0)[0]
            except RuntimeError as error:  # torch.cuda.OutOfMemoryError is one: stop growing
                if "out of memory" not in str(error).lower():
                    raise
                break
            rates[str(batch)] = row.clips_per_s
            if row.clips_per_s >= rates.get(str(best), 0.0):
                best, falls = batch, 0
            else:
                falls += 1
                if falls == 2:
                    break
        return {"batch": best, "clips_per_s": rates}

    choice, measured = remembered(_what(spec, protocol, engine.info), measure,
                                  default={"batch": DEFAULT_BATCH})
    if "clips_per_s" not in choice:
        return DEFAULT_BATCH, "the default (measuring is off: ACTIONZOO_TUNING=off)"
    rates, batch = choice["clips_per_s"], int(choice["batch"])
    how = "measured now" if measured else "measured earlier on this machine"
    if views is not None and views < batch:
        fastest, batch = batch, soonest_batch(rates, views)
        if batch != fastest:
            return batch, (f"the soonest here for this run's {views} views ({rates[str(batch)]:.2f} "
                           f"clips/s; batch {fastest}, the fastest, would pad; {how})")
    return batch, f"the fastest here ({rates[str(batch)]:.2f} clips/s; {how})"


def batch_size_or_best(batch_size: int | None, spec: ModelSpec, protocol: Protocol,
                       engine: Engine, views: int | None = None) -> int:
    """``batch_size`` if given, else the one measured fastest for this model, engine and machine
    (for a run of ``views`` views: the one that finishes it soonest), printed with how it was
    chosen (the user sees which one a run used)."""
    if batch_size is not None:
        return batch_size
    batch, how = best_batch_size(spec, protocol, engine, views=views)
    print(f"batch size {batch} views per engine call: {how}; --batch-size sets it", flush=True)
    return batch


def remembered_rate(spec: ModelSpec, protocol: Protocol, info: EngineInfo, batch: int) -> float | None:
    """Views per second this engine ran at, at ``batch``, when the batch size was measured on this
    machine (None when it was not, or not at that batch)."""
    choice = recall(_what(spec, protocol, info)) or {}
    rate = choice.get("clips_per_s", {}).get(str(batch))
    return float(rate) if rate else None


def remember_sweep(spec: ModelSpec, protocol: Protocol, info: EngineInfo, rows) -> None:
    """Record a bench sweep's fastest batch size for ``eval`` / ``predict`` to use."""
    if not rows:
        return
    best = max(rows, key=lambda r: r.clips_per_s)
    store(_what(spec, protocol, info), {"batch": best.batch_size,
                                        "clips_per_s": {str(r.batch_size): r.clips_per_s for r in rows}})
