"""Spatial transforms of the reference test pipelines, reproduced value for value.

mmaction2 0.x (models on ImageNet-normalised 0..255 RGB):

* ``Resize(scale=(-1, short))``: mmcv ``rescale_size`` (``int(x*s + 0.5)``) then ``cv2.resize``
  with ``INTER_LINEAR`` on the uint8 frames (what ``mmcv.imresize`` calls).
* ``CenterCrop``: floor offsets. ``ThreeCrop``: crops in the order (left, right, middle) or
  (top, bottom, middle), the second at ``2*step``.
* ``Normalize``: mmcv ``imnormalize_``, i.e. ``cv2.subtract`` of the float32 mean, then
  ``cv2.multiply`` by ``1/std`` (a float64 scalar). On uint8 input that is a 256-entry table per
  channel, built with those same OpenCV calls on the machine at hand: OpenCV's float path rounds
  the product in float64 on some CPUs and in float32 on others, and the reference is whatever
  OpenCV computes here.

PySlowFast (models on ``(x/255 - mean)/std`` RGB):

* ``tensor_normalize`` on the uint8 frames, then ``random_short_side_scale_jitter`` with
  ``min = max = size``: ``F.interpolate(bilinear, align_corners=False)`` on the *normalised* float
  frames, long side floored, skipped when the short side already equals ``size``.
  :func:`pyslowfast_resize_frame` + :func:`pyslowfast_normalize_` do the same in the other order:
  bilinear interpolation is affine (each output is a weighted sum of inputs whose weights sum to
  one), so resizing ``x`` and then applying ``(x/255 - mean)/std`` equals the reference up to
  float32 rounding (under 1e-6 here, see ``tests/test_transforms.py``), while the float work is
  done on frames ~15x smaller (720p -> 182) and no full-size float frame is ever held.
* ``uniform_crop``: ceil centre offsets; spatial index 0 = left/top, 1 = centre, 2 = right/bottom.

Crop boxes are returned as ``(top, left)`` of a ``size x size`` window.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import cv2
import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "mmaction2_resize_size",
    "mmaction2_resize",
    "mmaction2_center_crop_box",
    "mmaction2_three_crop_boxes",
    "mmaction2_normalize",
    "mmaction2_normalize_table",
    "pyslowfast_normalize",
    "pyslowfast_normalize_",
    "pyslowfast_resize_frame",
    "pyslowfast_resize_size",
    "pyslowfast_short_side_resize",
    "pyslowfast_crop_box",
    "pyslowfast_uniform_crop",
]


# --------------------------------------------------------------------------------------------
# mmaction2
# --------------------------------------------------------------------------------------------


def mmaction2_resize_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """``(new_h, new_w)`` of ``Resize(scale=(-1, short_side))`` (mmcv ``rescale_size``).

    The scale factor is ``min(inf / long, short_side / short) = short_side / short``; each side
    becomes ``int(side * factor + 0.5)`` (round half up).
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"invalid frame size {height}x{width}")
    scale = min(math.inf / max(height, width), short_side / min(height, width))
    return int(height * float(scale) + 0.5), int(width * float(scale) + 0.5)


def mmaction2_resize(frame: np.ndarray, short_side: int) -> np.ndarray:
    """Resize one ``(H, W, C)`` uint8 frame so its short side is ``short_side`` (cv2 bilinear)."""
    new_h, new_w = mmaction2_resize_size(frame.shape[0], frame.shape[1], short_side)
    return cv2.resize(
        np.ascontiguousarray(frame), (new_w, new_h), interpolation=cv2.INTER_LINEAR
    )


def mmaction2_center_crop_box(height: int, width: int, size: int) -> tuple[int, int]:
    """``CenterCrop(size)``: ``((h - size)//2, (w - size)//2)`` (floor)."""
    _check_fits(height, width, size, "CenterCrop")
    return (height - size) // 2, (width - size) // 2


