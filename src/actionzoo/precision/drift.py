"""What a reduced precision costs: the same inputs scored at fp32 and at the reduced precision.

A :class:`DriftReport` holds the element-wise distance of the scores (max and mean ``|diff|``), how
often the ranking survives (top-1 agreement: the same arg-max class; top-5 agreement: the same set
of five classes) and, when labels are known, top-1/top-5 accuracy under both precisions on those
inputs. The scores compared are the ones the tool reports: per-video scores (views combined as the
protocol combines them) for videos, per-row model outputs for benchmark batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from actionzoo.scores import top1_agreement, top_k_accuracy, topk_set_agreement

__all__ = ["DriftReport", "compare_scores"]


@dataclass(frozen=True)
class Accuracy:
    top1: float
    top5: float


@dataclass(frozen=True)
class DriftReport:
    reference: str  # the fp32 engine's description
    candidate: str  # the reduced-precision engine's description
    precision: str  # what the candidate computes in, read back from it
    inputs: str  # what was scored: "24 held-out videos of val.txt", "benchmark batch", ...
    samples: int
    max_abs_diff: float
    mean_abs_diff: float
    top1_agreement: float
    top5_agreement: float
    reference_accuracy: Accuracy | None = None  # with labels: accuracy at fp32 on these inputs
    candidate_accuracy: Accuracy | None = None  # ... and at the reduced precision

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def render(self) -> str:
        lines = [
            f"drift of {self.precision} vs fp32 on {self.samples} {self.inputs}:",
            f"  reduced:   {self.candidate}",
            f"  reference: {self.reference}",
            f"  scores: max |diff| {self.max_abs_diff:.4g}, mean |diff| {self.mean_abs_diff:.4g}",
            f"  top-1 agreement {self.top1_agreement:.2%}, top-5 agreement (same five classes) "
            f"{self.top5_agreement:.2%}",
        ]
        if self.reference_accuracy and self.candidate_accuracy:
            ref, cand = self.reference_accuracy, self.candidate_accuracy
            lines.append(f"  accuracy: top-1 {ref.top1:.2%} fp32 -> {cand.top1:.2%} {self.precision}"
                         f", top-5 {ref.top5:.2%} -> {cand.top5:.2%}")
        elif self.samples:
            lines.append("  accuracy: no labels on these inputs")
        return "\n".join(lines)


def compare_scores(
    reference: np.ndarray,
    candidate: np.ndarray,
    *,
    reference_name: str,
    candidate_name: str,
    precision: str,
    inputs: str,
    labels: Sequence[int | None] | None = None,
) -> DriftReport:
    """Drift of ``candidate`` from ``reference`` scores, row by row (``(N, classes)`` each).

    Accuracy under both is reported when every row has a label.
    """
    ref = np.asarray(reference, dtype=np.float64)
    cand = np.asarray(candidate, dtype=np.float64)
    if ref.shape != cand.shape:
        raise ValueError(f"scores of shape {cand.shape} cannot be compared with {ref.shape}")
    if ref.ndim != 2:
        raise ValueError(f"expected (samples, classes) scores, got shape {ref.shape}")
    diff = np.abs(ref - cand)
    ref_acc = cand_acc = None
    if labels is not None and len(labels) == len(ref) and len(ref) \
            and all(label is not None for label in labels):
        ref_acc = Accuracy(top_k_accuracy(ref, labels, 1), top_k_accuracy(ref, labels, 5))
        cand_acc = Accuracy(top_k_accuracy(cand, labels, 1), top_k_accuracy(cand, labels, 5))
    return DriftReport(
        reference=reference_name,
        candidate=candidate_name,
        precision=precision,
        inputs=inputs,
        samples=len(ref),
        max_abs_diff=float(diff.max()) if diff.size else 0.0,
        mean_abs_diff=float(diff.mean()) if diff.size else 0.0,
        top1_agreement=top1_agreement(ref, cand),
        top5_agreement=topk_set_agreement(ref, cand, 5),
        reference_accuracy=ref_acc,
        candidate_accuracy=cand_acc,
    )
