"""The registry's entries: one :class:`~actionzoo.zoo.spec.ModelSpec` per supported checkpoint family.

Adding a model: write its ``nn.Module`` in :mod:`actionzoo.models`, its test protocols in
:mod:`actionzoo.zoo.protocol_catalog`, and register a spec here.
"""

from __future__ import annotations

from actionzoo.checkpoint.read import CheckpointFormat
from actionzoo.models.r2plus1d import r2plus1d_r34_mmaction2
from actionzoo.models.slowfast_mmaction2 import slowfast_r50_mmaction2
from actionzoo.models.slowfast_pyslowfast import (
    slowfast_r50_pyslowfast_ava,
    slowfast_r50_pyslowfast_k400,
)
from actionzoo.models.tsm import tsm_r50_mmaction2
from actionzoo.models.x3d import x3d_s_pyslowfast
from actionzoo.zoo import protocol_catalog as P
from actionzoo.zoo.recipe_catalog import RECIPES
from actionzoo.zoo.spec import ModelSpec, OfficialAccuracy, Output, Task

__all__ = ["MODELS"]

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
        output=Output.LOGITS,
        task=Task.RECOGNITION,
        dataset="Kinetics-400",
        num_params=34_565_560,
        gmacs=65.71,
        dynamic_time=True,
        recipe=RECIPES["slowfast_r50_8x8x1_k400"],
        num_classes_key="cls_head.fc_cls.weight",
        categories="kinetics400",
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
        output=Output.PROBABILITIES,
        task=Task.RECOGNITION,
        dataset="Kinetics-400",
        num_params=3_794_322,
        gmacs=2.73,
        head_prefix="head.",
        recipe=RECIPES["x3d_s_k400"],
        num_classes_key="head.projection.weight",
        categories="kinetics400",
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
        output=Output.LOGITS,
        task=Task.RECOGNITION,
        dataset="UCF-101 split 1",
        num_params=63_759_281,
        gmacs=52.98,
        dynamic_time=True,
        recipe=RECIPES["r2plus1d_r34_8x8x1_ucf101"],
        categories="ucf101",
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
        output=Output.LOGITS,
        task=Task.RECOGNITION,
        dataset="Something-Something V2",
        num_params=23_864_558,
        gmacs=42.71,
        recipe=RECIPES["tsm_r50_1x1x8_sthv2"],
        num_classes_key="cls_head.fc_cls.weight",
        categories="sthv2",
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
        output=Output.PROBABILITIES,
        task=Task.RECOGNITION,
        dataset="Kinetics-400",
        num_params=34_566_488,
        gmacs=65.71,
        head_prefix="head.",
        recipe=RECIPES["slowfast_r50_8x8_k400_pyslowfast"],
        num_classes_key="head.projection.weight",
        categories="kinetics400",
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
        # PySlowFast's own AVA model zoo ships Caffe2 .pkl detectors, which its loader converts
        # by the same blob-name rules as the Kinetics SlowFast (TRAIN.CHECKPOINT_TYPE caffe2)
        checkpoint_formats=(CheckpointFormat.PYSLOWFAST, CheckpointFormat.CAFFE2,
                            CheckpointFormat.STATE_DICT),
        num_classes=80,
        output=Output.PROBABILITIES,
        task=Task.DETECTION,
        dataset="AVA v2.2",
        num_params=33_828_888,
        gmacs=74.19,
        head_prefix="head.",
        backbone_from=("slowfast_r50_8x8_k400_pyslowfast",),
        recipe=RECIPES["slowfast_r50_ava"],
        num_classes_key="head.projection.weight",
        categories="ava_v2.2",
        protocols={"official": P.AVA_OFFICIAL},
        accuracy=(
            OfficialAccuracy(
                21.93, None, P.AVA_OFFICIAL.describe(), "AVA v2.2 val, 60 evaluated classes",
                "MindSpore ModelZoo slowfast (its own checkpoint trained from SLOWFAST_8x8_R50.pkl)",
                metric="frame-mAP@0.5",
            ),
        ),
        notes="model(x, boxes): boxes (K, 5) [batch_index, x1, y1, x2, y2] in input pixels -> "
        "(K, 80) sigmoid scores. GMACs at 224x224 with one box. Accuracy is mAP, not top-1.",
    )
)


