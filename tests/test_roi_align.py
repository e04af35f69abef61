"""RoIAlign: hand-computed values, a scalar transcription of the kernel rules, and onnxruntime's RoiAlign.

Expected values are computed here, independently of the module under test: by hand on a 4x4 map whose
pixel (r, c) holds ``4 r + c + 1`` (bilinear interpolation reproduces such a linear ramp exactly, so a
sample at (y, x) reads ``4 y + x + 1``), and by a per-sample Python loop written from the rules of
detectron2's C++ kernel (half-pixel shift, adaptive grid, zero outside [-1, size], clamp at the edge).
"""

from __future__ import annotations

import io
import math
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from actionzoo.export.adapters import OnnxRoIAlign, roi_align_as_onnx_op
from actionzoo.models.roi_align import RoIAlign, roi_align


def ramp_map() -> torch.Tensor:
    """(1, 1, 4, 4) map with value 4 r + c + 1 at row r, column c (1..16)."""
    return (torch.arange(16, dtype=torch.float32) + 1).view(1, 1, 4, 4)


def rois(*rows: tuple[float, ...]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32).view(-1, 5)


def scalar_roi_align(
    features: torch.Tensor,
    boxes: torch.Tensor,
    pooled: tuple[int, int],
    spatial_scale: float,
    sampling_ratio: int,
    aligned: bool,
) -> torch.Tensor:
    """One bilinear sample at a time, in float64, exactly as the detectron2 C++ loops read."""
    _, channels, height, width = features.shape
    values = features.double()
    out = torch.zeros(boxes.shape[0], channels, *pooled, dtype=torch.float64)

    def sample(image: int, y: float, x: float) -> torch.Tensor:
        if y < -1.0 or y > height or x < -1.0 or x > width:
            return torch.zeros(channels, dtype=torch.float64)
        y, x = max(y, 0.0), max(x, 0.0)
        y_low, x_low = int(y), int(x)
        if y_low >= height - 1:
            y_low = y_high = height - 1
            y = float(y_low)
        else:
            y_high = y_low + 1
        if x_low >= width - 1:
            x_low = x_high = width - 1
            x = float(x_low)
        else:
            x_high = x_low + 1
        ly, lx = y - y_low, x - x_low
        hy, hx = 1 - ly, 1 - lx
        v = values[image]
        return (
            hy * hx * v[:, y_low, x_low]
            + hy * lx * v[:, y_low, x_high]
            + ly * hx * v[:, y_high, x_low]
            + ly * lx * v[:, y_high, x_high]
        )

    offset = 0.5 if aligned else 0.0
    for k, (image, x1, y1, x2, y2) in enumerate(boxes.tolist()):
        start_x, start_y = x1 * spatial_scale - offset, y1 * spatial_scale - offset
        roi_w, roi_h = x2 * spatial_scale - offset - start_x, y2 * spatial_scale - offset - start_y
        if not aligned:
            roi_w, roi_h = max(roi_w, 1.0), max(roi_h, 1.0)
        bin_h, bin_w = roi_h / pooled[0], roi_w / pooled[1]
        grid_h = sampling_ratio if sampling_ratio > 0 else math.ceil(bin_h)
        grid_w = sampling_ratio if sampling_ratio > 0 else math.ceil(bin_w)
        count = max(grid_h * grid_w, 1)
        for ph in range(pooled[0]):
            for pw in range(pooled[1]):
                total = torch.zeros(channels, dtype=torch.float64)
                for iy in range(grid_h):
                    y = start_y + ph * bin_h + (iy + 0.5) * bin_h / grid_h
                    for ix in range(grid_w):
                        x = start_x + pw * bin_w + (ix + 0.5) * bin_w / grid_w
                        total += sample(int(image), y, x)
                out[k, :, ph, pw] = total / count
    return out


# ----------------------------------------------------------------------------------- hand values


def test_box_on_pixel_edges_averages_pixel_centres() -> None:
    # aligned: box [0, 4] -> [-0.5, 3.5]; 2x2 bins of 2 px, 2x2 samples per bin at pixel centres 0, 1 | 2, 3.
    out = roi_align(ramp_map(), rois((0, 0, 0, 4, 4)), (2, 2), spatial_scale=1.0, aligned=True)
    expected = torch.tensor([[3.5, 5.5], [11.5, 13.5]])  # ramp at (0.5, 0.5), (0.5, 2.5), ...
    torch.testing.assert_close(out[0, 0], expected, rtol=0, atol=1e-6)


