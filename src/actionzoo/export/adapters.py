"""Export-only adapters: rewrites that only the ONNX exporter needs, kept out of the model code.

:func:`roi_align_as_onnx_op` swaps every :class:`~actionzoo.models.roi_align.RoIAlign` of a model
for a stand-in that computes the same numbers eagerly and traces to one standard ONNX ``RoiAlign``
node, for the duration of an export only. :func:`for_target` gives the form of a model a runtime
runs best: TSM lifted to 5D for OpenVINO (:class:`TSMAs3d`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor, nn

from actionzoo.models.roi_align import RoIAlign, roi_align

__all__ = ["ONNX_MIN_OPSET_ALIGNED", "OnnxRoIAlign", "roi_align_as_onnx_op", "TSMAs3d", "TimeShift3d",
           "for_target"]

ONNX_MIN_OPSET_ALIGNED = 16  # `coordinate_transformation_mode` (half_pixel) appeared in opset 16.


class _OnnxRoiAlignFunction(torch.autograd.Function):
    """Export-only bridge: computes with :func:`roi_align`, emits ONNX ``RoiAlign`` when traced.

    Used only inside :func:`roi_align_as_onnx_op` (never by a model's own code), so the models keep
    plain modules and the legacy TorchScript exporter still sees a single operator node.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: object,
        features: Tensor,
        boxes: Tensor,
        batch_indices: Tensor,
        pooled_h: int,
        pooled_w: int,
        spatial_scale: float,
        sampling_ratio: int,
        aligned: bool,
    ) -> Tensor:
        rois = torch.cat([batch_indices.to(boxes.dtype).unsqueeze(1), boxes], dim=1)
        return roi_align(features, rois, (pooled_h, pooled_w), spatial_scale, sampling_ratio, aligned)

    @staticmethod
    def symbolic(  # type: ignore[no-untyped-def]
        g,
        features,
        boxes,
        batch_indices,
        pooled_h: int,
        pooled_w: int,
        spatial_scale: float,
        sampling_ratio: int,
        aligned: bool,
    ):
        opset = getattr(g, "opset", None)
        if opset is not None and opset < ONNX_MIN_OPSET_ALIGNED:
            raise RuntimeError(
                f"ONNX RoiAlign with coordinate_transformation_mode needs opset >= {ONNX_MIN_OPSET_ALIGNED}, "
                f"got opset {opset}; pass opset_version={ONNX_MIN_OPSET_ALIGNED} or later to the exporter"
            )
        return g.op(
            "RoiAlign",
            features,
            boxes,
            batch_indices,
            coordinate_transformation_mode_s="half_pixel" if aligned else "output_half_pixel",
            mode_s="avg",
            output_height_i=pooled_h,
            output_width_i=pooled_w,
            sampling_ratio_i=sampling_ratio,
            spatial_scale_f=spatial_scale,
        )


class OnnxRoIAlign(nn.Module):
    """Export-time stand-in for :class:`RoIAlign`: same numbers, exported as one ONNX ``RoiAlign``.

    ONNX takes the batch index as a separate int64 input, so the ``(K, 5)`` RoI tensor is split here.
    """

    def __init__(self, source: RoIAlign) -> None:
        super().__init__()
        self.output_size = source.output_size
        self.spatial_scale = source.spatial_scale
        self.sampling_ratio = source.sampling_ratio
        self.aligned = source.aligned

    def forward(self, features: Tensor, rois: Tensor) -> Tensor:
        batch_indices = rois[:, 0].to(torch.int64)
        boxes = rois[:, 1:5].to(features.dtype)
        pooled_h, pooled_w = self.output_size
        return _OnnxRoiAlignFunction.apply(
            features,
            boxes,
            batch_indices,
            pooled_h,
            pooled_w,
            self.spatial_scale,
            self.sampling_ratio,
            self.aligned,
        )


def _roi_align_slots(model: nn.Module) -> list[tuple[nn.Module, str, RoIAlign]]:
    return [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if isinstance(child, RoIAlign)
    ]


@contextlib.contextmanager
def roi_align_as_onnx_op(model: nn.Module) -> Iterator[nn.Module]:
    """Temporarily replace every :class:`RoIAlign` in ``model`` by :class:`OnnxRoIAlign`.

    Use around ``torch.onnx.export(..., dynamo=False, opset_version>=16)``; the original modules are
    put back on exit, even if the export fails. Yields the (same) model.
    """
    slots = _roi_align_slots(model)
    for parent, name, child in slots:
        setattr(parent, name, OnnxRoIAlign(child))
    try:
        yield model
    finally:
        for parent, name, child in slots:
            setattr(parent, name, child)


