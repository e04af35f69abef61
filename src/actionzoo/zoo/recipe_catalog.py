"""The reference training recipe of every registry entry (see :mod:`actionzoo.zoo.recipes`).

Sources, each also named by its entry: mmaction2@92e5517
``configs/recognition/slowfast/slowfast_r50_8x8x1_256e_kinetics400_rgb.py``; PySlowFast@9839d13
``configs/Kinetics/X3D_S.yaml`` and ``slowfast/config/defaults.py``; Ascend ModelZoo@05360171
``r2plus1d_r34_8x8x1_180e_ucf101_rgb2.py`` on mmaction2@acce52d; mmaction2@5fa8faa
``configs/recognition/tsm/tsm_r50_1x1x8_50e_sthv2_rgb.py`` and
``mmaction/core/optimizer/tsm_optimizer_constructor.py``; PySlowFast
``configs/Kinetics/c2/SLOWFAST_8x8_R50.yaml``; PySlowFast@9839d13
``configs/AVA/SLOWFAST_32x2_R50_SHORT.yaml``.
"""

from __future__ import annotations

from actionzoo.checkpoint.read import CheckpointFormat
from actionzoo.models.init import InitRule
from actionzoo.zoo import protocol_catalog as P
from actionzoo.zoo.protocols import MMAction2Sampling
from actionzoo.zoo.recipes import (
    AvaTrainPipeline,
    MMAction2TrainPipeline,
    OptimizerRecipe,
    PySlowFastTrainPipeline,
    ScheduleRecipe,
    TrainingRecipe,
)

__all__ = ["RECIPES"]

_MM_RESNET_INIT = dict(style="mmaction2", classifier="cls_head.fc_cls")
_PSF_INIT = dict(style="pyslowfast", classifier="head.projection", classifier_std=0.01,
                 zero_init_residual=True)

