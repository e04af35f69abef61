"""Streaming, resumable AVA evaluation: keyframes -> clips -> engine batches -> detections CSV -> mAP.

The design follows :mod:`actionzoo.evaluate`: data-loader workers (started from its fork server)
decode and transform one keyframe each; the main process groups clips of equal frame size into
engine calls of up to ``batch_size`` clips (clips of different sizes never share a call; partial calls happen at the end
and when too many clips of different sizes wait), sets the boxes' batch-index column per clip, and
commits each keyframe's boxes and 80 scores to SQLite as soon as they are known. ``resume``
continues a killed run: a keyframe is either fully stored or not at all, and its image key is the
primary key, so none is lost or counted twice. A keyframe whose frames are missing or corrupt is
stored with its reason and the run goes on.

When every keyframe is stored, the detections are written in the official CSV format
(``video_id,%04d,x1,y1,x2,y2,action_id,score``; PySlowFast's ``%.03f`` / ``%.04f``; one row per
box and class, all 80 classes) and frame-mAP@0.5 is computed by :func:`ava_frame_map` from exactly
the values that file holds.
"""

from __future__ import annotations

import collections
import math
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

import numpy as np
import torch

from actionzoo.engines.all import Engine
from actionzoo.errors import ActionZooError, UsageError
from actionzoo.evaluation.recognition import (
    EvalReport,
    StageTimes,
    _Progress,
    _TimedSource,
    load_in_workers,
)
from actionzoo.zoo.protocols import AvaKeyframePipeline, Protocol
from actionzoo.evaluation.store import ResultsStore
from actionzoo.ava.annotations import (
    AnnotationRow,
    parse_image_key,
    read_annotations_csv,
    read_excluded_timestamps,
    read_labelmap,
)
from actionzoo.ava.dataset import AvaKeyframe, AvaTestSet, keyframe_clip, load_test_set
from actionzoo.ava.metric import ava_frame_map

__all__ = [
    "NUM_CLASSES",
    "AvaResultsStore",
    "AvaEvalReport",
    "KeyframeResult",
    "evaluate_ava",
    "run_keyframes",
    "write_detections_csv",
    "detection_rows",
]

PathLike = Union[str, os.PathLike]

#: AVA models score 80 classes; column k is action id k + 1.
NUM_CLASSES = 80


# ---------------------------------------------------------------------------------- storage


@dataclass(frozen=True)
class KeyframeResult:
    key: str  # "video_id,%04d"
    position: int  # index in the test set's order
    video_id: str
    second: int
    status: str  # "ok" or "failed"
    reason: str | None
    ori_boxes: np.ndarray | None  # (K, 4) float64, normalised
    scores: np.ndarray | None  # (K, 80) float64
    decode_s: float | None
    preprocess_s: float | None


