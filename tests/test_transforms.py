"""Spatial transforms against hand-computed sizes, boxes and values."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from actionzoo.data.transforms import (
    mmaction2_center_crop_box,
    mmaction2_normalize,
    mmaction2_resize,
    mmaction2_resize_size,
    mmaction2_three_crop_boxes,
    pyslowfast_crop_box,
    pyslowfast_normalize,
    pyslowfast_normalize_,
    pyslowfast_resize_frame,
    pyslowfast_resize_size,
    pyslowfast_short_side_resize,
    pyslowfast_uniform_crop,
)
from actionzoo.zoo.protocols import (
    IMAGENET_MEAN_255,
    IMAGENET_STD_255,
    KINETICS_MEAN_01,
    KINETICS_STD_01,
)

# --- mmaction2 Resize(-1, 256) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("hw", "expected"),
    [
        ((240, 320), (256, 341)),  # 341.33
        ((256, 340), (256, 340)),  # already short side 256
        ((720, 1280), (256, 455)),  # 455.11
        ((240, 323), (256, 345)),  # 344.53 rounds up (PySlowFast's floor would give 344)
        ((512, 1025), (256, 513)),  # exactly 512.5: half up, not to even
        ((320, 240), (341, 256)),  # portrait
        ((48, 64), (256, 341)),  # upscale
        ((256, 256), (256, 256)),
    ],
)
def test_mmaction2_resize_size(hw, expected):
    assert mmaction2_resize_size(*hw, 256) == expected


def test_mmaction2_resize_is_bilinear_on_uint8():
    frame = np.zeros((128, 256, 3), dtype=np.uint8)
    frame[:, 1::2] = 100  # columns 0, 100, 0, 100, ...
    out = mmaction2_resize(frame, 256)
    assert out.shape == (256, 512, 3) and out.dtype == np.uint8
    # 2x upscale, half-pixel centres: output column 1 samples source x = 0.25, column 2 x = 0.75
    assert (out[:, 1] == 25).all() and (out[:, 2] == 75).all()


def test_mmaction2_resize_matches_cv2_on_odd_sizes():
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    out = mmaction2_resize(frame, 256)
    assert out.shape == (256, 367, 3)  # 53 * 256 / 37 = 366.7
    assert (out == cv2.resize(frame, (367, 256), interpolation=cv2.INTER_LINEAR)).all()


# --- mmaction2 crops --------------------------------------------------------------------------


def test_center_crop_floor():
    assert mmaction2_center_crop_box(256, 341, 224) == (16, 58)  # 117 // 2
    assert mmaction2_center_crop_box(341, 256, 224) == (58, 16)
    assert mmaction2_center_crop_box(256, 340, 224) == (16, 58)


def test_three_crop_landscape_order_left_right_middle():
    assert mmaction2_three_crop_boxes(256, 340, 256) == [(0, 0), (0, 84), (0, 42)]
    # odd excess 85: step 42, the right crop starts at 84 and the last column is never used
    assert mmaction2_three_crop_boxes(256, 341, 256) == [(0, 0), (0, 84), (0, 42)]


def test_three_crop_portrait_order_top_bottom_middle():
    assert mmaction2_three_crop_boxes(341, 256, 256) == [(0, 0), (84, 0), (42, 0)]
    assert mmaction2_three_crop_boxes(455, 256, 256) == [(0, 0), (198, 0), (99, 0)]


def test_three_crop_square_gives_identical_crops():
    assert mmaction2_three_crop_boxes(256, 256, 256) == [(0, 0)] * 3


def test_three_crop_needs_a_full_side():
    with pytest.raises(ValueError, match="full height or width"):
        mmaction2_three_crop_boxes(300, 400, 256)


# --- mmaction2 Normalize ----------------------------------------------------------------------


def test_mmaction2_normalize_values():
    frames = np.array([[[[0, 0, 0], [255, 255, 255], [124, 116, 104]]]], dtype=np.uint8)
    out = mmaction2_normalize(frames, IMAGENET_MEAN_255, IMAGENET_STD_255)
    assert out.dtype == np.float32 and out.shape == (1, 1, 3, 3)
    expected = np.array(
        [
            [-123.675 / 58.395, -116.28 / 57.12, -103.53 / 57.375],
            [131.325 / 58.395, 138.72 / 57.12, 151.47 / 57.375],
            [0.325 / 58.395, -0.28 / 57.12, 0.47 / 57.375],
        ]
    )
    np.testing.assert_allclose(out[0, 0], expected, rtol=0, atol=2e-6)


def test_mmaction2_normalize_bit_exact_with_mmcv_cv2_calls():
    """mmcv's imnormalize_: cv2.subtract(img, float64 mean), cv2.multiply(img, 1/float64 std)."""
    values = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)
    ours = mmaction2_normalize(values, IMAGENET_MEAN_255, IMAGENET_STD_255)
    img = values.astype(np.float32)
    mean = np.float64(np.array(IMAGENET_MEAN_255, dtype=np.float32).reshape(1, -1))
    stdinv = 1 / np.float64(np.array(IMAGENET_STD_255, dtype=np.float32).reshape(1, -1))
    cv2.subtract(img, mean, img)
    cv2.multiply(img, stdinv, img)
    assert np.array_equal(ours, img)
    # OpenCV's vector kernel takes the product in float64 (AVX2) or in float32 (AVX-512); the
    # two differ by 1 ulp for some values, and the table follows whichever this CPU runs
    diff = values.astype(np.float32) - np.float32(IMAGENET_MEAN_255)
    in_float32 = diff * (np.float32(1) / np.float32(IMAGENET_STD_255))
    in_float64 = (diff.astype(np.float64) * stdinv).astype(np.float32)
    assert not np.array_equal(in_float32, in_float64)
    assert np.array_equal(ours, in_float32) or np.array_equal(ours, in_float64)


