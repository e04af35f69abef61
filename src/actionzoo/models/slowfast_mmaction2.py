"""SlowFast R50 8x8x1 as mmaction2 builds it (``ResNet3dSlowFast`` + ``SlowFastHead``), in plain PyTorch.

Three details make this network differ from PySlowFast's SlowFast with the same depth, and each changes the
logits of an mmaction2 checkpoint:

* the slow pathway sees frames ``0, 4, 8, ...`` of the clip (nearest-neighbour subsampling), not a linspace;
* the fast-to-slow laterals are bare Conv3d (no norm, no activation, no bias), concatenated after the slow
  features;
* the head concatenates the pooled features as ``[fast, slow]``, so ``fc_cls.weight[:, :256]`` reads the fast
  pathway.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from actionzoo.models.mmaction2_layers import (
    Bottleneck,
    ConvModule,
    LinearHead,
    Recognizer,
    conv3d_bn,
)

SLOW_FRAME_STRIDE = 4  # mmaction2 ``resample_rate`` (tau): the slow pathway keeps one frame in four
SPEED_RATIO = 4  # ``speed_ratio`` (alpha): temporal stride of the laterals
CHANNEL_RATIO = 8  # ``channel_ratio`` (beta_inv): fast pathway width = slow width / 8
STAGE_BLOCKS = (3, 4, 6, 3)
STAGE_SPATIAL_STRIDES = (1, 2, 2, 2)
EXPANSION = 4
SLOW_WIDTH = 64
FAST_WIDTH = SLOW_WIDTH // CHANNEL_RATIO
LATERAL_KERNEL_T = 7  # slow ``fusion_kernel``
LATERAL_NAMES = ("conv1_lateral", "layer1_lateral", "layer2_lateral", "layer3_lateral")


def select_slow_frames(clip: Tensor, stride: int = SLOW_FRAME_STRIDE) -> Tensor:
    """Frames ``0, stride, 2*stride, ...`` of a (N, C, T, H, W) clip.

    mmaction2 gets them with ``interpolate(mode='nearest', scale_factor=1/stride)``, which picks source
    frame ``floor(i * stride)``; a strided slice selects the same frames and exports to ONNX as one Slice.
    """
    return clip[:, :, ::stride]


def _bottleneck3d(in_channels: int, planes: int, spatial_stride: int, temporal_kernel: int) -> Bottleneck:
    """mmaction2 ``Bottleneck3d`` in 'pytorch' style: the spatial stride sits on the (1, 3, 3) conv2.

    ``temporal_kernel`` is 3 for an inflated block ('3x1x1' style: the time extent goes to conv1) else 1.
    """
    out_channels = planes * EXPANSION
    conv1 = conv3d_bn(in_channels, planes, (temporal_kernel, 1, 1), padding=(temporal_kernel // 2, 0, 0))
    conv2 = conv3d_bn(planes, planes, (1, 3, 3), stride=(1, spatial_stride, spatial_stride), padding=(0, 1, 1))
    conv3 = conv3d_bn(planes, out_channels, 1, with_relu=False)
    downsample = None
    if spatial_stride != 1 or in_channels != out_channels:
        downsample = conv3d_bn(
            in_channels, out_channels, 1, stride=(1, spatial_stride, spatial_stride), with_relu=False
        )
    return Bottleneck(conv1, conv2, conv3, downsample)


def _lateral(fast_channels: int) -> ConvModule:
    """Fast-to-slow lateral: a bare time-strided Conv3d doubling the channels (mmaction2 gives it no BN/ReLU)."""
    conv = nn.Conv3d(
        fast_channels,
        2 * fast_channels,
        (LATERAL_KERNEL_T, 1, 1),
        stride=(SPEED_RATIO, 1, 1),
        padding=(LATERAL_KERNEL_T // 2, 0, 0),
        bias=False,
    )
    return ConvModule(conv, norm=None, with_relu=False)


class ResNet3dPathway(nn.Module):
    """One pathway of the SlowFast backbone: stem (conv1 + maxpool) and four residual stages.

    The slow pathway also owns the laterals (as in mmaction2, whose keys are ``slow_path.*_lateral``) and
    its stage inputs are widened by the lateral channels concatenated in front of each stage.
    """

    def __init__(
        self,
        width: int,
        stem_temporal_kernel: int,
        stage_temporal_kernels: tuple[int, int, int, int],
        lateral_source_channels: tuple[int, int, int, int] | None = None,
    ) -> None:
        """``lateral_source_channels``: fast-pathway widths after its stem and stages 1-3, for the slow pathway."""
        super().__init__()
        self.conv1 = conv3d_bn(
            3, width, (stem_temporal_kernel, 7, 7), stride=(1, 2, 2), padding=(stem_temporal_kernel // 2, 3, 3)
        )
        self.maxpool = nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
        lateral_widths = [2 * c for c in lateral_source_channels] if lateral_source_channels else [0] * 4
        in_channels = width
        for index, (blocks, spatial_stride, temporal_kernel) in enumerate(
            zip(STAGE_BLOCKS, STAGE_SPATIAL_STRIDES, stage_temporal_kernels)
        ):
            planes = width * 2**index
            first = _bottleneck3d(in_channels + lateral_widths[index], planes, spatial_stride, temporal_kernel)
            rest = [_bottleneck3d(planes * EXPANSION, planes, 1, temporal_kernel) for _ in range(blocks - 1)]
            self.add_module(f"layer{index + 1}", nn.Sequential(first, *rest))
            in_channels = planes * EXPANSION
        if lateral_source_channels is not None:
            for name, channels in zip(LATERAL_NAMES, lateral_source_channels):
                self.add_module(name, _lateral(channels))

    def stem(self, x: Tensor) -> Tensor:
        return self.maxpool(self.conv1(x))

    def stages(self) -> list[nn.Module]:
        return [self.layer1, self.layer2, self.layer3, self.layer4]

    def laterals(self) -> list[nn.Module]:
        """The laterals fed by the fast stem and fast stages 1-3 (none after stage 4); slow pathway only."""
        return [getattr(self, name) for name in LATERAL_NAMES]


class SlowFastBackbone(nn.Module):
    """``ResNet3dSlowFast``: one (N, 3, T, H, W) clip in, ``(slow, fast)`` feature maps out."""

    def __init__(self) -> None:
        super().__init__()
        fast_stage_widths = tuple(FAST_WIDTH * 2**i * EXPANSION for i in range(3))
        self.slow_path = ResNet3dPathway(
            SLOW_WIDTH,
            stem_temporal_kernel=1,
            stage_temporal_kernels=(1, 1, 3, 3),
            lateral_source_channels=(FAST_WIDTH, *fast_stage_widths),
        )
        self.fast_path = ResNet3dPathway(FAST_WIDTH, stem_temporal_kernel=5, stage_temporal_kernels=(3, 3, 3, 3))

    def forward(self, clip: Tensor) -> tuple[Tensor, Tensor]:
        # Other lengths make the slow frames and the strided laterals disagree in time (the reference fails
        # in its concatenation); under tracing the shape is fixed at export time, so the check is skipped.
        if not torch.jit.is_tracing() and clip.shape[2] % SLOW_FRAME_STRIDE != 0:
            raise ValueError(
                f"SlowFast needs a clip length divisible by {SLOW_FRAME_STRIDE} (the checkpoint expects 32 "
                f"frames); got an input of shape {tuple(clip.shape)}"
            )
        slow = self.slow_path.stem(select_slow_frames(clip))
        fast = self.fast_path.stem(clip)  # resample_rate // speed_ratio == 1: the fast pathway sees every frame
        # mmaction2 fuses after the stem and after stages 1-3, i.e. right before each slow stage; slow comes first.
        for slow_stage, fast_stage, lateral in zip(
            self.slow_path.stages(), self.fast_path.stages(), self.slow_path.laterals()
        ):
            slow = slow_stage(torch.cat([slow, lateral(fast)], dim=1))
            fast = fast_stage(fast)
        return slow, fast


class SlowFastHead(LinearHead):
    """``SlowFastHead``: average-pool each pathway, concatenate ``[fast, slow]``, classify.

    The reference head unpacks the backbone's ``(slow, fast)`` tuple into swapped names, so its classifier
    reads the 256 fast channels first; checkpoints are trained with that order.
    """

    def __init__(self, num_classes: int, in_channels: int = 2304, dropout_ratio: float = 0.5) -> None:
        super().__init__(in_channels, num_classes, dropout_ratio)
        self.avg_pool = nn.AdaptiveAvgPool3d(1)

    def forward(self, features: tuple[Tensor, Tensor]) -> Tensor:
        slow, fast = features
        pooled = torch.cat([self.avg_pool(fast), self.avg_pool(slow)], dim=1)
        return self.classify(pooled.flatten(1))


def slowfast_r50_mmaction2(num_classes: int = 400) -> nn.Module:
    """SlowFast R50 8x8x1 (mmaction2 @ 92e5517): (N, 3, 32, H, W) normalised clip -> (N, num_classes) logits."""
    return Recognizer(SlowFastBackbone(), SlowFastHead(num_classes))
