"""Streaming, resumable AVA evaluation: keyframes -> clips -> engine batches -> detections CSV -> mAP.

The design follows :mod:`actionzoo.evaluation.recognition`: data-loader workers (started from its fork server)
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

import math
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np
import torch

from actionzoo.ava.annotations import (
    AnnotationRow,
    read_annotations_csv,
    read_excluded_timestamps,
    read_labelmap,
)
from actionzoo.ava.dataset import AvaTestSet, keyframe_clip, load_test_set
from actionzoo.ava.detections import detection_rows, write_detections_csv
from actionzoo.ava.evaluator import FrameMapEvaluator, FrameMapOutcome
from actionzoo.ava.variant import AvaVariant
from actionzoo.engines.base import Engine, require_engine
from actionzoo.engines.worker_count import PROBE_VIDEOS, batch_and_workers
from actionzoo.errors import UsageError
from actionzoo.evaluation.report import EvalReport
from actionzoo.evaluation.store import KeyframeResult, KeyframeStore, merge_shards, open_sharded
from actionzoo.runtime.batching import BatchPacker, Deferred
from actionzoo.runtime.distributed import SINGLE, DistContext
from actionzoo.runtime.progress import ProgressDisplay
from actionzoo.runtime.streaming import stream_items
from actionzoo.runtime.timing import StageTimes
from actionzoo.data.work_item import WorkItem
from actionzoo.runtime.workers import load_in_workers
from actionzoo.zoo.protocols import Protocol
from actionzoo.zoo.registry import get_model_spec
from actionzoo.zoo.spec import ModelSpec
from actionzoo.data.item_errors import attempt

__all__ = [
    "AvaResultsStore",
    "AvaEvalReport",
    "KeyframeResult",
    "KeyframeRow",
    "evaluate_ava",
    "run_keyframes",
    "run_clips",
    "write_detections_csv",
    "detection_rows",
]

PathLike = Union[str, os.PathLike]

#: The AVA results store (one typed row per keyframe: boxes and their per-class scores).
AvaResultsStore = KeyframeStore


# ----------------------------------------------------------------------------------- report


@dataclass
class AvaEvalReport(EvalReport):
    """An :class:`~actionzoo.evaluation.report.EvalReport` for AVA: counts are keyframes, the metric is
    frame-mAP@0.5 with per-class AP (``per_class``: ``(class id, name, AP or None)``)."""

    metric_protocol: str = ""
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

    unit = "keyframes"

    def _figure_rows(self) -> list[tuple[str, str]]:
        m = self.mAP
        return [
            ("keyframes", f"{self.scored} scored ({self.boxes} boxes), {len(self.failed)} failed, "
                          f"of {self.total}"),
            ("frame-mAP@0.5", "–" if m is None else f"{100 * m:.2f}"),
            ("metric", self.metric_protocol or "–"),
            ("detections CSV", f"{self.detections_csv} ({self.detection_rows} rows)"
             if self.detections_csv else "–"),
        ]

    def _time_rows(self) -> list[tuple[str, str]]:
        return [*super()._time_rows(), ("CSV + mAP", f"{self.finalize_s:.1f} s")]

    def _status_rows(self) -> list[tuple[str, str]]:
        if not self.interrupted and self.scored + len(self.failed) < self.total:
            return [("status", "incomplete: rerun with --resume to finish")]
        return super()._status_rows()

    def _rows(self) -> list[tuple[str, str]]:
        rows = super()._rows()
        return [(k, f"up to {self.batch_size} clips / {self.workers}") if k == "batch / workers"
                else (k, v) for k, v in rows]

    def _class_title(self) -> str:
        return "per-class AP@0.5 (%):"


# ---------------------------------------------------------------------------------- workers


@dataclass(frozen=True)
class KeyframeRow:
    """One engine row of a detector: a clip and the person boxes to score in it."""

    x: np.ndarray  # (3, T, H, W) float32
    boxes: np.ndarray  # (K, 4) float32, input pixels

    @property
    def frame_size(self) -> tuple[int, int]:
        return int(self.x.shape[2]), int(self.x.shape[3])


def run_clips(engine: Engine, num_classes: int):
    """The engine call for a batch of keyframe rows: clips stacked, boxes joined with their
    clip's batch index as column 0, and the (sum K, classes) output split back per clip (a
    :class:`Deferred` split for an asynchronous engine)."""
    asynchronous = engine.asynchronous

    def run(rows: Sequence[KeyframeRow]):
        x = np.stack([row.x for row in rows])
        boxes = np.concatenate([
            np.concatenate([np.full((len(row.boxes), 1), i, np.float32), row.boxes], axis=1)
            for i, row in enumerate(rows)
        ]).astype(np.float32)
        counts = [len(row.boxes) for row in rows]
        if asynchronous:
            pending = engine.submit(x, boxes)
            return Deferred(lambda: split_per_clip(engine, pending(), counts, num_classes))
        return split_per_clip(engine, engine.run(x, boxes), counts, num_classes)

    return run


def split_per_clip(engine: Engine, out: np.ndarray, counts: list[int], num_classes: int
                   ) -> list[np.ndarray]:
    out = np.asarray(out)
    boxes = sum(counts)
    if out.shape != (boxes, num_classes):
        raise RuntimeError(
            f"engine {engine.info.name} returned {out.shape} for {boxes} boxes, "
            f"expected ({boxes}, {num_classes})"
        )
    return np.split(out, np.cumsum(counts)[:-1])


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

    def __getitem__(self, i: int) -> WorkItem:
        position = self.todo[i]
        keyframe = self.test_set.keyframes[position]
        p = self.test_set.pipeline
        start = time.perf_counter()
        opened: list[tuple[object, float]] = []  # the source and its read time before this keyframe

        def load() -> list[KeyframeRow]:
            source = self._source_for(keyframe.video_id)
            opened.append((source, source.read_seconds))
            frames = source.read(self.test_set.frame_indices(keyframe))
            x, boxes = keyframe_clip(frames, keyframe.boxes, short_side=p.short_side, mean=p.mean,
                                     std=p.std, center_crop=p.center_crop)
            return [KeyframeRow(x, boxes)]

        rows, error = attempt(keyframe.key, load)
        total = time.perf_counter() - start
        decode = opened[0][0].read_seconds - opened[0][1] if opened else total
        return WorkItem(position, rows, error, decode, max(total - decode, 0.0))


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


# -------------------------------------------------------------------------------- main loop


@dataclass
class _RunStats:
    times: StageTimes
    scored: int = 0
    interrupted: bool = False


def run_keyframes(
    test_set: AvaTestSet,
    engine: Engine,
    store: KeyframeStore,
    *,
    batch_size: int,
    workers: int,
    num_classes: int,
    progress: bool = True,
    ctx: DistContext = SINGLE,
) -> _RunStats:
    """Score every keyframe of ``test_set`` not yet in ``store``, committing each as it finishes.

    Clips of one frame size share engine calls of up to ``batch_size``; when more clips than
    ``batch_size * max(2, workers)`` wait across sizes, the fullest size runs early to bound memory.
    """
    if batch_size < 1:
        raise UsageError(f"batch size must be >= 1, got {batch_size}")
    if workers < 0:
        raise UsageError(f"workers must be >= 0, got {workers}")
    done = ctx.broadcast_object(store.done_keys() if ctx.is_main else None)
    todo = ctx.shard([i for i, k in enumerate(test_set.keyframes) if k.key not in done])
    stats = _RunStats(StageTimes())

    with ProgressDisplay(len(todo), "eval AVA", "keyframes", enabled=progress) as bar:

        def finish(item: WorkItem, outputs: list[np.ndarray]) -> None:
            keyframe = test_set.keyframes[item.position]
            store.record_success(item.position, keyframe.key, keyframe.video_id, keyframe.second,
                                 keyframe.boxes, outputs[0], item.decode_s, item.preprocess_s)
            stats.scored += 1
            bar.advance()

        def fail(item: WorkItem) -> None:
            keyframe = test_set.keyframes[item.position]
            store.record_failure(item.position, keyframe.key, keyframe.video_id, keyframe.second,
                                 item.error or "unknown error")
            bar.advance()

        packer = BatchPacker(run_clips(engine, num_classes), batch_size, finish,
                             group_of=lambda row: row.frame_size,
                             max_waiting=batch_size * max(2, workers), times=stats.times)
        items = load_in_workers(_KeyframeDataset(test_set, _worker_order(todo, workers)), workers)
        stats.interrupted = stream_items(items, packer, on_failure=fail, times=stats.times)
    return stats


def keyframe_probes(test_set: AvaTestSet) -> Iterator[_KeyframeDataset]:
    """The data-side probes of an AVA run (``engines.worker_count``): a keyframe and the next one
    of its video, whose cost with the frames it shares already decoded is the steady state."""
    keyframes = test_set.keyframes
    for position in range(min(PROBE_VIDEOS, len(keyframes))):
        following = position + 1 < len(keyframes) and \
            keyframes[position + 1].video_id == keyframes[position].video_id
        yield _KeyframeDataset(test_set, [position, position + 1] if following else [position])


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
    batch_size: int | None = 1,
    workers: int | None = 2,
    resume: bool = False,
    model_name: str | ModelSpec = "slowfast_r50_ava",
    protocol: str | Protocol = "official",
    variant: AvaVariant | str = AvaVariant.OFFICIAL,
    weights: str = "random",
    progress: bool = True,
    ctx: DistContext = SINGLE,
) -> AvaEvalReport:
    """Evaluate ``engine`` on AVA test keyframes; write ``out_csv`` and report frame-mAP@0.5.

    ``frames_dir`` / ``frame_list``: the frame root and ``frame_lists/val.csv``; ``boxes``: the
    person-box CSV or proposal pickle (rows with score >= the protocol's threshold, 0.8);
    ``groundtruth``, ``labelmap``, ``excluded``: the official GT CSV, label-map pbtxt and excluded
    timestamps (all read and checked before any keyframe is scored). ``results``: the SQLite
    results file; ``resume`` continues it (it must belong to the same model, protocol, data,
    engine and weights). ``variant``: :class:`AvaVariant` ``official`` (ActivityNet 2019: top-50
    per keyframe) or ``pyslowfast`` (its ``ava_eval_helper``), see :mod:`actionzoo.ava.metric`.
    ``weights`` only labels the run in the results file. The CSV and mAP are produced once every
    keyframe is stored (scored or failed); an interrupted run reports ``interrupted`` and no mAP.
    ``batch_size`` / ``workers`` None: measured on this machine, as ``eval`` measures them for a
    recognizer (the fastest batch; the fewest decode workers that keep the engine fed).
    """
    require_engine(engine)
    spec = get_model_spec(model_name)
    protocol = spec.protocol(protocol)
    pipeline = protocol.pipeline
    if not pipeline.is_detection:
        raise UsageError(f"{model_name} protocol {protocol.name} is not an AVA keyframe protocol")
    variant = AvaVariant.parse(variant)
    # Every annotation file is read before any work, so a malformed line fails in seconds.
    classes = read_labelmap(labelmap)
    gt_rows = _read_groundtruth(groundtruth)
    excluded_keys = read_excluded_timestamps(excluded) if excluded is not None else set()
    test_set = load_test_set(frames_dir, frame_list, boxes, pipeline=pipeline)

    config = {
        "model": spec.name, "protocol": protocol.describe(),
        "frames_dir": str(Path(frames_dir).resolve()), "frame_list": str(Path(frame_list).resolve()),
        "boxes": str(Path(boxes).resolve()), "box_score_threshold": pipeline.box_score_threshold,
        **engine.info.key(), "weights": str(weights),
    }
    batch_size, choice = batch_and_workers(batch_size, workers, spec, protocol, engine,
                                           test_set.keyframes, ctx, keyframe_probes(test_set))
    workers, workers_how = choice.workers, choice.how
    evaluator = FrameMapEvaluator([k.key for k in test_set.keyframes], gt_rows, classes,
                                  excluded_keys, out_csv=out_csv, variant=variant)
    with open_sharded(KeyframeStore, results, config, resume=resume, ctx=ctx) as store:
        stats = run_keyframes(test_set, engine, store, batch_size=batch_size, workers=workers,
                              num_classes=spec.num_classes, progress=progress, ctx=ctx)
        stats.interrupted, stats.scored = merge_shards(store, ctx, interrupted=stats.interrupted,
                                                       scored=stats.scored)
        if ctx.is_main:  # rank 0's store now holds every process's keyframes
            evaluator.process(store.results())
    info = engine.info
    report = AvaEvalReport(
        model=spec.name, protocol=protocol.describe(), engine=info.describe(),
        precision=info.precision, batch_size=batch_size, workers=workers, total=len(test_set),
        scored=0, failed=[], metrics={}, times=stats.times, scored_this_run=stats.scored,
        interrupted=stats.interrupted, videos_without_boxes=len(test_set.videos_without_boxes),
    )
    report.workers_how = workers_how
    if info.precision.reduced:  # drift is measured on model inputs, not on keyframes
        report.drift_note = (f"for the detector, `actionzoo bench {spec.name} --precision "
                             f"{info.precision}` measures it on model inputs")
    if not ctx.is_main:
        return report
    evaluator.interrupted = stats.interrupted  # then no CSV and no mAP, whatever was stored
    _fill(report, evaluator.evaluate(), classes)
    return report


def _fill(report: AvaEvalReport, outcome: FrameMapOutcome, classes: dict[int, str]) -> None:
    """The evaluator's outcome in ``report``: counts always; CSV and frame-mAP when complete."""
    report.scored = outcome.scored
    report.failed = outcome.failed
    report.boxes = outcome.boxes
    if outcome.frame_map is None:
        return
    report.finalize_s = outcome.seconds
    report.detections_csv = str(outcome.detections_csv)
    report.detection_rows = outcome.detection_rows
    report.metric_protocol = outcome.frame_map.protocol
    report.metrics = {"mAP": float(outcome.frame_map.mAP)}
    report.per_class = [(c, classes[c], outcome.frame_map.per_class.get(c)) for c in classes]