def test_half_pixel_shift_and_bilinear_weights() -> None:
    # aligned: x in [1.5, 2.5] -> [1.0, 2.0], one sample at x = 1.5; y in [1, 2] -> one sample at y = 1.0.
    out = roi_align(ramp_map(), rois((0, 1.5, 1.0, 2.5, 2.0)), (1, 1), spatial_scale=1.0, aligned=True)
    assert out.item() == pytest.approx(4 * 1.0 + 1.5 + 1)  # (f[1,1] + f[1,2]) / 2 = 6.5
    # Without the shift the same box samples at (1.5, 2.0).
    legacy = roi_align(ramp_map(), rois((0, 1.5, 1.0, 2.5, 2.0)), (1, 1), spatial_scale=1.0, aligned=False)
    assert legacy.item() == pytest.approx(4 * 1.5 + 2.0 + 1)


def test_spatial_scale_maps_input_pixels_to_feature_pixels() -> None:
    # scale 1/16: box x [16, 48], y [32, 48] in input pixels -> x [0.5, 2.5], y [1.5, 2.5] after the shift.
    out = roi_align(ramp_map(), rois((0, 16, 32, 48, 48)), (1, 2), spatial_scale=1 / 16, aligned=True)
    # y: start 1.5, height 1, one sample at 2.0; x: start 0.5, width 2, bins of 1 px, samples at 1.0, 2.0.
    torch.testing.assert_close(out[0, 0, 0], torch.tensor([4 * 2.0 + 1.0 + 1, 4 * 2.0 + 2.0 + 1]))


def test_samples_beyond_minus_one_contribute_zero_but_are_counted() -> None:
    # aligned: [-3, 1] -> [-3.5, 0.5]; adaptive grid ceil(4) = 4 samples per axis at -3, -2, -1, 0.
    # Only y, x in {-1, 0} are inside [-1, size]; both clamp to pixel 0 (value 1): 4 samples of 16.
    out = roi_align(ramp_map(), rois((0, -3, -3, 1, 1)), (1, 1), spatial_scale=1.0, aligned=True)
    assert out.item() == pytest.approx(4 * 1.0 / 16)


def test_samples_past_the_last_row_clamp_then_vanish() -> None:
    # aligned: [3, 6] -> [2.5, 5.5]; 3 samples per axis at 3, 4, 5. Sample 3 is the last pixel, 4 (<= size)
    # clamps to it, 5 (> size) is zero: 2 x 2 samples of f[3, 3] = 16 over a count of 9.
    out = roi_align(ramp_map(), rois((0, 3, 3, 6, 6)), (1, 1), spatial_scale=1.0, aligned=True)
    assert out.item() == pytest.approx(4 * 16.0 / 9)


def test_fixed_sampling_ratio_ignores_roi_size() -> None:
    # sampling_ratio 2 on a 1-px bin: samples at 1.25 and 1.75 along y and x -> mean at (1.5, 1.5).
    out = roi_align(ramp_map(), rois((0, 1.5, 1.5, 2.5, 2.5)), (1, 1), 1.0, sampling_ratio=2, aligned=True)
    assert out.item() == pytest.approx(4 * 1.5 + 1.5 + 1)


def test_inverted_box_gives_zeros_when_aligned() -> None:
    out = roi_align(ramp_map(), rois((0, 3, 3, 1, 1)), (2, 2), spatial_scale=1.0, aligned=True)
    assert torch.count_nonzero(out) == 0


def test_batch_index_selects_the_image() -> None:
    features = torch.cat([ramp_map(), 100 + ramp_map()])
    boxes = rois((1, 0, 0, 4, 4), (0, 0, 0, 4, 4))
    out = roi_align(features, boxes, (2, 2), spatial_scale=1.0, aligned=True)
    torch.testing.assert_close(out[0], out[1] + 100)


def test_no_boxes_gives_an_empty_result() -> None:
    out = RoIAlign(7, 1 / 16)(torch.randn(2, 5, 8, 8), torch.zeros(0, 5))
    assert out.shape == (0, 5, 7, 7)
    assert out.dtype == torch.float32


def test_module_is_stateless_and_reports_its_settings() -> None:
    module = RoIAlign(7, spatial_scale=1 / 16)
    assert len(module.state_dict()) == 0
    assert (module.output_size, module.spatial_scale, module.sampling_ratio, module.aligned) == (
        (7, 7),
        1 / 16,
        0,
        True,
    )


def test_malformed_rois_are_rejected() -> None:
    with pytest.raises(ValueError, match="rois of shape"):
        roi_align(torch.randn(1, 1, 4, 4), torch.zeros(3, 4))


# -------------------------------------------------------------------- against the scalar kernel


def random_boxes(generator: torch.Generator, count: int, image_size: float, batch: int) -> torch.Tensor:
    """Boxes of all sizes, many of them reaching past the image on one or more sides."""
    corners = torch.rand(count, 2, 2, generator=generator) * image_size * 1.6 - image_size * 0.3
    low, high = corners.min(dim=1).values, corners.max(dim=1).values
    index = torch.randint(0, batch, (count, 1), generator=generator).float()
    return torch.cat([index, low, high], dim=1)


