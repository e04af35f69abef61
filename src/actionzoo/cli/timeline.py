"""``actionzoo timeline``: a sliding window over a long video or a live source, by class name."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from actionzoo.cli.options import add_engine, add_progress, add_weights, positive
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


def run(args: argparse.Namespace) -> int:
    from actionzoo.cli.predict import model_and_names
    from actionzoo.data.stream import is_live
    from actionzoo.prediction.timeline import (
        plot_timeline,
        render_video,
        timeline,
        write_timeline,
    )
    from actionzoo.zoo.registry import get_model_spec

    spec = get_model_spec(args.model)
    engine, names = model_and_names(args, spec)
    if args.checkpoint is None and args.model_file is None:
        print("note: no --checkpoint given: the weights are RANDOM", file=sys.stderr)
    unmeasured_note(engine, "timeline", f"`actionzoo predict {spec.name} VIDEOS --precision "
                    f"{engine.info.precision}` (same options) measures it")
    live = is_live(args.source)

    def show(window) -> None:
        if live:  # each result the moment it is known
            top = ", ".join(f"{c.name} {c.probability:.2f}" for c in window.top[:3])
            print(f"[{window.start:8.2f} - {window.end:8.2f} s] {top}", flush=True)

    result = timeline(spec, args.source, engine=engine, window=args.window, stride=args.stride,
                      class_names=names, protocol=args.protocol, top_k=args.top_k,
                      batch_size=args.batch_size, fmt=args.fmt, on_window=show,
                      progress=not args.no_progress)
    out = Path(args.out)
    csv_path, json_path = write_timeline(result, out)
    png = plot_timeline(result, out / "timeline.png")
    written = [csv_path, json_path, png]
    if args.render:
        if live:
            print("note: --render re-reads the source; a live source cannot be re-read, so no MP4",
                  file=sys.stderr)
        else:
            written.append(render_video(result, args.source, out / "timeline.mp4", fmt=args.fmt))
    if not live:
        for w in result.windows:
            top = ", ".join(f"{c.name} {c.probability:.2f}" for c in w.top[:3])
            print(f"[{w.start:8.2f} - {w.end:8.2f} s] {top}")
    status = "interrupted; " if result.interrupted else ""
    print(f"{status}{len(result.windows)} windows over {result.seconds_read:.1f} s of video in "
          f"{result.wall:.1f} s ({result.windows_per_s:.2f} windows/s, {result.realtime_factor:.2f}x "
          f"real time) with {result.engine}")
    print("wrote " + ", ".join(map(str, written)))
    return 130 if result.interrupted else 0