# ------------------------------------------------------------------------- TSM for OpenVINO


class TimeShift3d(nn.Conv3d):
    """TSM's temporal shift on ``(N, C, T, H, W)``: a depthwise ``(3, 1, 1)`` convolution whose
    kernels are one-hot (channels ``[0, C/8)`` read frame t+1, ``[C/8, C/4)`` frame t-1, the rest
    frame t; zero padding at both ends, as the shift's zeros). Every output is one input times 1
    plus zeros, so the numbers are the shift's exactly."""

    def __init__(self, channels: int, shift_div: int) -> None:
        super().__init__(channels, channels, (3, 1, 1), padding=(1, 0, 0), groups=channels,
                         bias=False)
        fold = channels // shift_div
        weight = torch.zeros(channels, 1, 3, 1, 1)
        weight[:fold, 0, 2] = 1.0
        weight[fold : 2 * fold, 0, 0] = 1.0
        weight[2 * fold :, 0, 1] = 1.0
        with torch.no_grad():
            self.weight.copy_(weight)
        self.weight.requires_grad_(False)


def _lift_to_3d(module: nn.Module) -> nn.Module:
    """The same layer on ``(N, C, T, H, W)``: 2D convolutions and pools get a time extent of 1."""
    from actionzoo.models.tsm import TemporalShift

    if isinstance(module, nn.Conv2d):
        conv = nn.Conv3d(module.in_channels, module.out_channels, (1, *module.kernel_size),
                         (1, *module.stride), (0, *module.padding), (1, *module.dilation),
                         module.groups, module.bias is not None)
        with torch.no_grad():
            conv.weight.copy_(module.weight.unsqueeze(2))
            if module.bias is not None:
                conv.bias.copy_(module.bias)
        return conv
    if isinstance(module, nn.BatchNorm2d):
        norm = nn.BatchNorm3d(module.num_features, module.eps, module.momentum)
        norm.load_state_dict(module.state_dict())
        return norm.train(module.training)
    if isinstance(module, nn.MaxPool2d):
        k, s, p = (v if isinstance(v, tuple) else (v, v)
                   for v in (module.kernel_size, module.stride, module.padding))
        return nn.MaxPool3d((1, *k), (1, *s), (0, *p))
    if isinstance(module, TemporalShift):
        return nn.Sequential(TimeShift3d(module.net.in_channels, module.shift_div),
                             _lift_to_3d(module.net))
    for name, child in list(module.named_children()):
        setattr(module, name, _lift_to_3d(child))
    return module


class TSMAs3d(nn.Module):
    """Export-time stand-in for a TSM recognizer that keeps the clip as ``(N, C, T, H, W)``.

    TSM runs a 2D ResNet on ``(N*T, C, H, W)`` frames; its shift is slices and concatenations along
    channels, which make OpenVINO's CPU plugin reorder its blocked layouts around every bottleneck
    (a third of TSM's time in the exported graph). Lifted to 5D, the convolutions have a time
    extent of 1 (the same weights) and the shift becomes a depthwise convolution, which runs in the
    blocked layout at about the cost of one pass over the tensor. The head pools each frame, applies
    ``fc_cls`` and averages over the segments, as TSM's does. The outputs equal the 2D graph's up
    to float summation order.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        import copy

        self.backbone = _lift_to_3d(copy.deepcopy(model.backbone))
        self.fc_cls = copy.deepcopy(model.cls_head.fc_cls)
        self.num_segments = model.num_segments

    def forward(self, clip: Tensor) -> Tensor:
        features = self.backbone(clip)  # (N, 2048, T, h, w)
        pooled = features.mean(dim=(3, 4)).transpose(1, 2)  # (N, T, 2048)
        return self.fc_cls(pooled).mean(dim=1)


def for_target(model: nn.Module, target: str) -> nn.Module:
    """The module to trace for a runtime: TSM's 5D form for OpenVINO, the model itself otherwise."""
    from actionzoo.models.tsm import TSMRecognizer

    if target == "openvino" and isinstance(model, TSMRecognizer):
        return TSMAs3d(model).eval()
    return model
