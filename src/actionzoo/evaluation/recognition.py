"""Fused streaming evaluation of a recognizer: decode -> views -> engine batches -> video scores.

The scoring is the one run loop, :func:`~actionzoo.engines.video_scores.stream_video_scores`
(worker processes decode each video once and build all of its views; the main process packs views
of consecutive videos into engine batches of exactly ``batch_size``, the last one zero-padded, and
combines each video's view outputs by the protocol's rule as soon as its last view is scored).
Here each scored video is committed to the results store; a bad video is recorded with its reason
and the run goes on.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from actionzoo.data.annotations import VideoRecord
from actionzoo.data.class_names import numbered_class_name
from actionzoo.data.work_item import WorkItem
from actionzoo.runtime.precisions import Precision
from actionzoo.engines.base import Engine, require_engine
from actionzoo.engines.video_scores import stream_video_scores
from actionzoo.evaluation.evaluator import TopKEvaluator
from actionzoo.evaluation.report import EvalReport
from actionzoo.evaluation.store import ResultsStore
from actionzoo.fileio.atomic import atomic_path
from actionzoo.runtime.distributed import SINGLE, DistContext
from actionzoo.runtime.timing import StageTimes
from actionzoo.zoo.protocols import Protocol

__all__ = [
    "EvalReport",
    "evaluate_records",
    "load_report",
    "write_predictions",
]


def evaluate_records(
    records: Sequence[VideoRecord],
    *,
    model_name: str,
    protocol: Protocol,
    engine: Engine,
    store: ResultsStore,
    batch_size: int,
    workers: int,
    progress: bool = True,
    class_names: Sequence[str] | None = None,
    ctx: DistContext = SINGLE,
    decode_threads: int = 1,
) -> EvalReport:
    """Score every record not yet in ``store`` and report metrics over everything stored.

    Under torchrun (``ctx``) every process scores its share of the videos not yet done (rank 0's
    ``store`` says which) into its own ``store``; merging the stores is the caller's job.
    ``decode_threads``: each video decoder's threads (1, no decoder threads, unless measured
    otherwise: see ``data.views_dataset.ViewsDataset``).
    """
    require_engine(engine)
    done = ctx.broadcast_object(store.done_ids() if ctx.is_main else None)
    todo = ctx.shard([(i, r) for i, r in enumerate(records) if r.video_id not in done])
    by_position = dict(todo)
    times = StageTimes()
    scored_now = 0

    def scored(item: WorkItem, score: np.ndarray, num_views: int) -> None:
        nonlocal scored_now
        record = by_position[item.position]
        store.record_success(record.video_id, item.position, str(record.path), record.label,
                             score, num_views, item.decode_s, item.preprocess_s)
        scored_now += 1

    def failed(item: WorkItem) -> None:
        record = by_position[item.position]
        store.record_failure(record.video_id, item.position, str(record.path), record.label,
                             item.error or "unknown error")

    interrupted = stream_video_scores(todo, protocol, engine, batch_size=batch_size,
                                      workers=workers, on_scored=scored, on_failed=failed,
                                      times=times, title=f"eval {model_name}", progress=progress,
                                      decode_threads=decode_threads)
    report = load_report(store, records, model_name=model_name, protocol=protocol,
                         engine=engine.info.describe(), precision=engine.info.precision,
                         batch_size=batch_size, workers=workers, class_names=class_names)
    report.times = times
    report.scored_this_run = scored_now
    report.interrupted = interrupted
    return report


def load_report(
    store: ResultsStore,
    records: Sequence[VideoRecord] | None,
    *,
    model_name: str,
    protocol: Protocol,
    engine: str,
    precision: Precision,
    batch_size: int,
    workers: int,
    class_names: Sequence[str] | None = None,
) -> EvalReport:
    """Metrics over every video in the store (this run's and earlier runs')."""
    evaluator = TopKEvaluator(class_names)
    evaluator.process(store.results())
    result = evaluator.evaluate()  # the store holds every video: nothing to gather
    metrics = result.metrics
    return EvalReport(
        model=model_name,
        protocol=protocol.describe(),
        engine=engine,
        precision=precision,
        batch_size=batch_size,
        workers=workers,
        total=len(records) if records is not None else result.stored,
        scored=metrics.videos,
        failed=result.failed,
        metrics=metrics.to_dict(),
        per_class=result.per_class,
    )


def write_predictions(
    store: ResultsStore, out: str | Path, class_names: Sequence[str] | None = None, k: int = 5
) -> Path:
    """Per-video predictions as CSV: video, label, then the top-k classes with their scores."""
    out = Path(out)

    def name(c: int | None) -> str:
        if c is None:
            return ""
        return class_names[c] if class_names and 0 <= c < len(class_names) else \
            numbered_class_name(c)

    with atomic_path(out) as partial, partial.open("w", newline="") as f:
        writer = csv.writer(f)
        header = ["video", "label", "status"]
        for i in range(1, k + 1):
            header += [f"top{i}", f"score{i}"]
        writer.writerow(header)
        for r in store.results():
            row = [r.video_id, name(r.label), r.status.describe(r.reason)]
            if r.scores is not None:
                top = np.argsort(r.scores)[-k:][::-1]
                for c in top:
                    row += [name(int(c)), f"{r.scores[c]:.6g}"]
            writer.writerow(row)
    return out
