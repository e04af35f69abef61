"""SlowFast R50 as PySlowFast builds it: the Kinetics-400 classifier and the AVA 2.2 box classifier.

Two networks share one trunk (PySlowFast@9839d13 ``slowfast/models/video_model_builder.py``
``SlowFast``, ``head_helper.ResNetBasicHead`` / ``ResNetRoIHead``):

* ``slowfast_r50_pyslowfast_k400`` is ``configs/Kinetics/c2/SLOWFAST_8x8_R50.yaml``, the model that the
  Caffe2 ``SLOWFAST_8x8_R50.pkl`` loads into: res5 spatial stride 2, dilation 1, ``ResNetBasicHead``;
* ``slowfast_r50_pyslowfast_ava`` is ``configs/AVA/SLOWFAST_32x2_R50_SHORT.yaml``: res5 stride 1 with
  dilation 2 (total stride 16), ``ResNetRoIHead`` with an aligned RoIAlign and a sigmoid.

Facts that differ from mmaction2's SlowFast and change the output: the slow pathway sees frames
``linspace(0, 31, 8).long()`` = 0, 4, 8, 13, 17, 22, 26, 31 of the 32 input frames (PySlowFast selects
them in its data loader; here the model does it so that it takes one tensor); every fast->slow fusion is
conv + BN + ReLU; features are concatenated as [slow, fast] everywhere, including the classifier input.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from actionzoo.models.pyslowfast_layers import (
    PathwayStage,
    ResNetStem,
    batch_norm_3d,
    bottleneck_blocks,
)
from actionzoo.models.roi_align import RoIAlign

NUM_FRAMES = 32  # fast-pathway frames (DATA.NUM_FRAMES)
ALPHA = 4  # frame-rate ratio fast : slow (SLOWFAST.ALPHA)
BETA_INV = 8  # channel ratio slow : fast (SLOWFAST.BETA_INV)
FUSION_CHANNEL_RATIO = 2  # SLOWFAST.FUSION_CONV_CHANNEL_RATIO
FUSION_KERNEL = 7  # SLOWFAST.FUSION_KERNEL_SZ
WIDTH = 64  # RESNET.WIDTH_PER_GROUP (NUM_GROUPS 1)
STAGE_BLOCKS = (3, 4, 6, 3)  # ResNet-50
# Temporal kernel of the stem and of each stage's ``a`` conv, as (slow, fast).
STEM_TEMPORAL_KERNELS = (1, 5)
STAGE_TEMPORAL_KERNELS = ((1, 3), (1, 3), (3, 3), (3, 3))
DROPOUT_RATE = 0.5
KINETICS_TRAIN_CROP = 224  # fixes the Kinetics head's average-pool window at 224 // 32 = 7
ROI_RESOLUTION = 7  # DETECTION.ROI_XFORM_RESOLUTION
ROI_SPATIAL_SCALE = 1.0 / 16  # 1 / DETECTION.SPATIAL_SCALE_FACTOR


def slow_frame_indices(num_frames: int = NUM_FRAMES, alpha: int = ALPHA) -> list[int]:
    """Frames the slow pathway sees: PySlowFast's ``linspace(0, T - 1, T // alpha).long()``."""
    # device="cpu": the value is needed even when the model is built on the meta device.
    return torch.linspace(0, num_frames - 1, num_frames // alpha, device="cpu").long().tolist()


class FuseFastToSlow(nn.Module):
    """Lateral connection: strided temporal conv on the fast features, BN, ReLU, appended to slow."""

    def __init__(self, fast_channels: int) -> None:
        super().__init__()
        self.conv_f2s = nn.Conv3d(
            fast_channels,
            fast_channels * FUSION_CHANNEL_RATIO,
            (FUSION_KERNEL, 1, 1),
            stride=(ALPHA, 1, 1),
            padding=(FUSION_KERNEL // 2, 0, 0),
            bias=False,
        )
        self.bn = batch_norm_3d(fast_channels * FUSION_CHANNEL_RATIO)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, pathways: list[Tensor]) -> list[Tensor]:
        slow, fast = pathways
        fused = self.relu(self.bn(self.conv_f2s(fast)))
        return [torch.cat([slow, fused], dim=1), fast]


class SlowFastStem(nn.Module):
    """``s1``: one ``ResNetStem`` per pathway (64 slow channels, 8 fast channels)."""

    def __init__(self) -> None:
        super().__init__()
        slow_t, fast_t = STEM_TEMPORAL_KERNELS
        self.pathway0_stem = ResNetStem(3, WIDTH, (slow_t, 7, 7))
        self.pathway1_stem = ResNetStem(3, WIDTH // BETA_INV, (fast_t, 7, 7))

    def forward(self, pathways: list[Tensor]) -> list[Tensor]:
        slow, fast = pathways
        return [self.pathway0_stem(slow), self.pathway1_stem(fast)]


class SlowFastTrunk(nn.Module):
    """Stem, four residual stages and three fusions; subclasses attach ``head`` last (key order).

    Stage ``k`` (res2..res5) has slow output ``WIDTH * 4 * 2**k`` and inner ``WIDTH * 2**k``; the fast
    pathway is 1/``BETA_INV`` as wide. Every slow stage after a fusion takes
    ``slow + 2 * fast`` channels (80, 320, 640, 1280).
    """

    def __init__(self, res5_stride: int, res5_dilation: int) -> None:
        super().__init__()
        self.register_buffer(
            "slow_indices", torch.tensor(slow_frame_indices(), dtype=torch.int64), persistent=False
        )
        self.s1 = SlowFastStem()
        fast_channels = WIDTH // BETA_INV
        self.s1_fuse = FuseFastToSlow(fast_channels)
        slow_in, fast_in = WIDTH + fast_channels * FUSION_CHANNEL_RATIO, fast_channels
        strides = (1, 2, 2, res5_stride)
        dilations = (1, 1, 1, res5_dilation)
        for index, num_blocks in enumerate(STAGE_BLOCKS):
            slow_out, slow_inner = WIDTH * 4 * 2**index, WIDTH * 2**index
            fast_out, fast_inner = slow_out // BETA_INV, slow_inner // BETA_INV
            slow_t, fast_t = STAGE_TEMPORAL_KERNELS[index]
            stage = PathwayStage(
                [
                    bottleneck_blocks(
                        num_blocks, slow_in, slow_out, slow_inner, slow_t, strides[index], dilations[index]
                    ),
                    bottleneck_blocks(
                        num_blocks, fast_in, fast_out, fast_inner, fast_t, strides[index], dilations[index]
                    ),
                ]
            )
            self.add_module(f"s{index + 2}", stage)
            if index < 3:  # no fusion after res5
                self.add_module(f"s{index + 2}_fuse", FuseFastToSlow(fast_out))
                slow_in = slow_out + fast_out * FUSION_CHANNEL_RATIO
            fast_in = fast_out
        self.slow_channels = WIDTH * 32
        self.fast_channels = WIDTH * 32 // BETA_INV

    def features(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(N, 3, 32, H, W) -> res5 features (slow (N, 2048, 8, h, w), fast (N, 256, 32, h, w))."""
        if x.dim() != 5 or x.shape[2] != NUM_FRAMES:
            raise ValueError(f"SlowFast expects input (N, C, {NUM_FRAMES}, H, W), got {tuple(x.shape)}")
        pathways = [x.index_select(2, self.slow_indices), x]
        pathways = self.s1(pathways)
        pathways = self.s1_fuse(pathways)
        pathways = self.s2(pathways)
        pathways = self.s2_fuse(pathways)
        # PySlowFast's pathway{0,1}_pool are 1x1x1 max-pools here (identities), so they are omitted.
        pathways = self.s3(pathways)
        pathways = self.s3_fuse(pathways)
        pathways = self.s4(pathways)
        pathways = self.s4_fuse(pathways)
        slow, fast = self.s5(pathways)
        return slow, fast


class BasicHead(nn.Module):
    """PySlowFast ``ResNetBasicHead`` for two pathways (read from head_helper.py / video_model_builder.py).

    Each pathway is average-pooled with a window fixed by the *train* crop (``[8, 7, 7]`` slow,
    ``[32, 7, 7]`` fast, stride 1), concatenated [slow, fast] on channels, then the Linear classifier is
    applied at every remaining position. Eval mode: softmax at each position, mean over positions; at
    the 256 test crop (8x8 res5) that is the mean of 2x2 softmax vectors. Train mode: the per-position
    logits flattened to (N, positions * classes), as the reference's ``view`` does.
    """

    def __init__(
        self,
        slow_channels: int,
        fast_channels: int,
        num_classes: int,
        slow_pool: tuple[int, int, int],
        fast_pool: tuple[int, int, int],
    ) -> None:
        super().__init__()
        self.pathway0_avgpool = nn.AvgPool3d(slow_pool, stride=1)
        self.pathway1_avgpool = nn.AvgPool3d(fast_pool, stride=1)
        self.dropout = nn.Dropout(DROPOUT_RATE)
        self.projection = nn.Linear(slow_channels + fast_channels, num_classes, bias=True)

    def forward(self, slow: Tensor, fast: Tensor) -> Tensor:
        x = torch.cat([self.pathway0_avgpool(slow), self.pathway1_avgpool(fast)], dim=1)
        x = self.projection(self.dropout(x.permute(0, 2, 3, 4, 1)))  # (N, T', H', W', classes)
        if not self.training:
            x = torch.softmax(x, dim=4).mean(dim=(1, 2, 3))
        return x.flatten(1)


class RoIHead(nn.Module):
    """PySlowFast ``ResNetRoIHead``: per-box action probabilities from the two res5 feature maps.

    Per pathway: temporal average over all frames, RoIAlign 7x7 (scale 1/16, adaptive sampling,
    aligned), 7x7 max-pool; then [slow, fast] concatenation, dropout, Linear, sigmoid. The sigmoid is
    applied in train mode too (PySlowFast trains with ``BCELoss`` on probabilities).
    """

    def __init__(
        self,
        slow_channels: int,
        fast_channels: int,
        num_classes: int,
        slow_frames: int,
        fast_frames: int,
    ) -> None:
        super().__init__()
        for pathway, frames in enumerate((slow_frames, fast_frames)):
            self.add_module(f"s{pathway}_tpool", nn.AvgPool3d((frames, 1, 1), stride=1))
            self.add_module(
                f"s{pathway}_roi",
                RoIAlign(ROI_RESOLUTION, spatial_scale=ROI_SPATIAL_SCALE, sampling_ratio=0, aligned=True),
            )
            self.add_module(f"s{pathway}_spool", nn.MaxPool2d(ROI_RESOLUTION, stride=1))
        self.dropout = nn.Dropout(DROPOUT_RATE)
        self.projection = nn.Linear(slow_channels + fast_channels, num_classes, bias=True)
        self.act = nn.Sigmoid()

    def forward(self, slow: Tensor, fast: Tensor, boxes: Tensor) -> Tensor:
        pooled = []
        for pathway, features in enumerate((slow, fast)):
            x = getattr(self, f"s{pathway}_tpool")(features).squeeze(2)
            x = getattr(self, f"s{pathway}_roi")(x, boxes)
            pooled.append(getattr(self, f"s{pathway}_spool")(x))
        x = self.dropout(torch.cat(pooled, dim=1))
        return self.act(self.projection(x.flatten(1)))


class SlowFastClassifier(SlowFastTrunk):
    """SlowFast R50 8x8 Kinetics classifier: ``model(x)`` with x (N, 3, 32, H, W), H, W >= 193."""

    def __init__(self, num_classes: int) -> None:
        super().__init__(res5_stride=2, res5_dilation=1)
        window = KINETICS_TRAIN_CROP // 32
        self.head = BasicHead(
            self.slow_channels,
            self.fast_channels,
            num_classes,
            slow_pool=(NUM_FRAMES // ALPHA, window, window),
            fast_pool=(NUM_FRAMES, window, window),
        )

    def forward(self, x: Tensor) -> Tensor:
        """Eval: (N, classes) probabilities averaged over the head's positions (see :class:`BasicHead`)."""
        slow, fast = self.features(x)
        return self.head(slow, fast)


class SlowFastDetector(SlowFastTrunk):
    """SlowFast R50 32x2 AVA box classifier: ``model(x, boxes)`` -> (K, classes) sigmoid scores."""

    def __init__(self, num_classes: int) -> None:
        super().__init__(res5_stride=1, res5_dilation=2)
        self.head = RoIHead(
            self.slow_channels,
            self.fast_channels,
            num_classes,
            slow_frames=NUM_FRAMES // ALPHA,
            fast_frames=NUM_FRAMES,
        )

    def forward(self, x: Tensor, boxes: Tensor) -> Tensor:
        """x (N, 3, 32, H, W); boxes (K, 5) float rows (batch_index, x1, y1, x2, y2) in input pixels."""
        slow, fast = self.features(x)
        return self.head(slow, fast, boxes)


def slowfast_r50_pyslowfast_k400(num_classes: int = 400) -> nn.Module:
    """PySlowFast SlowFast 8x8 R50 Kinetics-400 (target of ``SLOWFAST_8x8_R50.pkl``), 34.57 M parameters."""
    return SlowFastClassifier(num_classes)


def slowfast_r50_pyslowfast_ava(num_classes: int = 80) -> nn.Module:
    """PySlowFast SlowFast 32x2 R50 AVA 2.2 detector head over given boxes, 33.83 M parameters."""
    return SlowFastDetector(num_classes)
