"""X3D-S as PySlowFast builds it (``configs/Kinetics/X3D_S.yaml``), the network of ``x3d_s.pyth``.

Facts that change the output (PySlowFast@9839d13 ``slowfast/models/video_model_builder.py``
``X3D``, ``head_helper.X3DHead``, ``stem_helper``, ``resnet_helper``):

* the stem has no max-pool: a 1x3x3 stride-2 conv, then a depthwise 5x1x1 conv, BN, ReLU;
* every block is 1x1x1 -> channel-wise 3x3x3 -> [SE] -> Swish -> 1x1x1; the SE (squeeze-excitation)
  sits on the BN output, *before* the Swish, and only in blocks with an even index within a stage;
* the head is ``conv_5`` (+BN, ReLU) -> AvgPool3d fixed at [13, 5, 5] by the *train* crop 160 ->
  ``lin_5`` (no bias, no BN) -> ReLU -> Linear at every remaining position. In eval mode the softmax is
  taken at each position and averaged, so the 182 test crop (a 6x6 res5 map, 2x2 positions) yields the
  mean of four softmax vectors; the model never returns logits in eval mode.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from actionzoo.models.pyslowfast_layers import PathwayStage, ResBlock, batch_norm_3d

NUM_FRAMES = 13
TRAIN_CROP_SIZE = 160
WIDTH_FACTOR = 2.0
DEPTH_FACTOR = 2.2
BOTTLENECK_FACTOR = 2.25
DIM_C1 = 12
DIM_C5 = 2048
SE_RATIO = 0.0625
BASE_BLOCKS = (1, 2, 5, 3)  # res2..res5 before the depth factor
DROPOUT_RATE = 0.5


def round_width(width: float, multiplier: float, min_width: int = 1, divisor: int = 1) -> int:
    """PySlowFast's channel rounding: nearest multiple of ``divisor``, never below 90% of the target."""
    target = width * multiplier
    rounded = max(min_width, int(target + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * target:
        rounded += divisor
    return int(rounded)


def round_repeats(repeats: int, multiplier: float) -> int:
    """Blocks per stage after the depth expansion (always rounded up)."""
    return int(math.ceil(multiplier * repeats))


class Swish(nn.Module):
    """``x * sigmoid(x)`` written out, not as a custom autograd function, so it exports as two ops."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(x)


class SqueezeExcitation(nn.Module):
    """Channel gating: global average -> 1x1x1 conv (bias) -> ReLU -> 1x1x1 conv (bias) -> sigmoid."""

    def __init__(self, channels: int, ratio: float = SE_RATIO) -> None:
        super().__init__()
        reduced = round_width(channels, ratio, min_width=8, divisor=8)
        self.avg_pool = nn.AdaptiveAvgPool3d(1)
        self.fc1 = nn.Conv3d(channels, reduced, 1, bias=True)
        self.fc1_act = nn.ReLU()
        self.fc2 = nn.Conv3d(reduced, channels, 1, bias=True)
        self.fc2_sig = nn.Sigmoid()

    def forward(self, x: Tensor) -> Tensor:
        gate = self.fc2_sig(self.fc2(self.fc1_act(self.fc1(self.avg_pool(x)))))
        return x * gate


class X3DTransform(nn.Module):
    """X3D residual branch; children run in registration order, which puts the SE before the Swish."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        inner_channels: int,
        spatial_stride: int,
        use_se: bool,
    ) -> None:
        super().__init__()
        self.a = nn.Conv3d(in_channels, inner_channels, 1, bias=False)
        self.a_bn = batch_norm_3d(inner_channels)
        self.a_relu = nn.ReLU(inplace=True)
        self.b = nn.Conv3d(
            inner_channels,
            inner_channels,
            (3, 3, 3),
            stride=(1, spatial_stride, spatial_stride),
            padding=(1, 1, 1),
            groups=inner_channels,
            bias=False,
        )
        self.b_bn = batch_norm_3d(inner_channels)
        self.se = SqueezeExcitation(inner_channels) if use_se else None
        self.b_relu = Swish()
        self.c = nn.Conv3d(inner_channels, out_channels, 1, bias=False)
        self.c_bn = batch_norm_3d(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        x = self.a_relu(self.a_bn(self.a(x)))
        x = self.b_bn(self.b(x))
        if self.se is not None:
            x = self.se(x)
        x = self.b_relu(x)
        return self.c_bn(self.c(x))


class X3DStem(nn.Module):
    """Spatial 1x3x3 stride-2 conv (``conv_xy``), depthwise temporal 5x1x1 conv (``conv``), BN, ReLU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv_xy = nn.Conv3d(
            in_channels, out_channels, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1), bias=False
        )
        self.conv = nn.Conv3d(
            out_channels, out_channels, (5, 1, 1), padding=(2, 0, 0), groups=out_channels, bias=False
        )
        self.bn = batch_norm_3d(out_channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.bn(self.conv(self.conv_xy(x))))


class StemStage(nn.Module):
    """Holds the single pathway stem so that its keys read ``s1.pathway0_stem.*``."""

    def __init__(self, stem: nn.Module) -> None:
        super().__init__()
        self.pathway0_stem = stem

    def forward(self, x: Tensor) -> Tensor:
        return self.pathway0_stem(x)


class X3DHead(nn.Module):
    """``conv_5``/BN/ReLU, fixed average pool, ``lin_5``/ReLU, per-position classifier.

    Eval mode: softmax over classes at each remaining (t, h, w) position, then the mean over positions
    -> (N, classes) probabilities. Train mode: the reference flattens the per-position logits as
    (N, T'*H'*W'*classes), which is (N, classes) at the train crop, and that is returned unchanged.
    """

    def __init__(
        self,
        in_channels: int,
        inner_channels: int,
        out_channels: int,
        num_classes: int,
        pool_size: tuple[int, int, int],
    ) -> None:
        super().__init__()
        self.conv_5 = nn.Conv3d(in_channels, inner_channels, 1, bias=False)
        self.conv_5_bn = batch_norm_3d(inner_channels)
        self.conv_5_relu = nn.ReLU(inplace=True)
        self.avg_pool = nn.AvgPool3d(pool_size, stride=1)
        self.lin_5 = nn.Conv3d(inner_channels, out_channels, 1, bias=False)
        self.lin_5_relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(DROPOUT_RATE)
        self.projection = nn.Linear(out_channels, num_classes, bias=True)

    def forward(self, x: Tensor) -> Tensor:
        x = self.avg_pool(self.conv_5_relu(self.conv_5_bn(self.conv_5(x))))
        x = self.lin_5_relu(self.lin_5(x))
        x = self.projection(self.dropout(x.permute(0, 2, 3, 4, 1)))  # (N, T', H', W', classes)
        if not self.training:
            x = torch.softmax(x, dim=4).mean(dim=(1, 2, 3))
        return x.flatten(1)


class X3D(nn.Module):
    """PySlowFast's single-pathway X3D: ``s1`` stem, ``s2``..``s5`` stages, ``head``."""

    def __init__(
        self,
        stem_channels: int,
        stage_channels: tuple[int, ...],
        stage_inner_channels: tuple[int, ...],
        stage_blocks: tuple[int, ...],
        head_channels: int,
        num_classes: int,
        head_pool_size: tuple[int, int, int],
    ) -> None:
        super().__init__()
        self.s1 = StemStage(X3DStem(3, stem_channels))
        in_channels = stem_channels
        for stage, (out_channels, inner, blocks) in enumerate(
            zip(stage_channels, stage_inner_channels, stage_blocks, strict=True), start=2
        ):
            stage_blocks_list = []
            for index in range(blocks):
                block_in = in_channels if index == 0 else out_channels
                stride = 2 if index == 0 else 1
                transform = X3DTransform(block_in, out_channels, inner, stride, use_se=index % 2 == 0)
                stage_blocks_list.append(ResBlock(block_in, out_channels, stride, transform))
            self.add_module(f"s{stage}", PathwayStage([stage_blocks_list]))
            in_channels = out_channels
        self.head = X3DHead(
            in_channels, stage_inner_channels[-1], head_channels, num_classes, head_pool_size
        )

    def forward(self, x: Tensor) -> Tensor:
        """(N, 3, 13, H, W) normalised clip -> (N, classes); eval: position-averaged probabilities."""
        x = self.s1(x)
        features = [x]
        for stage in (self.s2, self.s3, self.s4, self.s5):
            features = stage(features)
        return self.head(features[0])


def x3d_s_pyslowfast(num_classes: int = 400) -> nn.Module:
    """X3D-S of PySlowFast (``x3d_s.pyth``): 3.79 M parameters, input (N, 3, 13, H, W) with H, W >= 129.

    Widths follow the reference's rounding: stem ``round_width(12, 2.0) = 24``; stage outputs
    ``round_width(12 * 2**i, 2.0, divisor=8)`` = 24, 48, 96, 192; inner widths ``int(2.25 * out)`` =
    54, 108, 216, 432; blocks ``ceil(2.2 * (1, 2, 5, 3))`` = 3, 5, 11, 7. The head pool is
    ``[13, ceil(160 / 32), ceil(160 / 32)]`` whatever the test crop.
    """
    stem_channels = round_width(DIM_C1, WIDTH_FACTOR)
    stage_channels = tuple(round_width(DIM_C1 * 2**i, WIDTH_FACTOR, divisor=8) for i in range(4))
    stage_inner = tuple(int(BOTTLENECK_FACTOR * width) for width in stage_channels)
    stage_blocks = tuple(round_repeats(blocks, DEPTH_FACTOR) for blocks in BASE_BLOCKS)
    spatial_pool = int(math.ceil(TRAIN_CROP_SIZE / 32.0))
    return X3D(
        stem_channels=stem_channels,
        stage_channels=stage_channels,
        stage_inner_channels=stage_inner,
        stage_blocks=stage_blocks,
        head_channels=DIM_C5,
        num_classes=num_classes,
        head_pool_size=(NUM_FRAMES, spatial_pool, spatial_pool),
    )
