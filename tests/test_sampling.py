"""Temporal sampling against the worked examples of the reference pipelines."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from actionzoo.data.sampling import (
    mmaction2_clip_offsets,
    mmaction2_frame_inds,
    mmaction2_source_indices,
    pyav_selected_frames,
    pyslowfast_clip_size,
    pyslowfast_view_indices,
    temporal_sampling,
)
from actionzoo.errors import DataError
from actionzoo.zoo.protocols import MMAction2Sampling, PySlowFastPipeline

SF_10 = MMAction2Sampling(clip_len=32, frame_interval=2, num_clips=10)
SF_1 = MMAction2Sampling(clip_len=32, frame_interval=2, num_clips=1)
R21D = MMAction2Sampling(clip_len=8, frame_interval=8, num_clips=1)
TSM = MMAction2Sampling(clip_len=1, frame_interval=1, num_clips=8, twice_sample=True)
X3D = PySlowFastPipeline(
    num_frames=13, sampling_rate=6, target_fps=30, num_temporal_views=10,
    num_spatial_crops=3, crop_size=182,
)


# --- mmaction2 SampleFrames: the worked examples (reference frame_inds, start_index included) ---


def test_slowfast_10_clips_300_frames():
    inds = mmaction2_frame_inds(300, SF_10, start_index=1)
    assert inds.shape == (10, 32)
    assert inds[:, 0].tolist() == [12, 36, 60, 83, 107, 131, 155, 178, 202, 226]
    assert (inds - inds[:, :1] == np.arange(0, 64, 2)).all()


def test_slowfast_10_clips_64_frames_all_clips_equal():
    inds = mmaction2_frame_inds(64, SF_10, start_index=1)
    assert (inds == np.arange(1, 64, 2)).all()


def test_slowfast_10_clips_50_frames_wraps():
    inds = mmaction2_frame_inds(50, SF_10, start_index=1)
    expected = list(range(1, 50, 2)) + list(range(1, 14, 2))
    assert len(expected) == 32
    assert (inds == np.array(expected)).all()


def test_slowfast_ascend_video_300_and_50():
    assert mmaction2_frame_inds(300, SF_1, start_index=0).tolist() == [list(range(118, 181, 2))]
    expected = list(range(0, 49, 2)) + list(range(0, 13, 2))
    assert mmaction2_frame_inds(50, SF_1, start_index=0).tolist() == [expected]


def test_r2plus1d_examples():
    assert mmaction2_frame_inds(164, R21D, start_index=1).tolist() == [list(range(51, 108, 8))]
    assert mmaction2_frame_inds(50, R21D, start_index=1).tolist() == [[1, 9, 17, 25, 33, 41, 49, 7]]


def test_tsm_twice_sample_examples():
    inds = mmaction2_frame_inds(45, TSM, start_index=1).reshape(-1).tolist()
    assert inds == [3, 9, 15, 20, 26, 31, 37, 43, 1, 6, 12, 17, 23, 29, 34, 40]
    inds = mmaction2_frame_inds(7, TSM, start_index=1).reshape(-1).tolist()
    assert inds == [1, 2, 3, 4, 4, 5, 6, 7, 1, 1, 2, 3, 4, 5, 6, 7]


def test_twice_sample_offsets_stay_float_until_start_index():
    offsets = mmaction2_clip_offsets(45, TSM)
    assert offsets.dtype == np.float64
    assert offsets[8:].tolist() == [i * 45 / 8 for i in range(8)]


@pytest.mark.parametrize("total", [7, 45, 300])
def test_source_indices_name_the_reference_files(total):
    """A frame folder numbers files from 1: file = source index + 1 must equal frame_inds."""
    ref = mmaction2_frame_inds(total, TSM, start_index=1)
    ours = mmaction2_source_indices(total, TSM, start_index=1)
    assert (ours + 1 == ref).all()
    assert ours.min() >= 0 and ours.max() < total


def test_source_indices_for_video_equal_frame_inds():
    assert (mmaction2_source_indices(300, SF_10) == mmaction2_frame_inds(300, SF_10)).all()


@pytest.mark.parametrize("total", range(1, 140))
def test_indices_always_in_range(total):
    for sampling in (SF_10, SF_1, R21D, TSM):
        inds = mmaction2_source_indices(total, sampling, start_index=1)
        assert inds.min() >= 0 and inds.max() < total


def test_no_frames_is_a_data_error():
    with pytest.raises(DataError):
        mmaction2_frame_inds(0, SF_10)


def test_twice_sample_without_room_gives_num_clips_clips():
    """As in the reference, twice-sampling only happens when F > L - 1."""
    sampling = MMAction2Sampling(clip_len=4, frame_interval=2, num_clips=2, twice_sample=True)
    assert mmaction2_frame_inds(6, sampling).shape == (2, 4)
    assert mmaction2_frame_inds(8, sampling).shape == (4, 4)


# --- PySlowFast, PyAV path --------------------------------------------------------------------


def _timing(n, *, step=512, duration="auto", frames="auto", rate=Fraction(30), first=0):
    pts = first + np.arange(n, dtype=np.int64) * step
    return dict(
        frame_pts=pts,
        average_rate=rate,
        header_frames=n if frames == "auto" else frames,
        header_duration=n * step if duration == "auto" else duration,
    )


X3D_OFFSETS = [0, 6, 12, 19, 25, 32, 38, 44, 51, 57, 64, 70, 77]


def test_clip_size_at_30_fps():
    assert pyslowfast_clip_size(X3D, 30.0) == 78.0


def test_measured_300_frame_example():
    idx = pyslowfast_view_indices(pipeline=X3D, **_timing(300))
    first = [0, 23, 45, 67, 89, 111, 134, 156, 178, 200]
    assert idx.shape == (10, 13)
    assert (idx == np.array(first)[:, None] + np.array(X3D_OFFSETS)).all()


def test_measured_60_frame_example_clamps():
    idx = pyslowfast_view_indices(pipeline=X3D, **_timing(60))
    assert (idx == np.array([0, 6, 12, 19, 25, 32, 38, 44, 51, 57, 59, 59, 59])).all()


def test_accepts_a_timing_object():
    class Timing:
        frame_pts = np.arange(300) * 512
        average_rate = Fraction(30)
        header_frames = 300
        header_duration = 300 * 512
        time_base = Fraction(1, 15360)

    direct = pyslowfast_view_indices(pipeline=X3D, **_timing(300))
    assert (pyslowfast_view_indices(Timing(), X3D) == direct).all()


def test_no_duration_uses_the_whole_video():
    """No stream duration: start = delta*i/10 on the full list (delta = 300 - 78 = 222)."""
    idx = pyslowfast_view_indices(pipeline=X3D, **_timing(300, duration=None))
    # view 1: linspace(22.2, 99.2, 13); view 9: linspace(199.8, 276.8, 13), truncated
    assert idx[1].tolist() == [22, 28, 35, 41, 47, 54, 60, 67, 73, 79, 86, 92, 99]
    assert idx[9].tolist() == [199, 206, 212, 219, 225, 231, 238, 244, 251, 257, 263, 270, 276]
    assert idx[0].tolist() == X3D_OFFSETS


def test_zero_header_frames_counts_decoded_frames():
    """The reference would divide by zero; the decoded count stands in for the header's."""
    fallback = pyslowfast_view_indices(pipeline=X3D, **_timing(300, frames=0))
    assert (fallback == pyslowfast_view_indices(pipeline=X3D, **_timing(300))).all()


