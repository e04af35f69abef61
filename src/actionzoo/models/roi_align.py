"""RoIAlign in plain PyTorch, with detectron2 / torchvision semantics, and its ONNX export mapping.

torchvision cannot be imported next to the CPU torch build this project uses, and PySlowFast's AVA head
calls detectron2's ``ROIAlign``; this module reproduces that operator's C++ kernel rule by rule:

* box corners are multiplied by ``spatial_scale`` and, with ``aligned=True``, shifted by -0.5 so that a
  continuous coordinate ``c`` interpolates between pixels ``floor(c - 0.5)`` and ``ceil(c - 0.5)``;
  with ``aligned=False`` the RoI size is instead clamped to at least one feature-map pixel;
* each of the ``PH x PW`` output bins averages a ``grid_h x grid_w`` lattice of bilinear samples, where
  ``sampling_ratio=0`` means an adaptive ``ceil(roi_size / bins)`` samples per bin and axis;
* a sample lying outside ``[-1, H] x [-1, W]`` contributes 0 (but still counts in the average); a sample
  inside is clamped to the map (``<= 0`` becomes 0, ``>= size - 1`` reads the last row / column only).

Bilinear sampling on a lattice is separable: the weight of pixel ``(r, s)`` for the sample ``(y, x)`` is
``wy(r) * wx(s)``, and "outside the map" is likewise ``outside_y or outside_x``. So every output bin
is ``Ay @ F @ Ax^T`` with a per-RoI row-weight matrix ``Ay`` (PH x H) and column-weight matrix ``Ax``
(PW x W). That keeps the whole operator to a few batched matrix products instead of a Python loop.

The eager operator reads the largest sampling grid back to Python (the grid is data dependent), which a
tracer would freeze into a constant. Models therefore keep the plain :class:`RoIAlign`, and the
exporter swaps it for the standard ONNX ``RoiAlign`` operator with :func:`roi_align_as_onnx_op`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _axis_weights(
    start: Tensor,
    bin_size: Tensor,
    grid: Tensor,
    num_bins: int,
    max_grid: int,
    size: int,
) -> Tensor:
    """Per-RoI interpolation weights along one axis, summed over that axis' samples of each bin.

    ``start``, ``bin_size`` and ``grid`` are ``(K,)``; the result is ``(K, num_bins, size)`` where entry
    ``[k, b, i]`` is the total bilinear weight that the samples of bin ``b`` put on pixel ``i``. Samples
    beyond a RoI's own grid (RoIs share the lattice of the largest grid) and samples outside
    ``[-1, size]`` get weight 0.
    """
    dtype = start.dtype
    bins = torch.arange(num_bins, device=start.device, dtype=dtype).view(1, num_bins, 1)
    steps = torch.arange(max_grid, device=start.device, dtype=dtype).view(1, 1, max_grid)
    start, bin_size, grid = (t.view(-1, 1, 1) for t in (start, bin_size, grid))
    grid_float = grid.to(dtype)
    # Same operation order as the C++ kernel: start + bin * bin_size + (step + 0.5) * bin_size / grid.
    coords = start + bins * bin_size + (steps + 0.5) * bin_size / grid_float.clamp(min=1)
    inside = (coords >= -1.0) & (coords <= float(size)) & (steps < grid_float)

    coords = coords.clamp(min=0.0)
    low = coords.floor().to(torch.int64)
    at_edge = low >= size - 1
    low = torch.where(at_edge, torch.full_like(low, size - 1), low)
    high = torch.where(at_edge, low, low + 1)
    coords = torch.where(at_edge, low.to(dtype), coords)
    frac_high = coords - low.to(dtype)
    frac_low = 1.0 - frac_high

    pixels = torch.arange(size, device=start.device).view(1, 1, 1, size)
    weight = (pixels == low.unsqueeze(-1)).to(dtype) * frac_low.unsqueeze(-1) + (
        pixels == high.unsqueeze(-1)
    ).to(dtype) * frac_high.unsqueeze(-1)
    weight = weight * inside.unsqueeze(-1).to(dtype)
    return weight.sum(dim=2)


def roi_align(
    features: Tensor,
    rois: Tensor,
    output_size: tuple[int, int] = (7, 7),
    spatial_scale: float = 1.0 / 16,
    sampling_ratio: int = 0,
    aligned: bool = True,
) -> Tensor:
    """Average RoIAlign of ``features`` (N, C, H, W) over ``rois`` (K, 5) -> (K, C, PH, PW).

    Each RoI row is ``(batch_index, x1, y1, x2, y2)`` in input-image pixels; ``spatial_scale`` maps
    them to feature-map pixels. Semantics are those of detectron2 ``ROIAlign`` / torchvision
    ``roi_align`` (see the module docstring). ``K = 0`` gives an empty ``(0, C, PH, PW)`` result.
    """
    if features.dim() != 4:
        raise ValueError(f"roi_align expects features of shape (N, C, H, W), got {tuple(features.shape)}")
    if rois.dim() != 2 or rois.shape[1] != 5:
        raise ValueError(f"roi_align expects rois of shape (K, 5), got {tuple(rois.shape)}")
    _, channels, height, width = features.shape
    pooled_h, pooled_w = output_size
    num_rois = rois.shape[0]
    if num_rois == 0:
        return features.new_zeros((0, channels, pooled_h, pooled_w))

    rois = rois.to(features.dtype)
    offset = 0.5 if aligned else 0.0
    x1 = rois[:, 1] * spatial_scale - offset
    y1 = rois[:, 2] * spatial_scale - offset
    roi_w = (rois[:, 3] * spatial_scale - offset) - x1
    roi_h = (rois[:, 4] * spatial_scale - offset) - y1
    if not aligned:
        # The legacy (misaligned) kernel forces malformed RoIs to one feature-map pixel.
        roi_w = roi_w.clamp(min=1.0)
        roi_h = roi_h.clamp(min=1.0)
    bin_h = roi_h / pooled_h
    bin_w = roi_w / pooled_w
    if sampling_ratio > 0:
        grid_h = torch.full_like(bin_h, sampling_ratio, dtype=torch.int64)
        grid_w = torch.full_like(bin_w, sampling_ratio, dtype=torch.int64)
    else:
        grid_h = torch.ceil(bin_h).to(torch.int64)
        grid_w = torch.ceil(bin_w).to(torch.int64)
    # An empty or inverted RoI has a grid <= 0: no samples, output 0 (as in the C++ loops).
    max_grid_h = max(int(grid_h.max()), 1)
    max_grid_w = max(int(grid_w.max()), 1)

    row_weights = _axis_weights(y1, bin_h, grid_h, pooled_h, max_grid_h, height)  # (K, PH, H)
    col_weights = _axis_weights(x1, bin_w, grid_w, pooled_w, max_grid_w, width)  # (K, PW, W)
    count = (grid_h * grid_w).clamp(min=1).to(features.dtype).view(-1, 1, 1, 1)

    per_roi = features.index_select(0, rois[:, 0].to(torch.int64))  # (K, C, H, W)
    pooled = torch.matmul(row_weights.unsqueeze(1), per_roi)  # (K, C, PH, W)
    pooled = torch.matmul(pooled, col_weights.transpose(1, 2).unsqueeze(1))  # (K, C, PH, PW)
    return pooled / count


class RoIAlign(nn.Module):
    """detectron2's ``ROIAlign`` as a stateless module (no parameters, no buffers)."""

    def __init__(
        self,
        output_size: int | tuple[int, int],
        spatial_scale: float,
        sampling_ratio: int = 0,
        aligned: bool = True,
    ) -> None:
        super().__init__()
        self.output_size = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
        self.spatial_scale = float(spatial_scale)
        self.sampling_ratio = int(sampling_ratio)
        self.aligned = bool(aligned)

    def forward(self, features: Tensor, rois: Tensor) -> Tensor:
        return roi_align(
            features, rois, self.output_size, self.spatial_scale, self.sampling_ratio, self.aligned
        )

    def extra_repr(self) -> str:
        return (
            f"output_size={self.output_size}, spatial_scale={self.spatial_scale}, "
            f"sampling_ratio={self.sampling_ratio}, aligned={self.aligned}"
        )
