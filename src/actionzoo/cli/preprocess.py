"""``actionzoo preprocess``: one ``.npy`` model input per video (the vendor guides' bin files)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from actionzoo.cli.options import add_data, add_progress, non_negative, read_records
from actionzoo.errors import UsageError
from actionzoo.fileio.atomic import write_text_atomic

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
    from actionzoo.evaluation.staged import preprocess_dataset
    from actionzoo.zoo.registry import get_model_spec

    spec = get_model_spec(args.model)
    protocol = spec.protocol(args.protocol)
    if protocol.is_detection:
        raise UsageError(f"{spec.name} is a detector: `actionzoo eval {spec.name}` reads its "
                         "AVA-layout data directly")
    annotations = read_records(args)
    summary = preprocess_dataset(annotations.records, protocol, args.out, workers=args.workers,
                                 progress=not args.no_progress)
    meta = {"model": spec.name, "protocol": protocol.name, "summary": protocol.describe(),
            "annotation": str(args.ann)}
    write_text_atomic(Path(args.out) / "meta.json", json.dumps(meta, indent=2) + "\n")
    print(f"wrote {summary.written} inputs to {args.out} ({protocol.describe()}); "
          f"{summary.skipped} already there; {len(summary.failed)} failed")
    for video, reason in summary.failed:
        print(f"FAILED {video}: {reason}")
    return 0
