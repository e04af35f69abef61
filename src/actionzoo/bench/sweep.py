"""Model-only throughput per batch size for one or more engines (``actionzoo bench``): each engine's
sweep with the roofline columns, a reduced precision's drift on the benchmark's inputs, and the
fastest batch size remembered for ``eval`` and ``predict``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from actionzoo.engines.options import EngineOptions, build_engine

__all__ = ["ModelBench", "bench_model"]


@dataclass
class ModelBench:
    model: str
    protocol: object  # the Protocol benchmarked
    gflop_per_clip: float
    boxes_per_clip: int
    rows: list = field(default_factory=list)  # BenchRow per engine and batch size
    drifts: list = field(default_factory=list)  # DriftReport per reduced-precision engine
    notes: list[str] = field(default_factory=list)  # why a drift was not measured

    def render(self) -> str:
        from actionzoo.engines.throughput import render_rows

        protocol = self.protocol
        per_clip = (f"{self.boxes_per_clip} boxes per clip" if protocol.is_detection
                    else "one view per clip")
        c, t, h, w = protocol.view_shape
        lines = [f"{self.model}, {protocol.describe()} — model only, {per_clip}, view {t}x{h}x{w}, "
                 f"{self.gflop_per_clip:.1f} GFLOP per clip", render_rows(self.rows)]
        return "\n".join(lines + [drift.render() for drift in self.drifts])

    def write(self, prefix: str | Path) -> list[Path]:
        """``prefix``.csv, .json (with the drifts) and .png."""
        from actionzoo.engines.throughput import plot_rows, write_rows

        prefix = Path(prefix)
        return [write_rows(self.rows, prefix.with_suffix(".csv")),
                write_rows(self.rows, prefix.with_suffix(".json"),
                           {"drift": [d.to_dict() for d in self.drifts]}),
                plot_rows(self.rows, prefix.with_suffix(".png"),
                          title=f"{self.model} ({self.protocol.summary})")]


def bench_model(
    model,
    engines: Sequence[EngineOptions],
    *,
    protocol="official",
    batch_sizes: Sequence[int] = (1, 2, 4, 8, 16),
    warmup: int = 2,
    min_seconds: float = 2.0,
    boxes_per_clip: int = 4,
    reference: str | Path | None = None,
) -> ModelBench:
    """Sweep ``batch_sizes`` on random inputs of the protocol's view for each engine in turn."""
    from actionzoo.engines.batch_size import remember_sweep
    from actionzoo.bench.roofline import gflop_per_clip, matmul_peak_gflops
    from actionzoo.engines.throughput import bench_engine
    from actionzoo.data.examples import example_inputs
    from actionzoo.precision.against_fp32 import batch_drift
    from actionzoo.zoo.registry import get_model_spec

    spec = get_model_spec(model)
    protocol = spec.protocol(protocol)
    result = ModelBench(spec.name, protocol, gflop_per_clip(spec, protocol.view_shape, boxes_per_clip),
                        boxes_per_clip)
    for options in engines:
        engine = build_engine(spec, options)
        info = engine.info
        drift, note = batch_drift(spec, engine, [
            example_inputs(protocol, 2, seed=seed, boxes_per_clip=boxes_per_clip)
            for seed in range(4)], engine_options=options, reference=reference)
        if drift is not None:
            result.drifts.append(drift)
        elif note:
            result.notes.append(f"{info.describe()}: drift vs fp32 not measured: {note}")
        peak = matmul_peak_gflops(info.precision, info.threads) if info.device == "cpu" else None
        rows = bench_engine(
            engine, spec.name, lambda b: example_inputs(protocol, b, boxes_per_clip=boxes_per_clip),
            batch_sizes, warmup=warmup, min_seconds=min_seconds,
            gflop_per_clip=result.gflop_per_clip, peak_gflops=peak)
        remember_sweep(spec, protocol, info, rows)
        result.rows += rows
    return result
