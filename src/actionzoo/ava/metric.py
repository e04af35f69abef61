"""AVA frame-mAP@0.5IoU, computed as the official ActivityNet 2019 evaluator computes it.

``variant="official"`` reproduces ActivityNet ``get_ava_performance.py`` at 3fee089 (the version
with an exclusions file, vendored unchanged by PySlowFast and mmaction2). ``variant="pyslowfast"``
reproduces PySlowFast's ``ava_eval_helper`` (its in-training ``val`` and final ``test`` mAP), which
runs the same evaluation core on data that never went through the official reader: no top-50 per
keyframe and no per-keyframe re-sort, so detections *and* ground truth are matched in input order.

The steps, in order (ActivityNet@3fee089 ``Evaluation/get_ava_performance.py`` and its
``object_detection_evaluation``):

1. Label map: the whitelist is the set of ids; ``num_class`` = max id.
2. Keys: ``"%s,%04d" % (video_id, int(timestamp))``.
3. Ground truth: rows whose action is not whitelisted are skipped; per key the rest go
   through a min-heap of ``(person_id or 1.0, action_id, y1, x1, y2, x2)`` without capacity and are
   then stably sorted by descending person id (so equal "scores" keep heap-array order).
   PySlowFast: file order.
4. Detections: non-whitelisted rows are skipped *first*; per key the top 50 entries by
   score over all boxes and classes are kept with a min-heap of ``(score, action_id, y1, x1, y2,
   x2)`` (push until 50, then replace the minimum only when the new score is strictly greater),
   then stably sorted by descending score (equal scores keep heap-array order).
   PySlowFast: all rows, input order.
5. GT images: every non-excluded GT key; ``num_gt[c]`` counts class-c rows there.
6. Detections per non-excluded key, keys in order of first appearance, keys without GT
   included (all FP): boxes without ``y1 < y2`` and ``x1 < x2`` are dropped (after step 4, so
   they still took top-50 slots); per class, IoU without +1 on normalised coordinates; each
   detection in order takes its best-IoU GT (first index on ties) and is a TP only if that IoU
   is >= 0.5 and that GT is still free -- no fallback to the second-best GT.
7. Per class with ``num_gt > 0``: scores and TP flags concatenated over keys, ordered by
   ``np.argsort(scores)[::-1]`` (numpy's default, unstable sort: the official tie rule, see
   below); cumulative precision / recall; VOC all-point AP under the monotone envelope; AP 0
   without detections. Classes without GT get NaN.
8. mAP: ``np.nanmean`` over the per-class array of length ``num_class``.

Ties: a TP and an FP of one class with equal scores make the AP depend on numpy's argsort
tie order, exactly as in the official code (and equally machine/numpy-version dependent there);
this module calls the same ``np.argsort`` on the same array in the same order, so it reproduces the
official value on the same numpy. Everything is float64 with the official operation order.
"""

from __future__ import annotations

import heapq
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from actionzoo.ava.annotations import (
    AnnotationRow,
    DetectionRow,
    image_key,
    parse_image_key,
    read_annotations_csv,
    read_detections_csv,
    read_excluded_timestamps,
    read_labelmap,
)
from actionzoo.ava.variant import AvaVariant
from actionzoo.errors import UsageError
from actionzoo.evaluation.metrics import KeyedResult

__all__ = ["ava_frame_map", "average_precision", "IOU_THRESHOLD", "TOP_K_PER_KEYFRAME"]

IOU_THRESHOLD = 0.5
TOP_K_PER_KEYFRAME = 50

PathLike = Union[str, os.PathLike]

# One entry: (score, action_id, y1, x1, y2, x2), the official tuple; the heap compares it whole.
_Entry = tuple[float, int, float, float, float, float]


# ------------------------------------------------------------------------------ input handling


def _is_path(value: object) -> bool:
    return isinstance(value, (str, os.PathLike))


def _as_labelmap(labelmap: PathLike | Mapping[int, str] | Iterable[int]) -> dict[int, str]:
    if _is_path(labelmap):
        return read_labelmap(labelmap)
    if isinstance(labelmap, Mapping):
        result = {int(k): str(v) for k, v in labelmap.items()}
    else:
        result = {int(k): str(int(k)) for k in labelmap}
    bad = sorted(k for k in result if k < 1)
    if bad:
        raise UsageError(f"label map: class ids must be positive integers, got {bad}")
    if not result:
        raise UsageError("label map: no classes given")
    return result


