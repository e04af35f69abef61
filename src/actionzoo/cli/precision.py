"""What every command that runs a reduced precision shares: the uint8 upload choice and the drift
measurement against fp32, printed (or the reason it could not be measured)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence

import numpy as np

from actionzoo.cli.options import non_negative
from actionzoo.errors import UsageError

__all__ = ["add_drift", "apply_upload", "video_drift", "batch_drift", "default_workers",
           "unmeasured_note"]


def add_drift(p: argparse.ArgumentParser | argparse._ArgumentGroup, default: int = 32) -> None:
    """``--drift-videos``, with one default for every verb that measures drift on videos."""
    p.add_argument("--drift-videos", type=non_negative, default=default,
                   help=f"with a reduced precision: videos also scored at fp32 to measure its drift "
                        f"(default {default}; 0 skips the measurement)")


def default_workers(args: argparse.Namespace, cpu_default: int = 2) -> int:
    """``--workers`` if given; on a CUDA device every core decodes (the engine is elsewhere)."""
    if getattr(args, "workers", None) is not None:
        return args.workers
    if str(getattr(args, "device", "cpu")).startswith("cuda"):
        return max(1, len(os.sched_getaffinity(0)))
    return cpu_default


def apply_upload(args: argparse.Namespace, engine, protocol) -> None:
    """``--upload``: uint8 views normalised on the engine's device, where the protocol allows it
    exactly (auto: on CUDA devices)."""
    choice = getattr(args, "upload", "auto")
    if choice == "auto":
        on_cuda = engine.info.device.startswith("cuda")
        choice = "uint8" if engine.accepts_uint8 and on_cuda and protocol.uint8_views else "float32"
    if choice == "float32":
        return
    if not engine.accepts_uint8:
        raise UsageError(f"--upload uint8 is for the pytorch engines, not {engine.info.name}")
    if not protocol.uint8_views:
        raise UsageError(f"--upload uint8: the {protocol.name} protocol normalises before it "
                         "resizes, so its views exist only as float32")
    from actionzoo.data.transforms import mmaction2_normalize_table

    engine.normalize_uint8(mmaction2_normalize_table(protocol.pipeline.mean, protocol.pipeline.std))


def video_drift(
    args: argparse.Namespace,
    spec,
    protocol,
    engine,
    records: Sequence,
    *,
    candidate_scores: Mapping[str, np.ndarray] | None,
    batch_size: int,
    workers: int,
    inputs: str,
):
    """(DriftReport, None) for a reduced-precision ``engine`` over the first ``--drift-videos``
    of ``records``; (None, why not) when it cannot be measured; (None, None) at fp32."""
    from actionzoo.cli.options import fp32_reference_for
    from actionzoo.precision.measure import drift_on_videos

    if not engine.info.precision.reduced:
        return None, None
    limit = getattr(args, "drift_videos", 32)
    if limit <= 0:
        return None, "--drift-videos 0"
    if candidate_scores is not None:
        records = [r for r in records if r.video_id in candidate_scores]
    records = list(records)[:limit]
    if not records:
        return None, "no video was scored"
    reference, how = fp32_reference_for(args, spec, engine)
    if reference is None:
        return None, how
    print(f"measuring the drift of {engine.info.precision} vs fp32 on {len(records)} videos "
          f"(reference: {how})", file=sys.stderr, flush=True)
    report = drift_on_videos(records, protocol, reference=reference, candidate=engine,
                             candidate_scores=candidate_scores, batch_size=batch_size,
                             workers=workers, inputs=inputs)
    return report, None


def batch_drift(args: argparse.Namespace, spec, engine, batches: Sequence[tuple]):
    """(DriftReport, None) on model-input batches; (None, why not) / (None, None) as above."""
    from actionzoo.cli.options import fp32_reference_for
    from actionzoo.precision.measure import drift_on_batches

    if not engine.info.precision.reduced:
        return None, None
    reference, how = fp32_reference_for(args, spec, engine)
    if reference is None:
        return None, how
    inputs = "rows of the benchmark's random inputs"
    return drift_on_batches(batches, reference=reference, candidate=engine, inputs=inputs), None


def unmeasured_note(engine, command: str, how: str) -> None:
    """For commands that run a reduced precision without measuring its drift (a live timeline, one
    video's detections): say so, and which command measures it."""
    precision = engine.info.precision
    if precision.reduced:
        print(f"note: {command} runs {precision} without measuring its drift vs fp32; {how}",
              file=sys.stderr)
