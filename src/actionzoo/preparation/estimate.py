"""``--dry-run``: how many videos, frames and bytes a run would write, before writing anything.

Frames come from each container's header (cheap: no decoding); bytes are the frame count times the
size of one frame of the first readable video, encoded as the run would encode it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from actionzoo.preparation.runner import PrepareSummary, Shard, VideoTask

__all__ = ["estimate_run", "human_bytes"]


def human_bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if count < 1000 or unit == "TB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    raise AssertionError("unreachable")


def estimate_run(
    tasks: Sequence[VideoTask],
    shard: Shard | None,
    frames_of: Callable[[Path], int],
    sample_bytes: Callable[[Path], int | None],
) -> PrepareSummary:
    mine = shard.select(tasks) if shard else list(tasks)
    todo = [task for task in mine if not task.target.is_dir()]
    frames = 0
    per_frame = None
    for task in todo:
        frames += frames_of(task.source)
        if per_frame is None:
            per_frame = sample_bytes(task.source)
    summary = PrepareSummary(total=len(mine), skipped=len(mine) - len(todo), shard=shard)
    disk = frames * (per_frame or 0)
    summary.notes.append(
        f"dry run: {len(mine)} videos ({summary.skipped} already complete), {len(todo)} to extract, "
        f"~{frames} frames, ~{human_bytes(disk)} of JPEGs"
        + (f" ({human_bytes(per_frame)} per frame, measured on one frame)" if per_frame else
           " (no frame decoded to measure the size)")
    )
    summary.frames = frames
    summary.estimated_bytes = int(disk)
    return summary