def _as_excluded(excluded: PathLike | Iterable[str | tuple[str, int]] | None) -> set[str]:
    if excluded is None:
        return set()
    if _is_path(excluded):
        return read_excluded_timestamps(excluded)
    keys = set()
    for item in excluded:
        try:
            if isinstance(item, str):
                keys.add(image_key(*parse_image_key(item)))
            else:
                video_id, second = item
                keys.add(image_key(str(video_id), int(second)))
        except (ValueError, TypeError):
            raise UsageError(
                f"excluded keyframes: {item!r} is neither 'video_id,timestamp' "
                "nor (video_id, timestamp)"
            ) from None
    return keys


def _coerce(rows: Iterable[Any], cls: type, what: str) -> list:
    out = []
    for index, row in enumerate(rows):
        if isinstance(row, cls):
            out.append(row)
            continue
        try:
            if len(row) not in (7, 8):
                raise ValueError
            values = [str(row[0]), int(row[1]), *(float(v) for v in row[2:6]), int(row[6])]
            if len(row) == 8:
                values.append(int(row[7]) if cls is AnnotationRow else float(row[7]))
            out.append(cls(*values))
        except (TypeError, ValueError):
            raise UsageError(
                f"{what}: row {index} {row!r} is not a {cls.__name__} nor a 7/8-item sequence "
                "(video_id, timestamp, x1, y1, x2, y2, action_id[, person_id|score])"
            ) from None
    return out


def _as_groundtruth(groundtruth: PathLike | Iterable[Any]) -> list[AnnotationRow]:
    if _is_path(groundtruth):
        return read_annotations_csv(groundtruth)  # reports inverted boxes itself
    rows = _coerce(groundtruth, AnnotationRow, "ground truth")
    inverted = [i for i, r in enumerate(rows) if r.x1 > r.x2 or r.y1 > r.y2]
    if inverted:
        raise UsageError(
            f"ground truth: {len(inverted)} inverted box(es) (x1 > x2 or y1 > y2), first at row "
            f"{inverted[0]}: {rows[inverted[0]]}; the official evaluator rejects such boxes"
        )
    return rows


def _as_detections(detections: PathLike | Iterable[Any]) -> list[DetectionRow]:
    if _is_path(detections):
        return read_detections_csv(detections)
    return _coerce(detections, DetectionRow, "detections")


# ---------------------------------------------------------------------------- per-key entries


def _per_key_entries(
    rows: Iterable[tuple[str, _Entry]], whitelist: set[int], capacity: int, official_order: bool
) -> tuple[dict[str, list[_Entry]], int, int]:
    """Group ``(key, entry)`` pairs by key, keys in order of first whitelisted row.

    ``official_order``: a per-key min-heap (``capacity`` > 0 caps it, replacing the minimum only on
    a strictly greater score), then a stable sort by descending score over the heap array.
    Otherwise: input order, no cap. Returns (entries, rows not whitelisted, rows cut by the cap).
    """
    grouped: dict[str, list[_Entry]] = {}
    skipped = 0
    cut = 0
    for key, entry in rows:
        if entry[1] not in whitelist:
            skipped += 1
            continue
        bucket = grouped.setdefault(key, [])
        if not official_order:
            bucket.append(entry)
        elif capacity < 1 or len(bucket) < capacity:
            heapq.heappush(bucket, entry)
        else:
            cut += 1  # either this entry or the current minimum leaves
            if entry[0] > bucket[0][0]:
                heapq.heapreplace(bucket, entry)
    if official_order:
        for key, bucket in grouped.items():
            grouped[key] = sorted(bucket, key=lambda e: -e[0])
    return grouped, skipped, cut


# ------------------------------------------------------------------------------ matching / AP


