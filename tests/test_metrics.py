"""Classification metrics as mmaction2 computes them, and the view-combination rules."""

from __future__ import annotations

import numpy as np
import pytest

from actionzoo.data.work_item import Status
from actionzoo.evaluation.evaluator import TopKEvaluator
from actionzoo.evaluation.metrics import (
    mean_class_accuracy,
    top_k_accuracy,
)
from actionzoo.evaluation.store import VideoResult
from actionzoo.zoo.protocols import ScoreAggregation


def test_top_k_accuracy_by_hand() -> None:
    scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5]])
    labels = [1, 1, 0]
    assert top_k_accuracy(scores, labels, 1) == pytest.approx(1 / 3)
    assert top_k_accuracy(scores, labels, 2) == pytest.approx(2 / 3)
    assert top_k_accuracy(scores, labels, 3) == pytest.approx(1.0)


def test_mean_class_accuracy_counts_predicted_only_classes_as_zero() -> None:
    # labels: class 0 twice (one right), class 1 once (right); class 2 appears only as a prediction.
    scores = np.array([[0.9, 0.1, 0.0], [0.1, 0.0, 0.9], [0.0, 1.0, 0.0]])
    labels = [0, 0, 1]
    assert mean_class_accuracy(scores, labels) == pytest.approx((0.5 + 1.0 + 0.0) / 3)


def _video(video_id: str, position: int, scores: np.ndarray | None, label: int,
           reason: str | None = None) -> VideoResult:
    return VideoResult(video_id, position, f"{video_id}.mp4", label,
                       Status.FAILED if reason else Status.OK,
                       reason, None if reason else 1, scores, None, None)


def test_evaluator_accumulates_videos() -> None:
    ev = TopKEvaluator()
    ev.process([_video("a", 0, np.array([0.0, 1.0]), 1)])
    ev.process([_video("b", 1, np.array([1.0, 0.0]), 1)])
    result = ev.evaluate().metrics
    assert result["top1"] == pytest.approx(0.5)
    assert result["videos"] == 2
    ev.reset()
    assert ev.evaluate().metrics["videos"] == 0


def test_top_k_evaluator_keeps_failed_videos_apart_in_annotation_order() -> None:
    ev = TopKEvaluator(class_names=["walk", "run"])
    # items arrive in any order (each process's share, one after the other)
    ev.process([_video("c", 2, np.array([0.2, 0.8]), 1), _video("b", 1, None, 0, reason="b.mp4: bad"),
                _video("a", 0, np.array([0.9, 0.1]), 1)])
    result = ev.evaluate()
    assert result.failed == [("b", "b.mp4: bad")] and result.stored == 3
    assert result.metrics.videos == 2 and result.metrics.top1 == pytest.approx(0.5)
    assert result.per_class == [(1, "run", pytest.approx(0.5))]


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_score_aggregations_follow_their_definitions() -> None:
    views = np.array([[2.0, 0.0, -1.0], [0.0, 3.0, 1.0]])
    np.testing.assert_allclose(ScoreAggregation.MEAN_SOFTMAX.combine(views),
                               _softmax(views).mean(axis=0))
    np.testing.assert_allclose(ScoreAggregation.MEAN_LOGITS.combine(views), [1.0, 1.5, 0.0])
    np.testing.assert_allclose(ScoreAggregation.SOFTMAX_OF_MEAN_LOGITS.combine(views),
                               _softmax(np.array([1.0, 1.5, 0.0])))
    np.testing.assert_allclose(ScoreAggregation.SUM.combine(views), [2.0, 3.0, 0.0])
    # mean of softmax and softmax of mean differ: the Ascend TSM number is not mmaction2's.
    assert not np.allclose(ScoreAggregation.MEAN_SOFTMAX.combine(views),
                           ScoreAggregation.SOFTMAX_OF_MEAN_LOGITS.combine(views))
