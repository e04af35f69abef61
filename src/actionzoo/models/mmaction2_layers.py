"""Building blocks shared by the three mmaction2 recognizers (SlowFast, R(2+1)D, TSM).

mmaction2 checkpoints name their tensors after mmcv's module tree: a recognizer owns ``backbone`` and
``cls_head``; every convolution sits in a ``ConvModule`` whose children are ``conv`` and ``bn``; residual
blocks own ``conv1``, ``conv2`` (``conv3``) and ``downsample``. These blocks reproduce those attribute
names, and therefore the state-dict keys, with plain PyTorch modules and no mmcv dependency.
"""

from __future__ import annotations

from torch import Tensor, nn

Size3d = int | tuple[int, int, int]


class ConvModule(nn.Module):
    """A convolution, an optional batch norm and an optional ReLU, named like mmcv's ``ConvModule``.

    The attribute names ``conv`` / ``bn`` are what make the checkpoint keys ``<name>.conv.weight`` and
    ``<name>.bn.*``; a module built without a norm (SlowFast's laterals) holds only ``conv.weight``.
    The ReLU is stored as ``activate`` because that is mmcv's name for it; it has no state.
    """

    def __init__(self, conv: nn.Module, norm: nn.Module | None = None, with_relu: bool = True) -> None:
        super().__init__()
        self.conv = conv
        self.bn = norm
        self.activate = nn.ReLU(inplace=True) if with_relu else None

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        if self.activate is not None:
            x = self.activate(x)
        return x


def conv3d_bn(
    in_channels: int,
    out_channels: int,
    kernel_size: Size3d,
    stride: Size3d = 1,
    padding: Size3d = 0,
    *,
    with_relu: bool = True,
) -> ConvModule:
    """Bias-free Conv3d + BatchNorm3d (+ ReLU): mmcv's ``bias='auto'`` drops the bias when a norm follows."""
    conv = nn.Conv3d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)
    return ConvModule(conv, nn.BatchNorm3d(out_channels), with_relu)


def conv2d_bn(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    *,
    with_relu: bool = True,
) -> ConvModule:
    """Bias-free Conv2d + BatchNorm2d (+ ReLU), the 2D counterpart of :func:`conv3d_bn`."""
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)
    return ConvModule(conv, nn.BatchNorm2d(out_channels), with_relu)


class Bottleneck(nn.Module):
    """ResNet bottleneck: ``relu(conv3(conv2(conv1(x))) + shortcut(x))``.

    The three ConvModules are built by the caller because the models differ only in them (3D kernels for
    SlowFast, a temporal shift wrapped around TSM's ``conv1.conv``); ``conv3`` must carry no ReLU.
    Registration order conv1, conv2, conv3, downsample matches the reference state dicts.
    """

    def __init__(
        self, conv1: ConvModule, conv2: ConvModule, conv3: ConvModule, downsample: ConvModule | None
    ) -> None:
        super().__init__()
        self.conv1 = conv1
        self.conv2 = conv2
        self.conv3 = conv3
        self.downsample = downsample
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.conv3(self.conv2(self.conv1(x)))
        return self.relu(out + shortcut)


class BasicBlock(nn.Module):
    """ResNet basic block: ``relu(conv2(conv1(x)) + shortcut(x))``; ``conv2`` must carry no ReLU."""

    def __init__(self, conv1: ConvModule, conv2: ConvModule, downsample: ConvModule | None) -> None:
        super().__init__()
        self.conv1 = conv1
        self.conv2 = conv2
        self.downsample = downsample
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv2(self.conv1(x)) + shortcut)


class LinearHead(nn.Module):
    """Base of the mmaction2 heads: dropout then ``fc_cls`` (the name the checkpoints use).

    Subclasses pool their backbone features and call :meth:`classify`; the attributes live on the head
    itself so that the keys read ``cls_head.fc_cls.*``. Dropout is an identity in eval mode; it is kept so
    that fine-tuning behaves like the reference.
    """

    def __init__(self, in_features: int, num_classes: int, dropout_ratio: float = 0.5) -> None:
        super().__init__()
        self.dropout = nn.Dropout(p=dropout_ratio)
        self.fc_cls = nn.Linear(in_features, num_classes)

    def classify(self, features: Tensor) -> Tensor:
        """(rows, in_features) pooled features -> (rows, num_classes) logits."""
        return self.fc_cls(self.dropout(features))


class Recognizer(nn.Module):
    """``cls_head(backbone(x))`` under the names that give the keys their ``backbone.`` / ``cls_head.`` prefixes.

    It mirrors mmaction2's ``forward_dummy`` (one tensor in, per-view logits out, no view averaging);
    averaging views into a video score is the caller's protocol, not the network's.
    """

    def __init__(self, backbone: nn.Module, cls_head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.cls_head = cls_head

    def forward(self, x: Tensor) -> Tensor:
        return self.cls_head(self.backbone(x))

