"""From a video (or frame folder) to the model-input views of a test protocol.

:func:`build_views` interprets a :class:`~actionzoo.protocols.Protocol`'s pipeline spec and returns
float32 ``(V, 3, T, H, W)``, the tensor the reference test pipeline feeds its model:

* mmaction2 protocols: ``SampleFrames`` -> decode -> ``Resize(-1, short)`` -> ``ThreeCrop`` /
  ``CenterCrop`` -> ``Normalize``. View ``v`` is ``crop * clips + clip`` (crop-major), i.e. the
  ``FormatShape`` order; for TSM (1-frame clips, ``frames_per_view`` = 8 segments) each view is 8
  consecutive frames of that order: crop 0 / shifted clip, crop 0 / unshifted clip, crop 1 / ...
* PySlowFast protocols (PyAV path): temporal views from the frame timestamps, normalise, bilinear
  short-side resize, ``uniform_crop``. View ``v`` is ``temporal * spatial_crops + spatial``.

Every video is decoded once: the frame indices of all views are computed first, the distinct
frames are read in one call, and every distinct frame is resized once, as soon as it is decoded
(the read's ``transform``), so the full-size frames are never all held; the three crops of a
clip, and clips that share frames, are slices of the same resized frames. The per-view results
are the same as the reference's per-view processing because every step is per frame (resize,
normalise) or a slice (crop). PySlowFast protocols resize before normalising (equal to the
reference's normalise-then-resize up to float32 rounding, see :mod:`actionzoo.data.transforms`).

Frame numbering follows the source: a video file is a mmaction2 ``VideoDataset`` (``start_index``
0, ``total_frames`` = its decoded frame count), a frame folder a ``RawframeDataset`` (files from
``img_00001.jpg``, ``start_index`` 1, ``total_frames`` = ``num_frames`` of the annotation line or
the folder's frame count).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from actionzoo.data.sampling import mmaction2_source_indices, pyslowfast_view_indices
from actionzoo.data.transforms import (
    mmaction2_center_crop_box,
    mmaction2_normalize_table,
    mmaction2_resize,
    mmaction2_three_crop_boxes,
    pyslowfast_crop_box,
    pyslowfast_normalize_,
    pyslowfast_resize_frame,
)
from actionzoo.errors import DataError, UsageError
from actionzoo.zoo.protocols import (
    MMAction2Pipeline,
    Pipeline,
    Protocol,
    PySlowFastPipeline,
)

if TYPE_CHECKING:  # pragma: no cover
    from actionzoo.data.decode import FrameSource, FrameTransform

__all__ = ["build_views", "view_frame_indices", "centre_view", "preprocess", "view_family",
           "VIEW_FAMILIES"]


def preprocess(
    model: str | Protocol,
    source: FrameSource | str | Path,
    protocol: str | Protocol = "official",
    num_frames: int | None = None,
) -> torch.Tensor:
    """The model-input views of one video under a registered model's protocol.

    ``model`` is a registry name (``actionzoo.list_models()``) or a :class:`Protocol`;
    ``protocol`` names one of the model's protocols (``"official"``, ``"ascend"``) or is a
    :class:`Protocol` itself. ``num_frames`` is the frame count of a frame folder's annotation
    line (mmaction2 ``total_frames``). Returns float32 ``(V, 3, T, H, W)``.
    """
    if isinstance(protocol, Protocol):
        chosen = protocol
    elif isinstance(model, Protocol):
        chosen = model
    else:
        from actionzoo.zoo.registry import get_model_spec

        spec = get_model_spec(model)
        try:
            chosen = spec.protocols[protocol]
        except KeyError:
            raise UsageError(
                f"model {model} has no protocol {protocol!r}; choose from "
                f"{', '.join(spec.protocols)}"
            ) from None
    return build_views(source, chosen, num_frames=num_frames)


def build_views(
    source: FrameSource | str | Path,
    protocol: Protocol | Pipeline,
    *,
    num_frames: int | None = None,
    uint8: bool = False,
) -> torch.Tensor:
    """Decode ``source`` once and build every view of ``protocol``: float32 ``(V, 3, T, H, W)``.

    ``uint8`` stops before ``Normalize`` and returns the uint8 crops (mmaction2 protocols only);
    normalising them with :func:`~actionzoo.data.transforms.mmaction2_normalize_table` gives the
    float32 views exactly.
    """
    pipeline = protocol.pipeline if isinstance(protocol, Protocol) else protocol
    family = view_family(pipeline)
    return family.views(_open(source, pipeline, num_frames), pipeline, num_frames, uint8=uint8)


def view_frame_indices(
    source: FrameSource | str | Path,
    protocol: Protocol | Pipeline,
    *,
    num_frames: int | None = None,
) -> np.ndarray:
    """0-based source frame index of every view and time step, ``(V, T)`` int64.

    Row ``v`` lists the frames of output view ``v`` of :func:`build_views`; nothing is decoded
    beyond what the source needs to know its length or timestamps.
    """
    pipeline = protocol.pipeline if isinstance(protocol, Protocol) else protocol
    family = view_family(pipeline)
    return family.frame_indices(_open(source, pipeline, num_frames), pipeline, num_frames)


def centre_view(frames: np.ndarray, protocol: Protocol | Pipeline) -> torch.Tensor:
    """uint8 RGB frames ``(T, H, W, 3)``, ``T`` the frames of one view -> the protocol's centre
    view ``(3, T, S, S)`` float32: the view :func:`build_views` makes of the same frames with the
    centre crop (a sliding window over a stream has its frames already chosen)."""
    pipeline = protocol.pipeline if isinstance(protocol, Protocol) else protocol
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected uint8 RGB frames (T, H, W, 3), got {frames.dtype} "
                         f"{tuple(frames.shape)}")
    if len(frames) != pipeline.view_shape[1]:
        raise ValueError(f"a view of this protocol has {pipeline.view_shape[1]} frames, "
                         f"not {len(frames)}")
    return view_family(pipeline).centre_view(frames, pipeline)


# --------------------------------------------------------------------------------------------
# one adapter per pipeline family, in one table
# --------------------------------------------------------------------------------------------


class _ViewFamily:
    """How one family of test pipelines turns frames into views. Everything that differs between
    families is here; :func:`build_views`, :func:`view_frame_indices` and :func:`centre_view`
    only look the family up."""

    #: Whether clips are sampled by timestamp (a video file), not by frame number.
    needs_timestamps = False

    def frame_indices(self, src: FrameSource, pipeline, num_frames: int | None) -> np.ndarray:
        raise NotImplementedError

    def views(self, src: FrameSource, pipeline, num_frames: int | None, *,
              uint8: bool) -> torch.Tensor:
        raise NotImplementedError

    def centre_view(self, frames: np.ndarray, pipeline) -> torch.Tensor:
        raise NotImplementedError


class _MMAction2Views(_ViewFamily):
    def frame_indices(self, src, pipeline: MMAction2Pipeline, num_frames):
        order = _mmaction2_order(src, pipeline, num_frames)
        crops = 3 if pipeline.crop == "three" else 1
        return np.tile(order, crops).reshape(-1, pipeline.frames_per_view)

    def views(self, src, pipeline: MMAction2Pipeline, num_frames, *, uint8):
        return _mmaction2_views(src, pipeline, num_frames, uint8=uint8)

    def centre_view(self, frames, pipeline: MMAction2Pipeline):
        resized = np.stack([mmaction2_resize(f, pipeline.resize_short) for f in frames])
        box = mmaction2_center_crop_box(resized.shape[1], resized.shape[2], pipeline.crop_size)
        return _mmaction2_crops(resized, np.arange(len(frames)), [box], pipeline)[0]


class _PySlowFastViews(_ViewFamily):
    needs_timestamps = True

    def frame_indices(self, src, pipeline: PySlowFastPipeline, num_frames):
        temporal = _pyslowfast_temporal(src, pipeline)
        return np.repeat(temporal, pipeline.num_spatial_crops, axis=0)

    def views(self, src, pipeline: PySlowFastPipeline, num_frames, *, uint8):
        if uint8:
            raise UsageError(f"{type(pipeline).__name__}: views are resized in float32 (a bilinear "
                             "blend of uint8 values is not an integer), so they exist only as "
                             "float32 (uint8 views are for mmaction2 protocols)")
        return _pyslowfast_views(src, pipeline)

    def centre_view(self, frames, pipeline: PySlowFastPipeline):
        resize = partial(pyslowfast_resize_frame, size=pipeline.crop_size, channels_first=True)
        resized = torch.from_numpy(np.stack([resize(f) for f in frames]))
        pyslowfast_normalize_(resized, pipeline.mean, pipeline.std, channel_dim=1)
        return _pyslowfast_crops(resized, np.arange(len(frames))[None], pipeline, spatial=(1,))[0]


#: The test-pipeline families that make views; the AVA keyframe pipeline makes clips with boxes
#: (``actionzoo.ava.dataset``), not views.
VIEW_FAMILIES: dict[type, _ViewFamily] = {
    MMAction2Pipeline: _MMAction2Views(),
    PySlowFastPipeline: _PySlowFastViews(),
}


def view_family(pipeline: Pipeline) -> _ViewFamily:
    """The adapter of ``pipeline``'s family; a one-line error for a pipeline that has no views."""
    try:
        return VIEW_FAMILIES[type(pipeline)]
    except KeyError:
        raise UsageError(f"{type(pipeline).__name__} is not a recognition pipeline: it has no "
                         "views (AVA keyframes are clips with person boxes)") from None


