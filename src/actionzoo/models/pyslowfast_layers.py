"""Building blocks shared by the PySlowFast networks (SlowFast R50 and X3D-S).

PySlowFast checkpoints (``.pyth`` and converted Caffe2 ``.pkl``) name tensors after its module tree:
stages ``s1``..``s5``; inside a stage one child per pathway and block, ``pathway{p}_res{i}``; inside a
block the shortcut ``branch1`` / ``branch1_bn`` and the residual transform ``branch2`` with children
``a``, ``a_bn``, ``b``, ``b_bn``, ``c``, ``c_bn``. The classes here reproduce those attribute names (and
their registration order, which is the state-dict order) with plain PyTorch modules.

Every BatchNorm is ``BatchNorm3d(eps=1e-5, momentum=0.1)``, PySlowFast's ``batchnorm`` norm type.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

BN_EPS = 1e-5
BN_MOMENTUM = 0.1

Triple = tuple[int, int, int]


def batch_norm_3d(channels: int) -> nn.BatchNorm3d:
    """The one BatchNorm configuration PySlowFast uses for these models."""
    return nn.BatchNorm3d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class ResNetStem(nn.Module):
    """``VideoModelStem`` pathway: Conv3d (no bias) -> BN -> ReLU -> 1x3x3 max-pool with stride 1x2x2.

    The temporal kernel is pathway specific (1 for SlowFast's slow pathway, 5 for its fast pathway);
    padding is ``k // 2`` on every axis so only the stride changes the size.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: Triple) -> None:
        super().__init__()
        self.conv = nn.Conv3d(
            in_channels,
            out_channels,
            kernel,
            stride=(1, 2, 2),
            padding=tuple(k // 2 for k in kernel),
            bias=False,
        )
        self.bn = batch_norm_3d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.pool_layer = nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.pool_layer(self.relu(self.bn(self.conv(x))))


class BottleneckTransform(nn.Module):
    """ResNet bottleneck ``Tx1x1 -> 1x3x3 -> 1x1x1`` (PySlowFast ``bottleneck_transform``).

    The temporal kernel sits in the first conv ``a`` (padding ``T // 2``); the spatial stride and the
    dilation sit in the 3x3 conv ``b`` (``STRIDE_1X1 False``), whose padding equals the dilation so a
    dilated res5 keeps its size.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        inner_channels: int,
        temporal_kernel: int,
        spatial_stride: int,
        dilation: int = 1,
    ) -> None:
        super().__init__()
        self.a = nn.Conv3d(
            in_channels,
            inner_channels,
            (temporal_kernel, 1, 1),
            padding=(temporal_kernel // 2, 0, 0),
            bias=False,
        )
        self.a_bn = batch_norm_3d(inner_channels)
        self.a_relu = nn.ReLU(inplace=True)
        self.b = nn.Conv3d(
            inner_channels,
            inner_channels,
            (1, 3, 3),
            stride=(1, spatial_stride, spatial_stride),
            padding=(0, dilation, dilation),
            dilation=(1, dilation, dilation),
            bias=False,
        )
        self.b_bn = batch_norm_3d(inner_channels)
        self.b_relu = nn.ReLU(inplace=True)
        self.c = nn.Conv3d(inner_channels, out_channels, 1, bias=False)
        self.c_bn = batch_norm_3d(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        x = self.a_relu(self.a_bn(self.a(x)))
        x = self.b_relu(self.b_bn(self.b(x)))
        return self.c_bn(self.c(x))


class ResBlock(nn.Module):
    """Residual block ``relu(shortcut(x) + branch2(x))`` around any residual transform ``branch2``.

    The shortcut is a projection (``branch1``: 1x1x1 conv with the block's spatial stride, then
    ``branch1_bn``) exactly when the channel count or the resolution changes, as in PySlowFast;
    otherwise it is the identity. ``branch1`` is created before ``branch2`` is attached because that
    is the reference's registration order, and so the checkpoint's key order.
    """

    def __init__(self, in_channels: int, out_channels: int, spatial_stride: int, branch2: nn.Module) -> None:
        super().__init__()
        self.branch1: nn.Conv3d | None = None
        self.branch1_bn: nn.BatchNorm3d | None = None
        if in_channels != out_channels or spatial_stride != 1:
            self.branch1 = nn.Conv3d(
                in_channels, out_channels, 1, stride=(1, spatial_stride, spatial_stride), bias=False
            )
            self.branch1_bn = batch_norm_3d(out_channels)
        self.branch2 = branch2
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        if self.branch1 is not None and self.branch1_bn is not None:
            shortcut = self.branch1_bn(self.branch1(x))
        else:
            shortcut = x
        return self.relu(shortcut + self.branch2(x))


def bottleneck_blocks(
    num_blocks: int,
    in_channels: int,
    out_channels: int,
    inner_channels: int,
    temporal_kernel: int,
    spatial_stride: int,
    dilation: int = 1,
) -> list[ResBlock]:
    """One pathway of a ResNet stage: the stride and the width change happen in block 0 only."""
    blocks = []
    for index in range(num_blocks):
        block_in = in_channels if index == 0 else out_channels
        stride = spatial_stride if index == 0 else 1
        transform = BottleneckTransform(
            block_in, out_channels, inner_channels, temporal_kernel, stride, dilation
        )
        blocks.append(ResBlock(block_in, out_channels, stride, transform))
    return blocks


class PathwayStage(nn.Module):
    """A residual stage over one or more pathways (``ResStage``): blocks named ``pathway{p}_res{i}``.

    All blocks of pathway 0 are registered before those of pathway 1, matching the reference key order.
    The forward takes and returns one tensor per pathway; pathways do not interact inside a stage.
    """

    def __init__(self, pathways: Sequence[Sequence[nn.Module]]) -> None:
        super().__init__()
        self.blocks_per_pathway = [len(blocks) for blocks in pathways]
        for pathway, blocks in enumerate(pathways):
            for index, block in enumerate(blocks):
                self.add_module(f"pathway{pathway}_res{index}", block)

    def forward(self, inputs: list[Tensor]) -> list[Tensor]:
        if len(inputs) != len(self.blocks_per_pathway):
            raise ValueError(f"expected {len(self.blocks_per_pathway)} pathway tensors, got {len(inputs)}")
        outputs = []
        for pathway, x in enumerate(inputs):
            for index in range(self.blocks_per_pathway[pathway]):
                x = getattr(self, f"pathway{pathway}_res{index}")(x)
            outputs.append(x)
        return outputs
