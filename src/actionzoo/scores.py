"""Comparing score arrays ``(rows, classes)``: against labels, and against another engine's scores.

These primitives sit low in the layers (numpy only) because three packages above use them: the
evaluation metrics (top-k accuracy), the drift report of a reduced precision, and the verification
of an export (arg-max and top-k agreement between two engines on the same inputs).

``top_k_accuracy`` ranks classes as mmaction2 0.x's ``top_k_accuracy`` does
(open-mmlab/mmaction2 @ 92e5517f1b3cbf937078d66c0dc5c4ba7abf7a08,
``mmaction/core/evaluation/accuracy.py``): ``argsort`` of the video score (descending), and a hit
when the label is among the first k.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["top_k_accuracy", "top1_agreement", "topk_set_agreement"]


def _top_k_labels(scores: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(scores, axis=1)[:, -k:][:, ::-1]


def top_k_accuracy(scores: np.ndarray, labels: Sequence[int], k: int) -> float:
    """Fraction of rows whose label is among their ``k`` highest-scored classes (NaN: no rows)."""
    scores = np.asarray(scores)
    labels = np.asarray(labels)
    if len(labels) == 0:
        return float("nan")
    hits = (_top_k_labels(scores, k) == labels[:, None]).any(axis=1)
    return float(hits.mean())


def top1_agreement(reference: np.ndarray, candidate: np.ndarray) -> float:
    """Fraction of rows whose arg-max class is the same (1.0 for no rows)."""
    if len(reference) == 0:
        return 1.0
    return float(np.mean(reference.argmax(1) == candidate.argmax(1)))


def _topk_sets(scores: np.ndarray, k: int) -> list[frozenset[int]]:
    k = min(k, scores.shape[1])
    return [frozenset(np.argsort(-row, kind="stable")[:k].tolist()) for row in scores]


def topk_set_agreement(reference: np.ndarray, candidate: np.ndarray, k: int = 5) -> float:
    """Fraction of rows whose top-``k`` classes are the same set (order inside it ignored)."""
    if len(reference) == 0:
        return 1.0
    pairs = zip(_topk_sets(reference, k), _topk_sets(candidate, k))
    return float(np.mean([a == b for a, b in pairs]))