RECIPES: dict[str, TrainingRecipe] = {
    "slowfast_r50_8x8x1_k400": TrainingRecipe(
        source="mmaction2@92e5517 slowfast_r50_8x8x1_256e_kinetics400_rgb.py",
        pipeline=MMAction2TrainPipeline(MMAction2Sampling(32, 2, 1), 32, "random_resized"),
        batch_size=64,
        optimizer=OptimizerRecipe(lr=0.1, reference_batch=64, weight_decay=1e-4, groups="single",
                                  grad_clip=40.0),
        schedule=ScheduleRecipe("mmcv", "cosine", epochs=256, warmup_epochs=34),
        init=InitRule(classifier_std=0.01, zero_init_residual=True, **_MM_RESNET_INIT),
        loss="cross_entropy",
        val_protocol=P.SLOWFAST_ASCEND,  # SampleFrames 32x2x1 test, Resize 256, CenterCrop 224
        val_every=5,
        checkpoint_every=4,
        writes=CheckpointFormat.MMACTION2,
        bn_batch=8,
    ),
    "x3d_s_k400": TrainingRecipe(
        source="PySlowFast@9839d13 configs/Kinetics/X3D_S.yaml",
        pipeline=PySlowFastTrainPipeline(13, 6, 30, jitter=(182, 228), crop_size=160,
                                         decode_short_side=182),  # DECODING_BACKEND torchvision
        batch_size=2048,
        # BASE_LR 0.1 per 128-clip machine, scaled by NUM_SHARDS (16 per the config's comment).
        optimizer=OptimizerRecipe(lr=1.6, reference_batch=2048, weight_decay=5e-5,
                                  groups="bn_no_decay", nesterov=True),
        schedule=ScheduleRecipe("pyslowfast", "cosine", epochs=300, warmup_epochs=35,
                                warmup_start_lr=0.1),
        init=InitRule(**_PSF_INIT),
        loss="cross_entropy",
        val_protocol=P.X3D_VAL,
        val_every=10,
        checkpoint_every=10,
        writes=CheckpointFormat.PYSLOWFAST,
        precise_bn_batches=200,
        bn_batch=16,
        plan_notes=("the X3D frames are shrunk to short side 182 bilinearly in 8 bits, not by "
                    "FFmpeg's scaler inside torchvision's video reader",),
    ),
    "r2plus1d_r34_8x8x1_ucf101": TrainingRecipe(
        source="Ascend ModelZoo@05360171 r2plus1d_r34_8x8x1_180e_ucf101_rgb2.py (mmaction2@acce52d)",
        pipeline=MMAction2TrainPipeline(MMAction2Sampling(8, 8, 1), 8, "random_resized"),
        batch_size=128,
        optimizer=OptimizerRecipe(lr=0.0025, reference_batch=128, weight_decay=1e-4,
                                  groups="single", grad_clip=40.0),
        schedule=ScheduleRecipe("mmcv", "cosine", epochs=40),
        init=InitRule(classifier_std=0.01, zero_init_residual=False, **_MM_RESNET_INIT),
        loss="cross_entropy",
        val_protocol=P.R2PLUS1D_VAL,
        val_every=5,
        checkpoint_every=5,
        writes=CheckpointFormat.MMACTION2,
        sync_bn=True,
        # The outer BNs are SyncBN: they normalise over the whole (assumed) batch of 128;
        # Conv2plus1d's inner BN over each device's 16 (Ascend config, mmaction2@acce52d).
        bn_batch=128,
        plan_notes=(
            "reference batch 128 = 8 devices x 16 is an ASSUMPTION (the Ascend config gives 16 per "
            "device; its device count is unverified): lr 0.0025 is taken as the rate for 128",
            "reference BN batch: 128 for the SyncBN layers (the assumed global batch), 16 per "
            "device for Conv2plus1d's inner BN",
            "head: the reference keeps the Kinetics 400-way fc (load_from without num_classes) and "
            "trains UCF-101 labels 0..100 on it; here the head has the data's classes, "
            "re-initialised when --init's differs (scores for 101 classes, not 400)",
            "Conv2plus1d's inner BN (bn_s) stays per device under sync BN, as in the reference",
        ),
        starts_from="the mmaction2 Kinetics-400 R(2+1)D, r2plus1d_r34_256p_8x8x1_180e_kinetics400_"
                    "rgb_20200729-aa94765e.pth (load_from; its 400-way head is kept)",
    ),
    "tsm_r50_1x1x8_sthv2": TrainingRecipe(
        source="mmaction2@5fa8faa tsm_r50_1x1x8_50e_sthv2_rgb.py",
        pipeline=MMAction2TrainPipeline(MMAction2Sampling(1, 1, 8), 8, "multi_scale", flip=0.0),
        batch_size=48,
        optimizer=OptimizerRecipe(lr=0.0075, reference_batch=48, weight_decay=5e-4, groups="tsm",
                                  grad_clip=20.0),
        schedule=ScheduleRecipe("mmcv", "steps", epochs=50, steps=(20, 40),
                                step_factors=(0.1, 0.01)),
        init=InitRule(classifier_std=0.001, zero_init_residual=False, **_MM_RESNET_INIT),
        loss="cross_entropy",
        val_protocol=P.TSM_VAL,
        val_every=2,
        writes=CheckpointFormat.MMACTION2,
        # Sth-V2 labels 86/87, 93/94, 166/167 name left/right (mmaction2 tools/data/sthv2/label_map.txt):
        # used when a flip is asked for (the 0.x recipe does not flip).
        flip_label_pairs=((86, 87), (93, 94), (166, 167)),
        bn_batch=6,
        starts_from="the torchvision ImageNet ResNet-50 IMAGENET1K_V1, resnet50-0676ba61.pth "
                    "(torchvision://resnet50)",
    ),
    "slowfast_r50_8x8_k400_pyslowfast": TrainingRecipe(
        source="PySlowFast configs/Kinetics/c2/SLOWFAST_8x8_R50.yaml",
        pipeline=PySlowFastTrainPipeline(32, 2, 30, jitter=(256, 320), crop_size=224),
        batch_size=64,
        optimizer=OptimizerRecipe(lr=0.1, reference_batch=64, weight_decay=1e-4,
                                  groups="bn_no_decay", nesterov=True),
        schedule=ScheduleRecipe("pyslowfast", "cosine", epochs=196, warmup_epochs=34,
                                warmup_start_lr=0.1),
        init=InitRule(**_PSF_INIT),
        loss="cross_entropy",
        val_protocol=P.SLOWFAST_PYSLOWFAST_VAL,
        val_every=10,
        writes=CheckpointFormat.PYSLOWFAST,
        precise_bn_batches=200,
        bn_batch=8,
    ),
    "slowfast_r50_ava": TrainingRecipe(
        source="PySlowFast@9839d13 configs/AVA/SLOWFAST_32x2_R50_SHORT.yaml",
        pipeline=AvaTrainPipeline(),
        batch_size=64,
        optimizer=OptimizerRecipe(lr=0.1, reference_batch=64, weight_decay=1e-7,
                                  groups="bn_no_decay", nesterov=True),
        schedule=ScheduleRecipe("pyslowfast", "steps", epochs=20, warmup_epochs=5,
                                warmup_start_lr=0.000125 / 0.1, steps=(10, 15),
                                step_factors=(0.1, 0.01)),
        init=InitRule(**_PSF_INIT),
        loss="bce",
        val_protocol=P.AVA_MINI_VAL,  # PySlowFast's val mode; --full-val: eval's protocol
        full_val_protocol=P.AVA_OFFICIAL,
        val_every=5,
        writes=CheckpointFormat.PYSLOWFAST,
        bn_batch=8,
        starts_from="the PySlowFast Kinetics-400 SlowFast, SLOWFAST_8x8_R50.pkl (Caffe2 pickle; "
                    "its 400-way head is not loaded)",
    ),
}
