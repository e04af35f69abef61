"""``actionzoo eval``: fused streaming evaluation into a resumable results database.

Recognizers read an annotation file; the AVA detector reads its frame layout and CSV files.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from actionzoo.cli.options import (
    add_ava_layout,
    add_engine,
    add_progress,
    add_protocol,
    add_weights,
    batch_size_for,
    build_engine,
    non_negative,
    positive,
    protocol_for,
    random_weights_note,
    read_records,
    require,
)
from actionzoo.cli.precision import add_drift, apply_upload, default_workers, video_drift
from actionzoo.fileio.atomic import write_text_atomic

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="fused streaming evaluation into a resumable results database")
    p.add_argument("model")
    add_weights(p)
    add_engine(p, default="pytorch")
    recognition = p.add_argument_group("recognizers")
    recognition.add_argument("--ann", help="annotation file (any supported format)")
    recognition.add_argument("--data-root", help="folder the annotation's paths are relative to")
    recognition.add_argument("--ann-format", default="auto",
                             help="videos, rawframes, pyslowfast, kinetics_csv, ucf101, sthv2")
    recognition.add_argument("--labels", help="classInd.txt (UCF-101) or labels.json (Sth-V2)")
    recognition.add_argument("--class-names", help="file with one class name per line")
    add_ava_layout(p)
    p.add_argument("--out-csv", help="AVA: detections CSV (default: next to --results)")
    p.add_argument("--variant", choices=["official", "pyslowfast"], default="official",
                   help="AVA: the official evaluator or PySlowFast's variant")
    add_protocol(p)
    p.add_argument("--batch-size", type=positive,
                   help="views per engine call (default: the fastest measured for this engine here; "
                        "8 clips for the AVA detector)")
    p.add_argument("--workers", type=non_negative,
                   help="decode worker processes (default 2; every core with --device cuda)")
    add_drift(p)
    p.add_argument("--results", required=True, help="SQLite file the results go to as videos finish")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run")
    p.add_argument("--json", help="write the report as JSON")
    p.add_argument("--markdown", help="write the report as Markdown")
    p.add_argument("--predictions", help="write per-video top-5 predictions as CSV")
    add_progress(p)
    p.set_defaults(handler=run)


def _write_reports(args: argparse.Namespace, report) -> None:
    print(report.render_text())
    if args.json:
        write_text_atomic(args.json, json.dumps(report.to_dict(), indent=2, default=str) + "\n")
    if args.markdown:
        write_text_atomic(args.markdown, report.render_markdown())


def run(args: argparse.Namespace) -> int:
    from actionzoo.runtime.distributed import init_distributed
    from actionzoo.zoo.registry import get_model_spec

    spec = get_model_spec(args.model)
    protocol = protocol_for(args, spec)
    ctx = init_distributed(args.device)
    try:
        if ctx.is_main:
            random_weights_note(args)
        if protocol.is_detection:
            return _run_ava(args, spec, protocol, ctx)
        return _run_recognition(args, spec, protocol, ctx)
    finally:
        ctx.close()


def _run_recognition(args: argparse.Namespace, spec, protocol, ctx) -> int:
    from actionzoo.evaluation.recognition import (
        evaluate_records,
        load_report,
        write_predictions,
    )
    from actionzoo.evaluation.store import ResultsStore, gather_parts, open_sharded

    require(args, f"evaluating {spec.name}", ["--ann", "--data-root"])
    annotations = read_records(args)
    class_names = annotations.class_names or spec.class_names()
    engine = build_engine(args, spec)
    apply_upload(args, engine, protocol)
    args.workers = default_workers(args)
    args.batch_size = batch_size_for(args, spec, protocol, engine) if ctx.is_main else args.batch_size
    args.batch_size = ctx.broadcast_object(args.batch_size)
    config = {
        "model": spec.name, "protocol": protocol.describe(),
        "annotation": str(Path(args.ann).resolve()), "data_root": str(Path(args.data_root).resolve()),
        **engine.info.key(),
        "weights": str(args.checkpoint or args.model_file or "random"),
    }
    with open_sharded(ResultsStore, args.results, config, resume=args.resume, ctx=ctx) as store:
        report = evaluate_records(annotations.records, model_name=spec.name, protocol=protocol,
                                  engine=engine, store=store, batch_size=args.batch_size,
                                  workers=args.workers, progress=not args.no_progress and ctx.is_main,
                                  class_names=class_names, ctx=ctx)
        interrupted = any(ctx.all_gather_object(report.interrupted))
        scored = sum(ctx.all_gather_object(report.scored_this_run))
        gather_parts(store, ctx)
        if not ctx.is_main:
            return 130 if interrupted else 0
        if ctx.distributed:  # the report over every process's videos
            times = report.times
            report = load_report(store, annotations.records, model_name=spec.name,
                                 protocol=protocol, engine=report.engine,
                                 precision=report.precision, batch_size=args.batch_size,
                                 workers=args.workers, class_names=class_names)
            report.times, report.scored_this_run, report.interrupted = times, scored, interrupted
        scores = {r.video_id: r.scores for r in store.results() if r.scores is not None}
        report.drift, report.drift_note = video_drift(
            args, spec, protocol, engine, annotations.records, candidate_scores=scores,
            batch_size=args.batch_size, workers=args.workers, inputs=f"videos of {args.ann}")
        _write_reports(args, report)
        if args.predictions:
            write_predictions(store, args.predictions, class_names)
    return 130 if report.interrupted else 0


def _run_ava(args: argparse.Namespace, spec, protocol, ctx) -> int:
    from actionzoo.ava.evaluate import evaluate_ava

    require(args, f"evaluating {spec.name}",
            ["--frames-dir", "--frame-list", "--boxes", "--gt", "--labelmap"])
    engine = build_engine(args, spec)
    args.workers = default_workers(args)
    args.batch_size = args.batch_size or 8
    out_csv = args.out_csv or str(Path(args.results).with_suffix(".detections.csv"))
    report = evaluate_ava(
        args.frames_dir, args.frame_list, args.boxes, args.gt, args.labelmap, args.excluded,
        engine=engine, results=args.results, out_csv=out_csv, batch_size=args.batch_size,
        workers=args.workers, resume=args.resume, model_name=spec, protocol=protocol,
        variant=args.variant, weights=str(args.checkpoint or args.model_file or "random"),
        progress=not args.no_progress and ctx.is_main, ctx=ctx,
    )
    if not ctx.is_main:
        return 130 if report.interrupted else 0
    if engine.info.precision.reduced:
        report.drift_note = ("for the detector, `actionzoo bench slowfast_r50_ava --precision "
                             f"{engine.info.precision}` measures it on model inputs")
    _write_reports(args, report)
    return 130 if report.interrupted else 0