def mmaction2_three_crop_boxes(height: int, width: int, size: int) -> list[tuple[int, int]]:
    """``ThreeCrop(size)`` boxes in the reference order.

    The crop must span the full height (then x = 0, ``2*step``, ``step`` with
    ``step = (w - size)//2``: left, right, middle) or else the full width (y = 0, ``2*step``,
    ``step``: top, bottom, middle). A square frame gives three identical crops.
    """
    if size == height:
        step = (width - size) // 2
        _check_fits(height, width, size, "ThreeCrop")
        return [(0, 0), (0, 2 * step), (0, step)]
    if size == width:
        step = (height - size) // 2
        _check_fits(height, width, size, "ThreeCrop")
        return [(0, 0), (2 * step, 0), (step, 0)]
    raise ValueError(
        f"ThreeCrop({size}) needs the crop to span the frame's full height or width; "
        f"the frame is {height}x{width}"
    )


def mmaction2_normalize_table(mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """(256, C) float32, read-only: ``Normalize`` of every uint8 value, per channel."""
    return _mmaction2_table(tuple(float(m) for m in mean), tuple(float(s) for s in std))


@lru_cache(maxsize=8)
def _mmaction2_table(mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    # The table is computed by OpenCV's own calls, as mmcv's ``imnormalize_`` makes them, because
    # OpenCV's float kernels round differently per CPU: on AVX2 its vector ``multiply`` by a float64
    # scale works in float64, on AVX-512 in float32 (up to 1 ulp apart). Every value sits in the
    # vector part of a long contiguous image, as every pixel of a real crop does: a crop of
    # c x c x 3 floats with even c is a whole number of vectors, so no pixel meets the scalar tail.
    channels = len(mean)
    values = np.arange(256, dtype=np.float32)
    image = np.repeat(np.tile(values, (2, 1))[:, :, None], channels, axis=2)  # (2, 256, C)
    _opencv_normalize_inplace(image, mean, std)
    table = image[0].copy()
    table.setflags(write=False)
    return table


def mmaction2_normalize(
    frames: np.ndarray, mean: Sequence[float], std: Sequence[float]
) -> np.ndarray:
    """mmaction2 ``Normalize(to_bgr=False)`` of uint8 ``(..., C)`` frames -> float32."""
    frames = np.asarray(frames)
    if frames.dtype == np.uint8:
        return mmaction2_normalize_table(mean, std)[frames, np.arange(frames.shape[-1])]
    # float input (not produced by the pipelines here): mmcv's two OpenCV calls themselves
    image = np.array(frames, dtype=np.float32, order="C").reshape(1, -1, frames.shape[-1])
    _opencv_normalize_inplace(image, mean, std)
    return image.reshape(frames.shape)


def _opencv_normalize_inplace(
    image: np.ndarray, mean: Sequence[float], std: Sequence[float]
) -> None:
    """mmcv ``imnormalize_`` on a contiguous float32 ``(H, W, C)`` image, W > 1."""
    mean64 = np.float64(np.asarray(mean, dtype=np.float32).reshape(1, -1))
    stdinv64 = 1 / np.float64(np.asarray(std, dtype=np.float32).reshape(1, -1))
    if cv2.subtract(image, mean64, image) is not image or cv2.multiply(image, stdinv64, image) is not image:
        raise RuntimeError(f"OpenCV did not normalise a {image.shape} image in place")


def _check_fits(height: int, width: int, size: int, what: str) -> None:
    if size > height or size > width:
        raise ValueError(f"{what}({size}) does not fit a {height}x{width} frame")


# --------------------------------------------------------------------------------------------
# PySlowFast
# --------------------------------------------------------------------------------------------


def pyslowfast_normalize(
    frames: np.ndarray | torch.Tensor, mean: Sequence[float], std: Sequence[float]
) -> torch.Tensor:
    """``tensor_normalize`` of uint8 ``(..., C)`` frames: ``/255``, ``-mean``, ``/std``, float32."""
    tensor = torch.as_tensor(frames)
    if tensor.dtype == torch.uint8:
        tensor = tensor.float()
        tensor = tensor / 255.0
    tensor = tensor - torch.tensor(list(mean))
    tensor = tensor / torch.tensor(list(std))
    return tensor


def pyslowfast_normalize_(
    frames: torch.Tensor, mean: Sequence[float], std: Sequence[float], *, channel_dim: int = -1
) -> torch.Tensor:
    """:func:`pyslowfast_normalize` in place on float32 frames holding 0..255 values.

    The same three float32 operations in the same order (``/255``, ``-mean``, ``/std``), so a
    frame that was not resized gets exactly the reference's values. ``channel_dim`` says which
    dimension holds the channels (the last, as in the reference, by default).
    """
    if frames.dtype != torch.float32:
        raise TypeError(f"expected float32 frames, got {frames.dtype}")
    shape = [1] * frames.ndim
    shape[channel_dim] = -1
    frames.div_(255.0)
    frames.sub_(torch.tensor(list(mean)).view(shape))
    frames.div_(torch.tensor(list(std)).view(shape))
    return frames


def pyslowfast_resize_frame(frame: np.ndarray, size: int, *, channels_first: bool = False) -> np.ndarray:
    """One uint8 ``(H, W, C)`` frame -> float32 ``(H', W', C)``, short side ``size``, 0..255 values.

    The reference's resize (bilinear, ``align_corners=False``, no antialias, long side floored,
    skipped when the short side already is ``size``) computed in float32 on the uint8 values,
    before normalising (see the module docstring). The frame is handed to ``F.interpolate`` in
    channels-last layout, which is its fastest CPU path here (1.7 ms for 720p -> 182 against
    10 ms for normalise-then-resize on one thread, measured on this project's 2-core machine).
    ``channels_first`` returns ``(C, H', W')`` instead (crops then copy whole rows).
    """
    tensor = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1).unsqueeze(0).float()
    new = pyslowfast_resize_size(frame.shape[0], frame.shape[1], size)
    if new is not None:
        tensor = F.interpolate(tensor, size=new, mode="bilinear", align_corners=False)
    if channels_first:
        return tensor[0].contiguous().numpy()
    return tensor[0].permute(1, 2, 0).contiguous().numpy()


def pyslowfast_resize_size(height: int, width: int, size: int) -> tuple[int, int] | None:
    """``(new_h, new_w)`` of ``random_short_side_scale_jitter(size, size)``; None if unchanged.

    Unchanged when the short side already equals ``size``; otherwise the short side becomes
    ``size`` and the long side ``floor(long / short * size)``.
    """
    if (width <= height and width == size) or (height <= width and height == size):
        return None
    if width < height:
        return int(math.floor((float(height) / width) * size)), size
    return size, int(math.floor((float(width) / height) * size))


def pyslowfast_short_side_resize(frames: torch.Tensor, size: int) -> torch.Tensor:
    """Resize ``(C, T, H, W)`` (or any ``(N, C, H, W)``) float frames: short side -> ``size``."""
    new = pyslowfast_resize_size(frames.shape[-2], frames.shape[-1], size)
    if new is None:
        return frames
    return F.interpolate(frames, size=new, mode="bilinear", align_corners=False)


def pyslowfast_crop_box(height: int, width: int, size: int, spatial_idx: int) -> tuple[int, int]:
    """``uniform_crop`` offsets ``(y, x)``: ceil centre; 0 = top/left, 2 = bottom/right.

    Portrait frames (``H > W``) move the crop vertically, all others horizontally.
    """
    if spatial_idx not in (0, 1, 2):
        raise ValueError(f"spatial index must be 0, 1 or 2, not {spatial_idx}")
    y_offset = int(math.ceil((height - size) / 2))
    x_offset = int(math.ceil((width - size) / 2))
    if height > width:
        if spatial_idx == 0:
            y_offset = 0
        elif spatial_idx == 2:
            y_offset = height - size
    else:
        if spatial_idx == 0:
            x_offset = 0
        elif spatial_idx == 2:
            x_offset = width - size
    return y_offset, x_offset


def pyslowfast_uniform_crop(frames: torch.Tensor, size: int, spatial_idx: int) -> torch.Tensor:
    """Crop ``(..., H, W)`` frames to ``size x size`` at :func:`pyslowfast_crop_box`."""
    height, width = frames.shape[-2], frames.shape[-1]
    if size > height or size > width:
        raise ValueError(f"uniform_crop({size}) does not fit a {height}x{width} frame")
    y, x = pyslowfast_crop_box(height, width, size, spatial_idx)
    return frames[..., y : y + size, x : x + size]
