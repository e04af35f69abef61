"""``actionzoo detect``: AVA actions on one video from the user's person boxes, drawn on keyframes."""

from __future__ import annotations

import argparse

from actionzoo.cli.options import (
    add_engine,
    add_weights,
    build_engine,
    positive,
    random_weights_note,
)
from actionzoo.cli.precision import unmeasured_note

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("detect", help="AVA actions on one video from your person boxes, drawn on keyframes")
    p.add_argument("video")
    p.add_argument("--proposals", "--boxes", required=True, help="person boxes CSV or proposals .pkl")
    p.add_argument("--out", required=True, help="folder for the images and detections.csv")
    p.add_argument("--model", default="slowfast_r50_ava")
    add_weights(p)
    add_engine(p, default="pytorch", drift=False, upload=False)
    p.add_argument("--labelmap", help="label map pbtxt (class names; only its classes are drawn)")
    p.add_argument("--video-id", help="which video of the proposals file this is")
    p.add_argument("--start-second", type=float, default=0.0,
                   help="second of the video's first frame (900 for AVA 15-minute cuts)")
    p.add_argument("--fps", help="frame rate (default: the stream's average rate)")
    p.add_argument("--threshold", type=float, default=0.5, help="draw classes scoring at least this")
    p.add_argument("--top-k", type=positive, default=5)
    p.add_argument("--batch-size", type=positive, default=1)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from actionzoo.ava.detect import detect
    from actionzoo.zoo.registry import get_model_spec

    spec = get_model_spec(args.model)
    random_weights_note(args)
    engine = build_engine(args, spec)
    unmeasured_note(engine, "detect", f"`actionzoo bench {spec.name} --precision "
                    f"{engine.info.precision}` (same options) measures it on model inputs")
    report = detect(args.video, args.proposals, args.out, engine=engine, labelmap=args.labelmap,
                    video_id=args.video_id, start_second=args.start_second, fps=args.fps,
                    threshold=args.threshold, top_k=args.top_k, batch_size=args.batch_size,
                    model=spec)
    print(report.render_text())
    return 0
