"""TSM's temporal shift in the exported graph: its cost in ONNX Runtime and OpenVINO, side by side.

Three exports of one random-weight TSM R50 (8 x 256 x 256, batch 1 by default):
``shift`` (the 2D graph: slices and concatenations), ``no-shift`` (the same graph with the shift
replaced by the identity: the floor), ``lifted-5d`` (``export --target openvino``: the clip kept as
(N, C, T, H, W), the shift a depthwise convolution). Each engine runs each graph in rounds,
interleaved, so that machine drift hits all of them; the table gives the median per graph and the
overhead over ``no-shift``.

    python benchmarks/tsm_shift.py [--batch 1] [--rounds 3] [--reps 5] [--out docs/bench/tsm_shift.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

import actionzoo.models.tsm as tsm
from actionzoo.engines.throughput import machine_info
from actionzoo.engines.onnxruntime import OnnxRuntimeEngine
from actionzoo.engines.openvino import OpenVinoEngine
from actionzoo.export.adapters import TSMAs3d
from actionzoo.export.onnx import export_onnx


def _median_ms(engine, x, reps: int) -> float:
    for _ in range(2):
        engine.run(x)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        engine.run(x)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--out", default="docs/bench/tsm_shift.json")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = tsm.tsm_r50_mmaction2(174).eval()
    x = torch.randn(args.batch, 3, 8, 256, 256)
    example = (torch.randn(2, 3, 8, 256, 256),)
    with tempfile.TemporaryDirectory() as tmp:
        files = {"shift": export_onnx(model, example, Path(tmp) / "shift.onnx"),
                 "lifted-5d": export_onnx(TSMAs3d(model).eval(), example, Path(tmp) / "lifted.onnx")}
        original = tsm.temporal_shift
        tsm.temporal_shift = lambda frames, segments, div=8: frames
        try:
            files["no-shift"] = export_onnx(model, example, Path(tmp) / "noshift.onnx")
        finally:
            tsm.temporal_shift = original
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.rounds):
            for graph, path in files.items():
                for engine_name, make in (("onnxruntime", OnnxRuntimeEngine), ("openvino", OpenVinoEngine)):
                    times.setdefault((engine_name, graph), []).append(
                        _median_ms(make(path), x.numpy(), args.reps))
    rows = []
    for engine_name in ("onnxruntime", "openvino"):
        floor = statistics.median(times[(engine_name, "no-shift")])
        for graph in ("no-shift", "shift", "lifted-5d"):
            ms = statistics.median(times[(engine_name, graph)])
            rows.append({"engine": engine_name, "graph": graph, "median_ms": round(ms, 1),
                         "over_no_shift": round(ms / floor - 1, 3),
                         "rounds_ms": [round(t, 1) for t in times[(engine_name, graph)]]})
    print(f"TSM R50 8x256x256, batch {args.batch}, fp32")
    print("| engine | graph | ms per batch | over no-shift |")
    print("|---|---|---:|---:|")
    for r in rows:
        print(f"| {r['engine']} | {r['graph']} | {r['median_ms']} | {100 * r['over_no_shift']:+.0f}% |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"machine": machine_info(), "batch": args.batch,
                                          "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
