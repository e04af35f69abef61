"""Which frames form which clip: the temporal sampling of the reference test pipelines.

Two references are reproduced, index for index:

* mmaction2 0.x ``SampleFrames`` in test mode (with ``twice_sample`` and the default
  ``out_of_bound_opt='loop'``): :func:`mmaction2_frame_inds` gives the dataset's ``frame_inds``
  (file numbers for frame folders, which start at ``start_index``), and
  :func:`mmaction2_source_indices` turns them into 0-based indices into a frame source.
* PySlowFast's test-mode temporal views on the PyAV decoding path: :func:`pyslowfast_view_indices`
  computes, from the frame timestamps alone, the frames PySlowFast's decoder would return for each
  temporal view and then the ``linspace`` samples taken from them, as 0-based indices into the
  video's frames in presentation order. Nothing here seeks or decodes.

All results are ``int64`` numpy arrays. This module only does arithmetic; it never reads files.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np
import torch

from actionzoo.errors import DataError
from actionzoo.zoo.protocols import MMAction2Sampling, PySlowFastPipeline

if TYPE_CHECKING:  # pragma: no cover
    from actionzoo.data.decode import VideoTiming

__all__ = [
    "mmaction2_clip_offsets",
    "mmaction2_frame_inds",
    "mmaction2_source_indices",
    "pyslowfast_clip_size",
    "pyslowfast_start_end",
    "pyav_selected_frames",
    "temporal_sampling",
    "pyslowfast_view_indices",
]


# --------------------------------------------------------------------------------------------
# mmaction2 SampleFrames (test mode)
# --------------------------------------------------------------------------------------------


def mmaction2_clip_offsets(total_frames: int, sampling: MMAction2Sampling) -> np.ndarray:
    """The clip start offsets of ``SampleFrames`` in test mode, before ``start_index``.

    ``avg = (F - L + 1) / num_clips`` with ``L = clip_len * frame_interval``. When ``F > L - 1``
    the offsets are ``int(avg*i + avg/2)``, and with ``twice_sample`` the untruncated ``avg*i``
    follow them (float64: the reference truncates them only after adding ``start_index``).
    Otherwise every offset is 0 and twice-sampling does not happen (``num_clips`` clips only,
    exactly as the reference).
    """
    _check_sampling(sampling)
    ori_clip_len = sampling.clip_len * sampling.frame_interval
    avg_interval = (total_frames - ori_clip_len + 1) / float(sampling.num_clips)
    if total_frames > ori_clip_len - 1:
        base_offsets = np.arange(sampling.num_clips) * avg_interval
        offsets = (base_offsets + avg_interval / 2.0).astype(np.int64)
        if sampling.twice_sample:
            return np.concatenate([offsets, base_offsets])  # float64 from here on
        return offsets
    return np.zeros(sampling.num_clips, dtype=np.int64)


def mmaction2_frame_inds(
    total_frames: int, sampling: MMAction2Sampling, *, start_index: int = 0
) -> np.ndarray:
    """mmaction2's ``frame_inds`` as ``(clips, clip_len)``: clip-major, ``start_index`` included.

    Clip ``i`` is ``offset_i + j*frame_interval`` (``j < clip_len``), taken modulo
    ``total_frames`` (the 'loop' option pads short videos by wrapping to the start); then
    ``start_index`` is added and the result truncated to integers.
    """
    if total_frames <= 0:
        raise DataError(f"cannot sample frames from a video with {total_frames} frames")
    offsets = mmaction2_clip_offsets(total_frames, sampling)
    inds = offsets[:, None] + np.arange(sampling.clip_len)[None, :] * sampling.frame_interval
    inds = np.mod(inds, total_frames)
    return (inds + start_index).astype(np.int64)


def mmaction2_source_indices(
    total_frames: int, sampling: MMAction2Sampling, *, start_index: int = 0
) -> np.ndarray:
    """0-based frame indices ``(clips, clip_len)`` selecting the same frames as the reference.

    The reference numbers frames from ``start_index`` (1 for frame folders, whose files start at
    ``img_00001.jpg``; 0 for videos) and truncates ``offset + start_index`` as a whole; a frame
    source numbers them from 0, so the file the reference opens is ``result + start_index``.
    """
    return mmaction2_frame_inds(total_frames, sampling, start_index=start_index) - start_index


def _check_sampling(sampling: MMAction2Sampling) -> None:
    if sampling.clip_len < 1 or sampling.frame_interval < 1 or sampling.num_clips < 1:
        raise ValueError(f"invalid SampleFrames settings: {sampling}")


# --------------------------------------------------------------------------------------------
# PySlowFast, PyAV decoding path (test mode)
# --------------------------------------------------------------------------------------------


def pyslowfast_clip_size(pipeline: PySlowFastPipeline, fps: float) -> float:
    """Frames one clip spans at the video's rate: ``sampling_rate*num_frames/target_fps*fps``."""
    return pipeline.sampling_rate * pipeline.num_frames / pipeline.target_fps * fps


def pyslowfast_start_end(
    video_size: float, clip_size: float, clip_idx: int, num_clips: int
) -> tuple[float, float]:
    """``get_start_end_idx`` in test mode (no offset sampling): the clip's float frame range.

    ``delta = max(video_size - clip_size, 0)``, ``start = delta * clip_idx / num_clips``,
    ``end = start + clip_size - 1``.
    """
    delta = max(video_size - clip_size, 0)
    start_idx = delta * clip_idx / num_clips
    end_idx = start_idx + clip_size - 1
    return start_idx, end_idx