# --------------------------------------------------------------------------------------------
# sources
# --------------------------------------------------------------------------------------------


def _open(source: FrameSource | str | Path, pipeline: Pipeline, num_frames: int | None):
    if num_frames is not None and num_frames < 1:
        raise UsageError(f"num_frames must be positive, not {num_frames}")
    if isinstance(source, (str, Path)):
        from actionzoo.data.decode import open_source

        src = open_source(Path(source), num_frames=num_frames)
    else:
        src = source
    is_video = src.has_timestamps
    if num_frames is not None and is_video:
        raise UsageError(
            f"{_name(src)}: num_frames is the frame count of a frame folder's annotation line; "
            "a video's frames are counted by decoding it"
        )
    if view_family(pipeline).needs_timestamps and not is_video:
        raise UsageError(
            f"{_name(src)}: PySlowFast protocols sample clips by timestamp and need a video "
            "file, not a frame folder"
        )
    return src


def _name(src: object) -> str:
    return str(getattr(src, "path", src))


def _read(
    src: FrameSource, indices: np.ndarray, transform: FrameTransform, *, channels_first: bool = False
) -> np.ndarray:
    frames = src.read([int(i) for i in indices], transform=transform)
    channels = frames.shape[1] if channels_first and frames.ndim == 4 else frames.shape[-1]
    if frames.ndim != 4 or frames.shape[0] != len(indices) or channels != 3:
        raise DataError(
            f"{_name(src)}: expected {len(indices)} RGB frames, the decoder returned shape "
            f"{tuple(frames.shape)}"
        )
    return frames