class AvaResultsStore:
    """Per-keyframe results in a :class:`~actionzoo.results.ResultsStore` (same file rules: WAL,
    one commit per keyframe, ``resume`` required to continue, a different configuration refused).

    A keyframe is one row keyed by its image key; ``num_views`` holds its box count K and the
    ``scores`` blob holds ``[x1, y1, x2, y2, s_1 .. s_80]`` per box (float64, row-major).
    """

    def __init__(self, path: PathLike, config: Mapping[str, object], *, resume: bool) -> None:
        self.store = ResultsStore(path, {"task": "ava-detection", **config}, resume=resume)
        self.path = self.store.path

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> AvaResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def done_keys(self) -> set[str]:
        return self.store.done_ids()

    def record_success(self, position: int, keyframe: AvaKeyframe, ori_boxes: np.ndarray,
                       scores: np.ndarray, decode_s: float, preprocess_s: float) -> None:
        boxes = np.asarray(ori_boxes, dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(scores, dtype=np.float64)
        if scores.shape != (len(boxes), NUM_CLASSES):
            raise RuntimeError(
                f"{keyframe.key}: engine gave scores {scores.shape} for {len(boxes)} boxes, "
                f"expected ({len(boxes)}, {NUM_CLASSES})"
            )
        packed = np.concatenate([boxes, scores], axis=1)
        self.store.record_success(keyframe.key, position, keyframe.video_id, None, packed.ravel(),
                                  len(boxes), decode_s, preprocess_s)

    def record_failure(self, position: int, keyframe: AvaKeyframe, reason: str) -> None:
        self.store.record_failure(keyframe.key, position, keyframe.video_id, None, reason)

    def results(self) -> Iterator[KeyframeResult]:
        """Every stored keyframe in test-set order."""
        for r in self.store.results():
            video_id, second = parse_image_key(r.video_id)
            boxes = scores = None
            if r.status == "ok" and r.scores is not None:
                packed = r.scores.reshape(int(r.num_views or 0), 4 + NUM_CLASSES)
                boxes, scores = packed[:, :4], packed[:, 4:]
            yield KeyframeResult(r.video_id, r.position, video_id, second, r.status, r.reason,
                                 boxes, scores, r.decode_s, r.preprocess_s)


# ------------------------------------------------------------------------------ CSV writer


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
        if r.status != "ok" or r.ori_boxes is None or r.scores is None:
            continue
        for box, scores in zip(r.ori_boxes, r.scores):
            x1, y1, x2, y2 = (_coord(v) for v in box)
            for k, score in enumerate(scores):
                if wanted is None or k + 1 in wanted:
                    yield r.video_id, r.second, x1, y1, x2, y2, k + 1, _score(score)


def write_detections_csv(results: Iterable[KeyframeResult], out: PathLike) -> tuple[Path, int]:
    """Write the official detection CSV (PySlowFast's ``write_results`` format, all 80 classes).

    One row per box and class: ``video_id,%04d,%.03f x4,action_id,%.04f``, keyframes in the order
    given, boxes in stored order, classes 1..80. Written to a temporary file and renamed, so a
    partial file never stands in ``out``. Returns the path and the number of rows.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    rows = 0
    with partial.open("w", newline="") as f:
        for r in results:
            if r.status != "ok" or r.ori_boxes is None or r.scores is None:
                continue
            for box, scores in zip(r.ori_boxes, r.scores):
                prefix = "%s,%04d,%.03f,%.03f,%.03f,%.03f," % (r.video_id, r.second, *box)
                f.writelines(prefix + "%d,%.04f\n" % (k + 1, s) for k, s in enumerate(scores))
                rows += len(scores)
    partial.replace(out)
    return out, rows


# ----------------------------------------------------------------------------------- report


@dataclass
class AvaEvalReport(EvalReport):
    """An :class:`~actionzoo.evaluate.EvalReport` for AVA: counts are keyframes, the metric is
    frame-mAP@0.5 with per-class AP (``per_class``: ``(class id, name, AP or None)``)."""

    metric_protocol: str = ""
    per_class: list[tuple[int, str, float | None]] = field(default_factory=list)
    boxes: int = 0
    detections_csv: str | None = None
    detection_rows: int = 0
    finalize_s: float = 0.0
    videos_without_boxes: int = 0

    @property
    def mAP(self) -> float | None:
        value = self.metrics.get("mAP")
        return None if value is None or (isinstance(value, float) and math.isnan(value)) else value

    def to_dict(self) -> dict[str, object]:
        data = super().to_dict()
        data.pop("videos")
        data["keyframes"] = {"total": self.total, "scored": self.scored, "failed": len(self.failed),
                             "boxes": self.boxes}
        data["failed"] = [{"keyframe": k, "reason": r} for k, r in self.failed]
        data["metric_protocol"] = self.metric_protocol
        data["per_class"] = [{"id": i, "name": n, "ap": ap} for i, n, ap in self.per_class]
        data["detections_csv"] = self.detections_csv
        data["detection_rows"] = self.detection_rows
        data["finalize_s"] = self.finalize_s
        return data

    def _rows(self) -> list[tuple[str, str]]:
        t = self.times

        def share(x: float) -> str:
            return f"{x:.1f} s ({100 * x / t.wall:.0f}% of wall)" if t.wall > 0 else f"{x:.1f} s"

        m = self.mAP
        rows = [
            ("model", self.model),
            ("protocol", self.protocol),
            ("engine", f"{self.engine}, precision {self.precision}"),
            ("batch / workers", f"up to {self.batch_size} clips / {self.workers}"),
            ("keyframes", f"{self.scored} scored ({self.boxes} boxes), {len(self.failed)} failed, "
                          f"of {self.total}"),
            ("frame-mAP@0.5", "–" if m is None else f"{100 * m:.2f}"),
            ("metric", self.metric_protocol or "–"),
            ("detections CSV", f"{self.detections_csv} ({self.detection_rows} rows)"
             if self.detections_csv else "–"),
            ("wall time (this run)", f"{t.wall:.1f} s for {self.scored_this_run} keyframes"),
            ("  model", share(t.model)),
            ("  waiting for data", share(t.waiting)),
            ("  other", share(t.other)),
            ("decode (workers)", f"{t.decode:.1f} s"),
            ("preprocess (workers)", f"{t.preprocess:.1f} s"),
            ("CSV + mAP", f"{self.finalize_s:.1f} s"),
        ]
        if self.interrupted:
            rows.append(("status", "interrupted: rerun with --resume to finish"))
        elif self.scored + len(self.failed) < self.total:
            rows.append(("status", "incomplete: rerun with --resume to finish"))
        return rows

    def _class_lines(self) -> list[tuple[int, str, str]]:
        return [(i, n, "–" if ap is None else f"{100 * ap:.2f}") for i, n, ap in self.per_class]

    def render_text(self) -> str:
        text = super().render_text()
        if not self.per_class:
            return text
        width = max(len(n) for _, n, _ in self.per_class)
        lines = ["", "per-class AP@0.5 (%):"]
        lines += [f"  {i:>2}  {n.ljust(width)}  {ap:>6}" for i, n, ap in self._class_lines()]
        return text + "\n" + "\n".join(lines)

    def render_markdown(self) -> str:
        text = super().render_markdown()
        if not self.per_class:
            return text
        lines = ["", "| id | class | AP@0.5 (%) |", "|---:|---|---:|"]
        lines += [f"| {i} | {n} | {ap} |" for i, n, ap in self._class_lines()]
        return text + "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------- workers


@dataclass
class _KeyframeItem:
    position: int
    x: torch.Tensor | None  # (3, T, H, W) float32
    boxes: np.ndarray | None  # (K, 4) float32, input pixels
    error: str | None
    decode_s: float
    preprocess_s: float


class _KeyframeDataset(torch.utils.data.Dataset):
    """One keyframe per item. A worker keeps the frame source (and the decoded frames of its last
    keyframe) of the video it is on, so adjacent keyframes share their common frames."""

    def __init__(self, test_set: AvaTestSet, todo: Sequence[int]) -> None:
        self.test_set = test_set
        self.todo = list(todo)
        self._source: tuple[str, object] | None = None

    def __len__(self) -> int:
        return len(self.todo)

    def _source_for(self, video_id: str):
        if self._source is None or self._source[0] != video_id:
            self._source = (video_id, self.test_set.source(video_id))
        return self._source[1]

    def __getitem__(self, i: int) -> _KeyframeItem:
        position = self.todo[i]
        keyframe = self.test_set.keyframes[position]
        p = self.test_set.pipeline
        start = time.perf_counter()
        timed = None
        try:
            timed = _TimedSource(self._source_for(keyframe.video_id))
            frames = timed.read(self.test_set.frame_indices(keyframe))
            x, boxes = keyframe_clip(frames, keyframe.boxes, short_side=p.short_side, mean=p.mean,
                                     std=p.std)
            item_x, error = torch.from_numpy(x), None
        except ActionZooError as exc:
            item_x, boxes, error = None, None, str(exc)
        except Exception as exc:  # a decoder crash on a corrupt frame must not end the run
            item_x, boxes, error = None, None, f"{keyframe.key}: {type(exc).__name__}: {exc}"
        total = time.perf_counter() - start
        decode = timed.seconds if timed is not None else total
        return _KeyframeItem(position, item_x, boxes, error, decode, max(total - decode, 0.0))


def _worker_order(todo: Sequence[int], workers: int) -> list[int]:
    """Loader order that hands each worker one contiguous run of keyframes.

    A DataLoader gives item j to worker ``j % workers``; interleaving ``workers`` contiguous blocks
    (longer blocks first) makes each worker walk its block in order, so consecutive keyframes of a
    video land on the same worker and share decoded frames.
    """
    if workers <= 1:
        return list(todo)
    blocks = [list(b) for b in np.array_split(np.asarray(todo, dtype=np.int64), workers)]
    order = []
    for k in range(len(blocks[0]) if blocks else 0):
        order += [int(b[k]) for b in blocks if k < len(b)]
    return order


def _items(test_set: AvaTestSet, todo: Sequence[int], workers: int) -> Iterator[_KeyframeItem]:
    return load_in_workers(_KeyframeDataset(test_set, _worker_order(todo, workers)), workers)


# -------------------------------------------------------------------------------- main loop


@dataclass
class _RunStats:
    times: StageTimes
    scored: int = 0
    interrupted: bool = False


def run_keyframes(
    test_set: AvaTestSet,
    engine: Engine,
    store: AvaResultsStore,
    *,
    batch_size: int,
    workers: int,
    progress: bool = True,
) -> _RunStats:
    """Score every keyframe of ``test_set`` not yet in ``store``, committing each as it finishes."""
    if batch_size < 1:
        raise UsageError(f"batch size must be >= 1, got {batch_size}")
    if workers < 0:
        raise UsageError(f"workers must be >= 0, got {workers}")
    done = store.done_keys()
    todo = [i for i, k in enumerate(test_set.keyframes) if k.key not in done]
    stats = _RunStats(StageTimes())
    times = stats.times
    bar = _Progress(len(todo), progress)
    # Clips wait per frame size; at most this many in all before a partial call frees memory.
    max_waiting = batch_size * max(2, workers)
    groups: dict[tuple[int, int], list[_KeyframeItem]] = collections.OrderedDict()
    waiting = 0
    wall_start = time.perf_counter()

    def run_group(size: tuple[int, int]) -> None:
        nonlocal waiting
        group = groups[size]
        take, groups[size] = group[:batch_size], group[batch_size:]
        if not groups[size]:
            del groups[size]
        waiting -= len(take)
        x = np.stack([item.x.numpy() for item in take])
        boxes = np.concatenate([
            np.concatenate([np.full((len(item.boxes), 1), i, np.float32), item.boxes], axis=1)
            for i, item in enumerate(take)
        ]).astype(np.float32)
        start = time.perf_counter()
        out = np.asarray(engine.run(x, boxes))
        times.model += time.perf_counter() - start
        if out.shape != (len(boxes), NUM_CLASSES):
            raise RuntimeError(
                f"engine {engine.name} returned {out.shape} for {len(boxes)} boxes, "
                f"expected ({len(boxes)}, {NUM_CLASSES})"
            )
        row = 0
        for item in take:
            count = len(item.boxes)
            keyframe = test_set.keyframes[item.position]
            store.record_success(item.position, keyframe, keyframe.boxes, out[row:row + count],
                                 item.decode_s, item.preprocess_s)
            row += count
            stats.scored += 1
            bar.advance()

    items = _items(test_set, todo, workers)
    try:
        for item in times.timed(items):
            if item.x is None:
                store.record_failure(item.position, test_set.keyframes[item.position],
                                     item.error or "unknown error")
                bar.advance()
                continue
            size = (int(item.x.shape[2]), int(item.x.shape[3]))
            groups.setdefault(size, []).append(item)
            waiting += 1
            if len(groups[size]) >= batch_size:
                run_group(size)
            elif waiting > max_waiting:
                run_group(max(groups, key=lambda s: len(groups[s])))
        while groups:
            run_group(next(iter(groups)))
    except KeyboardInterrupt:
        stats.interrupted = True
    finally:
        bar.close()
        if hasattr(items, "close"):
            items.close()
    times.wall = time.perf_counter() - wall_start
    times.other = max(times.wall - times.model - times.waiting, 0.0)
    return stats


def _read_groundtruth(groundtruth: PathLike | Iterable[AnnotationRow]) -> list[AnnotationRow]:
    if isinstance(groundtruth, (str, os.PathLike)):
        return read_annotations_csv(groundtruth)
    return list(groundtruth)


def evaluate_ava(
    frames_dir: PathLike,
    frame_list: PathLike,
    boxes: PathLike,
    groundtruth: PathLike,
    labelmap: PathLike,
    excluded: PathLike | None = None,
    *,
    engine: Engine,
    results: PathLike,
    out_csv: PathLike,
    batch_size: int = 1,
    workers: int = 2,
    resume: bool = False,
    model_name: str = "slowfast_r50_ava",
    protocol: str | Protocol = "official",
    variant: str = "official",
    weights: str = "random",
    progress: bool = True,
) -> AvaEvalReport:
    """Evaluate ``engine`` on AVA test keyframes; write ``out_csv`` and report frame-mAP@0.5.

    ``frames_dir`` / ``frame_list``: the frame root and ``frame_lists/val.csv``; ``boxes``: the
    person-box CSV or proposal pickle (rows with score >= the protocol's threshold, 0.8);
    ``groundtruth``, ``labelmap``, ``excluded``: the official GT CSV, label-map pbtxt and excluded
    timestamps (all read and checked before any keyframe is scored). ``results``: the SQLite
    results file; ``resume`` continues it (it must belong to the same model, protocol, data,
    engine and weights). ``variant``: ``"official"`` (ActivityNet 2019: top-50 per keyframe) or
    ``"pyslowfast"`` (its ``ava_eval_helper``), see :mod:`actionzoo.ava.metric`. ``weights`` only
    labels the run in the results file. The CSV and mAP are produced once every keyframe is stored
    (scored or failed); an interrupted run reports ``interrupted`` and no mAP.
    """
    from actionzoo.zoo.registry import get_model_spec

    spec = get_model_spec(model_name)
    if isinstance(protocol, str):
        protocol = spec.protocol(protocol)
    pipeline = protocol.pipeline
    if not isinstance(pipeline, AvaKeyframePipeline):
        raise UsageError(f"{model_name} protocol {protocol.name} is not an AVA keyframe protocol")
    if variant not in ("official", "pyslowfast"):
        raise UsageError(f"unknown AVA evaluation variant {variant!r}; use official or pyslowfast")
    # Every annotation file is read before any work, so a malformed line fails in seconds.
    classes = read_labelmap(labelmap)
    gt_rows = _read_groundtruth(groundtruth)
    excluded_keys = read_excluded_timestamps(excluded) if excluded is not None else set()
    test_set = load_test_set(frames_dir, frame_list, boxes, pipeline=pipeline)

    config = {
        "model": spec.name,
        "protocol": protocol.describe(),
        "frames_dir": str(Path(frames_dir).resolve()),
        "frame_list": str(Path(frame_list).resolve()),
        "boxes": str(Path(boxes).resolve()),
        "box_score_threshold": pipeline.box_score_threshold,
        "engine": engine.name,
        "precision": engine.precision,
        "weights": str(weights),
    }
    with AvaResultsStore(results, config, resume=resume) as store:
        stats = run_keyframes(test_set, engine, store, batch_size=batch_size, workers=workers,
                              progress=progress)
        keys = {k.key for k in test_set.keyframes}
        stored = [r for r in store.results() if r.key in keys]

    ok = [r for r in stored if r.status == "ok"]
    report = AvaEvalReport(
        model=spec.name,
        protocol=protocol.describe(),
        engine=engine.describe(),
        precision=engine.precision,
        batch_size=batch_size,
        workers=workers,
        total=len(test_set),
        scored=len(ok),
        failed=[(r.key, r.reason or "") for r in stored if r.status == "failed"],
        metrics={},
        times=stats.times,
        scored_this_run=stats.scored,
        interrupted=stats.interrupted,
        boxes=sum(len(r.ori_boxes) for r in ok if r.ori_boxes is not None),
        videos_without_boxes=len(test_set.videos_without_boxes),
    )
    if stats.interrupted or len(stored) < len(test_set):
        return report

    start = time.perf_counter()
    csv_path, rows = write_detections_csv(stored, out_csv)
    # The metric sees exactly the CSV's values; non-label-map classes are left out here, which
    # both evaluator variants do first anyway (it saves a quarter of the rows).
    result = ava_frame_map(gt_rows, detection_rows(stored, classes), classes, excluded_keys,
                           variant=variant)
    report.finalize_s = time.perf_counter() - start
    report.detections_csv = str(csv_path)
    report.detection_rows = rows
    report.metric_protocol = result["protocol"]
    report.metrics = {"mAP": float(result["mAP"])}
    report.per_class = [(c, classes[c], result["per_class"].get(c)) for c in classes]
    return report