@pytest.mark.parametrize("aligned", [True, False])
@pytest.mark.parametrize("sampling_ratio", [0, 2])
def test_matches_scalar_kernel_on_random_boxes(aligned: bool, sampling_ratio: int) -> None:
    generator = torch.Generator().manual_seed(7)
    features = torch.randn(2, 3, 9, 11, generator=generator)
    boxes = torch.cat(
        [
            random_boxes(generator, 10, 16 * 10, batch=2),
            rois((0, -60, -60, -20, -20), (1, 150, 130, 300, 260), (0, 5, 5, 6, 6)),  # outside / tiny
        ]
    )
    got = roi_align(features, boxes, (7, 7), 1 / 16, sampling_ratio, aligned)
    expected = scalar_roi_align(features, boxes, (7, 7), 1 / 16, sampling_ratio, aligned)
    torch.testing.assert_close(got.double(), expected, rtol=0, atol=2e-5)


# ---------------------------------------------------------------------------------- ONNX export


class _Head(nn.Module):
    """A minimal model that owns a RoIAlign the way the AVA head does."""

    def __init__(self) -> None:
        super().__init__()
        self.roi = RoIAlign(7, spatial_scale=1 / 16, sampling_ratio=0, aligned=True)

    def forward(self, features: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        return self.roi(features, boxes)


def export(model: nn.Module, features: torch.Tensor, boxes: torch.Tensor, opset: int = 17) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with roi_align_as_onnx_op(model):
            torch.onnx.export(
                model,
                (features, boxes),
                buffer,
                dynamo=False,
                opset_version=opset,
                input_names=["features", "boxes"],
                output_names=["pooled"],
                dynamic_axes={"features": {0: "batch"}, "boxes": {0: "rois"}},
            )
    return buffer.getvalue()


@pytest.fixture(scope="module")
def exported_head() -> bytes:
    generator = torch.Generator().manual_seed(1)
    return export(_Head(), torch.randn(2, 4, 14, 14, generator=generator), random_boxes(generator, 3, 224, 2))


def test_export_emits_one_standard_roialign_node(exported_head: bytes) -> None:
    graph = onnx.load_from_string(exported_head).graph
    nodes = [node for node in graph.node if node.op_type == "RoiAlign"]
    assert len(nodes) == 1 and nodes[0].domain == ""
    attributes = {a.name: onnx.helper.get_attribute_value(a) for a in nodes[0].attribute}
    assert attributes["coordinate_transformation_mode"] == b"half_pixel"
    assert attributes["mode"] == b"avg"
    assert (attributes["output_height"], attributes["output_width"]) == (7, 7)
    assert attributes["sampling_ratio"] == 0
    assert attributes["spatial_scale"] == pytest.approx(1 / 16)


@pytest.mark.parametrize("num_boxes", [1, 9, 0])
def test_onnxruntime_matches_eager_including_boxes_out_of_the_image(exported_head: bytes, num_boxes: int) -> None:
    generator = torch.Generator().manual_seed(num_boxes)
    features = torch.randn(2, 4, 14, 14, generator=generator)
    boxes = random_boxes(generator, num_boxes, 224, 2)
    session = ort.InferenceSession(exported_head, providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"features": features.numpy(), "boxes": boxes.numpy()})
    expected = roi_align(features, boxes, (7, 7), 1 / 16, 0, True).numpy()
    assert got.shape == expected.shape == (num_boxes, 4, 7, 7)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    if num_boxes == 9:  # the case is only meaningful if some boxes do leave the image
        assert bool(((boxes[:, 1:3] < 0) | (boxes[:, 3:] > 224)).any())


def test_export_substitution_is_temporary() -> None:
    model = _Head()
    with roi_align_as_onnx_op(model):
        assert isinstance(model.roi, OnnxRoIAlign)
    assert isinstance(model.roi, RoIAlign)
    with pytest.raises(RuntimeError, match="boom"):
        with roi_align_as_onnx_op(model):
            raise RuntimeError("boom")
    assert isinstance(model.roi, RoIAlign)


def test_export_stand_in_computes_the_same_values() -> None:
    generator = torch.Generator().manual_seed(3)
    features, boxes = torch.randn(2, 4, 14, 14, generator=generator), random_boxes(generator, 5, 224, 2)
    source = RoIAlign(7, 1 / 16)
    torch.testing.assert_close(OnnxRoIAlign(source)(features, boxes), source(features, boxes), rtol=0, atol=0)


def test_export_below_opset_16_is_refused() -> None:
    generator = torch.Generator().manual_seed(4)
    with pytest.raises(Exception, match="opset >= 16"):
        export(_Head(), torch.randn(1, 4, 14, 14, generator=generator), random_boxes(generator, 2, 224, 1), 13)
