"""``actionzoo bench``: model-only throughput and latency per batch size; ``--e2e`` times the whole
pipeline (decode workers, views, engine) over a folder of videos."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from actionzoo.cli.options import (
    add_engine,
    add_progress,
    add_protocol,
    add_weights,
    batch_sizes,
    build_engine,
    engine_names,
    non_negative,
    positive,
    protocol_for,
)
from actionzoo.cli.precision import apply_upload, batch_drift, default_workers
from actionzoo.errors import UsageError

__all__ = ["register"]

_VIDEO_SUFFIXES = {".mp4", ".avi", ".webm", ".mkv", ".mov"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="model-only throughput per batch size; --e2e for the whole pipeline")
    p.add_argument("model")
    add_weights(p)
    add_engine(p, default="pytorch")
    add_progress(p)
    add_protocol(p)
    p.add_argument("--batch-sizes", type=batch_sizes, default=[1, 2, 4, 8, 16])
    p.add_argument("--warmup", type=non_negative, default=2)
    p.add_argument("--min-seconds", type=float, default=2.0)
    p.add_argument("--out", help="write OUT.csv, OUT.json and OUT.png")
    p.add_argument("--boxes-per-clip", type=positive, default=4,
                   help="detection models: person boxes per clip (fixed across the sweep)")
    p.add_argument("--e2e", help="also run the full pipeline over the videos in this folder")
    p.add_argument("--workers", type=non_negative,
                   help="--e2e decode worker processes (default 2; every core with --device cuda)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from actionzoo.bench.throughput import (
        bench_engine,
        plot_rows,
        render_rows,
        write_rows,
    )
    from actionzoo.export.examples import example_inputs
    from actionzoo.zoo.registry import get_model_spec

    spec = get_model_spec(args.model)
    protocol = protocol_for(args, spec)
    if args.e2e and protocol.is_detection:
        raise UsageError("--e2e runs recognizers over a folder of videos; for "
                         f"{spec.name} run `actionzoo eval` on an AVA-layout folder")
    from actionzoo.bench.autobatch import remember_sweep
    from actionzoo.bench.roofline import gflop_per_clip, matmul_peak_gflops

    engines = engine_names(args)
    work = gflop_per_clip(spec, protocol.view_shape, args.boxes_per_clip)
    rows = []
    drifts = []
    for name in engines:
        engine = build_engine(args, spec, name)
        info = engine.info
        drift, note = batch_drift(args, spec, engine, [
            example_inputs(protocol, 2, seed=seed, boxes_per_clip=args.boxes_per_clip)
            for seed in range(4)])
        if drift is not None:
            drifts.append(drift)
        elif note:
            print(f"{info.describe()}: drift vs fp32 not measured: {note}")
        peak = (matmul_peak_gflops(info.precision, info.threads) if info.device == "cpu" else None)
        engine_rows = bench_engine(
            engine, spec.name,
            lambda b: example_inputs(protocol, b, boxes_per_clip=args.boxes_per_clip),
            args.batch_sizes, warmup=args.warmup, min_seconds=args.min_seconds,
            gflop_per_clip=work, peak_gflops=peak)
        remember_sweep(spec, protocol, info, engine_rows)
        rows += engine_rows
    per_clip = f"{args.boxes_per_clip} boxes per clip" if protocol.is_detection else "one view per clip"
    c, t, h, w = protocol.view_shape
    print(f"{spec.name}, {protocol.describe()} — model only, {per_clip}, view {t}x{h}x{w}, "
          f"{work:.1f} GFLOP per clip")
    print(render_rows(rows))
    for drift in drifts:
        print(drift.render())
    if args.out:
        prefix = Path(args.out)
        write_rows(rows, prefix.with_suffix(".csv"))
        write_rows(rows, prefix.with_suffix(".json"), {"drift": [d.to_dict() for d in drifts]})
        plot_rows(rows, prefix.with_suffix(".png"), title=f"{spec.name} ({protocol.summary})")
        print(f"wrote {prefix.with_suffix('.csv')}, .json and .png")
    if args.e2e:
        _bench_e2e(args, spec, protocol, engines[0])
    return 0


def _bench_e2e(args: argparse.Namespace, spec, protocol, engine_name: str) -> None:
    from actionzoo.data.annotations import VideoRecord
    from actionzoo.evaluation.recognition import evaluate_records
    from actionzoo.evaluation.store import ResultsStore

    folder = Path(args.e2e)
    videos = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in _VIDEO_SUFFIXES)
    if not videos:
        raise UsageError(f"{folder}: no video files ({' '.join(sorted(_VIDEO_SUFFIXES))}) found")
    records = [VideoRecord(path=p, label=0, video_id=str(p.relative_to(folder))) for p in videos]
    engine = build_engine(args, spec, engine_name)
    apply_upload(args, engine, protocol)
    args.workers = default_workers(args)
    batch = args.batch_sizes[-1]
    with tempfile.TemporaryDirectory() as tmp, \
            ResultsStore(Path(tmp) / "bench.db", {"bench": True}, resume=False) as store:
        report = evaluate_records(records, model_name=spec.name, protocol=protocol, engine=engine,
                                  store=store, batch_size=batch, workers=args.workers, progress=not args.no_progress)
    t = report.times
    rate = report.scored_this_run / t.wall if t.wall else 0.0
    print(f"end to end on {len(videos)} videos with {engine.info.describe()}, batch {batch}, "
          f"{args.workers} workers: {rate:.2f} videos/s")
    print(f"  wall {t.wall:.1f} s = model {t.model:.1f} + waiting for data {t.waiting:.1f} + other "
          f"{t.other:.1f}; workers spent decode {t.decode:.1f} s, preprocess {t.preprocess:.1f} s")
    print(f"  throughput bound by {t.bound()}")
    if report.failed:
        print(f"  {len(report.failed)} videos failed: " + "; ".join(f"{v}: {r}" for v, r in report.failed))
