"""The official AVA detections CSV: what an evaluation or ``detect`` writes, and the metric reads.

One row per box and class: ``video_id,%04d,x1,y1,x2,y2,action_id,score`` with coordinates rounded
to 3 decimals and scores to 4 (PySlowFast@9839d13 ``slowfast/utils/ava_eval_helper.py``,
``write_results``), all classes of the model, keyframes in the order given, boxes in stored order.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from actionzoo.data.work_item import Status
from actionzoo.evaluation.store import KeyframeResult
from actionzoo.fileio.atomic import atomic_path

__all__ = ["detection_rows", "write_detections_csv"]


def _coord(value: float) -> float:
    return float("%.03f" % value)


def _score(value: float) -> float:
    return float("%.04f" % value)


def detection_rows(
    results: Iterable[KeyframeResult], classes: Iterable[int] | None = None
) -> Iterator[tuple[str, int, float, float, float, float, int, float]]:
    """``(video_id, second, x1, y1, x2, y2, action_id, score)`` exactly as the CSV holds them
    (coordinates rounded to 3 decimals, scores to 4), in CSV order; only ``classes`` if given."""
    wanted = None if classes is None else set(classes)
    for r in results:
        if r.status is not Status.OK or r.ori_boxes is None or r.scores is None:
            continue
        for box, scores in zip(r.ori_boxes, r.scores):
            x1, y1, x2, y2 = (_coord(v) for v in box)
            for k, score in enumerate(scores):
                if wanted is None or k + 1 in wanted:
                    yield r.video_id, r.second, x1, y1, x2, y2, k + 1, _score(score)


def write_detections_csv(results: Iterable[KeyframeResult], out: str | os.PathLike[str]) -> tuple[Path, int]:
    """Write the official detection CSV (written beside and renamed, so a partial file never
    stands in ``out``). Returns the path and the number of rows."""
    out = Path(out)
    rows = 0
    with atomic_path(out) as partial, partial.open("w", newline="") as f:
        for r in results:
            if r.status is not Status.OK or r.ori_boxes is None or r.scores is None:
                continue
            for box, scores in zip(r.ori_boxes, r.scores):
                prefix = "%s,%04d,%.03f,%.03f,%.03f,%.03f," % (r.video_id, r.second, *box)
                f.writelines(prefix + "%d,%.04f\n" % (k + 1, s) for k, s in enumerate(scores))
                rows += len(scores)
    return out, rows
