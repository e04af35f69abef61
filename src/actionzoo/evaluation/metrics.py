"""Classification metrics, computed as mmaction2 0.x computes them.

``top_k_accuracy`` ranks classes by ``argsort`` of the video score (descending) and counts a hit when
the label is among the first k; ``mean_class_accuracy`` averages per-class recall over the classes
that occur among the labels or the top-1 predictions (a class seen only among predictions counts 0).
The evaluator that collects videos and applies them is :class:`~actionzoo.evaluation.evaluator.TopKEvaluator`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np

from actionzoo.scores import top_k_accuracy

__all__ = ["top_k_accuracy", "mean_class_accuracy", "ClassificationMetrics", "KeyedResult",
           "per_class_accuracy"]


class KeyedResult:
    """A typed result whose fields can also be read by name (``result["top1"]``) and serialised."""

    def __getitem__(self, name: str) -> object:
        if name not in {f.name for f in fields(self)}:  # type: ignore[arg-type]
            raise KeyError(name)
        return getattr(self, name)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)  # type: ignore[call-overload]


@dataclass(frozen=True)
class ClassificationMetrics(KeyedResult):
    """Top-1 / top-5 / mean class accuracy as fractions (NaN when no video was scored)."""

    top1: float
    top5: float
    mean_class_accuracy: float
    videos: int


def mean_class_accuracy(scores: np.ndarray, labels: Sequence[int]) -> float:
    scores = np.asarray(scores)
    labels = np.asarray(labels)
    if len(labels) == 0:
        return float("nan")
    predictions = scores.argmax(axis=1)
    classes = np.union1d(labels, predictions)
    recalls = []
    for c in classes:
        of_class = labels == c
        recalls.append((predictions[of_class] == c).mean() if of_class.any() else 0.0)
    return float(np.mean(recalls))


def per_class_accuracy(scores: np.ndarray, labels: Sequence[int], num_classes: int) -> dict[int, float]:
    """Top-1 recall of every class that occurs among the labels: ``{class: fraction correct}``."""
    predictions = np.asarray(scores).argmax(axis=1)
    labels = np.asarray(labels)
    return {int(c): float((predictions[labels == c] == c).mean())
            for c in range(num_classes) if (labels == c).any()}
