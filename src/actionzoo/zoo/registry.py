"""The model registry: one typed entry per supported checkpoint family.

Each :class:`ModelSpec` is the single source of truth for a model: how to build its architecture,
which checkpoint container it reads, its test protocols (views and score combination), its
normalisation, cost, and the accuracy the reference reported together with the protocol it was
measured under. Everything else (CLI tables, evaluation, export) reads from here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from actionzoo.zoo import protocol_catalog as P
from actionzoo.checkpoint.read import (
    CheckpointFormat,
    load_state_dict_strict,
    read_checkpoint,
)
from actionzoo.errors import UsageError
from actionzoo.models.r2plus1d import r2plus1d_r34_mmaction2
from actionzoo.models.slowfast_mmaction2 import slowfast_r50_mmaction2
from actionzoo.models.tsm import tsm_r50_mmaction2
from actionzoo.models.slowfast_pyslowfast import (
    slowfast_r50_pyslowfast_ava,
    slowfast_r50_pyslowfast_k400,
)
from actionzoo.models.x3d import x3d_s_pyslowfast
from actionzoo.zoo.protocols import (
    IMAGENET_MEAN_255,
    IMAGENET_STD_255,
    KINETICS_MEAN_01,
    KINETICS_STD_01,
    Protocol,
)

__all__ = [
    "Normalization",
    "OfficialAccuracy",
    "ModelSpec",
    "MODELS",
    "list_models",
    "get_model_spec",
    "build_model",
]


@dataclass(frozen=True)
class Normalization:
    """``(x * 255 / value_range - mean) / std`` per RGB channel of uint8 frames."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    value_range: float  # 255.0: normalise raw 0..255 values; 1.0: divide by 255 first


@dataclass(frozen=True)
class OfficialAccuracy:
    """An accuracy a reference reported, with the protocol it was measured under."""

    top1: float  # percent (the frame-mAP for detection, see ``metric``)
    top5: float | None  # percent; None where the source gives none
    protocol: str  # views and score combination, e.g. "10 clips × 3 crops × 256, mean of softmax"
    data: str  # which split / data variant
    source: str  # where the figure is published
    metric: str = "top-1"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    title: str
    reference: str  # repository @ commit and config
    builder: Callable[[int], nn.Module]  # num_classes -> architecture with random weights
    checkpoint_formats: tuple[CheckpointFormat, ...]  # the reference's own container first
    num_classes: int
    clip_shape: tuple[int, int, int, int]  # (C, T, H, W) of one view under the official protocol
    output: Literal["logits", "probabilities"]
    task: Literal["recognition", "detection"]
    dataset: str
    normalization: Normalization
    num_params: int  # with the default class count
    # Per view at clip_shape, multiply-adds of convolutions and linear layers counted once (as the
    # papers and mmaction2's metafiles count them; torch's FlopCounterMode reports twice this).
    gflops: float
    protocols: Mapping[str, Protocol]
    accuracy: tuple[OfficialAccuracy, ...]
    # The state-dict key whose first dimension gives the class count, for checkpoints whose head
    # width differs from the default (the R(2+1)D UCF-101 config leaves its head at 400).
    num_classes_key: str | None = None
    # Prefix of the classifier's keys: left out when only the backbone is initialised from a
    # checkpoint (e.g. the AVA detector from the Kinetics SlowFast).
    head_prefix: str = "cls_head."
    notes: str = ""

    @property
    def checkpoint_format(self) -> CheckpointFormat:
        return self.checkpoint_formats[0]

    def protocol(self, name: str) -> Protocol:
        try:
            return self.protocols[name]
        except KeyError:
            raise UsageError(
                f"model {self.name} has no protocol {name!r}; choose from {', '.join(self.protocols)}"
            ) from None


_MM_NORM = Normalization(IMAGENET_MEAN_255, IMAGENET_STD_255, 255.0)
_PYSF_NORM = Normalization(KINETICS_MEAN_01, KINETICS_STD_01, 1.0)

MODELS: dict[str, ModelSpec] = {}


def _register(spec: ModelSpec) -> ModelSpec:
    if spec.name in MODELS:
        raise ValueError(f"duplicate model name {spec.name}")
    MODELS[spec.name] = spec
    return spec


