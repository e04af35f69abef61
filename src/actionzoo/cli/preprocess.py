"""``actionzoo preprocess``: one ``.npy`` model input per video (the vendor guides' bin files)."""

from __future__ import annotations

import argparse

from actionzoo.cli.options import add_data, add_progress, non_negative

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("preprocess", help="write one .npy model input per video (the guides' bin files)")
    p.add_argument("model")
    add_data(p)
    p.add_argument("--protocol", default="official")
    p.add_argument("--out", required=True, help="output folder (resumable: finished videos are skipped)")
    p.add_argument("--workers", type=non_negative, default=2)
    add_progress(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from actionzoo.evaluation.staged import preprocess_for_model

    summary = preprocess_for_model(args.model, args.ann, args.data_root, args.out,
                                   protocol=args.protocol, ann_format=args.ann_format,
                                   labels=args.labels, class_names=args.class_names,
                                   workers=args.workers, progress=not args.no_progress)
    print(f"wrote {summary.written} inputs to {args.out} ({summary.protocol}); "
          f"{summary.skipped} already there; {len(summary.failed)} failed")
    for video, reason in summary.failed:
        print(f"FAILED {video}: {reason}")
    return 0
