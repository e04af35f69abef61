"""The accelerator check: model-only throughput and latency per batch size for every recognizer and
the AVA detector, fp32 vs bf16 vs fp16, eager vs ``torch.compile``, each reduced precision's drift
vs fp32 on the same inputs; then end-to-end evaluation (decode workers on every core, uint8 upload,
large view batches) on synthetic Kinetics-like videos with the stage split.

Runs on the torch path alone (no OpenVINO, ONNX or ONNX Runtime imported), from the source tree:

    PYTHONPATH=src python benchmarks/gpu_check.py --device cuda --out gpu_check
    PYTHONPATH=src python benchmarks/gpu_check.py --device cpu --tiny --out /tmp/gpu_check  # smoke

Writes OUT/model_only.csv and .json (one row per model, precision, mode, batch size), OUT/drift.json,
OUT/e2e.json, OUT/throughput.png and OUT/summary.md (the targets table: per model, the fastest
precision whose top-1 agreement with fp32 is >= 99.5 %). A time budget (``--budget-s``) stops
measuring once spent and lists what was skipped, so a run on borrowed time always ends with files.
Weights are random unless ``--checkpoints DIR`` holds ``<model>.<pth|pyth>``: drift agreement on
random weights measures the arithmetic, not a trained model's decisions (the summary says which).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from actionzoo.engines.throughput import machine_info
from actionzoo.data.examples import example_inputs
from actionzoo.precision.drift import compare_scores
from actionzoo.zoo.registry import build_model, get_model_spec, list_models

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
AGREEMENT = 0.995
# The vendor guides' Ascend 310P figures x 10 (clips/s; TSM in samples of 48 frames = 6 views).
TARGETS = {"x3d_s_k400": 3868.0, "slowfast_r50_8x8x1_k400": 619.0,
           "r2plus1d_r34_8x8x1_ucf101": 848.0, "tsm_r50_1x1x8_sthv2": 208.0}
VIEWS_PER_SAMPLE = {"tsm_r50_1x1x8_sthv2": 6}


@dataclass
class Row:
    model: str
    device: str
    precision: str
    mode: str  # "eager" or "compiled"
    batch_size: int
    status: str  # "ok", "oom", "skipped (budget)", "error: ..."
    clips_per_s: float | None = None
    samples_per_s: float | None = None  # guide units (TSM: 48-frame samples)
    median_ms: float | None = None
    p90_ms: float | None = None
    iterations: int = 0
    settings: str = ""


class Budget:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    @property
    def spent(self) -> bool:
        return time.monotonic() > self.end


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _inputs(spec, protocol, batch: int, device: torch.device, seed: int = 0) -> tuple[torch.Tensor, ...]:
    arrays = example_inputs(protocol, batch, seed=seed)
    return tuple(torch.from_numpy(a).to(device) for a in arrays)


def _forward(model, inputs, dtype) -> torch.Tensor:
    if dtype is None:
        return model(*inputs)
    with torch.autocast(inputs[0].device.type, dtype=dtype):
        return model(*inputs)


def _time(model, inputs, dtype, device, *, warmup: int, min_seconds: float, min_iterations: int = 5):
    with torch.inference_mode():
        for _ in range(warmup):
            _forward(model, inputs, dtype)
        _sync(device)
        latencies: list[float] = []
        started = time.perf_counter()
        while len(latencies) < min_iterations or time.perf_counter() - started < min_seconds:
            t0 = time.perf_counter()
            _forward(model, inputs, dtype)
            _sync(device)
            latencies.append(time.perf_counter() - t0)
    return statistics.median(latencies), float(np.percentile(latencies, 90)), len(latencies)


def _load(name: str, checkpoints: Path | None) -> tuple[torch.nn.Module, str]:
    if checkpoints is not None:
        for suffix in (".pth", ".pyth", ".pkl"):
            path = checkpoints / f"{name}{suffix}"
            if path.is_file():
                return build_model(name, path), str(path)
    torch.manual_seed(0)
    return build_model(name), "random"


def _protocol(spec, input_size: int | None):
    protocol = spec.protocol("official")
    if input_size and (protocol.uint8_views or protocol.is_detection):
        protocol = protocol.scaled(input_size)
    return protocol


def model_only(args, name: str, device: torch.device, budget: Budget, out_rows: list[Row],
               drifts: list[dict]) -> None:
    spec = get_model_spec(name)
    protocol = _protocol(spec, args.input_size)
    model, weights = _load(name, args.checkpoints)
    model = model.eval().to(device)
    settings = []
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last_3d)
        settings.append("channels-last-3d")
    per_sample = VIEWS_PER_SAMPLE.get(name, 1)

    drift_inputs = _inputs(spec, protocol, args.drift_batch, device, seed=1)
    reference = None
    for precision in args.precisions:
        dtype = PRECISIONS[precision]
        if precision != "fp32" and not budget.spent:
            if reference is None:
                with torch.inference_mode():
                    reference = _forward(model, drift_inputs, None).float().cpu().numpy()
            with torch.inference_mode():
                low = _forward(model, drift_inputs, dtype).float().cpu().numpy()
            ref2d, low2d = reference.reshape(-1, reference.shape[-1]), low.reshape(-1, low.shape[-1])
            report = compare_scores(ref2d, low2d, reference_name=f"{name} fp32 on {device}",
                                    candidate_name=f"{name} {precision} autocast on {device}",
                                    precision=precision, inputs=f"random inputs ({weights} weights)")
            drifts.append({"model": name, **report.to_dict()})
        for mode in args.modes:
            forward = torch.compile(model) if mode == "compiled" else model
            sizes = args.batch_sizes if mode == "eager" else [b for b in args.batch_sizes
                                                               if b in args.compile_batch_sizes]
            failed = False
            for batch in sizes:
                row = Row(name, str(device), precision, mode, batch, "ok", settings=", ".join(settings))
                if failed or budget.spent:
                    row.status = "skipped (after oom)" if failed else "skipped (budget)"
                    out_rows.append(row)
                    continue
                try:
                    inputs = _inputs(spec, protocol, batch, device)
                    median, p90, n = _time(forward, inputs, dtype, device, warmup=args.warmup,
                                           min_seconds=args.min_seconds,
                                           min_iterations=args.min_iterations)
                    row.clips_per_s = batch / median
                    row.samples_per_s = row.clips_per_s / per_sample
                    row.median_ms, row.p90_ms, row.iterations = 1000 * median, 1000 * p90, n
                except torch.cuda.OutOfMemoryError:
                    row.status, failed = "oom", True
                    torch.cuda.empty_cache()
                except Exception as error:  # a compile or kernel failure is a finding, not a crash
                    row.status = f"error: {type(error).__name__}: {str(error).splitlines()[0][:200]}"
                    failed = True
                out_rows.append(row)
                print(f"{name:34} {precision:5} {mode:8} batch {batch:4}: "
                      + (f"{row.clips_per_s:10.1f} clips/s  {row.median_ms:8.2f} ms"
                         if row.status == "ok" else row.status), flush=True)
    del model
    if device.type == "cuda":
        torch.cuda.empty_cache()


def best_rows(rows: list[Row], drifts: list[dict]) -> dict[str, dict]:
    """Per model: the fastest row among precisions whose top-1 agreement vs fp32 is >= 99.5 %."""
    agreement = {(d["model"], d["precision"]): d["top1_agreement"] for d in drifts}
    best: dict[str, dict] = {}
    for row in rows:
        if row.status != "ok":
            continue
        agree = 1.0 if row.precision == "fp32" else agreement.get((row.model, row.precision), 0.0)
        if agree < AGREEMENT:
            continue
        current = best.get(row.model)
        if current is None or row.samples_per_s > current["samples_per_s"]:
            best[row.model] = {**asdict(row), "top1_agreement": agree}
    return best


def end_to_end(args, name: str, device: torch.device, best: dict | None, video_dir: Path,
               budget: Budget) -> dict:
    from actionzoo.engines.options import apply_upload
    from actionzoo.data.annotations import read_video_list
    from actionzoo.engines.pytorch import TorchEngine
    from actionzoo.evaluation.recognition import evaluate_records
    from actionzoo.evaluation.store import ResultsStore

    if budget.spent:
        return {"model": name, "status": "skipped (budget)"}
    spec = get_model_spec(name)
    protocol = _protocol(spec, args.input_size)
    precision = best["precision"] if best else "fp32"
    compiled = bool(best and best["mode"] == "compiled")
    batch = min(best["batch_size"] if best else 8, args.e2e_max_batch)
    batch = max(batch - batch % protocol.num_views, protocol.num_views) if batch >= protocol.num_views else batch
    model, _ = _load(name, args.checkpoints)
    engine = TorchEngine(model, device=str(device), precision=precision, compile=compiled,
                         channels_last=args.channels_last)
    apply_upload(engine, protocol, "auto")
    records = read_video_list(video_dir / "videos.txt", video_dir).records
    workers = args.workers if args.workers is not None else max(1, len(os.sched_getaffinity(0)))
    # warm-up outside the timed run (compile, cudnn autotune) at the batch shape used
    warm = example_inputs(protocol, batch)
    if engine.takes_uint8:
        warm = (np.zeros(warm[0].shape, np.uint8),)
    engine.run(*warm)
    with ResultsStore(":memory:", {}, resume=False) as store:
        report = evaluate_records(records, model_name=name, protocol=protocol, engine=engine,
                                  store=store, batch_size=batch, workers=workers, progress=False)
    t = report.times
    views = report.scored_this_run * protocol.num_views
    per_view_e2e = t.wall / views if views else float("nan")
    per_view_model = 1.0 / best["clips_per_s"] if best else float("nan")
    result = {
        "model": name, "status": "ok", "engine": engine.info.describe(), "batch_views": batch,
        "workers": workers, "videos": report.scored_this_run, "failed": len(report.failed),
        "views_per_video": protocol.num_views, "videos_per_s": report.scored_this_run / t.wall,
        "wall_s": t.wall, "model_s": t.model, "waiting_for_data_s": t.waiting, "other_s": t.other,
        "decode_s_workers": t.decode, "preprocess_s_workers": t.preprocess,
        "e2e_ms_per_view": 1000 * per_view_e2e, "model_only_ms_per_view": 1000 * per_view_model,
        "e2e_over_model_only": per_view_e2e / per_view_model if best else None,
    }
    print(f"e2e {name}: {result['videos_per_s']:.2f} videos/s, {result['e2e_ms_per_view']:.2f} ms/view "
          f"vs model-only {result['model_only_ms_per_view']:.2f} (wall {t.wall:.1f} s = model "
          f"{t.model:.1f} + waiting {t.waiting:.1f} + other {t.other:.1f})", flush=True)
    return result


def write_outputs(out: Path, rows: list[Row], drifts: list[dict], e2e: list[dict], meta: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with (out / "model_only.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(asdict(rows[0])) if rows else ["model"])
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)
    (out / "model_only.json").write_text(json.dumps({**meta, "rows": [asdict(r) for r in rows]}, indent=2) + "\n")
    (out / "drift.json").write_text(json.dumps(drifts, indent=2) + "\n")
    (out / "e2e.json").write_text(json.dumps(e2e, indent=2) + "\n")
    _plot(out / "throughput.png", rows, meta)
    (out / "summary.md").write_text(_summary(rows, drifts, e2e, meta))


def _plot(path: Path, rows: list[Row], meta: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = sorted({r.model for r in rows})
    fig, axes = plt.subplots(1, max(len(models), 1), figsize=(4.5 * max(len(models), 1), 3.8), squeeze=False)
    for ax, model in zip(axes[0], models):
        for (precision, mode) in sorted({(r.precision, r.mode) for r in rows if r.model == model}):
            points = [(r.batch_size, r.clips_per_s) for r in rows if r.model == model
                      and r.precision == precision and r.mode == mode and r.status == "ok"]
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, marker="o", label=f"{precision} {mode}")
        ax.set_xscale("log", base=2)
        ax.set_title(model, fontsize=9)
        ax.set_xlabel("batch size")
        ax.set_ylabel("clips/s")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"model-only throughput on {meta['device_name']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _summary(rows: list[Row], drifts: list[dict], e2e: list[dict], meta: dict) -> str:
    best = best_rows(rows, drifts)
    lines = [f"# gpu_check on {meta['device_name']} ({meta['command']})", "",
             f"weights: {meta['weights']}; torch {meta['torch']}", "",
             "| model | best precision / mode (top-1 agreement) | batch | clips/s | guide units/s "
             "| target | reached |", "|---|---|---:|---:|---:|---:|---|"]
    for model in sorted({r.model for r in rows}):
        b = best.get(model)
        target = TARGETS.get(model)
        if b is None:
            lines.append(f"| {model} | none measured | | | | {target or '–'} | |")
            continue
        reached = "–" if target is None else ("yes" if b["samples_per_s"] >= target else
                                             f"no ({b['samples_per_s'] / target:.0%})")
        lines.append(f"| {model} | {b['precision']} {b['mode']} ({b['top1_agreement']:.1%}) | "
                     f"{b['batch_size']} | {b['clips_per_s']:.1f} | {b['samples_per_s']:.1f} | "
                     f"{target or '–'} | {reached} |")
    lines += ["", "| model | precision | max abs diff | top-1 agreement | top-5 agreement |",
              "|---|---|---:|---:|---:|"]
    lines += [f"| {d['model']} | {d['precision']} | {d['max_abs_diff']:.3g} | "
              f"{d['top1_agreement']:.1%} | {d['top5_agreement']:.1%} |" for d in drifts]
    lines += ["", "| model | engine | videos/s | e2e ms/view | model-only ms/view | ratio | wall = "
              "model + waiting + other (s) |", "|---|---|---:|---:|---:|---:|---|"]
    for e in e2e:
        if e.get("status") != "ok":
            lines.append(f"| {e['model']} | {e.get('status')} | | | | | |")
            continue
        ratio = f"{e['e2e_over_model_only']:.2f}" if e["e2e_over_model_only"] else "–"
        lines.append(f"| {e['model']} | {e['engine']} | {e['videos_per_s']:.2f} | "
                     f"{e['e2e_ms_per_view']:.2f} | {e['model_only_ms_per_view']:.2f} | {ratio} | "
                     f"{e['wall_s']:.1f} = {e['model_s']:.1f} + {e['waiting_for_data_s']:.1f} + "
                     f"{e['other_s']:.1f} |")
    skipped = [r for r in rows if r.status.startswith("skipped")]
    if skipped:
        lines += ["", f"{len(skipped)} measurements skipped (time budget or after an OOM)."]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--out", default="gpu_check")
    p.add_argument("--models", default="all", help="comma-separated registry names (default: all)")
    p.add_argument("--batch-sizes", default="1,2,4,8,16,32,64,128")
    p.add_argument("--compile-batch-sizes", default="8,32",
                   help="batch sizes also measured compiled (each compiles once per shape)")
    p.add_argument("--precisions", default="fp32,bf16,fp16")
    p.add_argument("--modes", default="eager,compiled")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--min-seconds", type=float, default=0.6)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--min-iterations", type=int, default=5, help="timed forwards per row at least")
    p.add_argument("--drift-batch", type=int, default=16)
    p.add_argument("--input-size", type=int, help="mmaction2 protocols and the detector at this size")
    p.add_argument("--checkpoints", type=Path, help="folder with <model>.pth/.pyth to load")
    p.add_argument("--e2e-models", default="recognizers", help="'recognizers', 'none' or a list")
    p.add_argument("--e2e-videos", type=int, default=32)
    p.add_argument("--e2e-frames", type=int, default=300, help="frames per synthetic video (10 s at 30 fps)")
    p.add_argument("--e2e-size", default="256x340", help="HxW of the synthetic videos")
    p.add_argument("--e2e-max-batch", type=int, default=120, help="views per engine call at most")
    p.add_argument("--workers", type=int, help="decode workers (default: every core)")
    p.add_argument("--budget-s", type=float, default=420.0, help="stop measuring after this long")
    p.add_argument("--tiny", action="store_true",
                   help="a smoke test: one recognizer and the detector, input size 16, batch 1-2, "
                        "fp32/bf16, eager, 2 timed forwards, 2 small videos")
    args = p.parse_args(argv)
    if args.tiny:
        args.models = "r2plus1d_r34_8x8x1_ucf101,slowfast_r50_ava" if args.models == "all" else args.models
        args.batch_sizes, args.compile_batch_sizes = "1,2", ""
        # Size 16 and two timed forwards: without native bf16 kernels (AVX2 CPUs) torch's bf16
        # autocast runs a Conv3d ~60x slower than fp32, and the smoke test only proves the files.
        args.precisions, args.modes, args.input_size = "fp32,bf16", "eager", args.input_size or 16
        args.min_seconds, args.warmup, args.min_iterations, args.drift_batch = 0.05, 1, 2, 2
        args.e2e_videos, args.e2e_frames, args.e2e_size = 2, 24, "48x64"
        args.workers = 1 if args.workers is None else args.workers
    args.models = list_models() if args.models == "all" else args.models.split(",")
    args.batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b]
    args.compile_batch_sizes = [int(b) for b in args.compile_batch_sizes.split(",") if b]
    args.precisions = args.precisions.split(",")
    args.modes = args.modes.split(",")
    unknown = [p for p in args.precisions if p not in PRECISIONS]
    if unknown:
        p.error(f"unknown precision {unknown[0]}; choose from {', '.join(PRECISIONS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device here; run with --device cpu for the smoke test", file=sys.stderr)
        return 2
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32: TF32 is not asked for
        torch.backends.cudnn.allow_tf32 = False
    started = time.monotonic()
    budget = Budget(args.budget_s)
    out = Path(args.out)
    meta = {"command": " ".join(["benchmarks/gpu_check.py", *(sys.argv[1:] if argv is None else argv)]),
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "torch": torch.__version__, "machine": machine_info(),
            "weights": f"from {args.checkpoints}" if args.checkpoints else "random (seed 0)"}
    rows: list[Row] = []
    drifts: list[dict] = []
    e2e: list[dict] = []
    try:
        for name in args.models:
            model_only(args, name, device, budget, rows, drifts)
        best = best_rows(rows, drifts)
        recognizers = [m for m in args.models if get_model_spec(m).task == "recognition"]
        e2e_models = {"recognizers": recognizers, "none": []}.get(args.e2e_models) \
            or args.e2e_models.split(",")
        if e2e_models:
            from actionzoo.data.synthetic import write_synthetic_videos

            height, width = (int(v) for v in args.e2e_size.split("x"))
            with tempfile.TemporaryDirectory() as tmp:
                write_synthetic_videos(tmp, num_classes=4, videos_per_class=max(1, args.e2e_videos // 4),
                                       num_frames=args.e2e_frames, size=(height, width))
                for name in e2e_models:
                    e2e.append(end_to_end(args, name, device, best.get(name), Path(tmp), budget))
    finally:
        meta["seconds"] = round(time.monotonic() - started, 1)
        # the torch path must run where OpenVINO/ONNX are absent: record that none was imported
        meta["imported_runtimes"] = sorted({m.split(".")[0] for m in sys.modules} & {
            "openvino", "onnx", "onnxruntime", "onnxslim", "nncf"})
        write_outputs(out, rows, drifts, e2e, meta)
    print(f"wrote {out}/model_only.csv, model_only.json, drift.json, e2e.json, throughput.png, "
          f"summary.md in {meta['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
