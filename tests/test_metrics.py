"""Classification metrics as mmaction2 computes them, and the view-combination rules."""

from __future__ import annotations

import numpy as np
import pytest

from actionzoo.evaluation.metrics import (
    ClassificationEvaluator,
    mean_class_accuracy,
    top_k_accuracy,
)
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


def test_evaluator_accumulates_videos() -> None:
    ev = ClassificationEvaluator()
    ev.process("a", np.array([0.0, 1.0]), 1)
    ev.process("b", np.array([1.0, 0.0]), 1)
    result = ev.evaluate()
    assert result["top1"] == pytest.approx(0.5)
    assert result["videos"] == 2
    ev.reset()
    assert ev.evaluate()["videos"] == 0


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
