"""``actionzoo timeline``: a sliding window over a long video or a live source, by class name."""

from __future__ import annotations

import argparse
import sys

from actionzoo.cli.options import add_engine, add_progress, add_weights, engine_options, positive
from actionzoo.cli.precision import unmeasured_note

__all__ = ["register"]


def _seconds(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive seconds, got {text}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("timeline", help="classify a sliding window over a long video or a live source")
    p.add_argument("model")
    p.add_argument("source", help="a video file, an RTSP/HTTP URL, a device (/dev/video0) or - for stdin")
    p.add_argument("--window", type=_seconds, required=True, help="window length in seconds")
    p.add_argument("--stride", type=_seconds, required=True, help="seconds between window starts")
    add_weights(p)
    add_engine(p, default="pytorch", drift=False, upload=False)
    p.add_argument("--protocol", default="official", help="whose view (resize, crop, frames) to use")
    p.add_argument("--class-names", help="file with one class name per line (custom models)")
    p.add_argument("--top-k", type=positive, default=5)
    p.add_argument("--batch-size", type=positive, help="windows per engine call (default 4; 1 for live sources)")
    p.add_argument("--format", dest="fmt", help="input format for devices and pipes (v4l2, mpegts, ...)")
    p.add_argument("--out", default="timeline", help="folder for timeline.csv/.json/.png (and .mp4)")
    p.add_argument("--render", action="store_true", help="also write an MP4 with the label drawn on each frame")
    add_progress(p)
    p.set_defaults(handler=run)


def _line(window) -> str:
    top = ", ".join(f"{c.name} {c.probability:.2f}" for c in window.top[:3])
    return f"[{window.start:8.2f} - {window.end:8.2f} s] {top}"


def run(args: argparse.Namespace) -> int:
    from actionzoo.prediction.classifier import load_classifier
    from actionzoo.prediction.timeline_folder import TimelineOptions, timeline_to_folder
    from actionzoo.zoo.registry import get_model_spec

    spec = get_model_spec(args.model)
    engine, names = load_classifier(spec, engine_options(args), args.class_names)
    if args.checkpoint is None and args.model_file is None:
        print("note: no --checkpoint given: the weights are RANDOM", file=sys.stderr)
    unmeasured_note(engine, "timeline", f"`actionzoo predict {spec.name} VIDEOS --precision "
                    f"{engine.info.precision}` (same options) measures it")
    options = TimelineOptions(window=args.window, stride=args.stride, protocol=args.protocol,
                              top_k=args.top_k, batch_size=args.batch_size, fmt=args.fmt,
                              render=args.render, progress=not args.no_progress)
    run = timeline_to_folder(spec, args.source, args.out, engine=engine, class_names=names,
                             options=options, on_live_window=lambda w: print(_line(w), flush=True))
    for note in run.notes:
        print(f"note: {note}", file=sys.stderr)
    if not run.live:  # a live source's windows were printed as they came
        for window in run.result.windows:
            print(_line(window))
    print(run.summary())
    print("wrote " + ", ".join(map(str, run.written)))
    return 130 if run.result.interrupted else 0
