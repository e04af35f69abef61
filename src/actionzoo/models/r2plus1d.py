"""R(2+1)D R34 as mmaction2 builds it (``ResNet2Plus1d`` + ``I3DHead``), in plain PyTorch.

Every convolution of the backbone (stem, residual convs and shortcuts) is a ``Conv2plus1d``: a spatial
(1, kh, kw) conv, a BatchNorm, a ReLU and a temporal (kt, 1, 1) conv. Details that change the logits of a
checkpoint:

* the BatchNorm *inside* each Conv2plus1d (``bn_s``) uses eps 1e-5, while the outer ConvModule norms
  (``bn``) use the config's eps 1e-3;
* the hidden width comes from a formula with a hard-coded factor 3 (see :func:`conv2plus1d_mid_channels`),
  also for the 1x1x1 shortcuts;
* stages 2-4 halve time as well as space (temporal stride 2 on ``conv_t``): 8 frames -> 4 -> 2 -> 1.

The Ascend UCF-101 checkpoint keeps the 400-way classifier of the Kinetics base config.
"""

from __future__ import annotations

from torch import Tensor, nn

from actionzoo.models.mmaction2_layers import (
    BasicBlock,
    ConvModule,
    LinearHead,
    Recognizer,
    Size3d,
)

OUTER_BN_EPS = 1e-3  # the config's norm_cfg (SyncBN, eps=1e-3), used by every ConvModule norm
INNER_BN_EPS = 1e-5  # Conv2plus1d's own default norm (BN3d), which the config does not reach
STAGE_BLOCKS = (3, 4, 6, 3)
STAGE_STRIDES = (1, 2, 2, 2)  # both spatial and temporal
BASE_WIDTH = 64


def _as_triple(size: Size3d) -> tuple[int, int, int]:
    return (size, size, size) if isinstance(size, int) else size


def conv2plus1d_mid_channels(in_channels: int, out_channels: int, kernel_size: Size3d) -> int:
    """Width between the spatial and temporal convs: ``int(3*in*out*kh*kw / (in*kh*kw + 3*out))``.

    The 3 is mmaction2's constant, not the temporal kernel size: it is used for 1x1x1 convs too. The
    integer floor division equals the reference's float division followed by ``int`` for positive sizes.
    """
    _, kh, kw = _as_triple(kernel_size)
    return 3 * in_channels * out_channels * kh * kw // (in_channels * kh * kw + 3 * out_channels)


class Conv2plus1d(nn.Module):
    """(2+1)D factorised conv: ``conv_t(relu(bn_s(conv_s(x))))``; space is strided in conv_s, time in conv_t."""

    # mmaction2@acce52d ``Conv2plus1d`` builds ``bn_s`` as a plain BatchNorm3d whatever the
    # norm_cfg, so under the UCF-101 recipe's SyncBN it stays per-device: --sync-bn leaves it too.
    sync_bn = False

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: Size3d, stride: Size3d = 1, padding: Size3d = 0
    ) -> None:
        super().__init__()
        kt, kh, kw = _as_triple(kernel_size)
        st, sh, sw = _as_triple(stride)
        pt, ph, pw = _as_triple(padding)
        mid_channels = conv2plus1d_mid_channels(in_channels, out_channels, kernel_size)
        self.conv_s = nn.Conv3d(
            in_channels, mid_channels, (1, kh, kw), stride=(1, sh, sw), padding=(0, ph, pw), bias=False
        )
        self.bn_s = nn.BatchNorm3d(mid_channels, eps=INNER_BN_EPS)
        self.relu = nn.ReLU(inplace=True)
        self.conv_t = nn.Conv3d(
            mid_channels, out_channels, (kt, 1, 1), stride=(st, 1, 1), padding=(pt, 0, 0), bias=False
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.conv_t(self.relu(self.bn_s(self.conv_s(x))))


def conv2plus1d_bn(
    in_channels: int,
    out_channels: int,
    kernel_size: Size3d,
    stride: Size3d = 1,
    padding: Size3d = 0,
    *,
    with_relu: bool = True,
) -> ConvModule:
    """ConvModule(Conv2plus1d) with the outer BatchNorm3d (eps 1e-3) and optional ReLU."""
    conv = Conv2plus1d(in_channels, out_channels, kernel_size, stride, padding)
    return ConvModule(conv, nn.BatchNorm3d(out_channels, eps=OUTER_BN_EPS), with_relu)


def _basic_block(in_channels: int, planes: int, stride: int) -> BasicBlock:
    """mmaction2 ``BasicBlock3d`` (inflated): two 3x3x3 Conv2plus1d, the first strided in time and space."""
    conv1 = conv2plus1d_bn(in_channels, planes, 3, stride=stride, padding=1)
    conv2 = conv2plus1d_bn(planes, planes, 3, padding=1, with_relu=False)
    downsample = None
    if stride != 1 or in_channels != planes:
        downsample = conv2plus1d_bn(in_channels, planes, 1, stride=stride, with_relu=False)
    return BasicBlock(conv1, conv2, downsample)


class ResNet2Plus1dBackbone(nn.Module):
    """``ResNet2Plus1d`` depth 34: stem, max-pool, four stages; mmaction2 applies no ``pool2`` here."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = conv2plus1d_bn(3, BASE_WIDTH, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3))
        self.maxpool = nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
        in_channels = BASE_WIDTH
        for index, (blocks, stride) in enumerate(zip(STAGE_BLOCKS, STAGE_STRIDES)):
            planes = BASE_WIDTH * 2**index
            layer = [_basic_block(in_channels, planes, stride)]
            layer += [_basic_block(planes, planes, 1) for _ in range(blocks - 1)]
            self.add_module(f"layer{index + 1}", nn.Sequential(*layer))
            in_channels = planes

    def forward(self, clip: Tensor) -> Tensor:
        x = self.maxpool(self.conv1(clip))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class I3DHead(LinearHead):
    """``I3DHead``: global average pool over (T, H, W), dropout, ``fc_cls``."""

    def __init__(self, num_classes: int, in_channels: int = 512, dropout_ratio: float = 0.5) -> None:
        super().__init__(in_channels, num_classes, dropout_ratio)
        self.avg_pool = nn.AdaptiveAvgPool3d(1)

    def forward(self, features: Tensor) -> Tensor:
        return self.classify(self.avg_pool(features).flatten(1))


def r2plus1d_r34_mmaction2(num_classes: int = 400) -> nn.Module:
    """R(2+1)D R34 8x8x1 (mmaction2 @ acce52d): (N, 3, 8, H, W) normalised clip -> (N, num_classes) logits.

    ``num_classes`` stays 400 for the Ascend UCF-101 checkpoint, whose head was never resized.
    """
    return Recognizer(ResNet2Plus1dBackbone(), I3DHead(num_classes))
