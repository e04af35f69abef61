"""The data of a training run: what the flags point at, read and checked before any step runs."""

from __future__ import annotations

from dataclasses import dataclass, field

from actionzoo.ava.annotations import read_labelmap
from actionzoo.ava.dataset import AvaTestSet, load_test_set
from actionzoo.data.annotations import VideoRecord, read_annotations
from actionzoo.data.class_names import check_class_count
from actionzoo.errors import UsageError
from actionzoo.training.config import TrainConfig, TrainPlan
from actionzoo.training.data import AvaTrainSet, RecognitionTrainSet, load_ava_train_set
from actionzoo.zoo.categories import action_name
from actionzoo.zoo.spec import ModelSpec, Task

__all__ = ["TrainingData", "load_training_data"]


@dataclass
class TrainingData:
    task: Task
    num_classes: int
    class_names: list[str] | None
    num_samples: int
    train_records: list[VideoRecord] = field(default_factory=list)
    val_records: list[VideoRecord] = field(default_factory=list)
    config: TrainConfig | None = None
    train: RecognitionTrainSet | AvaTrainSet | None = None
    ava_train: AvaTrainSet | None = None
    ava_val: AvaTestSet | None = None  # read before the first step: a bad file fails in seconds

    @property
    def has_validation(self) -> bool:
        if self.task is Task.DETECTION:
            c = self.config
            return bool(c and c.val_frame_list and c.val_boxes and c.val_gt and c.labelmap)
        return bool(self.val_records)

    def build(self, plan: TrainPlan, flip_pairs=()) -> None:
        """The train dataset with the plan's (possibly resized) pipeline."""
        if self.task is Task.DETECTION:
            assert self.ava_train is not None
            self.ava_train.pipeline = plan.pipeline  # type: ignore[assignment]
            self.train = self.ava_train
        else:
            self.train = RecognitionTrainSet(self.train_records, plan.pipeline, seed=plan.seed,
                                             flip_pairs=flip_pairs)


def _require(config: TrainConfig, what: str, names: list[str]) -> None:
    missing = [f"--{n.replace('_', '-')}" for n in names if getattr(config, n) is None]
    if missing:
        raise UsageError(f"training {what} needs {', '.join(missing)}")


def load_training_data(config: TrainConfig, spec: ModelSpec) -> TrainingData:
    if spec.task is Task.DETECTION:
        return _ava(config, spec)
    _require(config, spec.name, ["ann", "data_root"])
    train = read_annotations(config.ann, config.data_root, format=config.ann_format,
                             labels=config.labels, class_names=config.class_names)
    names = train.class_names
    num_classes = config.num_classes or (len(names) if names else spec.num_classes)
    if names is not None:
        check_class_count(names, num_classes, config.class_names or config.labels or config.ann)
    too_big = [r for r in train.records if r.label >= num_classes]
    if too_big:
        raise UsageError(f"{config.ann}: label {too_big[0].label} of {too_big[0].video_id} is out of "
                         f"range for {num_classes} classes; pass --num-classes")
    val_records: list[VideoRecord] = []
    if config.val_ann is not None:
        val = read_annotations(config.val_ann, config.val_data_root or config.data_root,
                               format=config.ann_format, labels=config.labels,
                               class_names=config.class_names, num_classes=num_classes)
        val_records = val.records
    if not train.records:
        raise UsageError(f"{config.ann}: no training videos")
    data = TrainingData(spec.task, num_classes, names, len(train.records), train.records,
                        val_records, config)
    return data


def _ava(config: TrainConfig, spec: ModelSpec) -> TrainingData:
    _require(config, spec.name, ["frames_dir", "frame_list", "gt"])
    num_classes = config.num_classes or spec.num_classes
    pipeline = spec.recipe.pipeline
    if not pipeline.takes_boxes:  # a recognizer's recipe under an AVA model: a catalog defect
        raise TypeError(f"{spec.name}'s train pipeline takes no person boxes")
    train = load_ava_train_set(config.frames_dir, config.frame_list, config.gt, config.boxes,
                               pipeline, num_classes=num_classes, seed=config.seed)
    if not train.keyframes:
        raise UsageError(f"{config.gt}: no training keyframes with boxes")
    names = None
    if config.labelmap is not None:
        labelmap = read_labelmap(config.labelmap)
        names = [labelmap.get(i + 1, action_name(i + 1)) for i in range(num_classes)]
    data = TrainingData(spec.task, num_classes, names, len(train.keyframes), config=config,
                        ava_train=train)
    if data.has_validation:
        data.ava_val = _ava_validation_set(config, spec)
    return data


def _ava_validation_set(config: TrainConfig, spec: ModelSpec) -> AvaTestSet:
    """The validation keyframes, in the protocol the run validates with (the mini-val's
    seconds % 4 == 0 unless --full-val); the frame size is set by the plan later."""
    recipe = spec.recipe
    protocol = (recipe.full_val_protocol if config.full_val and recipe.full_val_protocol
                else recipe.val_protocol)
    val = load_test_set(config.frames_dir, config.val_frame_list, config.val_boxes,
                        pipeline=protocol.pipeline)
    if not val.keyframes:
        which = ("at seconds % 4 == 0 (the mini-val; --full-val validates on every keyframe)"
                 if protocol.pipeline.mini_val else f"with score >= "
                 f"{protocol.pipeline.box_score_threshold:g}")
        raise UsageError(f"{config.val_boxes}: no validation keyframes {which}")
    return val