def _pairwise_iou(det: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """IoU of (N, 4) and (M, 4) [y1, x1, y2, x2] boxes, no +1, in the official operation order."""
    heights = np.maximum(
        0.0, np.minimum(det[:, 2:3], gt[:, 2][None, :]) - np.maximum(det[:, 0:1], gt[:, 0][None, :])
    )
    widths = np.maximum(
        0.0, np.minimum(det[:, 3:4], gt[:, 3][None, :]) - np.maximum(det[:, 1:2], gt[:, 1][None, :])
    )
    intersection = heights * widths
    det_area = (det[:, 2] - det[:, 0]) * (det[:, 3] - det[:, 1])
    gt_area = (gt[:, 2] - gt[:, 0]) * (gt[:, 3] - gt[:, 1])
    union = det_area[:, None] + gt_area[None, :] - intersection
    with np.errstate(divide="ignore", invalid="ignore"):
        return intersection / union


def _greedy_tp(iou: np.ndarray) -> np.ndarray:
    """TP flags of detections (rows, in matching order) against GTs (columns).

    Each detection looks only at its best-IoU GT (first column on ties); it is a TP when that IoU
    is >= 0.5 and no earlier detection took that GT. Equivalently: among the detections whose
    best IoU passes, the first one per GT is the TP.
    """
    tp = np.zeros(iou.shape[0], dtype=bool)
    best = np.argmax(iou, axis=1)
    passes = np.flatnonzero(iou[np.arange(iou.shape[0]), best] >= IOU_THRESHOLD)
    if passes.size:
        _, first = np.unique(best[passes], return_index=True)
        tp[passes[first]] = True
    return tp


def average_precision(
    scores: Sequence[float] | np.ndarray, tp: Sequence[bool] | np.ndarray, num_gt: int
) -> float:
    """VOC all-point AP of one class, as the official ``compute_precision_recall`` +
    ``compute_average_precision``: order by ``np.argsort(scores)[::-1]``, precision = cumTP /
    (cumTP + cumFP), recall = cumTP / num_gt, recall padded with 0 and 1 and precision with 0 and
    0, precision replaced by its running maximum from the right, AP = sum over recall changes of
    (r[i] - r[i-1]) * p[i]. No detections -> 0.0; ``num_gt`` must be positive."""
    scores = np.asarray(scores, dtype=np.float64)
    flags = np.asarray(tp, dtype=bool)
    if num_gt <= 0:
        raise ValueError("average_precision needs num_gt > 0")
    if scores.shape != flags.shape or scores.ndim != 1:
        raise ValueError("scores and tp must be 1-D and of equal length")
    if int(flags.sum()) > num_gt:
        raise ValueError("more true positives than ground-truth instances")
    if scores.size == 0:
        return 0.0
    order = np.argsort(scores)[::-1]
    tp_sorted = flags.astype(int)[order]
    cum_tp = np.cumsum(tp_sorted)
    cum_fp = np.cumsum(1 - tp_sorted)
    precision = cum_tp.astype(float) / (cum_tp + cum_fp)
    recall = cum_tp.astype(float) / num_gt
    recall = np.concatenate([[0.0], recall, [1.0]])
    precision = np.concatenate([[0.0], precision, [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    changes = np.flatnonzero(recall[1:] != recall[:-1]) + 1
    return float(np.sum((recall[changes] - recall[changes - 1]) * precision[changes]))


# ---------------------------------------------------------------------------------- the metric


@dataclass(frozen=True)
class FrameMapResult(KeyedResult):
    """The outcome of :func:`ava_frame_map`; every field also reads as ``result["name"]``.

    ``num_detections`` / ``num_tp`` count the detections that were scored (after every filter);
    ``keyframes`` and ``dropped`` count keyframes and detections by fate; ``official`` is the
    official output dict (``PascalBoxes_Precision/mAP@0.5IOU`` and
    ``PascalBoxes_PerformanceByCategory/AP@0.5IOU/<name>``, NaN for classes without GT).
    """

    mAP: float  # NaN when no label-map class has ground truth
    per_class: dict[int, float | None]  # label-map order; None: no ground truth
    num_gt: dict[int, int]
    num_detections: dict[int, int]  # scored detections, after every filter
    num_tp: dict[int, int]
    keyframes: dict[str, int]
    dropped: dict[str, int]
    official: dict[str, float]  # the official output dict
    variant: AvaVariant
    mini_val: bool
    protocol: str


@dataclass
class _Matches:
    """Scores and TP flags per class (index = class id), and the keyframe counts of step 6."""

    scores: list[list[np.ndarray]]
    tp: list[list[np.ndarray]]
    keyframes: int = 0
    excluded: int = 0
    invalid: int = 0
    without_gt: int = 0


def _groundtruth_images(
    gt_entries: dict[str, list[tuple]], excluded_keys: set[str], num_class: int
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], np.ndarray, int]:
    """Step 5: boxes and labels per non-excluded GT key; ``num_gt`` per class id; excluded keys."""
    num_gt = np.zeros(num_class + 1, dtype=np.int64)  # index = class id
    images: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    excluded = 0
    for key, entries in gt_entries.items():
        if key in excluded_keys:
            excluded += 1
            continue
        boxes = np.array([e[2:] for e in entries], dtype=np.float64)
        labels = np.array([e[1] for e in entries], dtype=np.int64)
        images[key] = (boxes, labels)
        num_gt += np.bincount(labels, minlength=num_class + 1)
    return images, num_gt, excluded


def _match_detections(
    det_entries: dict[str, list[tuple]],
    gt_images: dict[str, tuple[np.ndarray, np.ndarray]],
    excluded_keys: set[str],
    num_class: int,
) -> _Matches:
    """Step 6: each key's valid detections matched greedily to its GT, class by class."""
    matches = _Matches([[] for _ in range(num_class + 1)], [[] for _ in range(num_class + 1)])
    empty_boxes = np.zeros((0, 4), dtype=np.float64)
    empty_labels = np.zeros(0, dtype=np.int64)
    for key, entries in det_entries.items():
        if key in excluded_keys:
            matches.excluded += 1
            continue
        matches.keyframes += 1
        scores = np.array([e[0] for e in entries], dtype=np.float64)
        labels = np.array([e[1] for e in entries], dtype=np.int64)
        boxes = np.array([e[2:] for e in entries], dtype=np.float64)
        valid = (boxes[:, 0] < boxes[:, 2]) & (boxes[:, 1] < boxes[:, 3])
        matches.invalid += int(valid.size - valid.sum())
        scores, labels, boxes = scores[valid], labels[valid], boxes[valid]
        if key in gt_images:
            gt_boxes, gt_labels = gt_images[key]
        else:
            matches.without_gt += 1
            gt_boxes, gt_labels = empty_boxes, empty_labels
        iou = _pairwise_iou(boxes, gt_boxes) if labels.size and gt_labels.size else None
        for c in np.unique(labels):
            d = np.flatnonzero(labels == c)
            g = np.flatnonzero(gt_labels == c)
            tp = _greedy_tp(iou[np.ix_(d, g)]) if g.size else np.zeros(d.size, dtype=bool)
            matches.scores[c].append(scores[d])
            matches.tp[c].append(tp)
    return matches


def _entries(gt_rows: list[AnnotationRow], det_rows: list[DetectionRow], whitelist: set[int],
             official_order: bool) -> tuple[dict, dict, int, int]:
    """Steps 3-4: per-key GT and detection entries in matching order, and the detections dropped
    for a class outside the label map or beyond the top 50 of their keyframe."""
    gt_entries, _, _ = _per_key_entries(
        ((r.key, (1.0 if r.person_id is None else float(r.person_id), r.action_id,
                  r.y1, r.x1, r.y2, r.x2)) for r in gt_rows),
        whitelist, 0, official_order,
    )
    det_entries, not_in_map, cut_by_top_k = _per_key_entries(
        ((r.key, (r.score, r.action_id, r.y1, r.x1, r.y2, r.x2)) for r in det_rows),
        whitelist, TOP_K_PER_KEYFRAME, official_order,
    )
    return gt_entries, det_entries, not_in_map, cut_by_top_k


def _class_average_precisions(
    matches: _Matches, num_gt: np.ndarray, classes: Mapping[int, str], num_class: int
) -> tuple[np.ndarray, dict[int, int], dict[int, int]]:
    """Step 7: AP per class id (index id - 1, NaN without GT) and the scored / TP counts."""
    ap = np.full(num_class, np.nan, dtype=np.float64)
    num_detections: dict[int, int] = {}
    num_tp: dict[int, int] = {}
    for c in classes:
        scores = np.concatenate(matches.scores[c]) if matches.scores[c] else np.zeros(0)
        tp = np.concatenate(matches.tp[c]) if matches.tp[c] else np.zeros(0, dtype=bool)
        num_detections[c] = int(scores.size)
        num_tp[c] = int(tp.sum())
        if num_gt[c] > 0:
            ap[c - 1] = average_precision(scores, tp, int(num_gt[c]))
    return ap, num_detections, num_tp


def ava_frame_map(
    groundtruth: PathLike | Iterable[AnnotationRow | Sequence[Any]],
    detections: PathLike | Iterable[DetectionRow | Sequence[Any]],
    labelmap: PathLike | Mapping[int, str] | Iterable[int],
    excluded: PathLike | Iterable[str | tuple[str, int]] | None = None,
    *,
    variant: AvaVariant | str = AvaVariant.OFFICIAL,
    mini_val: bool = False,
) -> FrameMapResult:
    """AVA frame-mAP@0.5IoU of ``detections`` against ``groundtruth``.

    Arguments are paths to the official files (GT CSV, detection CSV, label-map pbtxt, excluded
    timestamps CSV) or already-parsed objects: rows (:class:`AnnotationRow` / :class:`DetectionRow`
    or 7/8-item sequences ``video_id, timestamp, x1, y1, x2, y2, action_id[, person_id|score]``)
    in file order, a ``{class_id: name}`` mapping or an iterable of class ids, and image keys
    (``"vid,0902"``) or ``(video_id, timestamp)`` pairs. Row order matters, as it does to the
    official code (heap order, key order, tie-breaking).

    ``variant``: ``"official"`` (ActivityNet 2019) or ``"pyslowfast"`` (PySlowFast's helper: no
    top-50, no per-keyframe re-sort, GT in file order). ``mini_val``: keep only keyframes whose
    second is a multiple of 4, GT and detections alike -- what PySlowFast's in-training ``val``
    mode evaluates (its dataset loads only those keyframes and its meter uses the "mini" GT).

    Returns a :class:`FrameMapResult` (its fields also read by name, ``result["mAP"]``).
    """
    variant = AvaVariant.parse(variant)
    official_order = variant.official_order
    classes = _as_labelmap(labelmap)
    whitelist = set(classes)
    num_class = max(classes)
    excluded_keys = _as_excluded(excluded)
    gt_rows = _as_groundtruth(groundtruth)
    det_rows = _as_detections(detections)
    if mini_val:
        gt_rows = [r for r in gt_rows if r.timestamp % 4 == 0]
        det_rows = [r for r in det_rows if r.timestamp % 4 == 0]

    gt_entries, det_entries, not_in_map, cut_by_top_k = _entries(gt_rows, det_rows, whitelist,
                                                                  official_order)
    gt_images, num_gt, excluded_gt = _groundtruth_images(gt_entries, excluded_keys, num_class)
    matches = _match_detections(det_entries, gt_images, excluded_keys, num_class)

    ap, num_detections, num_tp = _class_average_precisions(matches, num_gt, classes, num_class)
    mean_ap = float(np.nanmean(ap)) if not np.isnan(ap).all() else math.nan

    official = {f"PascalBoxes_Precision/mAP@{IOU_THRESHOLD}IOU": mean_ap}
    official.update({f"PascalBoxes_PerformanceByCategory/AP@{IOU_THRESHOLD}IOU/{name}": float(ap[c - 1])
                     for c, name in classes.items()})
    return FrameMapResult(
        mAP=mean_ap,
        per_class={c: (None if math.isnan(ap[c - 1]) else float(ap[c - 1])) for c in classes},
        num_gt={c: int(num_gt[c]) for c in classes},
        num_detections=num_detections,
        num_tp=num_tp,
        keyframes={
            "groundtruth": len(gt_images),
            "detections": matches.keyframes,
            "detections_without_groundtruth": matches.without_gt,
            "excluded_groundtruth": excluded_gt,
            "excluded_detections": matches.excluded,
        },
        dropped={
            "detections_not_in_labelmap": not_in_map,
            "detections_beyond_top_k": cut_by_top_k,
            "detections_invalid_box": matches.invalid,
        },
        official=official,
        variant=variant,
        mini_val=mini_val,
        protocol=variant.protocol + (" (mini val: seconds % 4 == 0)" if mini_val else ""),
    )