# --------------------------------------------------------------------------------------------
# mmaction2
# --------------------------------------------------------------------------------------------


def _mmaction2_order(
    src: FrameSource, pipeline: MMAction2Pipeline, num_frames: int | None
) -> np.ndarray:
    """0-based source indices of all clips, clip-major (one crop's worth of frames)."""
    total_frames = num_frames if num_frames is not None else len(src)
    if total_frames < 1:
        raise DataError(f"{_name(src)}: no frames")
    start_index = int(getattr(src, "start_index", 0))
    clips = mmaction2_source_indices(total_frames, pipeline.sampling, start_index=start_index)
    order = clips.reshape(-1)
    if order.size % pipeline.frames_per_view:
        raise ValueError(
            f"{order.size} sampled frames do not split into views of {pipeline.frames_per_view}"
        )
    return order


def _mmaction2_views(
    src: FrameSource, pipeline: MMAction2Pipeline, num_frames: int | None, *, uint8: bool = False
) -> torch.Tensor:
    order = _mmaction2_order(src, pipeline, num_frames)
    distinct, inverse = np.unique(order, return_inverse=True)
    # Resize(-1, short) on each distinct frame as it is decoded: once per frame, whatever the views
    resized = _read(src, distinct, partial(mmaction2_resize, short_side=pipeline.resize_short))
    new_h, new_w = resized.shape[1:3]

    size = pipeline.crop_size
    if pipeline.crop == "three":
        boxes = mmaction2_three_crop_boxes(new_h, new_w, size)
    else:
        boxes = [mmaction2_center_crop_box(new_h, new_w, size)]
    return _mmaction2_crops(resized, inverse, boxes, pipeline, uint8=uint8)


