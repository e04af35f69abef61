"""The evaluator protocol: ``reset`` / ``process(items)`` / ``evaluate() -> typed result``.

The design is mmengine's ``BaseMetric`` (``process`` keeps what the metric needs,
``compute_metrics`` turns everything kept into figures, results collected across ranks in one
place) and Detectron2's ``DatasetEvaluator`` (``reset`` / ``process`` / ``evaluate``). Every
evaluation goes through one: ``actionzoo eval`` and training's validation of a recognizer through
:class:`TopKEvaluator`, the AVA detector's through ``actionzoo.ava.evaluator.FrameMapEvaluator``.

An item is what the results stores hold for one video or keyframe (:class:`VideoResult`,
``KeyframeResult``), scored or failed. Under torchrun every process ``process``-es its own share;
``evaluate(ctx)`` gathers the items on every process with
:func:`~actionzoo.runtime.distributed.gather_items` (the one gather) and computes on rank 0; the
other ranks get ``None``. An evaluation whose items already sit in one place (rank 0's merged
results store) calls ``evaluate()`` there.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

from actionzoo.evaluation.metrics import (
    ClassificationMetrics,
    mean_class_accuracy,
    per_class_accuracy,
    top_k_accuracy,
)
from actionzoo.data.work_item import Status
from actionzoo.evaluation.store import VideoResult
from actionzoo.runtime.distributed import SINGLE, DistContext, gather_items

__all__ = ["Evaluator", "TopKEvaluator", "TopKResult"]

Item = TypeVar("Item")
Result = TypeVar("Result")


class Evaluator(ABC, Generic[Item, Result]):
    """Keeps the items of one evaluation and computes its typed result from all of them."""

    def __init__(self) -> None:
        self.items: list[Item] = []

    def reset(self) -> None:
        self.items.clear()

    def process(self, items: Iterable[Item]) -> None:
        """Keep ``items`` (this process's share) for :meth:`evaluate`."""
        self.items.extend(items)

    def evaluate(self, ctx: DistContext = SINGLE) -> Result | None:
        """The result over every process's items (on rank 0; ``None`` on the others)."""
        items = gather_items(ctx, self.items)
        return self.compute(items) if ctx.is_main else None

    @abstractmethod
    def compute(self, items: list[Item]) -> Result:
        """The result of exactly ``items`` (every process's, each once)."""


@dataclass(frozen=True)
class TopKResult:
    """A recognition evaluation's figures, its failed videos and what was stored."""

    metrics: ClassificationMetrics
    failed: list[tuple[str, str]]  # (video id, reason), in annotation order
    per_class: list[tuple[int, str, float | None]] = field(default_factory=list)  # (id, name, top-1)
    stored: int = 0  # videos stored, scored or failed


class TopKEvaluator(Evaluator[VideoResult, TopKResult]):
    """Top-1 / top-5 / mean class accuracy as mmaction2 0.x computes them (see
    :mod:`actionzoo.evaluation.metrics`) over the scored videos that carry a label, with each
    class's top-1 when ``class_names`` are given."""

    def __init__(self, class_names: Sequence[str] | None = None) -> None:
        super().__init__()
        self.class_names = class_names

    def compute(self, items: list[VideoResult]) -> TopKResult:
        items = sorted(items, key=lambda r: r.position)  # annotation order, whatever rank had them
        scored = [r for r in items if r.status is Status.OK and r.scores is not None and r.label is not None]
        failed = [(r.video_id, r.reason or "") for r in items if r.status is Status.FAILED]
        if not scored:
            nan = float("nan")
            return TopKResult(ClassificationMetrics(nan, nan, nan, 0), failed, [], len(items))
        scores = np.stack([np.asarray(r.scores, dtype=np.float64) for r in scored])
        labels = [int(r.label) for r in scored]  # type: ignore[arg-type]
        metrics = ClassificationMetrics(
            top1=top_k_accuracy(scores, labels, 1),
            top5=top_k_accuracy(scores, labels, 5),
            mean_class_accuracy=mean_class_accuracy(scores, labels),
            videos=len(labels),
        )
        per_class = []
        if self.class_names is not None:
            accuracy = per_class_accuracy(scores, labels, len(self.class_names))
            per_class = [(c, self.class_names[c], accuracy.get(c))
                         for c in range(len(self.class_names)) if c in accuracy]
        return TopKResult(metrics, failed, per_class, len(items))
