"""What every verb that runs a reduced precision shares: finding its fp32 reference from the
user's engine options, and measuring the drift on videos or on model inputs (or saying why not).

Each returns ``(DriftReport, None)`` when measured, ``(None, why not)`` when it cannot be, and
``(None, None)`` at fp32, where there is nothing to measure.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from actionzoo.engines.base import Engine
from actionzoo.engines.options import EngineOptions
from actionzoo.precision.drift import DriftReport

__all__ = ["DriftOptions", "fp32_reference_for", "video_drift", "batch_drift"]


@dataclass(frozen=True)
class DriftOptions:
    """``videos``: how many videos are also scored at fp32 (0 skips the measurement);
    ``reference``: an fp32 ``.onnx``/``.xml`` to compare with (default: found from the engine)."""

    videos: int = 32
    reference: str | Path | None = None


def fp32_reference_for(spec, engine: Engine, engine_options: EngineOptions,
                       reference: str | Path | None = None) -> tuple[Engine | None, str]:
    """(fp32 engine, how found) to measure ``engine``'s drift against; (None, why) if none. An
    INT8 file with no fp32 graph beside it falls back to the model of the options' checkpoint."""
    from actionzoo.precision.measure import fp32_reference
    from actionzoo.zoo.registry import build_model

    checkpoint, trusted = engine_options.checkpoint, engine_options.trust_checkpoint
    # built only when the engine has no fp32 counterpart of its own (an INT8 file without its graph)
    build = (lambda: build_model(spec, checkpoint, trusted=trusted)) if checkpoint else None
    return fp32_reference(engine, build_model=build, reference_file=reference,
                          threads=engine_options.threads)


def video_drift(
    spec,
    protocol,
    engine: Engine,
    records: Sequence,
    *,
    engine_options: EngineOptions,
    drift: DriftOptions,
    candidate_scores: Mapping[str, np.ndarray] | None,
    batch_size: int,
    workers: int,
    inputs: str,
) -> tuple[DriftReport | None, str | None]:
    """The drift of a reduced-precision ``engine`` over the first ``drift.videos`` of
    ``records`` (those with ``candidate_scores``, when given)."""
    from actionzoo.precision.measure import drift_on_videos

    if not engine.info.precision.reduced:
        return None, None
    if drift.videos <= 0:
        return None, "--drift-videos 0"
    if candidate_scores is not None:
        records = [r for r in records if r.video_id in candidate_scores]
    records = list(records)[: drift.videos]
    if not records:
        return None, "no video was scored"
    reference, how = fp32_reference_for(spec, engine, engine_options, drift.reference)
    if reference is None:
        return None, how
    print(f"measuring the drift of {engine.info.precision} vs fp32 on {len(records)} videos "
          f"(reference: {how})", file=sys.stderr, flush=True)
    report = drift_on_videos(records, protocol, reference=reference, candidate=engine,
                             candidate_scores=candidate_scores, batch_size=batch_size,
                             workers=workers, inputs=inputs)
    return report, None


def batch_drift(spec, engine: Engine, batches: Sequence[tuple], *, engine_options: EngineOptions,
                reference: str | Path | None = None) -> tuple[DriftReport | None, str | None]:
    """The drift of a reduced-precision ``engine`` on model-input ``batches``."""
    from actionzoo.precision.measure import drift_on_batches

    if not engine.info.precision.reduced:
        return None, None
    fp32, how = fp32_reference_for(spec, engine, engine_options, reference)
    if fp32 is None:
        return None, how
    inputs = "rows of the benchmark's random inputs"
    return drift_on_batches(batches, reference=fp32, candidate=engine, inputs=inputs), None
