"""Verifying an exported model: the same inputs through PyTorch and the candidate engine,
compared element-wise and by ranking."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from actionzoo.engines.base import Engine
from actionzoo.scores import top1_agreement, topk_set_agreement

__all__ = ["VERIFY_TOLERANCE", "VerifyReport", "verify_engine"]

# An export passes when its largest deviation from PyTorch is at most this fraction of the
# largest PyTorch output magnitude (and top-1 agrees on every input).
VERIFY_TOLERANCE = 1e-4


@dataclass
class VerifyReport:
    """How far an engine's outputs are from PyTorch's on the same inputs."""

    engine: str
    num_inputs: int
    max_abs_diff: float
    mean_abs_diff: float
    output_scale: float  # max |PyTorch output|
    top1_agreement: float  # fraction of inputs whose arg-max class agrees
    top5_agreement: float  # fraction whose top-5 sets agree
    tolerance: float
    inputs: str  # "random" or what real data was used

    @property
    def relative_diff(self) -> float:
        return self.max_abs_diff / max(self.output_scale, 1e-12)

    @property
    def passed(self) -> bool:
        return self.relative_diff <= self.tolerance and self.top1_agreement == 1.0

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "relative_diff": self.relative_diff, "passed": self.passed}

    def render(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        return (
            f"{verdict}  {self.engine} vs PyTorch on {self.num_inputs} {self.inputs} inputs: "
            f"max |diff| {self.max_abs_diff:.3g} ({self.relative_diff:.2e} of output scale "
            f"{self.output_scale:.3g}; tolerance {self.tolerance:g}), mean |diff| "
            f"{self.mean_abs_diff:.3g}, top-1 agreement {self.top1_agreement:.1%}, "
            f"top-5 agreement {self.top5_agreement:.1%}"
        )


def verify_engine(
    reference: Engine,
    candidate: Engine,
    batches: list[tuple[np.ndarray, ...]],
    *,
    tolerance: float = VERIFY_TOLERANCE,
    inputs: str = "random",
) -> VerifyReport:
    """Run both engines on every batch and compare outputs element-wise and by ranking."""
    ref_rows, cand_rows = [], []
    for batch in batches:
        ref_rows.append(np.asarray(reference.run(*batch), dtype=np.float64))
        cand_rows.append(np.asarray(candidate.run(*batch), dtype=np.float64))
    ref = np.concatenate(ref_rows)
    cand = np.concatenate(cand_rows)
    if ref.shape != cand.shape:
        raise RuntimeError(f"{candidate.info.describe()} returned {cand.shape}, PyTorch {ref.shape}")
    diff = np.abs(ref - cand)
    n = len(ref)
    return VerifyReport(
        engine=candidate.info.describe(),
        num_inputs=n,
        max_abs_diff=float(diff.max()) if diff.size else 0.0,
        mean_abs_diff=float(diff.mean()) if diff.size else 0.0,
        output_scale=float(np.abs(ref).max()) if ref.size else 0.0,
        top1_agreement=top1_agreement(ref, cand),
        top5_agreement=topk_set_agreement(ref, cand, 5),
        tolerance=tolerance,
        inputs=inputs,
    )
