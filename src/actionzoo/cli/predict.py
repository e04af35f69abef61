"""``actionzoo predict``: the top-k classes of each video, by name, scored exactly as ``eval`` does."""

from __future__ import annotations

import argparse
from pathlib import Path

from actionzoo.cli.options import (
    add_engine,
    add_progress,
    add_protocol,
    add_weights,
    batch_size_for,
    build_engine,
    engine_names,
    non_negative,
    positive,
    protocol_for,
)
from actionzoo.cli.precision import add_drift, apply_upload, default_workers, video_drift
from actionzoo.errors import UsageError

__all__ = ["register", "model_and_names"]


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
                   help="decode worker processes (default 2; every core with --device cuda)")
    add_drift(p)
    p.add_argument("--json", help="write the predictions as JSON")
    p.add_argument("--csv", help="write the predictions as CSV")
    add_progress(p)
    p.set_defaults(handler=run)


def model_and_names(args: argparse.Namespace, spec):
    """(engine, class names) from --checkpoint or --model-file, names by the resolution rule."""
    from actionzoo.checkpoint.read import read_checkpoint
    from actionzoo.engines.registry import create_engine, engine_kind
    from actionzoo.prediction.videos import resolve_class_names
    from actionzoo.zoo.registry import build_model, checkpoint_num_classes

    kind = engine_kind(engine_names(args)[0])
    extras: dict = {}
    if kind.needs_model:
        if args.model_file:
            raise UsageError(f"--model-file is for the onnxruntime/openvino engines; the {kind.name} "
                             "engine takes --checkpoint")
        ckpt = read_checkpoint(args.checkpoint, trusted=args.trust_checkpoint) if args.checkpoint else None
        net = build_model(spec, ckpt)
        num_classes = checkpoint_num_classes(spec, ckpt) if ckpt else spec.num_classes
        extras = ckpt.extras if ckpt else {}
        engine = create_engine(kind, model=net, threads=args.threads, precision=args.precision,
                               device=args.device, channels_last=args.channels_last,
                               cuda_graphs=args.cuda_graphs)
    else:
        engine = build_engine(args, spec)
        num_classes = engine.output_width or spec.num_classes
    names = resolve_class_names(spec, num_classes, names_file=args.class_names,
                                checkpoint_extras=extras)
    return engine, names


def run(args: argparse.Namespace) -> int:
    from actionzoo.prediction.videos import (
        predict,
        render_table,
        write_predictions_csv,
        write_predictions_json,
    )
    from actionzoo.zoo.registry import get_model_spec

    spec = get_model_spec(args.model)
    if spec.task != "recognition":
        raise UsageError(f"{spec.name} is a detector: it scores person boxes, not videos; use "
                         f"`actionzoo detect VIDEO --proposals BOXES --model {spec.name}`")
    engine, names = model_and_names(args, spec)
    if args.checkpoint is None and args.model_file is None:
        import sys

        print("note: no --checkpoint given: the weights are RANDOM", file=sys.stderr)
    protocol = protocol_for(args, spec)
    apply_upload(args, engine, protocol)
    args.workers = default_workers(args)
    batch = batch_size_for(args, spec, protocol, engine)
    predictions = predict(spec, args.videos, engine=engine, protocol=protocol,
                          class_names=names, top_k=args.top_k, batch_size=batch,
                          workers=args.workers, progress=not args.no_progress)
    print(f"{spec.name} [{protocol.describe()}] with {engine.info.describe()}")
    print(render_table(predictions))
    _print_drift(args, spec, protocol, engine, predictions, batch)
    if args.json:
        write_predictions_json(predictions, Path(args.json))
    if args.csv:
        write_predictions_csv(predictions, Path(args.csv), args.top_k)
    failed = sum(not p.ok for p in predictions)
    return 1 if failed == len(predictions) else 0


def _print_drift(args: argparse.Namespace, spec, protocol, engine, predictions, batch: int) -> None:
    from actionzoo.data.annotations import VideoRecord

    scored = {p.video: p.scores for p in predictions if p.ok and p.scores is not None}
    records = [VideoRecord(path=Path(video), label=None, video_id=video) for video in scored]
    drift, note = video_drift(args, spec, protocol, engine, records, candidate_scores=scored,
                              batch_size=batch, workers=args.workers, inputs="predicted videos")
    if drift is not None:
        print(drift.render())
    elif note:
        print(f"drift vs fp32 not measured: {note}")
