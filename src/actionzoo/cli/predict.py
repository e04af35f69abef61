"""``actionzoo predict``: the top-k classes of each video, by name, scored exactly as ``eval`` does."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from actionzoo.cli.options import (
    add_engine,
    add_progress,
    add_protocol,
    add_weights,
    engine_options,
    non_negative,
    positive,
    protocol_for,
)
from actionzoo.cli.precision import add_drift, drift_options

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="top-k class names of each video (a file, several, a folder)")
    p.add_argument("model")
    p.add_argument("videos", nargs="+", metavar="VIDEO_OR_FOLDER")
    add_weights(p)
    add_engine(p, default="pytorch")
    add_protocol(p)
    p.add_argument("--class-names", help="file with one class name per line (custom models)")
    p.add_argument("--top-k", type=positive, default=5)
    p.add_argument("--batch-size", type=positive,
                   help="views per engine call (default: the fastest measured for this engine here)")
    p.add_argument("--workers", type=non_negative,
                   help="decode worker processes (default: the fewest that keep the engine fed, "
                        "measured here; every core with --device cuda)")
    add_drift(p)
    p.add_argument("--json", help="write the predictions as JSON")
    p.add_argument("--csv", help="write the predictions as CSV")
    add_progress(p)
    p.set_defaults(handler=run)


def predict_options(args: argparse.Namespace, spec):
    from actionzoo.prediction.run import PredictOptions

    return PredictOptions(protocol=protocol_for(args, spec), top_k=args.top_k,
                          batch_size=args.batch_size, workers=args.workers,
                          progress=not args.no_progress, class_names=args.class_names,
                          drift=drift_options(args))


def run(args: argparse.Namespace) -> int:
    from actionzoo.prediction.run import predict_videos
    from actionzoo.prediction.videos import (
        render_table,
        write_predictions_csv,
        write_predictions_json,
    )
    from actionzoo.zoo.registry import get_model_spec

    spec = get_model_spec(args.model)
    if args.checkpoint is None and args.model_file is None:
        print("note: no --checkpoint given: the weights are RANDOM", file=sys.stderr)
    result = predict_videos(spec, args.videos, engine=engine_options(args),
                            options=predict_options(args, spec))
    print(result.title)
    if result.workers_how:
        print(result.workers_how)
    print(render_table(result.predictions))
    if result.drift_text():
        print(result.drift_text())
    if args.json:
        write_predictions_json(result.predictions, Path(args.json))
    if args.csv:
        write_predictions_csv(result.predictions, Path(args.csv), args.top_k)
    return 1 if result.all_failed else 0
