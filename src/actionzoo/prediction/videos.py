"""``actionzoo.predict``: what happens in these videos, by class name.

Each video is scored exactly as ``actionzoo eval`` scores it: the same views of the same protocol,
the same engine batches, the same aggregation (it runs the evaluation loop itself, into a store in
memory), so ``predict`` and ``eval`` never disagree. The score a prediction reports is the
protocol's video score; ``probability`` puts it on a 0..1 scale where the score is not one already
(a sum over PySlowFast's views is divided by their number; a mean of logits goes through softmax).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from actionzoo.data.annotations import VideoRecord
from actionzoo.data.class_names import resolve_class_names
from actionzoo.data.work_item import Status
from actionzoo.engines.base import Engine, require_engine
from actionzoo.errors import UsageError
from actionzoo.evaluation.recognition import evaluate_records
from actionzoo.evaluation.store import ResultsStore
from actionzoo.fileio.atomic import atomic_path, write_text_atomic
from actionzoo.zoo.protocols import Protocol
from actionzoo.zoo.registry import get_model_spec
from actionzoo.zoo.spec import ModelSpec, Task

__all__ = ["ClassScore", "Prediction", "predict", "collect_videos",
           "write_predictions_json", "write_predictions_csv", "render_table"]

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".webm", ".mkv", ".mov", ".m4v", ".mpg", ".mpeg",
                            ".ts", ".flv", ".wmv"})
_FRAME_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class ClassScore:
    index: int
    name: str
    score: float  # the protocol's video score, as eval stores it
    probability: float


@dataclass
class Prediction:
    video: str
    protocol: str
    engine: str
    top: list[ClassScore] = field(default_factory=list)
    scores: np.ndarray | None = field(default=None, repr=False)  # every class, as eval stores them
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, object]:
        return {"video": self.video, "protocol": self.protocol, "engine": self.engine,
                "error": self.error, "top": [asdict(c) for c in self.top]}


def collect_videos(inputs: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Videos and frame folders named or found (recursively) under the given paths, in order; a
    path that does not exist is kept so that its error is reported with the others."""
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir() and not _is_frame_folder(path):
            found += sorted(p for p in path.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES
                            and p.is_file())
            found += sorted(d for d in path.rglob("*") if d.is_dir() and _is_frame_folder(d))
        else:
            found.append(path)
    return list(dict.fromkeys(found))


def _is_frame_folder(path: Path) -> bool:
    return any(p.suffix.lower() in _FRAME_SUFFIXES for p in path.iterdir() if p.is_file())


def predict(
    model: str | ModelSpec,
    videos: Sequence[str | os.PathLike[str]],
    *,
    engine: Engine,
    protocol: str | Protocol = "official",
    class_names: Sequence[str] | None = None,
    top_k: int = 5,
    batch_size: int = 8,
    workers: int = 2,
    progress: bool = False,
) -> list[Prediction]:
    """Top-k classes of every video (or frame folder) in ``videos``, in order, batched across
    videos through the evaluation loop. A video that cannot be read gets its reason in ``error``."""
    spec = get_model_spec(model)
    if spec.task is not Task.RECOGNITION:
        raise UsageError(f"{spec.name} is a detector: it scores person boxes, not videos; use "
                         f"`actionzoo detect VIDEO --proposals BOXES --model {spec.name}`")
    proto = spec.protocol(protocol)
    paths = collect_videos(videos)
    if not paths:
        raise UsageError("no videos found in " + ", ".join(map(str, videos)))
    records = [VideoRecord(path=p, label=None, video_id=str(p)) for p in paths]
    description = require_engine(engine).info.describe()
    with ResultsStore(":memory:", {}, resume=False) as store:
        evaluate_records(records, model_name=spec.name, protocol=proto, engine=engine, store=store,
                         batch_size=batch_size, workers=workers, progress=progress)
        stored = {r.video_id: r for r in store.results()}
    predictions = []
    for record in records:
        result = stored.get(record.video_id)
        prediction = Prediction(record.video_id, proto.describe(), description)
        if result is None or result.scores is None:
            prediction.error = (result.reason if result else None) or "not scored"
        else:
            # the names given (checked against the width), else the registry's, else numbered
            names = resolve_class_names(len(result.scores), spec=spec, names=class_names,
                                        source="class_names")
            prob = proto.aggregation.probabilities(result.scores, result.num_views or 1)
            order = np.argsort(-result.scores, kind="stable")[:top_k]
            prediction.top = [ClassScore(int(c), names[c], float(result.scores[c]), float(prob[c]))
                              for c in order]
            prediction.scores = result.scores
        predictions.append(prediction)
    return predictions


def render_table(predictions: Sequence[Prediction]) -> str:
    lines = []
    for p in predictions:
        lines.append(p.video)
        if not p.ok:
            lines.append(f"  FAILED: {p.error}")
            continue
        width = max(len(c.name) for c in p.top)
        lines += [f"  {rank}. {c.name.ljust(width)}  {c.probability:.3f}" for rank, c in
                  enumerate(p.top, start=1)]
    return "\n".join(lines)


def write_predictions_json(predictions: Sequence[Prediction], out: str | Path) -> Path:
    return write_text_atomic(out, json.dumps([p.to_dict() for p in predictions], indent=2) + "\n")


def write_predictions_csv(predictions: Sequence[Prediction], out: str | Path, top_k: int) -> Path:
    out = Path(out)
    with atomic_path(out) as partial, partial.open("w", newline="") as f:
        writer = csv.writer(f)
        header = ["video", "protocol", "engine", "status"]
        for k in range(1, top_k + 1):
            header += [f"top{k}", f"probability{k}", f"score{k}"]
        writer.writerow(header)
        for p in predictions:
            row = [p.video, p.protocol, p.engine,
                   (Status.OK if p.ok else Status.FAILED).describe(p.error)]
            for c in p.top:
                row += [c.name, f"{c.probability:.6g}", f"{c.score:.6g}"]
            writer.writerow(row)
    return out