def _mmaction2_crops(resized: np.ndarray, inverse: np.ndarray, boxes: list[tuple[int, int]],
                     pipeline: MMAction2Pipeline, *, uint8: bool = False) -> torch.Tensor:
    """Views ``(crops x clips, 3, T, S, S)`` from resized uint8 frames: frame ``inverse[i]`` is
    the ``i``-th sampled frame; each box crops every clip, crop-major (``FormatShape`` order)."""
    size = pipeline.crop_size
    t = pipeline.frames_per_view
    per_crop = inverse.size // t
    table = mmaction2_normalize_table(pipeline.mean, pipeline.std)
    out = np.empty((len(boxes) * per_crop, 3, t, size, size), dtype=np.uint8 if uint8 else np.float32)
    for c, (y, x) in enumerate(boxes):
        # The uint8 crops in sampled order, laid out as (views, C, T, H, W); then Normalize, a
        # per-value table, straight into the output (it commutes with cropping: per pixel).
        sequence = resized[inverse, y : y + size, x : x + size]
        sequence = np.ascontiguousarray(
            sequence.reshape(per_crop, t, size, size, 3).transpose(0, 4, 1, 2, 3)
        )
        views = out[c * per_crop : (c + 1) * per_crop]
        if uint8:
            views[:] = sequence
            continue
        for channel in range(3):
            np.take(table[:, channel], sequence[:, channel], out=views[:, channel], mode="clip")
    return torch.from_numpy(out)


# --------------------------------------------------------------------------------------------
# PySlowFast
# --------------------------------------------------------------------------------------------


def _pyslowfast_temporal(src: FrameSource, pipeline: PySlowFastPipeline) -> np.ndarray:
    if pipeline.num_spatial_crops != 3:
        raise ValueError(
            "only PySlowFast's 3-crop test setting is reproduced (with one spatial crop the "
            "reference resizes to TRAIN_JITTER_SCALES[0], which the spec does not carry)"
        )
    return pyslowfast_view_indices(src.timing, pipeline, name=_name(src))


def _pyslowfast_views(src: FrameSource, pipeline: PySlowFastPipeline) -> torch.Tensor:
    temporal = _pyslowfast_temporal(src, pipeline)
    distinct, inverse = np.unique(temporal, return_inverse=True)
    inverse = inverse.reshape(temporal.shape)
    size, crops = pipeline.crop_size, pipeline.num_spatial_crops

    # The reference normalises (T, H, W, C), permutes to (C, T, H, W) and resizes the short side;
    # here each distinct frame is resized as it is decoded, then all of them are normalised once
    # at the small size (equal up to float32 rounding: bilinear is affine). Frames are kept as
    # (N, C, H', W') so that every crop copies whole rows.
    resize = partial(pyslowfast_resize_frame, size=size, channels_first=True)
    resized = torch.from_numpy(_read(src, distinct, resize, channels_first=True))
    pyslowfast_normalize_(resized, pipeline.mean, pipeline.std, channel_dim=1)
    return _pyslowfast_crops(resized, inverse, pipeline, spatial=range(crops))


def _pyslowfast_crops(resized: torch.Tensor, inverse: np.ndarray, pipeline: PySlowFastPipeline,
                      spatial: Sequence[int]) -> torch.Tensor:
    """Views ``(clips x crops, 3, T, S, S)`` from normalised ``(N, C, H', W')`` frames: row ``v``
    of ``inverse`` lists the frames of clip ``v``; ``spatial``: the ``uniform_crop`` indices."""
    size = pipeline.crop_size
    height, width = resized.shape[2:4]
    if size > height or size > width:
        raise ValueError(f"uniform_crop({size}) does not fit a {height}x{width} frame")
    boxes = [pyslowfast_crop_box(height, width, size, index) for index in spatial]
    crops = len(boxes)
    out = torch.empty((inverse.shape[0] * crops, 3, inverse.shape[1], size, size),
                      dtype=torch.float32)
    for i in range(inverse.shape[0]):
        for spatial_index, (y, x) in enumerate(boxes):
            view = out[i * crops + spatial_index]
            for t, row in enumerate(inverse[i].tolist()):  # one copy of whole rows per frame
                view[:, t] = resized[row, :, y : y + size, x : x + size]
    return out
