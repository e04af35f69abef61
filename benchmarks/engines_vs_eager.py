"""Each model through actionzoo's exact CPU engines against plain PyTorch eager, side by side.

Same weights, same input, one process, rounds interleaved (eager, engine, eager, engine, ...) so that
machine noise hits both alike. "Plain eager" is ``model(x)`` under ``torch.inference_mode()`` — what
a user of the reference code runs. Reported per clip (one view), at batch 1 and at a larger batch.

    python benchmarks/engines_vs_eager.py --out docs/bench/engines.json [--models x3d_s_k400,...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from actionzoo.engines.throughput import machine_info
from actionzoo.engines import OnnxRuntimeEngine, OpenVinoEngine, TorchEngine
from actionzoo.data.examples import example_inputs
from actionzoo.export import export_model, verify_engine
from actionzoo.zoo.registry import get_model_spec, list_models


def _time(fn, rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def bench_model(name: str, batch_sizes: list[int], rounds: int, tmp: Path) -> list[dict]:
    spec = get_model_spec(name)
    protocol = spec.protocol("official")
    path, model = export_model(name, tmp / f"{name}.onnx")
    # each runtime gets the graph `actionzoo export --target` shapes for it (TSM differs)
    ov_path, _ = export_model(name, tmp / f"{name}.openvino.onnx", net=model, target="openvino")
    engines = {
        "pytorch (actionzoo)": TorchEngine(model),
        "onnxruntime": OnnxRuntimeEngine(path),
        "openvino fp32": OpenVinoEngine(ov_path),
    }
    rows = []
    for batch in batch_sizes:
        inputs = example_inputs(protocol, batch)
        tensors = [torch.from_numpy(a) for a in inputs]

        def eager() -> None:
            with torch.inference_mode():
                model(*tensors)

        calls = {"eager": eager, **{k: (lambda e=e: e.run(*inputs)) for k, e in engines.items()}}
        for fn in calls.values():  # warm-up
            fn()
        samples: dict[str, list[float]] = {k: [] for k in calls}
        for _ in range(rounds):  # interleaved
            for key, fn in calls.items():
                samples[key] += _time(fn, 1)
        eager_ms = 1000 * statistics.median(samples["eager"]) / batch
        for key in calls:
            per_clip = 1000 * statistics.median(samples[key]) / batch
            row = {"model": name, "batch": batch, "engine": key, "ms_per_clip": round(per_clip, 2),
                   "clips_per_s": round(1000 / per_clip, 2),
                   "speedup_vs_eager": round(eager_ms / per_clip, 2)}
            if key != "eager":
                report = verify_engine(TorchEngine(model), engines[key], [inputs])
                row["max_rel_diff"] = float(f"{report.relative_diff:.2e}")
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", default=",".join(list_models()))
    parser.add_argument("--batch-sizes", default="1,4")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default="docs/bench/engines.json")
    args = parser.parse_args()
    torch.manual_seed(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            rows += bench_model(name, [int(b) for b in args.batch_sizes.split(",")], args.rounds,
                                Path(tmp))
    best = {}
    for r in rows:
        if r["engine"] in ("onnxruntime", "openvino fp32"):
            key = (r["model"], r["batch"])
            best[key] = max(best.get(key, 0.0), r["speedup_vs_eager"])
    summary = [{"model": m, "batch": b, "best_exact_engine_speedup": s} for (m, b), s in best.items()]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine_info(), "rows": rows, "summary": summary},
                              indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    print(f"machine: {machine_info()}")


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
