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

from actionzoo.engines.base import Engine, require_engine
from actionzoo.runtime.tuning import available_cores, cpu_flags, cpu_model

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
    gflop_per_clip: float | None = None  # 2 per multiply-add, at the input shape benchmarked
    achieved_gflops: float | None = None
    peak_gflops: float | None = None  # the measured matrix-multiply peak in this precision
    peak_fraction: float | None = None
    settings: str = ""  # the engine's other speed choices: "channels-last-3d on, cuda graphs on"


_ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_bf16",
              "amx_int8", "avx_vnni")


def machine_info() -> dict[str, object]:
    try:
        load = os.getloadavg()
    except OSError:
        load = (float("nan"),) * 3
    return {
        "cpu": platform.processor() or platform.machine(),
        "cpu_model": cpu_model(),
        # the vector extensions that decide which kernels the runtimes pick
        "isa": [f for f in cpu_flags() if f in _ISA_FLAGS],
        "cores": available_cores(),
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
    gflop_per_clip: float | None = None,
    peak_gflops: float | None = None,
) -> list[BenchRow]:
    """Model-only throughput per batch size; with ``gflop_per_clip`` (and ``peak_gflops``) each
    row also says how many GFLOP/s that is (and which fraction of the peak)."""
    info = require_engine(engine).info
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
        achieved = gflop_per_clip * batch_size / median if gflop_per_clip else None
        rows.append(BenchRow(model_name, info.name, info.provider, info.device, info.precision,
                             batch_size, batch_size / median, 1000 * median, 1000 * p90,
                             len(latencies), gflop_per_clip, achieved, peak_gflops,
                             achieved / peak_gflops if achieved and peak_gflops else None,
                             ", ".join(f"{k} {v}" for k, v in info.settings)))
    return rows


def render_rows(rows: Sequence[BenchRow]) -> str:
    header = (f"{'engine':<16}{'precision':<10}{'batch':>6}{'clips/s':>10}{'median ms':>11}"
              f"{'p90 ms':>9}{'GFLOP/s':>10}{'% of peak':>11}")
    lines = [header, "-" * len(header)]
    for r in rows:
        achieved = f"{r.achieved_gflops:>10.1f}" if r.achieved_gflops else f"{'–':>10}"
        share = f"{100 * r.peak_fraction:>10.0f}%" if r.peak_fraction else f"{'–':>11}"
        lines.append(f"{r.engine:<16}{r.precision:<10}{r.batch_size:>6}{r.clips_per_s:>10.2f}"
                     f"{r.median_ms:>11.1f}{r.p90_ms:>9.1f}{achieved}{share}")
    peaks = {(r.precision, r.peak_gflops) for r in rows if r.peak_gflops}
    for precision, peak in sorted(peaks):
        lines.append(f"measured {precision} matrix-multiply peak here: {peak:.1f} GFLOP/s")
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
    from matplotlib.figure import Figure  # not pyplot: no global backend or figure registry

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    roofline = any(r.achieved_gflops for r in rows)
    fig = Figure(figsize=(11 if roofline else 6, 4), dpi=110)
    axes = fig.subplots(1, 2 if roofline else 1, squeeze=False)
    ax = axes[0][0]
    for key in dict.fromkeys((r.engine, r.device, r.precision) for r in rows):
        series = [r for r in rows if (r.engine, r.device, r.precision) == key]
        ax.plot([r.batch_size for r in series], [r.clips_per_s for r in series], marker="o",
                label=f"{key[0]} ({key[1]}, {key[2]})")
        if roofline:
            axes[0][1].plot([r.batch_size for r in series],
                            [r.achieved_gflops or 0 for r in series], marker="o",
                            label=f"{key[0]} ({key[2]})")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size (clips)")
    ax.set_ylabel("throughput (clips/s)")
    ax.set_title(title or "model-only throughput")
    ax.grid(True, alpha=0.3)
    ax.legend()
    if roofline:
        right = axes[0][1]
        for precision, peak in sorted({(r.precision, r.peak_gflops) for r in rows if r.peak_gflops}):
            right.axhline(peak, linestyle="--", color="grey")
            right.annotate(f"{precision} matmul peak {peak:.0f}", (rows[0].batch_size, peak),
                           textcoords="offset points", xytext=(2, 3), fontsize=8)
        right.set_xscale("log", base=2)
        right.set_xlabel("batch size (clips)")
        right.set_ylabel("achieved GFLOP/s")
        right.set_title("against the measured peak")
        right.grid(True, alpha=0.3)
        right.legend()
    fig.tight_layout()
    fig.savefig(out)
    return out
