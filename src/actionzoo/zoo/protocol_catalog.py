"""The zoo's test protocols: one :class:`~actionzoo.protocols.Protocol` per model and flow.

``*_OFFICIAL`` reproduces the reference repository's own test config; ``*_ASCEND`` what the vendor
(Ascend ModelZoo) guide's preprocessing and post-processing did. The registry attaches these to its
model entries; :func:`actionzoo.data.pipeline.build_views` turns any of them into views.

Frame numbering is a property of the source, not of the protocol: a video file is read with
mmaction2's ``VideoDataset`` convention (``start_index`` 0, ``total_frames`` = decoded frames), a
frame folder with ``RawframeDataset``'s (files ``img_00001.jpg`` ..., ``start_index`` 1,
``total_frames`` from the annotation line).
"""

from __future__ import annotations

from actionzoo.zoo.protocols import (
    AvaKeyframePipeline,
    MMAction2Pipeline,
    MMAction2Sampling,
    Protocol,
    PySlowFastPipeline,
    ScoreAggregation,
)

__all__ = [
    "SLOWFAST_OFFICIAL",
    "SLOWFAST_ASCEND",
    "X3D_OFFICIAL",
    "X3D_ASCEND",
    "R2PLUS1D_OFFICIAL",
    "R2PLUS1D_ASCEND",
    "TSM_OFFICIAL",
    "TSM_ASCEND",
    "SLOWFAST_PYSLOWFAST_OFFICIAL",
    "AVA_OFFICIAL",
    "AVA_MINI_VAL",
    "X3D_VAL",
    "R2PLUS1D_VAL",
    "TSM_VAL",
    "SLOWFAST_PYSLOWFAST_VAL",
]

# --- SlowFast R50 8x8x1, Kinetics-400 (mmaction2) -------------------------------------------

_SLOWFAST_10x3 = MMAction2Pipeline(
    sampling=MMAction2Sampling(clip_len=32, frame_interval=2, num_clips=10),
    frames_per_view=32,
    crop="three",
    crop_size=256,
)

SLOWFAST_OFFICIAL = Protocol(
    name="official",
    pipeline=_SLOWFAST_10x3,
    aggregation=ScoreAggregation.MEAN_SOFTMAX,
    summary="10 clips × 3 crops × 256",
    source="mmaction2@92e5517 slowfast_r50_8x8x1_256e_kinetics400_rgb.py test_pipeline "
    "(SampleFrames 32x2x10, Resize -1x256, ThreeCrop 256, average_clips='prob')",
)

SLOWFAST_ASCEND = Protocol(
    name="ascend",
    pipeline=MMAction2Pipeline(
        sampling=MMAction2Sampling(clip_len=32, frame_interval=2, num_clips=1),
        frames_per_view=32,
        crop="center",
        crop_size=224,
    ),
    # One view: the mean of one softmax is that softmax (the exported graph's own softmax).
    aggregation=ScoreAggregation.MEAN_SOFTMAX,
    summary="1 clip × center crop 224",
    source="Ascend ModelZoo SlowFast (slowfast.patch on mmaction2@92e5517): VideoDataset, "
    "SampleFrames 32x2x1, Resize -1x256, CenterCrop 224, softmax of the single view",
)

# --- X3D-S, Kinetics-400 (PySlowFast) ----------------------------------------------------------

_X3D_10x3 = PySlowFastPipeline(
    num_frames=13,
    sampling_rate=6,
    target_fps=30,
    num_temporal_views=10,
    num_spatial_crops=3,
    crop_size=182,
)

X3D_OFFICIAL = Protocol(
    name="official",
    pipeline=_X3D_10x3,
    aggregation=ScoreAggregation.SUM,
    summary="10 clips × 3 crops × 182",
    source="PySlowFast@9839d13 configs/Kinetics/X3D_S.yaml test (10 temporal x 3 spatial views, "
    "ENSEMBLE_METHOD sum); frames are decoded as on the PyAV path. The reference's torchvision "
    "backend resizes during decoding (libswscale SWS_AREA, long side rounded) instead of the "
    "torch bilinear resize used here, so pixels can differ slightly on videos whose short side "
    "is not 182",
)

