"""Validation during training, through the same evaluators as ``actionzoo eval``.

Recognizers: top-1/top-5 under the recipe's validation protocol (one clip per video). The AVA
detector: frame-mAP@0.5 with the official evaluator over the validation keyframes, the
detections CSV written to ``<work dir>/val/``. Under torchrun every process scores its share of
the videos or keyframes (no padding, so none is counted twice) and rank 0 computes the metric
over all of them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from actionzoo.data.work_item import Status
from actionzoo.engines.pytorch import TorchEngine
from actionzoo.evaluation.metrics import ClassificationEvaluator
from actionzoo.evaluation.store import KeyframeStore, ResultsStore
from actionzoo.runtime.distributed import DistContext
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

    with ResultsStore(":memory:", {}, resume=False) as store:
        evaluate_records(data.val_records, model_name=plan.model, protocol=plan.val_protocol,
                         engine=engine, store=store, batch_size=_VAL_BATCH, workers=workers,
                         progress=False, ctx=ctx)
        mine = [(r.video_id, r.label, r.scores) for r in store.results() if r.status is Status.OK]
    gathered = ctx.all_gather_object(mine)
    if not ctx.is_main:
        return {}
    evaluator = ClassificationEvaluator()
    for video, label, scores in (row for part in gathered for row in part):
        evaluator.process(video, np.asarray(scores), label)
    metrics = evaluator.evaluate()
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
    from actionzoo.ava.detections import detection_rows, write_detections_csv
    from actionzoo.ava.evaluate import run_keyframes
    from actionzoo.ava.metric import ava_frame_map

    c = data.config
    pipeline = plan.val_protocol.pipeline
    test_set = load_test_set(c.frames_dir, c.val_frame_list, c.val_boxes, pipeline=pipeline)
    with KeyframeStore(":memory:", {}, resume=False) as store:
        run_keyframes(test_set, engine, store, batch_size=1, workers=workers,
                      num_classes=plan.num_classes, progress=False, ctx=ctx)
        mine = [r for r in store.results()]
    results = sorted((r for part in ctx.all_gather_object(mine) for r in part),
                     key=lambda r: r.position)
    if not ctx.is_main:
        return {}
    classes = read_labelmap(c.labelmap)
    excluded = read_excluded_timestamps(c.excluded) if c.excluded else set()
    write_detections_csv(results, work_dir / "val" / f"detections_epoch_{epoch}.csv")
    result = ava_frame_map(read_annotations_csv(c.val_gt), detection_rows(results, classes),
                           classes, excluded)
    return {"metric": "mAP", "mAP": float(result.mAP), "keyframes": len(results),
            "protocol": f"{plan.val_protocol.describe()}; {result.protocol}"}
