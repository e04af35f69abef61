"""Validation during training, through the same evaluators as ``actionzoo eval``.

Recognizers: top-1/top-5 under the recipe's validation protocol (one clip per video). The AVA
detector: frame-mAP@0.5 with the official evaluator over the validation keyframes, the
detections CSV written to ``<work dir>/val/``. Under torchrun every process scores its share of
the videos or keyframes (no padding, so none is counted twice) and rank 0 computes the metric
over all of them, through the evaluators ``eval`` uses (:class:`TopKEvaluator`,
``FrameMapEvaluator``). Ctrl-C during validation stops the run (no metric over part of the set).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from actionzoo.engines.pytorch import TorchEngine
from actionzoo.evaluation.evaluator import TopKEvaluator
from actionzoo.evaluation.store import KeyframeStore, ResultsStore
from actionzoo.runtime.distributed import DistContext, gather_items
from actionzoo.training.config import TrainPlan
from actionzoo.training.datasets import TrainingData
from actionzoo.zoo.spec import Task

__all__ = ["validate"]

_VAL_BATCH = 8


def validate(model: nn.Module, data: TrainingData, plan: TrainPlan, device: torch.device,
             work_dir: Path, epoch: int, ctx: DistContext, *, workers: int) -> dict[str, object]:
    """The validation metrics (on rank 0; other ranks get an empty dict)."""
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
                 workers: int) -> dict[str, object]:
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
        return {}
    metrics = result.metrics
    return {"metric": "top1", "top1": metrics.top1, "top5": metrics.top5,
            "mean_class_accuracy": metrics.mean_class_accuracy, "videos": metrics.videos,
            "of": len(data.val_records), "protocol": plan.val_protocol.describe()}


def _ava(engine, data: TrainingData, plan: TrainPlan, work_dir: Path, epoch: int,
         ctx: DistContext, workers: int) -> dict[str, object]:
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
    test_set = load_test_set(c.frames_dir, c.val_frame_list, c.val_boxes, pipeline=pipeline)
    evaluator = FrameMapEvaluator(
        [k.key for k in test_set.keyframes], read_annotations_csv(c.val_gt),
        read_labelmap(c.labelmap), read_excluded_timestamps(c.excluded) if c.excluded else set(),
        out_csv=work_dir / "val" / f"detections_epoch_{epoch}.csv")
    with KeyframeStore(":memory:", {}, resume=False) as store:
        stats = run_keyframes(test_set, engine, store, batch_size=1, workers=workers,
                              num_classes=plan.num_classes, progress=False, ctx=ctx)
        evaluator.process(store.results())
    _stop_if_interrupted(ctx, stats.interrupted)
    outcome = evaluator.evaluate(ctx)
    if outcome is None:  # not rank 0
        return {}
    assert outcome.frame_map is not None, "every process scored its share to the end"
    return {"metric": "mAP", "mAP": float(outcome.frame_map.mAP), "keyframes": outcome.stored,
            "protocol": f"{plan.val_protocol.describe()}; {outcome.frame_map.protocol}"}


def _stop_if_interrupted(ctx: DistContext, interrupted: bool) -> None:
    """Ctrl-C during validation stops the run, as it does during a training step: a metric over
    part of the validation set is no reference's number and must not pick the best checkpoint.
    Every process stops together (torchrun delivers the signal to each; the gather makes sure)."""
    if any(gather_items(ctx, [interrupted])):
        raise KeyboardInterrupt
