"""Measuring drift: the fp32 engine to compare with, and the scoring of the same inputs by both.

:func:`fp32_reference` finds the engine a reduced-precision one is compared with: the same PyTorch
model without autocast, the same OpenVINO file at f32, the fp32 graph an INT8 IR was quantized from
(named in the IR), or what the user names. :func:`drift_on_videos` scores videos through the run
loop evaluation uses, with the reference (and the candidate, unless its scores are at hand), and
compares the per-video scores; :func:`drift_on_batches` does the same for model inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from actionzoo.data.annotations import VideoRecord
from actionzoo.data.work_item import WorkItem
from actionzoo.engines.base import Engine, require_engine
from actionzoo.engines.video_scores import stream_video_scores
from actionzoo.errors import UsageError
from actionzoo.precision.drift import DriftReport, compare_scores
from actionzoo.zoo.protocols import Protocol

__all__ = ["fp32_reference", "score_videos", "drift_on_videos", "drift_on_batches"]


def fp32_reference(
    engine: Engine,
    *,
    model: torch.nn.Module | None = None,
    build_model: Callable[[], torch.nn.Module] | None = None,
    reference_file: str | Path | None = None,
    threads: int | None = None,
) -> tuple[Engine | None, str]:
    """(the fp32 engine to measure ``engine``'s drift against, how it was found); (None, why not)
    when there is none. ``model`` is the torch model when one was built (``--checkpoint``), or
    ``build_model`` builds it when the engine has no fp32 counterpart of its own (an INT8 file
    without its fp32 graph); ``reference_file`` an fp32 ``.onnx``/``.xml`` the user names
    (``--reference``). The engine says what its counterpart is (``Engine.fp32_counterpart``);
    it is made through the engine table like every engine."""
    from actionzoo.engines.registry import create_engine

    engine = require_engine(engine)
    if not engine.info.precision.reduced:
        return None, "fp32 needs no reference"
    if reference_file is not None:
        path = Path(reference_file)
        if not path.is_file():
            raise UsageError(f"{path}: no such reference model file")
        return create_engine("openvino", model_file=path, threads=threads), f"--reference {path}"
    if build_model is None and model is not None:
        build_model = lambda: model  # noqa: E731
    counterpart = engine.fp32_counterpart(build_model)
    if counterpart.engine is None:
        return None, counterpart.how
    return create_engine(counterpart.engine, model=counterpart.model,
                         model_file=counterpart.model_file, device=counterpart.device,
                         threads=threads), counterpart.how


def score_videos(
    records: Sequence[VideoRecord],
    protocol: Protocol,
    engine: Engine,
    *,
    batch_size: int,
    workers: int,
    progress: bool = False,
    label: str = "score",
) -> dict[str, np.ndarray]:
    """Per-video scores (views combined as the protocol combines them) of every readable video.

    The run loop of an evaluation (:func:`~actionzoo.engines.video_scores.stream_video_scores`)
    without its results store: the videos of a drift measurement are few, and their scores stay
    in memory. A video that cannot be read is left out."""
    scores: dict[str, np.ndarray] = {}

    def scored(item: WorkItem, score: np.ndarray, num_views: int) -> None:
        scores[records[item.position].video_id] = score

    stream_video_scores(list(enumerate(records)), protocol, engine, batch_size=batch_size,
                        workers=workers, on_scored=scored, title=f"eval {label}",
                        progress=progress)
    return scores


def drift_on_videos(
    records: Sequence[VideoRecord],
    protocol: Protocol,
    *,
    reference: Engine,
    candidate: Engine,
    candidate_scores: Mapping[str, np.ndarray] | None = None,
    batch_size: int,
    workers: int,
    inputs: str,
    progress: bool = False,
) -> DriftReport:
    """Drift of ``candidate`` from ``reference`` on the videos of ``records`` both could read.

    ``candidate_scores`` are the candidate's per-video scores when already computed (an eval run's
    store); otherwise the candidate scores the videos too. Accuracy under both is reported when
    every compared video has a label.
    """
    ref = score_videos(records, protocol, reference, batch_size=batch_size, workers=workers,
                       progress=progress, label="fp32 reference")
    if candidate_scores is None:
        candidate_scores = score_videos(records, protocol, candidate, batch_size=batch_size,
                                        workers=workers, progress=progress, label="reduced")
    both = [r for r in records if r.video_id in ref and r.video_id in candidate_scores]
    if not both:
        raise UsageError(f"no video of the {inputs} could be scored to measure drift")
    return compare_scores(
        np.stack([ref[r.video_id] for r in both]),
        np.stack([candidate_scores[r.video_id] for r in both]),
        reference_name=reference.info.describe(),
        candidate_name=candidate.info.describe(),
        precision=candidate.info.precision,
        inputs=inputs,
        labels=[r.label for r in both],
    )


def drift_on_batches(
    batches: Sequence[tuple[np.ndarray, ...]],
    *,
    reference: Engine,
    candidate: Engine,
    inputs: str,
) -> DriftReport:
    """Drift of ``candidate`` from ``reference`` on model-input batches, row by row."""
    ref = np.concatenate([np.asarray(reference.run(*b), dtype=np.float64) for b in batches])
    cand = np.concatenate([np.asarray(candidate.run(*b), dtype=np.float64) for b in batches])
    if ref.ndim > 2:  # detector outputs: (clips, boxes, classes) -> one row per box
        ref, cand = ref.reshape(-1, ref.shape[-1]), cand.reshape(-1, cand.shape[-1])
    return compare_scores(ref, cand, reference_name=reference.info.describe(),
                          candidate_name=candidate.info.describe(),
                          precision=candidate.info.precision, inputs=inputs)