def test_header_promising_more_frames_than_decoded():
    """A truncated file: late views find no frame after their start and use the whole video."""
    t = _timing(100)
    t["header_frames"], t["header_duration"] = 300, 300 * 512
    idx = pyslowfast_view_indices(pipeline=X3D, **t)
    assert idx.max() <= 99
    # view 0 is still the selective decode (frames 0..78)
    assert idx[0].tolist() == X3D_OFFSETS
    # view 9 (start pts 200*512) falls back to the whole-video rule: delta = 22, start 19.8
    assert idx[9].tolist() == temporal_sampling(100, 22 * 9 / 10, 22 * 9 / 10 + 77, 13).tolist()


def test_timestamps_not_starting_at_zero():
    """pts ranges are absolute: an offset first pts shifts the window, as in the decoder."""
    idx = pyslowfast_view_indices(pipeline=X3D, **_timing(300, first=1024))
    # view 0: pts [0, 77*512]; frames with pts <= 39424 are 0..75 (pts 1024 + 512 k), plus 76
    assert idx[0].tolist() == [0, 6, 12, 19, 25, 32, 38, 44, 51, 57, 64, 70, 76]


def test_missing_frame_rate_is_a_data_error():
    with pytest.raises(DataError, match="frame rate"):
        pyslowfast_view_indices(pipeline=X3D, **_timing(300, rate=None))


def test_pyslowfast_no_frames_is_a_data_error():
    with pytest.raises(DataError):
        pyslowfast_view_indices(pipeline=X3D, **_timing(0, duration=None))


def _literal_decoder(pts_list, start_pts, end_pts):
    """PySlowFast's pyav_decode_stream loop, written out (buffer size 0)."""
    frames = {}
    for i, pts in enumerate(pts_list):
        if pts < start_pts:
            continue
        frames[pts] = i
        if pts > end_pts:
            break
    return [frames[p] for p in sorted(frames)]


def test_selection_matches_the_decoder_loop():
    rng = np.random.default_rng(0)
    for _ in range(300):
        n = int(rng.integers(1, 40))
        pts = rng.integers(-5, 60, size=n)  # unsorted, with repeats and negatives
        start = int(rng.integers(-3, 50))
        end = math.inf if rng.random() < 0.2 else start + int(rng.integers(-2, 20))
        expected = _literal_decoder(pts.tolist(), start, end)
        assert pyav_selected_frames(pts, start, end).tolist() == expected


def test_selection_keeps_first_frame_after_range():
    pts = np.arange(10) * 100
    assert pyav_selected_frames(pts, 150, 450).tolist() == [2, 3, 4, 5]


def test_temporal_sampling_float32_linspace():
    # 77/12 steps in float32: 0, 6.42, 12.83, 19.25, ... truncated
    assert temporal_sampling(78, 0.0, 77.0, 13).tolist() == X3D_OFFSETS
    assert temporal_sampling(5, 0.0, 77.0, 13).tolist() == [0, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4]


def test_frames_without_pts_are_never_selected():
    no_pts = np.iinfo(np.int64).min  # decode.NO_PTS
    pts = np.array([no_pts, 0, 512, no_pts, 1024])
    assert pyav_selected_frames(pts, 0, math.inf).tolist() == [1, 2, 4]
    assert pyav_selected_frames(pts, 0, 600).tolist() == [1, 2, 4]
