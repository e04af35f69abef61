"""Validation during training, through the same evaluators as ``actionzoo eval``.

Recognizers: top-1/top-5 under the recipe's validation protocol (one clip per video). The AVA
detector: frame-mAP@0.5 with the official evaluator over the validation keyframes, the
detections CSV written to ``<work dir>/val/``. Under torchrun every process scores its share of
the videos or keyframes (no padding, so none is counted twice) and rank 0 computes the metric
over all of them, through the evaluators ``eval`` uses (:class:`TopKEvaluator`,
``FrameMapEvaluator``). Ctrl-C during validation stops the run (no metric over part of the set).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import ClassVar, Union

import torch
from torch import nn

from actionzoo.engines.pytorch import TorchEngine
from actionzoo.evaluation.evaluator import TopKEvaluator
from actionzoo.evaluation.store import KeyframeStore, ResultsStore
from actionzoo.runtime.distributed import DistContext, gather_items
from actionzoo.training.config import TrainPlan
from actionzoo.training.datasets import TrainingData
from actionzoo.zoo.spec import Task

__all__ = ["validate", "RecognitionValidation", "DetectionValidation", "ValidationResult",
           "validation_from_dict"]

_VAL_BATCH = 8


@dataclass(frozen=True)
class RecognitionValidation:
    """A recognizer's validation: top-1 picks the best checkpoint."""

    top1: float
    top5: float
    mean_class_accuracy: float
    videos: int  # scored
    of: int  # in the validation set
    protocol: str

    metric: ClassVar[str] = "top1"

    @property
    def value(self) -> float:
        return self.top1

    def figures(self) -> dict[str, float | int]:
        """The numbers, by name, as the log records them."""
        return {"top1": self.top1, "top5": self.top5, "mean_class_accuracy": self.mean_class_accuracy,
                "videos": self.videos, "of": self.of}

    def to_dict(self) -> dict[str, object]:
        """As a checkpoint's history holds it (the layout resume reads)."""
        return {"metric": self.metric, **self.figures(), "protocol": self.protocol}


@dataclass(frozen=True)
class DetectionValidation:
    """The AVA detector's validation: frame-mAP@0.5 picks the best checkpoint."""

    mAP: float
    keyframes: int  # stored, scored or failed
    protocol: str

    metric: ClassVar[str] = "mAP"

    @property
    def value(self) -> float:
        return self.mAP

    def figures(self) -> dict[str, float | int]:
        return {"mAP": self.mAP, "keyframes": self.keyframes}

    def to_dict(self) -> dict[str, object]:
        return {"metric": self.metric, **self.figures(), "protocol": self.protocol}


ValidationResult = Union[RecognitionValidation, DetectionValidation]


def validation_from_dict(data: Mapping[str, object]) -> ValidationResult:
    """The inverse of ``to_dict`` (a checkpoint's history entry); KeyError / TypeError /
    ValueError on anything else."""
    kinds = {cls.metric: cls for cls in (RecognitionValidation, DetectionValidation)}
    cls = kinds[str(data["metric"])]
    values = {f.name: data[f.name] for f in fields(cls)}
    for f in fields(cls):
        kind = {"float": float, "int": int, "str": str}[str(f.type)]
        if kind is float and isinstance(values[f.name], int) and not isinstance(values[f.name], bool):
            values[f.name] = float(values[f.name])
        if not isinstance(values[f.name], kind) or isinstance(values[f.name], bool):
            raise TypeError(f"{f.name}: {type(values[f.name]).__name__}")
    return cls(**values)


def validate(model: nn.Module, data: TrainingData, plan: TrainPlan, device: torch.device,
             work_dir: Path, epoch: int, ctx: DistContext, *, workers: int) -> ValidationResult | None:
    """The validation result (on rank 0; ``None`` on the other ranks)."""
    module = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
    was_training = module.training
    engine = TorchEngine(module, device=str(device))
    try:
        if data.task is Task.DETECTION:
            return _ava(engine, data, plan, work_dir, epoch, ctx, workers)
        return _recognition(engine, data, plan, ctx, workers)
    finally:
        module.train(was_training)


def _recognition(engine, data: TrainingData, plan: TrainPlan, ctx: DistContext,
                 workers: int) -> RecognitionValidation | None:
    from actionzoo.evaluation.recognition import evaluate_records

    evaluator = TopKEvaluator()
    with ResultsStore(":memory:", {}, resume=False) as store:
        report = evaluate_records(data.val_records, model_name=plan.model,
                                  protocol=plan.val_protocol, engine=engine, store=store,
                                  batch_size=_VAL_BATCH, workers=workers, progress=False, ctx=ctx)
        evaluator.process(store.results())
    _stop_if_interrupted(ctx, report.interrupted)
    result = evaluator.evaluate(ctx)
    if result is None:  # not rank 0
        return None
    m = result.metrics
    return RecognitionValidation(m.top1, m.top5, m.mean_class_accuracy, m.videos,
                                 len(data.val_records), plan.val_protocol.describe())


def _ava(engine, data: TrainingData, plan: TrainPlan, work_dir: Path, epoch: int,
         ctx: DistContext, workers: int) -> DetectionValidation | None:
    from actionzoo.ava.annotations import (
        read_annotations_csv,
        read_excluded_timestamps,
        read_labelmap,
    )
    from actionzoo.ava.dataset import load_test_set
    from actionzoo.ava.evaluate import run_keyframes
    from actionzoo.ava.evaluator import FrameMapEvaluator

    c = data.config
    pipeline = plan.val_protocol.pipeline
    test_set = data.ava_val  # read at the start (training.datasets): the same keyframes
    if test_set is None:
        test_set = load_test_set(c.frames_dir, c.val_frame_list, c.val_boxes, pipeline=pipeline)
    test_set.pipeline = pipeline  # the plan's (--input-size scales the frame, not the keyframes)
    evaluator = FrameMapEvaluator(
        [k.key for k in test_set.keyframes], read_annotations_csv(c.val_gt),
        read_labelmap(c.labelmap), read_excluded_timestamps(c.excluded) if c.excluded else set(),
        out_csv=work_dir / "val" / f"detections_epoch_{epoch}.csv", mini_val=pipeline.mini_val)
    with KeyframeStore(":memory:", {}, resume=False) as store:
        stats = run_keyframes(test_set, engine, store, batch_size=1, workers=workers,
                              num_classes=plan.num_classes, progress=False, ctx=ctx)
        evaluator.process(store.results())
    _stop_if_interrupted(ctx, stats.interrupted)
    outcome = evaluator.evaluate(ctx)
    if outcome is None:  # not rank 0
        return None
    assert outcome.frame_map is not None, "every process scored its share to the end"
    return DetectionValidation(float(outcome.frame_map.mAP), outcome.stored,
                               f"{plan.val_protocol.describe()}; {outcome.frame_map.protocol}")


def _stop_if_interrupted(ctx: DistContext, interrupted: bool) -> None:
    """Ctrl-C during validation stops the run, as it does during a training step: a metric over
    part of the validation set is no reference's number and must not pick the best checkpoint.
    Every process stops together (torchrun delivers the signal to each; the gather makes sure)."""
    if any(gather_items(ctx, [interrupted])):
        raise KeyboardInterrupt