def test_mmaction2_normalize_table_is_opencvs_own_arithmetic_on_a_real_crop():
    """OpenCV rounds its vector multiply in float64 on some CPUs and float32 on others.

    The table is built by OpenCV's calls on this machine, so it equals mmcv's result on a crop of
    whole vectors (every even crop size), whichever rounding this CPU's kernels use.
    """
    rng = np.random.default_rng(3)
    for size in (224, 256, 182):
        crop = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        img = crop.astype(np.float32)
        cv2.subtract(img, np.float64(np.array(IMAGENET_MEAN_255, dtype=np.float32).reshape(1, -1)), img)
        cv2.multiply(img, 1 / np.float64(np.array(IMAGENET_STD_255, dtype=np.float32).reshape(1, -1)), img)
        assert np.array_equal(mmaction2_normalize(crop, IMAGENET_MEAN_255, IMAGENET_STD_255), img)


def test_mmaction2_normalize_float_input_same_as_uint8():
    rng = np.random.default_rng(2)
    frames = rng.integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)  # whole vectors: see above
    a = mmaction2_normalize(frames, IMAGENET_MEAN_255, IMAGENET_STD_255)
    b = mmaction2_normalize(frames.astype(np.float32), IMAGENET_MEAN_255, IMAGENET_STD_255)
    assert np.array_equal(a, b)


# --- PySlowFast -------------------------------------------------------------------------------


def test_pyslowfast_normalize_values():
    frames = torch.tensor([[[[0, 0, 0], [255, 255, 255], [128, 128, 128]]]], dtype=torch.uint8)
    out = pyslowfast_normalize(frames, KINETICS_MEAN_01, KINETICS_STD_01)
    assert out.dtype == torch.float32
    assert (out[0, 0, 0] == -2.0).all()  # 0.45f is exactly 2 * 0.225f
    torch.testing.assert_close(out[0, 0, 1], torch.full((3,), 0.55 / 0.225), rtol=0, atol=1e-6)
    torch.testing.assert_close(
        out[0, 0, 2], torch.full((3,), (128 / 255 - 0.45) / 0.225), rtol=0, atol=1e-6
    )


@pytest.mark.parametrize(
    ("hw", "expected"),
    [
        ((240, 320), (182, 242)),  # 242.67 floored (mmaction2 would round to 243)
        ((256, 340), (182, 241)),  # 241.72
        ((320, 240), (242, 182)),  # portrait
        ((200, 200), (182, 182)),
        ((182, 300), None),  # short side already 182
        ((300, 182), None),
        ((182, 182), None),
    ],
)
def test_pyslowfast_resize_size(hw, expected):
    assert pyslowfast_resize_size(*hw, 182) == expected


