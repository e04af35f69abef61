"""Scoring videos: decode workers -> views -> engine batches -> one score vector per video.

The one run loop of recognition scoring. Worker processes decode each video once and build all
of its views (:class:`~actionzoo.data.views_dataset.ViewsDataset`); the main process packs views
of consecutive videos into engine batches of exactly ``batch_size`` (:class:`BatchPacker`) and
combines a video's view outputs by the protocol's rule as soon as its last view is scored.
What happens to a scored or a failed video is the caller's: ``evaluation.evaluate_records``
commits it to a results store, drift measurement (``precision.measure``) keeps the few videos'
scores in memory. It sits here, below both, because ``precision/`` may not import ``evaluation/``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from actionzoo.data.annotations import VideoRecord
from actionzoo.data.views_dataset import ViewsDataset
from actionzoo.data.work_item import WorkItem
from actionzoo.engines.base import Engine
from actionzoo.engines.batches import run_views
from actionzoo.runtime.batching import BatchPacker
from actionzoo.runtime.progress import ProgressDisplay
from actionzoo.runtime.streaming import stream_items
from actionzoo.runtime.timing import StageTimes
from actionzoo.runtime.workers import load_in_workers
from actionzoo.zoo.protocols import Protocol

__all__ = ["view_items", "stream_video_scores"]


def view_items(records: Sequence[tuple[int, VideoRecord]], protocol: Protocol, workers: int,
               uint8: bool = False, decode_threads: int = 1):
    """Work items of ``records`` (position, record), built by ``workers`` decode processes;
    ``uint8``: views before normalisation, for an engine that normalises them itself;
    ``decode_threads``: each video decoder's threads."""
    return load_in_workers(ViewsDataset(records, protocol, uint8, decode_threads), workers)


def _ignore(item: WorkItem) -> None:
    pass


def stream_video_scores(
    todo: Sequence[tuple[int, VideoRecord]],
    protocol: Protocol,
    engine: Engine,
    *,
    batch_size: int,
    workers: int,
    on_scored: Callable[[WorkItem, np.ndarray, int], None],
    on_failed: Callable[[WorkItem], None] = _ignore,
    times: StageTimes | None = None,
    title: str = "eval",
    progress: bool = False,
    decode_threads: int = 1,
) -> bool:
    """Score every video of ``todo`` ((position, record) pairs) with ``engine``.

    ``on_scored(item, scores, num_views)`` gets each readable video's combined scores as soon as
    its last view is scored; ``on_failed(item)`` each video that could not be read (its reason in
    ``item.error``). ``times`` collects the stage times; ``decode_threads``: each video decoder's threads. Returns
    True when Ctrl-C stopped the run.
    """
    times = StageTimes() if times is None else times
    with ProgressDisplay(len(todo), title, "videos", enabled=progress) as bar:

        def finish(item: WorkItem, rows: list[np.ndarray]) -> None:
            on_scored(item, protocol.aggregation.combine(np.stack(rows)), len(rows))
            bar.advance()

        def fail(item: WorkItem) -> None:
            on_failed(item)
            bar.advance()

        packer = BatchPacker(run_views(engine, batch_size), batch_size, finish, times=times)
        items = view_items(todo, protocol, workers, engine.takes_uint8, decode_threads)
        return stream_items(items, packer, on_failure=fail, times=times)
