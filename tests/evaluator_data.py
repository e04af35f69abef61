"""Hand-built stored results for the evaluator tests: the AVA worked example whose frame-mAP the
official ActivityNet code (3fee089) gives as 11/12 (class 12: 5/6, class 80: 1), plus one failed
keyframe, and a few scored and failed videos."""

from __future__ import annotations

import numpy as np

from actionzoo.ava.annotations import AnnotationRow
from actionzoo.data.work_item import Status
from actionzoo.evaluation.store import KeyframeResult, VideoResult

LABELMAP = {12: "stand", 80: "watch (a person)"}
G1, G2 = (0.1, 0.1, 0.3, 0.9), (0.5, 0.2, 0.7, 0.9)
GT = [AnnotationRow("vidX", 902, *G1, 12, 1), AnnotationRow("vidX", 902, *G1, 80, 1),
      AnnotationRow("vidX", 902, *G2, 12, 2), AnnotationRow("vidX", 903, *G1, 80, 3)]
EXPECTED_KEYS = ["vidX,0902", "vidX,0903", "vidX,0904"]


def _scores(**by_class: float) -> np.ndarray:
    row = np.zeros(80)
    for name, value in by_class.items():
        row[int(name[1:]) - 1] = value
    return row


def keyframes() -> list[KeyframeResult]:
    """The test set's keyframes in position order (0904's frames could not be read)."""
    boxes_902 = np.array([G1, (0.55, 0.2, 0.75, 0.9)])
    scores_902 = np.stack([_scores(c12=0.9, c80=0.6), _scores(c12=0.4, c80=0.5)])
    return [
        KeyframeResult("vidX,0902", 0, "vidX", 902, Status.OK, None, boxes_902, scores_902, 0.1, 0.1),
        KeyframeResult("vidX,0903", 1, "vidX", 903, Status.OK, None, np.array([(0.12, 0.1, 0.32, 0.9)]),
                       _scores(c12=0.5, c80=0.8)[None], 0.1, 0.1),
        KeyframeResult("vidX,0904", 2, "vidX", 904, Status.FAILED, "vidX,0904: OSError: gone", None,
                       None, None, None),
    ]


def videos() -> list[VideoResult]:
    rows = [("v0", [0.7, 0.2, 0.1], 0), ("v1", [0.1, 0.8, 0.1], 2), ("v2", None, 1),
            ("v3", [0.2, 0.3, 0.5], 2), ("v4", [0.5, 0.4, 0.1], 1)]
    return [VideoResult(v, i, f"{v}.mp4", label, Status.OK if s else Status.FAILED,
                        None if s else f"{v}.mp4: InvalidDataError: bad", 1 if s else None,
                        np.array(s, dtype=np.float64) if s else None, None, None)
            for i, (v, s, label) in enumerate(rows)]
