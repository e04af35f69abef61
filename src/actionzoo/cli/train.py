"""``actionzoo train``: train or fine-tune a registry model by its reference recipe.

``torchrun --nproc-per-node N [--nnodes M --rdzv-endpoint HOST:PORT] -m actionzoo train ...`` runs
the same flags on N processes per node; ``--batch-size`` is the global batch either way.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from actionzoo.cli.options import add_ann_format, add_progress, non_negative, positive
from actionzoo.runtime.precisions import Precision

__all__ = ["register"]


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train or fine-tune a model by its reference recipe (torchrun for many processes)")
    p.add_argument("model")
    p.add_argument("--work-dir", required=True, help="checkpoints, config.json, log.jsonl, curves.png")
    data = p.add_argument_group("recognizers")
    data.add_argument("--ann", help="training annotation file (any format eval reads)")
    data.add_argument("--data-root", help="folder the annotation's paths are relative to")
    data.add_argument("--val-ann", help="validation annotation file")
    data.add_argument("--val-data-root", help="default: --data-root")
    add_ann_format(data)
    data.add_argument("--labels", help="classInd.txt (UCF-101) or labels.json (Sth-V2)")
    ava = p.add_argument_group("AVA detector (slowfast_r50_ava)")
    ava.add_argument("--frames-dir", help="frames/{video_id}/{video_id}_{n:06d}.jpg")
    ava.add_argument("--frame-list", help="frame_lists/train.csv")
    ava.add_argument("--gt", help="ava_train_v2.2.csv (ground-truth boxes and actions)")
    ava.add_argument("--boxes", help="detector boxes CSV (score >= 0.8 kept), e.g. ..._include_negative_v2.2.csv")
    ava.add_argument("--val-frame-list", help="frame_lists/val.csv")
    ava.add_argument("--val-boxes", help="detector boxes of the val keyframes")
    ava.add_argument("--val-gt", help="ava_val_v2.2.csv")
    ava.add_argument("--labelmap", help="label map pbtxt (evaluated classes and names)")
    ava.add_argument("--excluded", help="excluded val timestamps CSV")
    ava.add_argument("--full-val", action="store_true",
                     help="validate on every keyframe with full frames, as eval does (PySlowFast's "
                     "AVA.FULL_TEST_ON_VAL); default: its mini-val (sec %% 4 == 0, centre crop)")
    weights = p.add_argument_group("weights")
    weights.add_argument("--init", help="starting weights: an official checkpoint of this model, the "
                         "Kinetics SlowFast for the AVA detector, or an ImageNet ResNet-50 (TSM, SlowFast); "
                         "'none' trains from scratch where the reference starts from other weights")
    weights.add_argument("--trust-checkpoint", action="store_true",
                         help="unpickle arbitrary objects in --init (only for files from a trusted source)")
    weights.add_argument("--num-classes", type=positive, help="classifier width (re-initialised if it differs)")
    weights.add_argument("--class-names", help="file with one class name per line (stored in checkpoints)")
    weights.add_argument("--resume", action="store_true", help="continue from last.* in --work-dir")
    recipe = p.add_argument_group("recipe overrides")
    recipe.add_argument("--epochs", type=positive)
    recipe.add_argument("--batch-size", type=positive, help="GLOBAL batch: clips per step over all processes")
    recipe.add_argument("--lr", type=float, help="default: the recipe's, scaled linearly to --batch-size")
    recipe.add_argument("--dropout", type=_fraction)
    recipe.add_argument("--input-size", type=positive, help="train/val crop size (recognizers with adaptive pooling)")
    recipe.add_argument("--flip", type=_fraction, help="horizontal flip probability (labels of flip pairs swap)")
    recipe.add_argument("--val-every", type=positive, help="epochs between validations")
    recipe.add_argument("--checkpoint-every", type=positive, help="epochs between epoch_N checkpoints")
    recipe.add_argument("--checkpoint-steps", type=positive,
                        help="also rewrite last.* every N optimizer steps, mid-epoch (--resume goes on from there)")
    recipe.add_argument("--checkpoint-minutes", type=_positive_float,
                        help="also rewrite last.* every M minutes, mid-epoch")
    recipe.add_argument("--precise-bn", type=non_negative, dest="precise_bn_batches",
                        help="batches for recomputing BN statistics before eval/save (0: off)")
    recipe.add_argument("--sync-bn", action="store_true", help="BN over the global batch (several processes)")
    recipe.add_argument("--bn-batch", type=positive,
                        help="BN statistics over groups of N clips whatever --batch-size, --micro-batch "
                        "and processes (PySlowFast's sub-batch BN); the plan prints the recipe's")
    run = p.add_argument_group("execution")
    run.add_argument("--micro-batch", type=positive, help="clips per forward pass (gradient accumulation)")
    run.add_argument("--amp", choices=[str(p) for p in Precision if p.autocasts], help="autocast (fp16 adds a grad scaler)")
    run.add_argument("--device", default="cpu", help="cpu or cuda[:i]")
    run.add_argument("--workers", type=non_negative, default=2, help="data-loader processes per training process")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--deterministic", action="store_true", help="deterministic algorithms only")
    add_progress(run)
    p.set_defaults(handler=run_train)


def run_train(args: argparse.Namespace) -> int:
    from actionzoo.training import TrainConfig, train

    paths = ["work_dir", "ann", "data_root", "val_ann", "val_data_root", "labels", "class_names",
             "frames_dir", "frame_list", "gt", "boxes", "val_frame_list", "val_boxes", "val_gt",
             "labelmap", "excluded", "init"]
    values = {k: v for k, v in vars(args).items() if k not in ("handler", "command", "no_progress")}
    for key in paths:
        if key == "init" and values.get(key) == "none":
            continue  # --init none: from scratch, on purpose (TrainConfig.init)
        if values.get(key) is not None:
            values[key] = Path(values[key])
    result = train(TrainConfig(**values, progress=not args.no_progress))
    if result.last is not None:
        print(f"done: {result.epochs_done} epochs; last {result.last}"
              + (f"; best {result.best}" if result.best else ""))
    return 0