def test_pyslowfast_resize_is_bilinear_without_antialias():
    frames = torch.zeros(3, 2, 728, 728)
    frames[..., 1::4] = 1.0  # columns 0, 1, 0, 0, 0, 1, 0, 0, ...
    out = pyslowfast_short_side_resize(frames, 182)
    assert out.shape == (3, 2, 182, 182)
    # 4x downscale: output x samples source 4x + 1.5, i.e. half of column 4x+1 and 4x+2
    # (an area / antialiased resize would give 0.25)
    assert torch.allclose(out, torch.full_like(out, 0.5))


def test_pyslowfast_resize_skipped_at_target_size():
    frames = torch.rand(3, 2, 182, 250)
    assert pyslowfast_short_side_resize(frames, 182) is frames


def test_pyslowfast_resize_of_permuted_frames_equals_contiguous():
    rng = np.random.default_rng(3)
    frames = torch.from_numpy(rng.integers(0, 256, (2, 60, 80, 3), dtype=np.uint8))
    normed = pyslowfast_normalize(frames, KINETICS_MEAN_01, KINETICS_STD_01).permute(3, 0, 1, 2)
    out = pyslowfast_short_side_resize(normed, 182)
    assert out.shape == (3, 2, 182, 242) and out.dtype == torch.float32
    expected = torch.nn.functional.interpolate(
        normed.contiguous(), size=(182, 242), mode="bilinear", align_corners=False
    )
    assert torch.equal(out, expected)


@pytest.mark.parametrize(
    ("hw", "boxes"),
    [
        ((182, 242), [(0, 0), (0, 30), (0, 60)]),
        ((182, 241), [(0, 0), (0, 30), (0, 59)]),  # ceil(59 / 2) = 30, mmaction2's floor: 29
        ((241, 182), [(0, 0), (30, 0), (59, 0)]),  # portrait: vertical
        ((200, 200), [(9, 0), (9, 9), (9, 18)]),  # square: horizontal, centred vertically
        ((182, 182), [(0, 0)] * 3),
    ],
)
def test_pyslowfast_crop_boxes_by_spatial_index(hw, boxes):
    assert [pyslowfast_crop_box(*hw, 182, i) for i in range(3)] == boxes


def test_pyslowfast_uniform_crop_slices():
    frames = torch.arange(241, dtype=torch.float32).expand(3, 1, 182, 241)
    right = pyslowfast_uniform_crop(frames, 182, 2)
    assert right.shape == (3, 1, 182, 182)
    assert right[0, 0, 0, 0] == 59 and right[0, 0, 0, -1] == 240
    with pytest.raises(ValueError):
        pyslowfast_crop_box(182, 241, 182, 3)


# --- PySlowFast resize before normalise --------------------------------------------------------
#
# The reference (PySlowFast@9839d13 ``tensor_normalize`` then ``random_short_side_scale_jitter``)
# normalises the uint8 frames in float32 and resizes the normalised (C, T, H, W) frames with
# ``F.interpolate(bilinear, align_corners=False)`` (no antialias), skipping the resize when the
# short side already is the size. Transcribed here without the module's functions.

RESIZE_ORDER_TOLERANCE = 1e-5  # max abs, the bound the pipelines must keep


def _reference_normalise_then_resize(frames: np.ndarray, size: int) -> torch.Tensor:
    """uint8 (T, H, W, C) -> float32 (C, T, H', W'), in the reference's order."""
    x = torch.as_tensor(frames).float()
    x = x / 255.0
    x = x - torch.tensor(list(KINETICS_MEAN_01))
    x = x / torch.tensor(list(KINETICS_STD_01))
    x = x.permute(3, 0, 1, 2)
    height, width = x.shape[2], x.shape[3]
    if (width <= height and width == size) or (height <= width and height == size):
        return x
    new_h, new_w = size, size
    if width < height:
        new_h = int(math.floor((float(height) / width) * size))
    else:
        new_w = int(math.floor((float(width) / height) * size))
    return F.interpolate(x, size=(new_h, new_w), mode="bilinear", align_corners=False)