_register(
    ModelSpec(
        name="slowfast_r50_8x8x1_k400",
        title="SlowFast R50 8x8x1, Kinetics-400",
        reference="mmaction2@92e5517 slowfast_r50_8x8x1_256e_kinetics400_rgb",
        builder=slowfast_r50_mmaction2,
        checkpoint_formats=(CheckpointFormat.MMACTION2, CheckpointFormat.STATE_DICT),
        num_classes=400,
        clip_shape=(3, 32, 256, 256),
        output="logits",
        task="recognition",
        dataset="Kinetics-400",
        normalization=_MM_NORM,
        num_params=34_565_560,
        gflops=65.71,
        protocols={"official": P.SLOWFAST_OFFICIAL, "ascend": P.SLOWFAST_ASCEND},
        accuracy=(
            OfficialAccuracy(
                76.94, 92.8, P.SLOWFAST_OFFICIAL.describe(), "K400 val, rawframes short side 320",
                "mmaction2 model zoo (slowfast_r50_8x8x1_256e_kinetics400_rgb_20200716-73547d2b)",
            ),
            OfficialAccuracy(
                70.07, 88.55, P.SLOWFAST_ASCEND.describe(), "K400 val videos, decord",
                "Ascend ModelZoo SlowFast guide (310P3, bs 1)",
            ),
        ),
    )
)

_register(
    ModelSpec(
        name="x3d_s_k400",
        title="X3D-S, Kinetics-400",
        reference="PySlowFast@9839d13 configs/Kinetics/X3D_S.yaml",
        builder=x3d_s_pyslowfast,
        checkpoint_formats=(CheckpointFormat.PYSLOWFAST, CheckpointFormat.STATE_DICT),
        num_classes=400,
        clip_shape=(3, 13, 182, 182),
        output="probabilities",
        task="recognition",
        dataset="Kinetics-400",
        normalization=_PYSF_NORM,
        num_params=3_794_322,
        gflops=2.73,
        head_prefix="head.",
        protocols={"official": P.X3D_OFFICIAL, "ascend": P.X3D_ASCEND},
        accuracy=(
            OfficialAccuracy(
                73.5, None, P.X3D_OFFICIAL.describe(), "K400 val, short side 256 videos",
                "PySlowFast MODEL_ZOO / X3D_S.yaml (30-view)",
            ),
            OfficialAccuracy(
                73.75, 90.25, P.X3D_ASCEND.describe(), "K400 val (19,761 videos), PyAV",
                "Ascend ModelZoo X3D guide (310P3)",
            ),
        ),
        notes="Eval output is softmax averaged over the head's 2x2 positions at the 182 crop.",
    )
)

_register(
    ModelSpec(
        name="r2plus1d_r34_8x8x1_ucf101",
        title="R(2+1)D R34 8x8x1, UCF-101",
        reference="mmaction2@acce52d + Ascend r2plus1d_r34_8x8x1_180e_ucf101_rgb2.py",
        builder=r2plus1d_r34_mmaction2,
        checkpoint_formats=(CheckpointFormat.MMACTION2, CheckpointFormat.STATE_DICT),
        num_classes=400,
        clip_shape=(3, 8, 256, 256),
        output="logits",
        task="recognition",
        dataset="UCF-101 split 1",
        normalization=_MM_NORM,
        num_params=63_759_281,
        gflops=52.98,
        protocols={"official": P.R2PLUS1D_OFFICIAL, "ascend": P.R2PLUS1D_ASCEND},
        accuracy=(
            OfficialAccuracy(
                88.92, 97.41, P.R2PLUS1D_ASCEND.describe(), "UCF-101 split-1 val (3,783 videos)",
                "Ascend ModelZoo R(2+1)D guide (310)",
            ),
        ),
        num_classes_key="cls_head.fc_cls.weight",
        notes="The UCF-101 config keeps the 400-way Kinetics head; the class count is read from "
        "the checkpoint.",
    )
)

_register(
    ModelSpec(
        name="tsm_r50_1x1x8_sthv2",
        title="TSM R50 1x1x8, Something-Something V2",
        reference="mmaction2@5fa8faa tsm_r50_1x1x8_50e_sthv2_rgb",
        builder=tsm_r50_mmaction2,
        checkpoint_formats=(CheckpointFormat.MMACTION2, CheckpointFormat.STATE_DICT),
        num_classes=174,
        clip_shape=(3, 8, 256, 256),
        output="logits",
        task="recognition",
        dataset="Something-Something V2",
        normalization=_MM_NORM,
        num_params=23_864_558,
        gflops=42.71,
        protocols={"official": P.TSM_OFFICIAL, "ascend": P.TSM_ASCEND},
        accuracy=(
            OfficialAccuracy(
                61.82, 86.80, P.TSM_OFFICIAL.describe(), "Sth-V2 val, rawframes height 256",
                "mmaction2 model zoo (tsm_r50_256h_1x1x8_50e_sthv2_rgb_20210816-032aa4da)",
            ),
            OfficialAccuracy(
                61.87, 87.21, P.TSM_ASCEND.describe(), "Sth-V2 val (24,777 videos)",
                "Ascend ModelZoo TSM_sthv2 guide (310P3, bs 1)",
            ),
        ),
    )
)

