"""The engine call for a batch of views, padded to one shape.

Every call gets exactly ``batch_size`` rows (the last batch zero-padded), because compiled graphs
and runtimes plan for one input shape; the padding rows' outputs are dropped. The batch packer
(``runtime.batching``) calls it; evaluation, staged preprocessing and drift measurement all score
views through it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from actionzoo.engines.base import Engine
from actionzoo.runtime.batching import Deferred

__all__ = ["run_views"]


def run_views(engine: Engine, batch_size: int) -> Callable[[Sequence[torch.Tensor]], np.ndarray]:
    """The engine call for a batch of views: stacked and zero-padded to exactly ``batch_size``
    rows, so every call has one shape (compiled graphs and runtimes plan for it); the padding
    rows' outputs are dropped. An asynchronous engine's outputs come back :class:`Deferred`."""
    asynchronous = engine.asynchronous

    def run(views: Sequence[torch.Tensor]) -> np.ndarray:
        arrays = [np.asarray(v) for v in views]
        dtype = np.uint8 if arrays[0].dtype == np.uint8 else np.float32
        batch = np.stack([a.astype(dtype, copy=False) for a in arrays])
        if len(views) < batch_size:
            pad = np.zeros((batch_size - len(views), *batch.shape[1:]), dtype=batch.dtype)
            batch = np.concatenate([batch, pad])
        count = len(views)
        if asynchronous:
            pending = engine.submit(batch)
            return Deferred(lambda: np.asarray(pending())[:count])
        return np.asarray(engine.run(batch))[:count]

    return run
