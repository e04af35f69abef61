"""``actionzoo predict`` as one call: the classifier from engine options, the batch size, every
video's top-k, and a reduced precision's drift vs fp32 on the videos it predicted."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from actionzoo.engines.options import EngineOptions, apply_upload
from actionzoo.errors import UsageError
from actionzoo.precision.against_fp32 import DriftOptions

__all__ = ["PredictOptions", "PredictionRun", "predict_videos"]


@dataclass(frozen=True)
class PredictOptions:
    """``batch_size`` None: the fastest measured for this engine here; ``workers`` None: the
    fewest that keep the engine fed, measured as ``eval`` measures them (every core with a CUDA
    engine); ``class_names``: a names file for custom models."""

    protocol: object = "official"  # a name or a Protocol
    top_k: int = 5
    batch_size: int | None = None
    workers: int | None = None
    progress: bool = True
    class_names: str | Path | None = None
    drift: DriftOptions = field(default_factory=DriftOptions)


@dataclass
class PredictionRun:
    model: str
    protocol: str  # the protocol's description
    engine: str  # the engine's description
    batch_size: int
    workers: int
    predictions: list  # Prediction per video, in order
    drift: object = None  # DriftReport of a reduced precision
    drift_note: str | None = None  # why its drift was not measured
    workers_how: str | None = None  # the worker count's line, when it was chosen here

    @property
    def title(self) -> str:
        return f"{self.model} [{self.protocol}] with {self.engine}"

    @property
    def all_failed(self) -> bool:
        return all(not p.ok for p in self.predictions)

    def drift_text(self) -> str | None:
        if self.drift is not None:
            return self.drift.render()
        return f"drift vs fp32 not measured: {self.drift_note}" if self.drift_note else None


def predict_videos(
    model,
    videos: Sequence[str | os.PathLike[str]],
    *,
    engine: EngineOptions | None = None,
    options: PredictOptions | None = None,
) -> PredictionRun:
    """Top-k class names of every video (a file, several, a folder) as ``actionzoo predict``
    gives them, with the drift of a reduced precision measured on the predicted videos."""
    from actionzoo.engines.batch_size import batch_size_or_best
    from actionzoo.data.annotations import VideoRecord
    from actionzoo.precision.against_fp32 import video_drift
    from actionzoo.prediction.classifier import load_classifier
    from actionzoo.engines.worker_count import WorkerChoice, workers_or_measured
    from actionzoo.prediction.videos import collect_videos, predict
    from actionzoo.zoo.registry import get_model_spec
    from actionzoo.zoo.spec import Task

    spec = get_model_spec(model)
    if spec.task is not Task.RECOGNITION:
        raise UsageError(f"{spec.name} is a detector: it scores person boxes, not videos; use "
                         f"`actionzoo detect VIDEO --proposals BOXES --model {spec.name}`")
    engine_options = engine or EngineOptions()
    options = options or PredictOptions()
    classifier, names = load_classifier(spec, engine_options, options.class_names)
    protocol = spec.protocol(options.protocol)
    apply_upload(classifier, protocol, engine_options.upload)
    # the folders are walked once: predict() collecting this list again keeps it as it is
    paths = collect_videos(videos)
    found = [VideoRecord(path=path, label=None, video_id=str(path)) for path in paths]
    batch = batch_size_or_best(options.batch_size, spec, protocol, classifier,
                               views=max(1, len(found) * protocol.num_views))
    choice = workers_or_measured(options.workers, spec, protocol, classifier, batch, found) \
        if found else WorkerChoice(options.workers or 0, None)  # predict() names the empty input
    workers = choice.workers
    predictions = predict(spec, paths or videos, engine=classifier, protocol=protocol,
                          class_names=names, top_k=options.top_k, batch_size=batch,
                          workers=workers, progress=options.progress)
    scored = {p.video: p.scores for p in predictions if p.ok and p.scores is not None}
    records = [VideoRecord(path=Path(video), label=None, video_id=video) for video in scored]
    drift, note = video_drift(spec, protocol, classifier, records, engine_options=engine_options,
                              drift=options.drift, candidate_scores=scored, batch_size=batch,
                              workers=workers, inputs="predicted videos")
    return PredictionRun(spec.name, protocol.describe(), classifier.info.describe(), batch, workers,
                         predictions, drift, note, choice.describe())