def pyav_selected_frames(frame_pts: np.ndarray, start_pts: float, end_pts: float) -> np.ndarray:
    """The frames PySlowFast's ``pyav_decode_stream`` keeps, as indices, in its output order.

    The decoder skips frames with ``pts < start_pts``, keeps those up to ``end_pts`` and the first
    one after it (buffer size 0), then stops. Frames are stored in a dict keyed by pts (a repeated
    pts keeps the later frame) and returned sorted by pts. ``frame_pts`` are the frames' pts in
    decoding output (presentation) order; the seek before decoding only skips frames that would
    be dropped anyway.
    """
    pts = np.asarray(frame_pts, dtype=np.int64)
    candidates = np.flatnonzero(pts >= start_pts)
    after = candidates[pts[candidates] > end_pts]
    if after.size:
        candidates = candidates[candidates <= after[0]]
    if candidates.size == 0:
        return candidates.astype(np.int64)
    reversed_ = candidates[::-1]
    _, first_in_reversed = np.unique(pts[reversed_], return_index=True)  # sorted by pts
    return reversed_[first_in_reversed].astype(np.int64)


def temporal_sampling(
    num_decoded: int, start_idx: float, end_idx: float, num_samples: int
) -> np.ndarray:
    """``temporal_sampling``: float32 ``linspace(start, end, n)``, clamped, truncated."""
    index = torch.linspace(start_idx, end_idx, num_samples)
    index = torch.clamp(index, 0, num_decoded - 1).long()
    return index.numpy().astype(np.int64)


def pyslowfast_view_indices(
    timing: VideoTiming | None = None,
    pipeline: PySlowFastPipeline | None = None,
    *,
    frame_pts: Sequence[int] | np.ndarray | None = None,
    average_rate: Fraction | float | None = None,
    header_frames: int = 0,
    header_duration: int | None = None,
    name: str = "video",
) -> np.ndarray:
    """0-based frame indices ``(num_temporal_views, num_frames)`` of PySlowFast's test clips.

    Pass the ``VideoTiming`` of a decoded video, or its fields as keywords. For temporal view
    ``i`` (PyAV backend): ``fps = average_rate``, ``frames_length = header_frames``,
    ``duration = header_duration``; ``start, end = get_start_end_idx(frames_length, clip_size, i,
    views)``; ``timebase = duration / frames_length``; the pts range ``[int(start*timebase),
    int(end*timebase)]`` selects frames as :func:`pyav_selected_frames`; then
    ``linspace(0, clip_size - 1, num_frames)`` indexes that list (clamped). When the stream has
    no duration the whole video (pts >= 0) is the list and the start is ``delta*i/views`` on it.

    Where the reference cannot produce a clip, this decides:

    * ``header_frames == 0`` (unknown count, e.g. WebM) with a duration: the reference divides by
      zero; here the number of decoded frames stands in for the header count.
    * no frame at or after the view's start pts (a header that promises more than the file holds,
      e.g. a truncated download): the reference's decode returns nothing and the test run
      fails; here that view falls back to the whole-video rule (PySlowFast's own fallback on its
      torchvision backend).
    * a frame the decoder gave no pts (``decode.NO_PTS``, the int64 minimum): never selected
      (the reference's ``pts < start_pts`` test would raise on ``None``).
    * no (or a non-positive) average frame rate, or no frame with pts >= 0: :class:`DataError`.
    """
    if pipeline is None:
        raise TypeError("pyslowfast_view_indices() needs a pipeline")
    if timing is not None:
        frame_pts = timing.frame_pts
        average_rate = timing.average_rate
        header_frames = timing.header_frames
        header_duration = timing.header_duration
    if frame_pts is None:
        raise TypeError("pyslowfast_view_indices() needs a timing or frame_pts")
    pts = np.asarray(frame_pts, dtype=np.int64)
    if average_rate is None or float(average_rate) <= 0:
        raise DataError(
            f"{name}: the video stream has no average frame rate; PySlowFast's sampling needs "
            "it to size the clips (re-mux the file with a frame rate)"
        )
    fps = float(average_rate)
    clip_size = pyslowfast_clip_size(pipeline, fps)
    views = pipeline.num_temporal_views

    whole = pyav_selected_frames(pts, 0, math.inf)
    if whole.size == 0:
        raise DataError(f"{name}: no decodable frame with a non-negative timestamp")

    def whole_video_view(i: int) -> np.ndarray:
        start_idx, end_idx = pyslowfast_start_end(whole.size, clip_size, i, views)
        return whole[temporal_sampling(whole.size, start_idx, end_idx, pipeline.num_frames)]

    out = np.empty((views, pipeline.num_frames), dtype=np.int64)
    if header_duration is None:
        for i in range(views):
            out[i] = whole_video_view(i)
        return out

    frames_length = header_frames if header_frames > 0 else int(pts.size)
    timebase = header_duration / frames_length
    for i in range(views):
        start_idx, end_idx = pyslowfast_start_end(frames_length, clip_size, i, views)
        selected = pyav_selected_frames(pts, int(start_idx * timebase), int(end_idx * timebase))
        if selected.size == 0:
            out[i] = whole_video_view(i)
            continue
        # The decoded list is sampled from its own start: get_start_end_idx(n, clip_size, 0, 1).
        start_idx, end_idx = pyslowfast_start_end(selected.size, clip_size, 0, 1)
        out[i] = selected[temporal_sampling(selected.size, start_idx, end_idx, pipeline.num_frames)]
    return out
