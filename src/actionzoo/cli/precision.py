"""The drift option every verb that measures a reduced precision's drift declares, its conversion
to the API's :class:`~actionzoo.precision.against_fp32.DriftOptions`, and the note for verbs that
run a reduced precision without measuring it."""

from __future__ import annotations

import argparse
import sys

from actionzoo.cli.options import non_negative

__all__ = ["add_drift", "drift_options", "unmeasured_note"]


def add_drift(p: argparse.ArgumentParser | argparse._ArgumentGroup, default: int = 32) -> None:
    """``--drift-videos``, with one default for every verb that measures drift on videos."""
    p.add_argument("--drift-videos", type=non_negative, default=default,
                   help=f"with a reduced precision: videos also scored at fp32 to measure its drift "
                        f"(default {default}; 0 skips the measurement)")


def drift_options(args: argparse.Namespace):
    from actionzoo.precision.against_fp32 import DriftOptions

    return DriftOptions(videos=getattr(args, "drift_videos", 32),
                        reference=getattr(args, "reference", None))


def unmeasured_note(engine, command: str, how: str) -> None:
    """For commands that run a reduced precision without measuring its drift (a live timeline, one
    video's detections): say so, and which command measures it."""
    precision = engine.info.precision
    if precision.reduced:
        print(f"note: {command} runs {precision} without measuring its drift vs fp32; {how}",
              file=sys.stderr)
