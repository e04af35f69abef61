"""The one run loop: work items from the decode workers -> a batch packer -> results.

Recognition evaluation, AVA evaluation, preprocessing and prediction all stream the same way; what
differs is what becomes of a finished or failed item, which the caller says with callbacks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from actionzoo.runtime.batching import BatchPacker
from actionzoo.runtime.timing import StageTimes
from actionzoo.data.work_item import WorkItem

__all__ = ["stream_items"]


def stream_items(
    items: Iterator[WorkItem],
    packer: BatchPacker | None,
    *,
    on_failure: Callable[[WorkItem], None],
    on_item: Callable[[WorkItem], None] | None = None,
    times: StageTimes,
) -> bool:
    """Feed every item's rows to ``packer`` (or to ``on_item`` when there is no packer) and run
    what is left at the end; a failed item goes to ``on_failure``. Returns True when Ctrl-C
    stopped the run (what finished before it is kept by the callbacks). ``times`` gets the wait
    for items, their worker times and, at the end, the wall time."""
    start = time.perf_counter()
    interrupted = False
    try:
        for item in times.timed(items):
            if item.rows is None:
                on_failure(item)
            elif packer is not None:
                packer.add(item, item.rows)
            elif on_item is not None:
                on_item(item)
        if packer is not None:
            packer.flush()
    except KeyboardInterrupt:
        interrupted = True
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()
        times.finish(time.perf_counter() - start)
    return interrupted