X3D_ASCEND = Protocol(
    name="ascend",
    pipeline=_X3D_10x3,
    aggregation=ScoreAggregation.SUM,
    summary="10 clips × 3 crops × 182",
    source="Ascend ModelZoo X3D (x3d.patch on PySlowFast@9839d13): DECODING_BACKEND pyav, "
    "10 temporal x 3 spatial views, sum of the views' probabilities",
)

# --- R(2+1)D R34 8x8x1, UCF-101 (mmaction2 + Ascend config) -----------------------------------

_R2PLUS1D_1x3 = MMAction2Pipeline(
    sampling=MMAction2Sampling(clip_len=8, frame_interval=8, num_clips=1),
    frames_per_view=8,
    crop="three",
    crop_size=256,
)

R2PLUS1D_OFFICIAL = Protocol(
    name="official",
    pipeline=_R2PLUS1D_1x3,
    aggregation=ScoreAggregation.MEAN_SOFTMAX,
    summary="1 clip × 3 crops × 256",
    source="mmaction2@acce52d tools/test.py with Ascend's r2plus1d_r34_8x8x1_180e_ucf101_rgb2.py "
    "(SampleFrames 8x8x1, Resize -1x256, ThreeCrop 256, average_clips='prob')",
)

R2PLUS1D_ASCEND = Protocol(
    name="ascend",
    pipeline=_R2PLUS1D_1x3,
    aggregation=ScoreAggregation.MEAN_LOGITS,
    summary="1 clip × 3 crops × 256",
    source="Ascend ModelZoo R(2+1)D: the same config's test pipeline, r2plus1d_postprocess.py "
    "averages the raw logits of the 3 crops",
)

# --- TSM R50 1x1x8, Something-Something V2 (mmaction2) ----------------------------------------

_TSM_2x3 = MMAction2Pipeline(
    sampling=MMAction2Sampling(clip_len=1, frame_interval=1, num_clips=8, twice_sample=True),
    frames_per_view=8,
    crop="three",
    crop_size=256,
)

TSM_OFFICIAL = Protocol(
    name="official",
    pipeline=_TSM_2x3,
    aggregation=ScoreAggregation.MEAN_SOFTMAX,
    summary="8 segments × 2 clips (twice-sample) × 3 crops × 256",
    source="mmaction2@5fa8faa tsm_r50_1x1x8_50e_sthv2_rgb.py test_pipeline ('accurate': "
    "SampleFrames 1x1x8 twice_sample, Resize -1x256, ThreeCrop 256, average_clips='prob')",
)

TSM_ASCEND = Protocol(
    name="ascend",
    pipeline=_TSM_2x3,
    aggregation=ScoreAggregation.SOFTMAX_OF_MEAN_LOGITS,
    summary="8 segments × 2 clips (twice-sample) × 3 crops × 256",
    source="Ascend ModelZoo TSM_sthv2_for_Pytorch: the same 48 frames; modify_onnx.py makes the "
    "graph output softmax of the mean of the 6 views' logits",
)

# --- SlowFast R50 8x8, Kinetics-400 (PySlowFast, Caffe2 checkpoint) ------------------------------

SLOWFAST_PYSLOWFAST_OFFICIAL = Protocol(
    name="official",
    pipeline=PySlowFastPipeline(
        num_frames=32,
        sampling_rate=2,
        target_fps=30,
        num_temporal_views=10,
        num_spatial_crops=3,
        crop_size=256,
    ),
    aggregation=ScoreAggregation.SUM,
    summary="10 clips × 3 crops × 256",
    source="PySlowFast@9839d13 configs/Kinetics/c2/SLOWFAST_8x8_R50.yaml test (10 temporal x 3 "
    "spatial at 256, sum of probabilities), decoded with the PyAV backend",
)

