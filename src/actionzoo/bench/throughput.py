"""Throughput and latency: model-only sweeps over batch sizes, and the full pipeline end to end.

Model-only numbers time ``engine.run`` on a fixed random batch after warm-up; each batch size runs
for at least ``min_seconds`` and ``min_iterations``. Results come as rows that serialise to CSV and
JSON, and as a PNG of throughput against batch size per engine. The machine load is recorded with
every result, because on a shared machine it changes the figures more than most optimisations.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from actionzoo.engines.base import Engine, info_of

__all__ = ["BenchRow", "bench_engine", "write_rows", "plot_rows", "machine_info"]


@dataclass
class BenchRow:
    model: str
    engine: str
    provider: str
    device: str
    precision: str
    batch_size: int
    clips_per_s: float
    median_ms: float
    p90_ms: float
    iterations: int


def machine_info() -> dict[str, object]:
    try:
        load = os.getloadavg()
    except OSError:
        load = (float("nan"),) * 3
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": len(os.sched_getaffinity(0)),
        "loadavg": [round(x, 2) for x in load],
        "python": platform.python_version(),
    }


def bench_engine(
    engine: Engine,
    model_name: str,
    inputs_for_batch,  # Callable[[int], tuple[np.ndarray, ...]]
    batch_sizes: Sequence[int],
    *,
    warmup: int = 2,
    min_iterations: int = 5,
    min_seconds: float = 2.0,
) -> list[BenchRow]:
    rows = []
    for batch_size in batch_sizes:
        inputs = inputs_for_batch(batch_size)
        for _ in range(warmup):
            engine.run(*inputs)
        latencies: list[float] = []
        started = time.perf_counter()
        while len(latencies) < min_iterations or time.perf_counter() - started < min_seconds:
            t0 = time.perf_counter()
            engine.run(*inputs)
            latencies.append(time.perf_counter() - t0)
        median = statistics.median(latencies)
        p90 = float(np.percentile(latencies, 90))
        info = info_of(engine)
        rows.append(BenchRow(model_name, info.name, info.provider, info.device, info.precision,
                             batch_size, batch_size / median, 1000 * median, 1000 * p90,
                             len(latencies)))
    return rows


def render_rows(rows: Sequence[BenchRow]) -> str:
    header = f"{'engine':<16}{'precision':<10}{'batch':>6}{'clips/s':>10}{'median ms':>11}{'p90 ms':>9}"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(f"{r.engine:<16}{r.precision:<10}{r.batch_size:>6}{r.clips_per_s:>10.2f}"
                     f"{r.median_ms:>11.1f}{r.p90_ms:>9.1f}")
    return "\n".join(lines)


def write_rows(rows: Sequence[BenchRow], out: str | Path, extra: dict | None = None) -> Path:
    """CSV when ``out`` ends in .csv, JSON otherwise (with machine info)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".csv":
        with out.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(asdict(rows[0])) if rows else ["model"])
            writer.writeheader()
            for r in rows:
                writer.writerow(asdict(r))
    else:
        payload = {"machine": machine_info(), "rows": [asdict(r) for r in rows], **(extra or {})}
        out.write_text(json.dumps(payload, indent=2) + "\n")
    return out


def plot_rows(rows: Sequence[BenchRow], out: str | Path, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    for key in dict.fromkeys((r.engine, r.device, r.precision) for r in rows):
        series = [r for r in rows if (r.engine, r.device, r.precision) == key]
        ax.plot([r.batch_size for r in series], [r.clips_per_s for r in series], marker="o",
                label=f"{key[0]} ({key[1]}, {key[2]})")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size (clips)")
    ax.set_ylabel("throughput (clips/s)")
    ax.set_title(title or "model-only throughput")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out
