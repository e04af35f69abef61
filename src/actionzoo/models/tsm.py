"""TSM R50 as mmaction2 builds it (``ResNetTSM`` + ``TSMHead``), in plain PyTorch.

TSM is a 2D ResNet-50 run on every frame, made temporal by shifting an eighth of the channels one segment
forward and another eighth one segment backward before the first conv of each bottleneck's residual branch.
The shift is built from slices and ``torch.cat`` only: an in-place slice assignment would be exported to
ONNX as a constant. Details that change the logits of a checkpoint:

* the shift is on the residual branch of *every* bottleneck; the shortcut sees the unshifted input;
* channels ``[0, C/8)`` at segment t read segment t+1, channels ``[C/8, C/4)`` read segment t-1, zeros at
  the ends;
* the frames of one clip are consecutive rows of the frame batch (one shift group per clip);
* the wrapped conv is stored as ``conv1.conv.net`` in the checkpoints.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from actionzoo.models.mmaction2_layers import (
    Bottleneck,
    ConvModule,
    LinearHead,
    Recognizer,
    conv2d_bn,
)

SHIFT_DIV = 8  # 1/8 of the channels shift each way
STAGE_BLOCKS = (3, 4, 6, 3)
STAGE_STRIDES = (1, 2, 2, 2)
EXPANSION = 4
BASE_WIDTH = 64


def temporal_shift(frames: Tensor, num_segments: int, shift_div: int = SHIFT_DIV) -> Tensor:
    """Shift channels across time in a (N*num_segments, C, H, W) frame batch; consecutive rows form a clip.

    Channels ``[0, fold)`` of segment t take segment t+1's values (zeros at the last segment), channels
    ``[fold, 2*fold)`` take segment t-1's (zeros at the first); ``fold = C // shift_div``. The reference
    makes its zeros as ``x - x``; ``zeros_like`` is equal for every finite input and exports as cleanly.
    """
    rows, channels, height, width = frames.shape
    clips = frames.reshape(-1, num_segments, channels, height * width)
    fold = channels // shift_div
    from_next = clips[:, :, :fold]
    from_previous = clips[:, :, fold : 2 * fold]
    unshifted = clips[:, :, 2 * fold :]
    from_next = torch.cat([from_next[:, 1:], torch.zeros_like(from_next[:, :1])], dim=1)
    from_previous = torch.cat([torch.zeros_like(from_previous[:, :1]), from_previous[:, :-1]], dim=1)
    shifted = torch.cat([from_next, from_previous, unshifted], dim=2)
    return shifted.reshape(rows, channels, height, width)


class TemporalShift(nn.Module):
    """Shift the input in time, then apply the wrapped conv; the attribute name ``net`` is the checkpoint's."""

    def __init__(self, net: nn.Module, num_segments: int, shift_div: int = SHIFT_DIV) -> None:
        super().__init__()
        self.net = net
        self.num_segments = num_segments
        self.shift_div = shift_div

    def forward(self, frames: Tensor) -> Tensor:
        return self.net(temporal_shift(frames, self.num_segments, self.shift_div))


def _shifted_bottleneck(in_channels: int, planes: int, stride: int, num_segments: int) -> Bottleneck:
    """mmaction2 2D ``Bottleneck`` ('pytorch' style: stride on the 3x3) with TSM's shift inside conv1."""
    out_channels = planes * EXPANSION
    conv1 = conv2d_bn(in_channels, planes, 1)
    conv1.conv = TemporalShift(conv1.conv, num_segments)
    conv2 = conv2d_bn(planes, planes, 3, stride=stride, padding=1)
    conv3 = conv2d_bn(planes, out_channels, 1, with_relu=False)
    downsample: ConvModule | None = None
    if stride != 1 or in_channels != out_channels:
        downsample = conv2d_bn(in_channels, out_channels, 1, stride=stride, with_relu=False)
    return Bottleneck(conv1, conv2, conv3, downsample)


class ResNetTSMBackbone(nn.Module):
    """``ResNetTSM`` depth 50 with ``shift_place='blockres'``: a frame-wise ResNet-50, shift in every block."""

    def __init__(self, num_segments: int) -> None:
        super().__init__()
        self.conv1 = conv2d_bn(3, BASE_WIDTH, 7, stride=2, padding=3)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        in_channels = BASE_WIDTH
        for index, (blocks, stride) in enumerate(zip(STAGE_BLOCKS, STAGE_STRIDES)):
            planes = BASE_WIDTH * 2**index
            layer = [_shifted_bottleneck(in_channels, planes, stride, num_segments)]
            layer += [_shifted_bottleneck(planes * EXPANSION, planes, 1, num_segments) for _ in range(blocks - 1)]
            self.add_module(f"layer{index + 1}", nn.Sequential(*layer))
            in_channels = planes * EXPANSION

    def forward(self, frames: Tensor) -> Tensor:
        x = self.maxpool(self.conv1(frames))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class TSMHead(LinearHead):
    """``TSMHead``: per-frame average pool and ``fc_cls``, then the mean of the logits over each clip's segments.

    The grouping uses ``num_segments``, not the number of frames fed, exactly as the reference reshape does.
    """

    def __init__(
        self, num_classes: int, num_segments: int, in_channels: int = 2048, dropout_ratio: float = 0.5
    ) -> None:
        super().__init__(in_channels, num_classes, dropout_ratio)
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.num_segments = num_segments

    def forward(self, features: Tensor) -> Tensor:
        frame_logits = self.classify(self.avg_pool(features).flatten(1))
        return frame_logits.reshape(-1, self.num_segments, frame_logits.shape[1]).mean(dim=1)


class TSMRecognizer(Recognizer):
    """Takes (N, C, T, H, W) clips like the other models and hands TSM its (N*T, C, H, W) frame batch.

    The frames of one clip become consecutive rows, which is how mmaction2's ``Recognizer2D`` lays them out
    and what the shift groups rely on.
    """

    def __init__(self, num_classes: int, num_segments: int) -> None:
        super().__init__(ResNetTSMBackbone(num_segments), TSMHead(num_classes, num_segments))
        self.num_segments = num_segments

    def forward(self, clip: Tensor) -> Tensor:
        # Under tracing the shape is fixed at export time; checking it there only yields a TracerWarning.
        if not torch.jit.is_tracing() and (clip.dim() != 5 or clip.shape[2] != self.num_segments):
            raise ValueError(
                f"TSM expects a (N, C, {self.num_segments}, H, W) clip of {self.num_segments} segments; "
                f"got shape {tuple(clip.shape)}. Feed more views as more rows of N."
            )
        batch, channels, segments, height, width = clip.shape
        frames = clip.transpose(1, 2).reshape(batch * segments, channels, height, width)
        return self.cls_head(self.backbone(frames))


def tsm_r50_mmaction2(num_classes: int = 174, num_segments: int = 8) -> nn.Module:
    """TSM R50 1x1x8 (mmaction2 @ 5fa8faa): (N, 3, num_segments, H, W) normalised clip -> (N, num_classes).

    The logits are the average over the clip's segments (mmaction2's ``AvgConsensus``), one row per clip.
    """
    return TSMRecognizer(num_classes, num_segments)
