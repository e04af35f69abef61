"""AVA frame-mAP@0.5 as an evaluator: stored keyframes -> the detections CSV -> the mAP of exactly
the values that file holds. ``actionzoo eval`` (:func:`actionzoo.ava.evaluate.evaluate_ava`) and
training's validation of the detector both go through :class:`FrameMapEvaluator`.

The mAP is computed only over a complete test set: every keyframe stored, scored or failed (a
failed keyframe contributes no detections, so its ground truth counts as missed). PySlowFast's
``test_net`` and ``eval_epoch`` evaluate once the loader has gone through every keyframe
(PySlowFast@9839d13 ``tools/test_net.py``, ``slowfast/utils/meters.py`` ``AVAMeter.finalize_metrics``);
no reference reports an mAP over part of the keyframes, so an incomplete set gets none.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from actionzoo.ava.annotations import AnnotationRow
from actionzoo.ava.detections import detection_rows, write_detections_csv
from actionzoo.ava.metric import FrameMapResult, ava_frame_map
from actionzoo.data.work_item import Status
from actionzoo.evaluation.evaluator import Evaluator
from actionzoo.evaluation.store import KeyframeResult

__all__ = ["FrameMapEvaluator", "FrameMapOutcome"]


@dataclass(frozen=True)
class FrameMapOutcome:
    """What a frame-mAP evaluation found; ``frame_map`` and the CSV only for a complete set."""

    expected: int  # keyframes in the test set
    stored: int  # of them, stored (scored or failed)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (keyframe key, reason)
    boxes: int = 0  # boxes of the scored keyframes
    detections_csv: Path | None = None
    detection_rows: int = 0
    frame_map: FrameMapResult | None = None
    seconds: float = 0.0  # writing the CSV and computing the mAP
    interrupted: bool = False  # the run was cut short (Ctrl-C)

    @property
    def complete(self) -> bool:
        return self.stored == self.expected and not self.interrupted

    @property
    def scored(self) -> int:
        return self.stored - len(self.failed)

    @property
    def mAP(self) -> float | None:
        """Frame-mAP@0.5 (``None`` for an incomplete set or when no class has ground truth)."""
        if self.frame_map is None or math.isnan(self.frame_map.mAP):
            return None
        return float(self.frame_map.mAP)


class FrameMapEvaluator(Evaluator[KeyframeResult, FrameMapOutcome]):
    """Keeps the stored keyframes of the test set ``keys`` (a results store being resumed may hold
    others); computes the CSV and mAP with ``variant`` (``"official"`` or ``"pyslowfast"``, see
    :mod:`actionzoo.ava.metric`) once all of them are there."""

    def __init__(self, keys: Sequence[str], groundtruth: Iterable[AnnotationRow],
                 classes: dict[int, str], excluded: set[str], *, out_csv: str | os.PathLike[str],
                 variant: str = "official", mini_val: bool = False) -> None:
        super().__init__()
        self.keys = frozenset(keys)
        self.expected = len(keys)
        self.groundtruth = list(groundtruth)
        self.classes = classes
        self.excluded = excluded
        self.out_csv = Path(out_csv)
        self.variant = variant
        self.mini_val = mini_val  # only seconds % 4 == 0, GT included (PySlowFast's val mode)
        self.interrupted = False  # set by a run that Ctrl-C cut short: no CSV, no mAP

    def process(self, items: Iterable[KeyframeResult]) -> None:
        self.items.extend(r for r in items if r.key in self.keys)

    def compute(self, items: list[KeyframeResult]) -> FrameMapOutcome:
        stored = sorted(items, key=lambda r: r.position)  # test-set order: the CSV's row order
        failed = [(r.key, r.reason or "") for r in stored if r.status is Status.FAILED]
        boxes = sum(len(r.ori_boxes) for r in stored if r.status is Status.OK and r.ori_boxes is not None)
        outcome = FrameMapOutcome(self.expected, len(stored), failed, boxes,
                                  interrupted=self.interrupted)
        if not outcome.complete:
            return outcome
        start = time.perf_counter()
        csv_path, rows = write_detections_csv(stored, self.out_csv)
        # Non-label-map classes are left out here, which both evaluator variants do first anyway
        # (it saves a quarter of the rows).
        frame_map = ava_frame_map(self.groundtruth, detection_rows(stored, self.classes),
                                  self.classes, self.excluded, variant=self.variant,
                                  mini_val=self.mini_val)
        return FrameMapOutcome(self.expected, len(stored), failed, boxes, csv_path, rows, frame_map,
                               time.perf_counter() - start)
