"""Test-time protocols as plain data: how a video becomes views, and views become a video score.

A protocol names the reference it reproduces (``official``: the reference repository's own test
config; ``ascend``: what the vendor guide's preprocessing and post-processing did). The pipeline
specs here are interpreted by :mod:`actionzoo.data.views`; nothing in this module decodes.

Each pipeline carries its normalisation (mean and std, on its reference's value scale) and the
shape of one view; the registry derives a model's normalisation and input shape from its official
protocol, so neither fact is stated twice.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import ClassVar, Literal

import numpy as np

from actionzoo.errors import UsageError

IMAGENET_MEAN_255 = (123.675, 116.28, 103.53)
IMAGENET_STD_255 = (58.395, 57.12, 57.375)
KINETICS_MEAN_01 = (0.45, 0.45, 0.45)
KINETICS_STD_01 = (0.225, 0.225, 0.225)


@dataclass(frozen=True)
class Normalization:
    """``(x * 255 / value_range - mean) / std`` per RGB channel of uint8 frames ``x``."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    value_range: float  # 255.0: mean/std on raw 0..255 values (mmaction2); 1.0: on x / 255 (PySlowFast)

    def describe(self) -> str:
        return f"mean {self.mean} std {self.std} on 0..{self.value_range:g} RGB"


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, in float64: the one softmax of scores on the host."""
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class ScoreAggregation(enum.Enum):
    """How the per-view outputs of one video are combined into its score vector."""

    MEAN_SOFTMAX = "mean of softmax"  # mmaction2 average_clips='prob'
    MEAN_LOGITS = "mean of logits"  # mmaction2 'score'; the Ascend R(2+1)D post-processing
    SOFTMAX_OF_MEAN_LOGITS = "softmax of mean logits"  # the Ascend TSM graph edit
    SUM = "sum"  # PySlowFast TestMeter 'sum' over outputs that are already probabilities

    def combine(self, view_scores: np.ndarray) -> np.ndarray:
        """(V, K) per-view model outputs -> (K,) video score, in float64."""
        scores = np.asarray(view_scores, dtype=np.float64)
        if scores.ndim != 2:
            raise ValueError(f"expected (views, classes) scores, got shape {scores.shape}")
        if self is ScoreAggregation.MEAN_SOFTMAX:
            return softmax(scores).mean(axis=0)
        if self is ScoreAggregation.MEAN_LOGITS:
            return scores.mean(axis=0)
        if self is ScoreAggregation.SOFTMAX_OF_MEAN_LOGITS:
            return softmax(scores.mean(axis=0))
        return scores.sum(axis=0)

    def probabilities(self, video_score: np.ndarray, num_views: int) -> np.ndarray:
        """A video score of :meth:`combine` on a 0..1 scale summing to 1: a sum of probabilities
        is divided by its view count, a mean of logits goes through softmax, and the softmax
        rules are probabilities already. ``predict`` and ``timeline`` both print this."""
        score = np.asarray(video_score, dtype=np.float64)
        if self is ScoreAggregation.SUM:
            return score / max(num_views, 1)
        if self is ScoreAggregation.MEAN_LOGITS:
            return softmax(score)
        return score


@dataclass(frozen=True)
class MMAction2Sampling:
    """mmaction2 ``SampleFrames`` in test mode."""

    clip_len: int
    frame_interval: int
    num_clips: int
    twice_sample: bool = False


@dataclass(frozen=True)
class MMAction2Pipeline:
    """mmaction2 0.x test pipeline: SampleFrames -> decode -> Resize(-1, short) -> crop -> Normalize.

    ``frames_per_view`` is the T of one model input: ``clip_len`` for the 3D recognizers, the number
    of segments (``num_clips``) for TSM, whose clips are single frames.
    """

    sampling: MMAction2Sampling
    frames_per_view: int
    crop: Literal["center", "three"]
    crop_size: int
    resize_short: int = 256
    mean: tuple[float, float, float] = IMAGENET_MEAN_255
    std: tuple[float, float, float] = IMAGENET_STD_255

    # A view is exactly a uint8 crop before normalisation (resize and crop on uint8 frames,
    # ``Normalize`` last), so it can travel as uint8 and be normalised later.
    uint8_views: ClassVar[bool] = True
    is_detection: ClassVar[bool] = False

    @property
    def normalization(self) -> Normalization:
        return Normalization(self.mean, self.std, 255.0)

    def scaled(self, size: int) -> tuple[MMAction2Pipeline, str]:
        """Crops of ``size`` from a short side scaled by the same factor (256/224 for a center
        crop of 224 from 256; three crops of the whole short side stay so), and the note."""
        short = round(size * self.resize_short / self.crop_size)
        return replace(self, crop_size=size, resize_short=short), f"scaled to {size}"

    @property
    def view_shape(self) -> tuple[int, int, int, int]:
        """(C, T, H, W) of one view."""
        return (3, self.frames_per_view, self.crop_size, self.crop_size)

    @property
    def num_views(self) -> int:
        s = self.sampling
        frames = s.clip_len * s.num_clips * (2 if s.twice_sample else 1)
        return (3 if self.crop == "three" else 1) * frames // self.frames_per_view


@dataclass(frozen=True)
class PySlowFastPipeline:
    """PySlowFast test-mode Kinetics loading with the PyAV backend (the vendor guide's patch)."""

    num_frames: int
    sampling_rate: int
    target_fps: int
    num_temporal_views: int
    num_spatial_crops: int
    crop_size: int
    mean: tuple[float, float, float] = KINETICS_MEAN_01
    std: tuple[float, float, float] = KINETICS_STD_01

    # Normalised before the float resize: its views exist only as floats.
    uint8_views: ClassVar[bool] = False
    is_detection: ClassVar[bool] = False

    @property
    def normalization(self) -> Normalization:
        return Normalization(self.mean, self.std, 1.0)

    def scaled(self, size: int) -> None:
        """None: a PySlowFast recognizer pools over a window fixed by its crop (one size)."""
        return None

    @property
    def view_shape(self) -> tuple[int, int, int, int]:
        return (3, self.num_frames, self.crop_size, self.crop_size)

    @property
    def num_views(self) -> int:
        return self.num_temporal_views * self.num_spatial_crops


@dataclass(frozen=True)
class AvaKeyframePipeline:
    """PySlowFast AVA test mode: a clip centred on each keyframe, short side resized, no crop.

    Frames ``(t - 900) * fps + range(-num_frames, num_frames, sampling_rate)`` (clamped) around the
    keyframe of second ``t``; person boxes from the detector list with score >= the threshold.
    """

    num_frames: int = 32
    sampling_rate: int = 2
    fps: int = 30
    short_side: int = 224
    box_score_threshold: float = 0.8
    mean: tuple[float, float, float] = KINETICS_MEAN_01
    std: tuple[float, float, float] = KINETICS_STD_01
    # PySlowFast's ``val`` mode (in-training evaluation, ``AVA.FULL_TEST_ON_VAL False``): only
    # keyframes whose second % 4 == 0 (GT likewise), each clip centre-cropped to ``short_side``
    # square after the resize. ``test`` mode (eval): every keyframe, full frames.
    mini_val: bool = False
    center_crop: bool = False

    uint8_views: ClassVar[bool] = False
    is_detection: ClassVar[bool] = True

    @property
    def normalization(self) -> Normalization:
        return Normalization(self.mean, self.std, 1.0)

    def scaled(self, size: int) -> tuple[AvaKeyframePipeline, str]:
        """The frame's short side ``size`` (the detector takes any frame size), and the note."""
        return replace(self, short_side=size), f"short side {size}" + (
            f", centre crop {size}" if self.center_crop else "")

    @property
    def view_shape(self) -> tuple[int, int, int, int]:
        """A square frame's clip: full frames keep their aspect ratio, so H and W vary by video
        (the exported detector takes any); costs are stated at this shape."""
        return (3, self.num_frames, self.short_side, self.short_side)

    @property
    def num_views(self) -> int:
        return 1


Pipeline = MMAction2Pipeline | PySlowFastPipeline | AvaKeyframePipeline


@dataclass(frozen=True)
class Protocol:
    """A named test protocol: the views a video is cut into and how their scores combine."""

    name: str
    pipeline: Pipeline
    aggregation: ScoreAggregation | None  # None for detection: scores stay per box
    summary: str  # e.g. "10 clips × 3 crops × 256"; printed next to every accuracy
    source: str  # the reference config or guide this protocol reproduces

    @property
    def num_views(self) -> int:
        return self.pipeline.num_views

    @property
    def view_shape(self) -> tuple[int, int, int, int]:
        return self.pipeline.view_shape

    @property
    def is_detection(self) -> bool:
        return self.pipeline.is_detection

    @property
    def uint8_views(self) -> bool:
        """Whether a view is exactly a uint8 crop before normalisation (mmaction2: resize and crop
        on uint8 frames, ``Normalize`` last), so it can travel as uint8 and be normalised later.
        PySlowFast normalises before its float resize: its views exist only as floats."""
        return self.pipeline.uint8_views

    def scaled(self, size: int) -> Protocol:
        """The same protocol at another input size: mmaction2 crops of ``size`` from a short side
        scaled by the same factor (256/224 for a center crop of 224 from 256; three crops of the
        whole short side stay so), or the AVA frame's short side ``size``.
        PySlowFast recognizers pool over a window fixed by their crop: they have one size."""
        if size < 8:
            raise UsageError(f"input size {size}: too small for any of these models")
        scaled = self.pipeline.scaled(size)
        if scaled is None:
            raise UsageError(f"the {self.name} protocol ({self.summary}) has one input size: its "
                             "model pools over a window fixed by the crop")
        pipeline, note = scaled
        return replace(self, pipeline=pipeline, summary=f"{self.summary} ({note})")

    def describe(self) -> str:
        rule = self.aggregation.value if self.aggregation else "per-box sigmoid scores"
        return f"{self.name}: {self.summary}, {rule}"