def _resize_then_normalise(frames: np.ndarray, size: int) -> torch.Tensor:
    resized = torch.from_numpy(np.stack([pyslowfast_resize_frame(f, size) for f in frames]))
    return pyslowfast_normalize_(resized, KINETICS_MEAN_01, KINETICS_STD_01).permute(3, 0, 1, 2)


def _decoded_frames(tmp_path, size: tuple[int, int], count: int = 6) -> np.ndarray:
    """Real decoded frames: an H.264 file written with PyAV, read back by a sequential decode."""
    import media

    written = media.write_h264_mp4(tmp_path / f"v{size[0]}x{size[1]}.mp4", count, size=size)
    return media.sequential_decode(written.path)


@pytest.mark.parametrize(
    ("hw", "size"),
    [
        ((720, 1280), 182),  # 720p -> X3D-S: 7x fewer pixels
        ((272, 640), 256),  # bikes-like, PySlowFast SlowFast
        ((144, 176), 182),  # carphone-like: an upscale
        ((320, 240), 182),  # portrait
        ((182, 250), 182),  # short side already the size: no resize
    ],
)
def test_resize_then_normalise_equals_reference_order_on_decoded_frames(tmp_path, hw, size):
    frames = _decoded_frames(tmp_path, hw)
    ref = _reference_normalise_then_resize(frames, size)
    out = _resize_then_normalise(frames, size)
    assert out.shape == ref.shape and out.dtype == torch.float32
    assert (out - ref).abs().max().item() <= RESIZE_ORDER_TOLERANCE
    if min(hw) == size:  # the same three float32 operations in the same order
        assert torch.equal(out, ref)


def test_resize_then_normalise_on_worst_case_frames():
    """Full-range noise and 0/255 edges: the largest values and steps the affine swap meets."""
    rng = np.random.default_rng(5)
    noise = rng.integers(0, 256, (3, 300, 533, 3), dtype=np.uint8)
    edges = np.zeros((2, 300, 533, 3), dtype=np.uint8)
    edges[:, :, 1::2] = 255
    edges[1, 1::3] = 255 - edges[1, 1::3]
    frames = np.concatenate([noise, edges])
    for size in (182, 256, 400):  # down, down, up
        ref = _reference_normalise_then_resize(frames, size)
        worst = (_resize_then_normalise(frames, size) - ref).abs().max().item()
        assert worst <= RESIZE_ORDER_TOLERANCE, (size, worst)


def test_pyslowfast_resize_frame_is_bilinear_without_antialias():
    frame = np.zeros((728, 728, 3), dtype=np.uint8)
    frame[:, 1::4] = 255  # columns 0, 1, 0, 0, 0, 1, ...
    out = pyslowfast_resize_frame(frame, 182)
    assert out.shape == (182, 182, 3) and out.dtype == np.float32
    # 4x downscale samples source column 4x + 1.5: half of 255; antialiasing would give 63.75
    assert np.allclose(out, 127.5)


def test_pyslowfast_resize_frame_keeps_a_frame_at_the_size():
    frame = np.random.default_rng(6).integers(0, 256, (182, 200, 3), dtype=np.uint8)
    out = pyslowfast_resize_frame(frame, 182)
    assert out.dtype == np.float32 and np.array_equal(out, frame.astype(np.float32))


def test_pyslowfast_normalize_in_place_equals_out_of_place():
    frames = np.random.default_rng(7).integers(0, 256, (2, 5, 7, 3), dtype=np.uint8)
    expected = pyslowfast_normalize(torch.from_numpy(frames), KINETICS_MEAN_01, KINETICS_STD_01)
    values = torch.from_numpy(frames).float()
    assert pyslowfast_normalize_(values, KINETICS_MEAN_01, KINETICS_STD_01) is values
    assert torch.equal(values, expected)
    with pytest.raises(TypeError, match="float32"):
        pyslowfast_normalize_(torch.zeros(2, 3, dtype=torch.float64), KINETICS_MEAN_01, KINETICS_STD_01)