_register(
    ModelSpec(
        name="slowfast_r50_8x8_k400_pyslowfast",
        title="SlowFast R50 8x8, Kinetics-400 (PySlowFast, Caffe2 checkpoint)",
        reference="PySlowFast@9839d13 configs/Kinetics/c2/SLOWFAST_8x8_R50.yaml",
        builder=slowfast_r50_pyslowfast_k400,
        checkpoint_formats=(CheckpointFormat.CAFFE2, CheckpointFormat.PYSLOWFAST,
                            CheckpointFormat.STATE_DICT),
        num_classes=400,
        clip_shape=(3, 32, 256, 256),
        output="probabilities",
        task="recognition",
        dataset="Kinetics-400",
        normalization=_PYSF_NORM,
        num_params=34_566_488,
        gflops=65.71,
        head_prefix="head.",
        protocols={"official": P.SLOWFAST_PYSLOWFAST_OFFICIAL},
        accuracy=(
            OfficialAccuracy(
                77.0, 92.6, P.SLOWFAST_PYSLOWFAST_OFFICIAL.describe(), "K400 val",
                "PySlowFast MODEL_ZOO (SLOWFAST_8x8_R50.pkl, Caffe2)",
            ),
        ),
        notes="Eval output is softmax averaged over the head's 2x2 positions at the 256 crop. "
        "Its weights initialise the AVA detector's backbone.",
    )
)

_register(
    ModelSpec(
        name="slowfast_r50_ava",
        title="SlowFast R50 32x2, AVA v2.2 action detection",
        reference="PySlowFast@9839d13 configs/AVA/SLOWFAST_32x2_R50_SHORT.yaml",
        builder=slowfast_r50_pyslowfast_ava,
        checkpoint_formats=(CheckpointFormat.PYSLOWFAST, CheckpointFormat.STATE_DICT),
        num_classes=80,
        clip_shape=(3, 32, 224, 224),
        output="probabilities",
        task="detection",
        dataset="AVA v2.2",
        normalization=_PYSF_NORM,
        num_params=33_828_888,
        gflops=74.19,
        head_prefix="head.",
        protocols={"official": P.AVA_OFFICIAL},
        accuracy=(
            OfficialAccuracy(
                21.93, None, P.AVA_OFFICIAL.describe(), "AVA v2.2 val, 60 evaluated classes",
                "MindSpore ModelZoo slowfast (its own checkpoint trained from SLOWFAST_8x8_R50.pkl)",
                metric="frame-mAP@0.5",
            ),
        ),
        notes="model(x, boxes): boxes (K, 5) [batch_index, x1, y1, x2, y2] in input pixels -> "
        "(K, 80) sigmoid scores. GFLOPs at 224x224 with one box. Accuracy is mAP, not top-1.",
    )
)


def list_models() -> list[str]:
    """Names of every registered model, in registration order."""
    return list(MODELS)


def get_model_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise UsageError(
            f"unknown model {name!r}; choose from {', '.join(MODELS)}"
        ) from None


def build_model(
    name: str,
    checkpoint: str | os.PathLike[str] | None = None,
    *,
    trusted: bool = False,
    backbone_only: bool = False,
) -> nn.Module:
    """Build a registered model in eval mode, with the checkpoint's weights when one is given.

    Without a checkpoint the weights are random. A checkpoint must fit exactly (every key, every
    shape); otherwise a :class:`CheckpointError` names the missing, unexpected and mismatched keys.
    ``backbone_only`` loads everything but the classifier (``spec.head_prefix``), which keeps its
    random initialisation: how a detector starts from a Kinetics checkpoint for training.
    """
    spec = get_model_spec(name)
    if checkpoint is None:
        return spec.builder(spec.num_classes).eval()
    ckpt = read_checkpoint(checkpoint, trusted=trusted)
    num_classes = spec.num_classes
    if not backbone_only and spec.num_classes_key and spec.num_classes_key in ckpt.state_dict:
        num_classes = int(ckpt.state_dict[spec.num_classes_key].shape[0])
    model = spec.builder(num_classes)
    skip = spec.head_prefix if backbone_only else None
    load_state_dict_strict(model, ckpt, spec.name, skip_prefix=skip)
    return model.eval()


def expected_shapes(spec: ModelSpec, num_classes: int | None = None) -> dict[str, tuple[int, ...]]:
    """The model's state-dict shapes, computed without allocating its weights."""
    with torch.device("meta"):
        model = spec.builder(num_classes or spec.num_classes)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}
