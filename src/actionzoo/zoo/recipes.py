"""Reference training recipes as typed data; the entries are in :mod:`actionzoo.zoo.recipe_catalog`.

A recipe is what the reference's config file says: the train-time data pipeline, the optimizer and
its parameter groups, the learning-rate schedule, regularisation, the loss, the initialisation and
the checkpoint container the reference writes. ``actionzoo train`` flags override fields (see
:mod:`actionzoo.training.config`); nothing here is a code path.

"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import ClassVar, Literal

from actionzoo.checkpoint.read import CheckpointFormat
from actionzoo.models.init import InitRule
from actionzoo.zoo.protocols import (
    IMAGENET_MEAN_255,
    IMAGENET_STD_255,
    KINETICS_MEAN_01,
    KINETICS_STD_01,
    MMAction2Sampling,
    Protocol,
)

__all__ = [
    "MMAction2TrainPipeline",
    "PySlowFastTrainPipeline",
    "AvaTrainPipeline",
    "TrainPipeline",
    "OptimizerRecipe",
    "ScheduleRecipe",
    "TrainingRecipe",
]


@dataclass(frozen=True)
class MMAction2TrainPipeline:
    """mmaction2 0.x train pipeline: ``SampleFrames`` (train mode) -> ``Resize(-1, 256)`` ->
    ``RandomResizedCrop()`` or ``MultiScaleCrop`` -> ``Resize((S, S))`` -> ``Flip`` -> ``Normalize``."""

    sampling: MMAction2Sampling
    frames_per_view: int
    crop: Literal["random_resized", "multi_scale"]
    crop_size: int = 224
    resize_short: int = 256
    flip: float = 0.5
    mean: tuple[float, float, float] = IMAGENET_MEAN_255
    std: tuple[float, float, float] = IMAGENET_STD_255

    # What differs between the train-pipeline families, stated by each family (no isinstance):
    # whether its models train at any input size (``--input-size``), whether the reference's train
    # loader drops the last partial batch, and whether its samples carry person boxes.
    any_size: ClassVar[bool] = True  # the recognizers' heads pool adaptively
    drop_last: ClassVar[bool] = False  # mmaction2 0.x keeps the last partial batch
    takes_boxes: ClassVar[bool] = False

    def sized(self, size: int) -> MMAction2TrainPipeline:
        """``--input-size S``: ``S x S`` crops from a short side of ``round(S * 256 / 224)``."""
        return replace(self, crop_size=size, resize_short=round(size * 256 / 224))

    def describe(self) -> str:
        s = self.sampling
        crop = "RandomResizedCrop" if self.crop == "random_resized" else "MultiScaleCrop"
        return (f"SampleFrames({s.clip_len},{s.frame_interval},{s.num_clips}) random, short side "
                f"{self.resize_short}, {crop} -> {self.crop_size}, flip {self.flip:g}")


@dataclass(frozen=True)
class PySlowFastTrainPipeline:
    """PySlowFast Kinetics train sampling: a random clip of ``num_frames * sampling_rate`` frames at
    ``target_fps``; normalise; short side from ``jitter``; random ``crop_size`` crop; flip."""

    num_frames: int
    sampling_rate: int
    target_fps: int
    jitter: tuple[int, int]
    crop_size: int
    flip: float = 0.5
    mean: tuple[float, float, float] = KINETICS_MEAN_01
    std: tuple[float, float, float] = KINETICS_STD_01
    # PySlowFast's torchvision decoding backend decodes at ``video_min_dimension`` =
    # TRAIN_JITTER_SCALES[0]: frames arrive already shrunk to this short side, then are jittered.
    decode_short_side: int | None = None

    any_size: ClassVar[bool] = False  # the head pools a window fixed by the train crop
    # PySlowFast's train loaders drop the last partial batch (slowfast/datasets/loader.py
    # ``drop_last = split in ["train"]``).
    drop_last: ClassVar[bool] = True
    takes_boxes: ClassVar[bool] = False

    def sized(self, size: int) -> PySlowFastTrainPipeline:
        raise ValueError(f"a PySlowFast recognizer trains at its {self.crop_size} crop only")

    def describe(self) -> str:
        decoded = (f"decoded at short side {self.decode_short_side}, "
                   if self.decode_short_side else "")
        return (f"{self.num_frames} frames every {self.sampling_rate} at {self.target_fps} fps, "
                f"random start; {decoded}short side U{list(self.jitter)}, random crop "
                f"{self.crop_size}, flip {self.flip:g}")


@dataclass(frozen=True)
class AvaTrainPipeline:
    """PySlowFast AVA train mode: the keyframe's clip, short side inverse-uniform in ``jitter``,
    random ``crop_size`` crop, flip; GT boxes plus detector boxes with score >= the threshold."""

    num_frames: int = 32
    sampling_rate: int = 2
    fps: int = 30
    jitter: tuple[int, int] = (256, 320)
    crop_size: int = 224
    flip: float = 0.5
    box_score_threshold: float = 0.8
    mean: tuple[float, float, float] = KINETICS_MEAN_01
    std: tuple[float, float, float] = KINETICS_STD_01
    detector_boxes: bool = True  # False: the run has no detector boxes (ground truth only)

    any_size: ClassVar[bool] = True
    drop_last: ClassVar[bool] = True  # PySlowFast's train loader, as above
    takes_boxes: ClassVar[bool] = True

    def sized(self, size: int) -> AvaTrainPipeline:
        """``--input-size S``: ``S x S`` crops, the short-side jitter scaled by ``S / 224``."""
        low, high = self.jitter
        return replace(self, crop_size=size,
                       jitter=(round(low * size / 224), round(high * size / 224)))

    def describe(self) -> str:
        return (f"{self.num_frames} frames every {self.sampling_rate} around each keyframe; short "
                f"side 1/U(1/{self.jitter[1]}, 1/{self.jitter[0]}), random crop {self.crop_size}, "
                f"flip {self.flip:g}; " + (f"GT + detector boxes >= {self.box_score_threshold:g}"
                                            if self.detector_boxes else "GT boxes only"))


TrainPipeline = MMAction2TrainPipeline | PySlowFastTrainPipeline | AvaTrainPipeline


@dataclass(frozen=True)
class OptimizerRecipe:
    """SGD with the reference's parameter groups.

    ``groups``: ``single`` (mmcv's default constructor: one group, decay on everything),
    ``bn_no_decay`` (PySlowFast: BN parameters first with ``bn_weight_decay``, then the rest),
    ``tsm`` (mmaction2's ``TSMOptimizerConstructor`` with ``fc_lr5``: 7 groups in a fixed order).
    ``lr`` is the reference's learning rate for ``reference_batch`` clips per step.
    """

    lr: float
    reference_batch: int
    weight_decay: float
    groups: Literal["single", "bn_no_decay", "tsm"]
    momentum: float = 0.9
    nesterov: bool = False
    bn_weight_decay: float = 0.0
    grad_clip: float | None = None


@dataclass(frozen=True)
class ScheduleRecipe:
    """The learning rate over training, stepped every iteration.

    ``style="mmcv"``: the scheduled value changes at epoch starts (cosine or steps by whole
    epoch); warm-up is linear per iteration from ``warmup_ratio`` of it. ``style="pyslowfast"``:
    the value is computed at the fractional epoch ``epoch + it / iters``; warm-up goes linearly from
    ``warmup_start_lr`` (relative to the base LR) to the schedule's value at its end.
    """

    style: Literal["mmcv", "pyslowfast"]
    policy: Literal["cosine", "steps"]
    epochs: int
    warmup_epochs: float = 0.0
    warmup_ratio: float = 0.1  # mmcv
    warmup_start_lr: float = 0.0  # pyslowfast, as a fraction of the base LR
    steps: tuple[float, ...] = ()  # epochs where the factor changes
    step_factors: tuple[float, ...] = ()  # factor from each step on (mmcv: 0.1 ** k)
    min_lr: float = 0.0


@dataclass(frozen=True)
class TrainingRecipe:
    source: str
    pipeline: TrainPipeline
    batch_size: int  # the reference's global batch (clips per optimizer step)
    optimizer: OptimizerRecipe
    schedule: ScheduleRecipe
    init: InitRule
    loss: Literal["cross_entropy", "bce"]
    val_protocol: Protocol
    val_every: int
    writes: CheckpointFormat
    dropout: float = 0.5
    checkpoint_every: int = 1  # epochs between epoch_N checkpoints (last.* is written every epoch)
    precise_bn_batches: int = 0  # recompute BN statistics on this many batches before eval/save
    sync_bn: bool = False  # the reference config uses SyncBN
    # (class, class) pairs whose labels swap when a clip is flipped (Something-Something V2)
    flip_label_pairs: tuple[tuple[int, int], ...] = field(default=())
    notes: str = ""
    # The weights the reference starts from (None: it trains from scratch). A recipe that names
    # them refuses to start without ``--init FILE`` (or ``--init none``): from scratch, a
    # fine-tune recipe's schedule gives a model that looks trained and is not.
    starts_from: str | None = None
    bn_batch: int = 0  # clips each BN normalises over per device in the reference (0: unknown)
    plan_notes: tuple[str, ...] = ()  # differences from the reference every plan states
    # The full protocol ``--full-val`` validates with, where the reference's in-training
    # validation is a subset of it (AVA: ``val_protocol`` is PySlowFast's mini-val).
    full_val_protocol: Protocol | None = None