# --- SlowFast R50 32x2, AVA 2.2 detection (PySlowFast) ----------------------------------------

AVA_OFFICIAL = Protocol(
    name="official",
    pipeline=AvaKeyframePipeline(),
    aggregation=None,
    summary="32 frames × stride 2 around each keyframe, short side 224, full frame",
    source="PySlowFast@9839d13 configs/AVA/SLOWFAST_32x2_R50_SHORT.yaml test mode (person boxes "
    "with score >= 0.8, TEST_CROP_SIZE 224, no crop)",
)

# PySlowFast's in-training evaluation of the AVA detector (``val`` mode, ``AVA.FULL_TEST_ON_VAL
# False``; PySlowFast@9839d13 ``slowfast/datasets/ava_helper.py`` loads only keyframes with
# ``sec % 4 == 0`` in val mode, ``ava_dataset.py`` centre-crops TEST_CROP_SIZE in val mode, and
# ``AVAMeter`` scores against the "mini" GT of those seconds).
AVA_MINI_VAL = Protocol(
    name="mini-val (sec % 4 == 0, centre crop)",
    pipeline=AvaKeyframePipeline(mini_val=True, center_crop=True),
    aggregation=None,
    summary="keyframes at seconds % 4 == 0, 32 frames × stride 2, short side 224, centre crop 224",
    source="PySlowFast@9839d13 configs/AVA/SLOWFAST_32x2_R50_SHORT.yaml val mode (person boxes "
    "with score >= 0.8, TEST_CROP_SIZE 224, centre crop; mini GT)",
)

# --- Validation during training: one clip per video, as the references' val pipelines ---------

R2PLUS1D_VAL = Protocol(
    name="val",
    pipeline=MMAction2Pipeline(
        sampling=MMAction2Sampling(clip_len=8, frame_interval=8, num_clips=1),
        frames_per_view=8,
        crop="center",
        crop_size=224,
    ),
    aggregation=ScoreAggregation.MEAN_SOFTMAX,
    summary="1 clip × center crop 224",
    source="Ascend r2plus1d_r34_8x8x1_180e_ucf101_rgb2.py val_pipeline (SampleFrames 8x8x1 test, "
    "Resize -1x256, CenterCrop 224)",
)

TSM_VAL = Protocol(
    name="val",
    pipeline=MMAction2Pipeline(
        sampling=MMAction2Sampling(clip_len=1, frame_interval=1, num_clips=8),
        frames_per_view=8,
        crop="center",
        crop_size=224,
    ),
    aggregation=ScoreAggregation.MEAN_SOFTMAX,
    summary="8 segments × center crop 224",
    source="mmaction2@5fa8faa tsm_r50_1x1x8_50e_sthv2_rgb.py val_pipeline (SampleFrames 1x1x8 "
    "test, Resize -1x256, CenterCrop 224)",
)

X3D_VAL = Protocol(
    name="val",
    pipeline=PySlowFastPipeline(
        num_frames=13,
        sampling_rate=6,
        target_fps=30,
        num_temporal_views=1,
        num_spatial_crops=3,
        crop_size=182,
    ),
    aggregation=ScoreAggregation.SUM,
    summary="1 clip × 3 crops × 182",
    source="the official test protocol with one temporal view (PySlowFast's own val split samples "
    "like training, randomly; a fixed view makes validation repeatable)",
)

SLOWFAST_PYSLOWFAST_VAL = Protocol(
    name="val",
    pipeline=PySlowFastPipeline(
        num_frames=32,
        sampling_rate=2,
        target_fps=30,
        num_temporal_views=1,
        num_spatial_crops=3,
        crop_size=256,
    ),
    aggregation=ScoreAggregation.SUM,
    summary="1 clip × 3 crops × 256",
    source="the official test protocol with one temporal view (repeatable validation)",
)
