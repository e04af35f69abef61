"""Export-only adapters: rewrites that only the ONNX exporter needs, kept out of the model code.

:func:`roi_align_as_onnx_op` swaps every :class:`~actionzoo.models.roi_align.RoIAlign` of a model
for a stand-in that computes the same numbers eagerly and traces to one standard ONNX ``RoiAlign``
node, for the duration of an export only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor, nn

from actionzoo.models.roi_align import RoIAlign, roi_align

__all__ = ["ONNX_MIN_OPSET_ALIGNED", "OnnxRoIAlign", "roi_align_as_onnx_op"]

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
