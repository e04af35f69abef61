"""``actionzoo eval``: fused streaming evaluation into a resumable results database.

Recognizers read an annotation file; the AVA detector reads its frame layout and CSV files.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from actionzoo.ava.variant import AvaVariant
from actionzoo.cli.options import (
    add_ann_format,
    add_ava_layout,
    add_engine,
    add_progress,
    add_protocol,
    add_weights,
    build_engine,
    engine_options,
    non_negative,
    positive,
    protocol_for,
    random_weights_note,
    require,
)
from actionzoo.cli.precision import add_drift, drift_options
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
    add_ann_format(recognition)
    recognition.add_argument("--labels", help="classInd.txt (UCF-101) or labels.json (Sth-V2)")
    recognition.add_argument("--class-names", help="file with one class name per line")
    add_ava_layout(p)
    p.add_argument("--out-csv", help="AVA: detections CSV (default: next to --results)")
    p.add_argument("--variant", choices=[v.value for v in AvaVariant], default="official",
                   help="AVA: the official evaluator or PySlowFast's variant")
    add_protocol(p)
    p.add_argument("--batch-size", type=positive,
                   help="views (AVA: clips) per engine call (default: the fastest measured for "
                        "this engine here)")
    p.add_argument("--workers", type=non_negative,
                   help="decode worker processes (default: every core with --device cuda; on a CPU, "
                        "the fewest that keep the model fed, measured on the first video or "
                        "keyframes)")
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
        run_one = _run_ava if protocol.is_detection else _run_recognition
        report = run_one(args, spec, protocol, ctx)
        if ctx.is_main:
            _write_reports(args, report)
        return 130 if report.interrupted else 0
    finally:
        ctx.close()


def _run_recognition(args: argparse.Namespace, spec, protocol, ctx):
    from actionzoo.evaluation import EvaluationOptions, evaluate

    require(args, f"evaluating {spec.name}", ["--ann", "--data-root"])
    options = EvaluationOptions(
        batch_size=args.batch_size, workers=args.workers, resume=args.resume,
        progress=not args.no_progress, drift=drift_options(args), predictions=args.predictions,
        ann_format=args.ann_format, labels=args.labels, class_names=args.class_names)
    return evaluate(spec, args.ann, args.data_root, results=args.results,
                    engine=engine_options(args), protocol=protocol, options=options, ctx=ctx)


def _run_ava(args: argparse.Namespace, spec, protocol, ctx):
    from actionzoo.ava.evaluate import evaluate_ava

    require(args, f"evaluating {spec.name}",
            ["--frames-dir", "--frame-list", "--boxes", "--gt", "--labelmap"])
    engine = build_engine(args, spec)
    out_csv = args.out_csv or str(Path(args.results).with_suffix(".detections.csv"))
    return evaluate_ava(
        args.frames_dir, args.frame_list, args.boxes, args.gt, args.labelmap, args.excluded,
        engine=engine, results=args.results, out_csv=out_csv, batch_size=args.batch_size,
        workers=args.workers, resume=args.resume, model_name=spec,
        protocol=protocol, variant=args.variant, weights=engine_options(args).weights,
        progress=not args.no_progress and ctx.is_main, ctx=ctx,
    )
