"""build_views / preprocess: view shapes, frames, order, and equality with literal reference code.

The ``_reference_*`` functions below transcribe the reference test pipelines step by step (one
view or one dataset item at a time, as mmaction2 and PySlowFast run them); build_views, which
decodes once and batches, must give the same tensors bit for bit.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from actionzoo.data.views import build_views, preprocess, view_frame_indices
from actionzoo.errors import DataError, UsageError
from actionzoo.zoo import protocol_catalog as Z
from actionzoo.zoo.protocols import (
    MMAction2Pipeline,
    MMAction2Sampling,
    Protocol,
    ScoreAggregation,
)

# --------------------------------------------------------------------------------------------
# in-memory sources: frame k has red = k % 256, green = k // 256 (flat), blue = a fixed texture
# --------------------------------------------------------------------------------------------


def _frames(n: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    frames = np.empty((n, h, w, 3), dtype=np.uint8)
    k = np.arange(n)
    frames[..., 0] = (k % 256)[:, None, None]
    frames[..., 1] = (k // 256)[:, None, None]
    frames[..., 2] = rng.integers(0, 256, (n, h, w), dtype=np.uint8)
    return frames


class FakeFolder:
    """A frame folder: ``len`` is the annotation count, files numbered from ``start_index``."""

    has_timestamps = False
    read_seconds = 0.0

    def __init__(self, frames: np.ndarray, start_index: int = 1):
        self.path = Path("fake/folder")
        self.frames = frames
        self.start_index = start_index
        self.reads: list[list[int]] = []
        self.transformed = 0  # frames handed to a read's transform

    def __len__(self) -> int:
        return len(self.frames)

    def read(self, indices, *, transform=None):
        indices = list(indices)
        self.reads.append(indices)
        if transform is None:
            return self.frames[indices]
        distinct, inverse = np.unique(indices, return_inverse=True)
        self.transformed += len(distinct)
        return np.stack([transform(self.frames[k]) for k in distinct])[inverse]


class FakeTiming:
    def __init__(self, n, *, step=512, rate=Fraction(30), duration="auto", frames="auto"):
        self.frame_pts = np.arange(n, dtype=np.int64) * step
        self.time_base = Fraction(1, 15360)
        self.average_rate = rate
        self.header_frames = n if frames == "auto" else frames
        self.header_duration = n * step if duration == "auto" else duration


class FakeVideo(FakeFolder):
    has_timestamps = True

    def __init__(self, frames: np.ndarray, timing: FakeTiming | None = None):
        super().__init__(frames)
        del self.start_index
        self.path = Path("fake/video.mp4")
        self.timing = timing or FakeTiming(len(frames))
        self.size = frames.shape[1:3]


def _decode_red_green(views: torch.Tensor, mean, std, value_range: float) -> np.ndarray:
    """Frame index of every (view, t), from the flat red/green channels of the normalised views."""
    red = views[:, 0, :, 0, 0].double() * std[0] + mean[0]
    green = views[:, 1, :, 0, 0].double() * std[1] + mean[1]
    red, green = (red * value_range).round().long(), (green * value_range).round().long()
    return (green * 256 + red).numpy()


def _mm_index(views):
    return _decode_red_green(views, (123.675, 116.28, 103.53), (58.395, 57.12, 57.375), 1.0)


def _sf_index(views):
    return _decode_red_green(views, (0.45,) * 3, (0.225,) * 3, 255.0)


# --------------------------------------------------------------------------------------------
# literal reference transcriptions
# --------------------------------------------------------------------------------------------


def _reference_mmaction2(frames_by_file, total_frames, pipeline, start_index) -> torch.Tensor:
    s = pipeline.sampling
    # SampleFrames (test mode, loop)
    ori = s.clip_len * s.frame_interval
    avg = (total_frames - ori + 1) / float(s.num_clips)
    if total_frames > ori - 1:
        base = np.arange(s.num_clips) * avg
        offsets = (base + avg / 2.0).astype(int)
        if s.twice_sample:
            offsets = np.concatenate([offsets, base])
    else:
        offsets = np.zeros((s.num_clips,), dtype=int)
    inds = offsets[:, None] + np.arange(s.clip_len)[None, :] * s.frame_interval
    inds = np.mod(np.concatenate(inds).reshape((-1, s.clip_len)), total_frames)
    inds = (np.concatenate(inds) + start_index).astype(int)
    # RawFrameDecode / DecordDecode
    imgs = [frames_by_file(int(i)) for i in inds]
    # Resize(-1, short): mmcv rescale_size + imresize
    h, w = imgs[0].shape[:2]
    scale = min(np.inf / max(h, w), pipeline.resize_short / min(h, w))
    new_w, new_h = int(w * float(scale) + 0.5), int(h * float(scale) + 0.5)
    imgs = [cv2.resize(im, (new_w, new_h), interpolation=cv2.INTER_LINEAR) for im in imgs]
    # ThreeCrop / CenterCrop
    c = pipeline.crop_size
    if pipeline.crop == "three":
        if c == new_h:
            step = (new_w - c) // 2
            offsets_xy = [(0, 0), (2 * step, 0), (step, 0)]
        else:
            step = (new_h - c) // 2
            offsets_xy = [(0, 0), (0, 2 * step), (0, step)]
    else:
        offsets_xy = [((new_w - c) // 2, (new_h - c) // 2)]
    cropped = []
    for x, y in offsets_xy:
        cropped.extend(img[y : y + c, x : x + c] for img in imgs)
    # Normalize (mmcv imnormalize_ on float32 copies)
    out = np.empty((len(cropped), c, c, 3), dtype=np.float32)
    mean = np.array(pipeline.mean, dtype=np.float32)
    std = np.array(pipeline.std, dtype=np.float32)
    for i, img in enumerate(cropped):
        out[i] = img
        cv2.subtract(out[i], np.float64(mean.reshape(1, -1)), out[i])
        cv2.multiply(out[i], 1 / np.float64(std.reshape(1, -1)), out[i])
    # FormatShape NCTHW (3D models) or NCHW grouped by segments (TSM); views in (V, C, T, H, W)
    if s.clip_len > 1:
        num_clips = len(inds) // s.clip_len
        x = out.reshape((-1, num_clips, s.clip_len) + out.shape[1:])
        x = np.transpose(x, (0, 1, 5, 2, 3, 4)).reshape((-1, 3, s.clip_len, c, c))
    else:
        x = out.transpose(0, 3, 1, 2).reshape(-1, pipeline.frames_per_view, 3, c, c)
        x = x.transpose(0, 2, 1, 3, 4)
    return torch.from_numpy(np.ascontiguousarray(x))


def _reference_pyslowfast_clip(frames, timing, p, temporal) -> torch.Tensor:
    """A dataset item of PySlowFast's Kinetics test set (PyAV backend) up to the crop.

    The three items of one temporal index are identical until ``uniform_crop``.
    """
    fps = float(timing.average_rate)
    frames_length, duration = timing.header_frames, timing.header_duration
    clip_size = p.sampling_rate * p.num_frames / p.target_fps * fps

    def start_end(size, clip_idx, num_clips):
        delta = max(size - clip_size, 0)
        start = delta * clip_idx / num_clips
        return start, start + clip_size - 1

    if duration is None:
        decode_all, start_pts, end_pts = True, 0, math.inf
    else:
        decode_all = False
        start, end = start_end(frames_length, temporal, p.num_temporal_views)
        timebase = duration / frames_length
        start_pts, end_pts = int(start * timebase), int(end * timebase)
    kept = {}
    for k, pts in enumerate(timing.frame_pts.tolist()):
        if pts < start_pts:
            continue
        kept[pts] = frames[k]
        if pts > end_pts:
            break
    video = torch.as_tensor(np.stack([kept[pts] for pts in sorted(kept)]))
    start, end = start_end(
        video.shape[0], temporal if decode_all else 0, p.num_temporal_views if decode_all else 1
    )
    index = torch.clamp(torch.linspace(start, end, p.num_frames), 0, video.shape[0] - 1).long()
    clip = torch.index_select(video, 0, index)
    # tensor_normalize, permute, spatial_sampling
    clip = clip.float() / 255.0
    clip = (clip - torch.tensor(list(p.mean))) / torch.tensor(list(p.std))
    clip = clip.permute(3, 0, 1, 2)
    size = p.crop_size
    height, width = clip.shape[2], clip.shape[3]
    if not ((width <= height and width == size) or (height <= width and height == size)):
        new_w, new_h = size, size
        if width < height:
            new_h = int(math.floor((float(height) / width) * size))
        else:
            new_w = int(math.floor((float(width) / height) * size))
        clip = torch.nn.functional.interpolate(
            clip, size=(new_h, new_w), mode="bilinear", align_corners=False
        )
    return clip


def _reference_uniform_crop(clip, size, spatial) -> torch.Tensor:
    height, width = clip.shape[2], clip.shape[3]
    y = int(math.ceil((height - size) / 2))
    x = int(math.ceil((width - size) / 2))
    if height > width:
        y = {0: 0, 1: y, 2: height - size}[spatial]
    else:
        x = {0: 0, 1: x, 2: width - size}[spatial]
    return clip[:, :, y : y + size, x : x + size]


# The PySlowFast views resize before normalising; the reference normalises first. Bilinear is
# affine, so the two agree up to float32 rounding: the bound the issue sets is 1e-5 (max abs).
PYSLOWFAST_TOLERANCE = 1e-5


def _assert_matches_pyslowfast(views: torch.Tensor, ref: torch.Tensor) -> None:
    assert views.shape == ref.shape and views.dtype == ref.dtype
    worst = (views - ref).abs().max().item()
    assert worst <= PYSLOWFAST_TOLERANCE, f"max abs difference {worst:.3g} > {PYSLOWFAST_TOLERANCE}"


def _reference_pyslowfast(frames, timing, p) -> torch.Tensor:
    items = []
    for temporal in range(p.num_temporal_views):
        clip = _reference_pyslowfast_clip(frames, timing, p, temporal)
        for spatial in range(p.num_spatial_crops):
            items.append(_reference_uniform_crop(clip, p.crop_size, spatial))
    return torch.stack(items)


# --------------------------------------------------------------------------------------------
# mmaction2 protocols
# --------------------------------------------------------------------------------------------


def test_tsm_twice_sample_views_order_and_values():
    frames = _frames(45, 48, 64)
    src = FakeFolder(frames)
    views = build_views(src, Z.TSM_OFFICIAL)
    assert views.shape == (6, 3, 8, 256, 256) and views.dtype == torch.float32
    shifted = [3, 9, 15, 20, 26, 31, 37, 43]  # files (1-based), the worked example
    unshifted = [1, 6, 12, 17, 23, 29, 34, 40]
    expected = np.array([shifted, unshifted] * 3) - 1
    assert (_mm_index(views) == expected).all()
    assert (view_frame_indices(src, Z.TSM_OFFICIAL) == expected).all()
    ref = _reference_mmaction2(lambda f: frames[f - 1], 45, Z.TSM_OFFICIAL.pipeline, 1)
    assert torch.equal(views, ref)
    # crops 0, 1, 2 = left, right, middle of the 256x341 frame: they differ in the texture
    assert not torch.equal(views[0, 2], views[2, 2]) and not torch.equal(views[2, 2], views[4, 2])


def test_tsm_ascend_is_the_same_tensor():
    src = FakeFolder(_frames(45, 48, 64))
    assert torch.equal(build_views(src, Z.TSM_ASCEND), build_views(src, Z.TSM_OFFICIAL))


def test_r2plus1d_short_folder_wraps_and_matches_reference():
    frames = _frames(50, 40, 30)  # portrait: top / bottom / middle crops
    src = FakeFolder(frames)
    views = build_views(src, Z.R2PLUS1D_OFFICIAL)
    assert views.shape == (3, 3, 8, 256, 256)
    expected = np.array([1, 9, 17, 25, 33, 41, 49, 7]) - 1
    assert (_mm_index(views) == expected).all()
    ref = _reference_mmaction2(lambda f: frames[f - 1], 50, Z.R2PLUS1D_OFFICIAL.pipeline, 1)
    assert torch.equal(views, ref)
    assert torch.equal(build_views(src, Z.R2PLUS1D_ASCEND), views)


def test_num_frames_is_the_annotation_count():
    """total_frames comes from the annotation line: a larger count samples later files."""
    frames = _frames(200, 24, 32)
    src = FakeFolder(frames)
    views = build_views(src, Z.R2PLUS1D_OFFICIAL, num_frames=164)
    assert (_mm_index(views) == np.arange(51, 108, 8) - 1).all()


def test_slowfast_crop_major_view_order():
    """View v = crop * clips + clip (a 2-clip variant of the official protocol, for speed)."""
    pipeline = MMAction2Pipeline(
        sampling=MMAction2Sampling(clip_len=32, frame_interval=2, num_clips=2),
        frames_per_view=32, crop="three", crop_size=256,
    )
    frames = _frames(300, 36, 48)
    src = FakeFolder(frames)
    views = build_views(src, pipeline)
    assert views.shape == (6, 3, 32, 256, 256)
    # avg = 237 / 2 = 118.5: offsets int(59.25) = 59, int(177.75) = 177 (+1 file, -1 0-based)
    clips = np.array([59, 177])[:, None] + np.arange(0, 64, 2)
    assert (_mm_index(views) == np.concatenate([clips] * 3)).all()
    ref = _reference_mmaction2(lambda f: frames[f - 1], 300, pipeline, 1)
    assert torch.equal(views, ref)


def test_slowfast_official_indices_and_shape():
    src = FakeFolder(_frames(300, 36, 48))
    idx = view_frame_indices(src, Z.SLOWFAST_OFFICIAL)
    starts = np.array([12, 36, 60, 83, 107, 131, 155, 178, 202, 226]) - 1
    assert idx.shape == (30, 32)
    assert (idx == np.tile(starts[:, None] + np.arange(0, 64, 2), (3, 1))).all()
    assert Z.SLOWFAST_OFFICIAL.num_views == 30


def test_slowfast_ascend_video_center_crop():
    frames = _frames(300, 36, 48)
    src = FakeVideo(frames)
    views = build_views(src, Z.SLOWFAST_ASCEND)
    assert views.shape == (1, 3, 32, 224, 224)
    assert (_mm_index(views) == np.arange(118, 181, 2)).all()  # start_index 0
    ref = _reference_mmaction2(lambda f: frames[f], 300, Z.SLOWFAST_ASCEND.pipeline, 0)
    assert torch.equal(views, ref)


def test_each_distinct_frame_is_read_once():
    src = FakeFolder(_frames(7, 24, 32))
    build_views(src, Z.TSM_OFFICIAL)
    assert len(src.reads) == 1
    assert src.reads[0] == sorted(set(src.reads[0])) == list(range(7))


@pytest.mark.parametrize(
    ("protocol", "frames"),
    [
        (Z.TSM_OFFICIAL, _frames(45, 48, 64)),  # 6 views x 8 frames, 16 distinct, 3 crops
        (Z.SLOWFAST_OFFICIAL, _frames(40, 30, 40)),  # 30 views of 32 frames from 40 frames
        (Z.X3D_OFFICIAL, _frames(60, 30, 40)),  # all 10 clips share the same 13 frames
    ],
    ids=["tsm", "slowfast_mmaction2", "x3d"],
)
@pytest.mark.slow
def test_each_distinct_frame_is_resized_once(protocol, frames):
    """Work shared between views: one resize per distinct frame, whatever the views and crops."""
    src = FakeVideo(frames) if protocol is Z.X3D_OFFICIAL else FakeFolder(frames)
    build_views(src, protocol)
    distinct = np.unique(view_frame_indices(src, protocol))
    assert len(src.reads) == 1 and src.transformed == len(distinct)


# --------------------------------------------------------------------------------------------
# PySlowFast protocols
# --------------------------------------------------------------------------------------------

X3D_OFFSETS = np.array([0, 6, 12, 19, 25, 32, 38, 44, 51, 57, 64, 70, 77])


def test_x3d_views_match_reference_items():
    frames = _frames(300, 30, 40)
    src = FakeVideo(frames)
    views = build_views(src, Z.X3D_OFFICIAL)
    assert views.shape == (30, 3, 13, 182, 182) and views.dtype == torch.float32
    first = np.array([0, 23, 45, 67, 89, 111, 134, 156, 178, 200])
    expected = np.repeat(first[:, None] + X3D_OFFSETS, 3, axis=0)  # view = temporal*3 + spatial
    assert (_sf_index(views) == expected).all()
    assert (view_frame_indices(src, Z.X3D_ASCEND) == expected).all()
    _assert_matches_pyslowfast(views, _reference_pyslowfast(frames, src.timing, Z.X3D_OFFICIAL.pipeline))
    assert len(src.reads) == 1


def test_x3d_short_video_clamps_portrait_crops():
    frames = _frames(60, 40, 30)  # portrait: spatial crops top / centre / bottom
    src = FakeVideo(frames)
    views = build_views(src, Z.X3D_ASCEND)
    expected = [0, 6, 12, 19, 25, 32, 38, 44, 51, 57, 59, 59, 59]
    assert (_sf_index(views) == np.array(expected)).all()
    _assert_matches_pyslowfast(views, _reference_pyslowfast(frames, src.timing, Z.X3D_ASCEND.pipeline))
    assert not torch.equal(views[0, 2], views[2, 2])


def test_x3d_without_duration_and_with_182_short_side():
    frames = _frames(100, 182, 190)  # no resize: the short side is already 182
    src = FakeVideo(frames, FakeTiming(100, duration=None))
    views = build_views(src, Z.X3D_OFFICIAL)
    # nothing to resize: the same float32 operations as the reference, in its order, bit for bit
    assert torch.equal(views, _reference_pyslowfast(frames, src.timing, Z.X3D_OFFICIAL.pipeline))


def test_x3d_needs_a_video():
    with pytest.raises(UsageError, match="video file"):
        build_views(FakeFolder(_frames(10, 8, 8)), Z.X3D_OFFICIAL)


def test_num_frames_with_a_video_is_a_usage_error():
    with pytest.raises(UsageError, match="num_frames"):
        build_views(FakeVideo(_frames(10, 8, 8)), Z.SLOWFAST_ASCEND, num_frames=10)


# --------------------------------------------------------------------------------------------
# protocols and the preprocess entry point
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("protocol", "views", "shape"),
    [
        (Z.SLOWFAST_OFFICIAL, 30, (3, 32, 256, 256)),
        (Z.SLOWFAST_ASCEND, 1, (3, 32, 224, 224)),
        (Z.X3D_OFFICIAL, 30, (3, 13, 182, 182)),
        (Z.X3D_ASCEND, 30, (3, 13, 182, 182)),
        (Z.R2PLUS1D_OFFICIAL, 3, (3, 8, 256, 256)),
        (Z.R2PLUS1D_ASCEND, 3, (3, 8, 256, 256)),
        (Z.TSM_OFFICIAL, 6, (3, 8, 256, 256)),
        (Z.TSM_ASCEND, 6, (3, 8, 256, 256)),
    ],
)
def test_protocol_view_counts(protocol, views, shape):
    assert protocol.num_views == views
    src = FakeVideo(_frames(90, 12, 16))
    idx = view_frame_indices(src, protocol)
    assert idx.shape == (views, shape[1])


def test_aggregations():
    assert Z.SLOWFAST_OFFICIAL.aggregation is ScoreAggregation.MEAN_SOFTMAX
    assert Z.X3D_OFFICIAL.aggregation is Z.X3D_ASCEND.aggregation is ScoreAggregation.SUM
    assert Z.R2PLUS1D_ASCEND.aggregation is ScoreAggregation.MEAN_LOGITS
    assert Z.TSM_ASCEND.aggregation is ScoreAggregation.SOFTMAX_OF_MEAN_LOGITS


def test_preprocess_with_a_protocol_object():
    src = FakeFolder(_frames(45, 24, 32))
    assert torch.equal(preprocess(Z.TSM_OFFICIAL, src), build_views(src, Z.TSM_OFFICIAL))
    custom = Protocol("custom", Z.TSM_OFFICIAL.pipeline, ScoreAggregation.MEAN_LOGITS, "x", "y")
    assert preprocess("anything", src, protocol=custom).shape == (6, 3, 8, 256, 256)


def test_preprocess_by_model_name_and_unknown_protocol():
    registry = pytest.importorskip("actionzoo.zoo.registry")
    name = next(
        n for n, spec in registry.MODELS.items() if spec.protocols.get("official") is Z.TSM_OFFICIAL
    )
    src = FakeFolder(_frames(45, 24, 32))
    assert torch.equal(preprocess(name, src, "ascend"), build_views(src, Z.TSM_ASCEND))
    with pytest.raises(UsageError, match="no protocol"):
        preprocess(name, src, "nonexistent")


# --------------------------------------------------------------------------------------------
# end to end on synthetic media (tests/media.py): frames show their own index
# --------------------------------------------------------------------------------------------

media = pytest.importorskip("media")


def _view_codes(view: torch.Tensor, mean, std, to_255: float, original_short: int) -> list[int]:
    """decode_index of every frame of a view cropped at (0, 0) (left or top crop).

    The view is un-normalised and scaled back to the source's scale, where the index code (the
    top-left 96x128 pixels) can be read.
    """
    size = view.shape[-1]
    back = original_short  # the crop spans the short side, resized from original_short
    codes = []
    for t in range(view.shape[1]):
        img = view[:, t].permute(1, 2, 0).double().numpy() * np.array(std) + np.array(mean)
        img = np.clip(np.rint(img * to_255), 0, 255).astype(np.uint8)
        small = cv2.resize(img, (back, back), interpolation=cv2.INTER_AREA)
        padded = np.zeros((max(back, 96), max(back, 128), 3), dtype=np.uint8)
        padded[:back, :back] = small
        codes.append(media.decode_index(padded))
        assert size >= back
    return codes


def _mm_codes(view):
    return _view_codes(view, (123.675, 116.28, 103.53), (58.395, 57.12, 57.375), 1.0, 120)


def _sf_codes(view):
    return _view_codes(view, (0.45,) * 3, (0.225,) * 3, 255.0, 120)


class _Timing:
    """A video's timing read with PyAV directly (header) and a plain sequential decode (pts)."""

    def __init__(self, path):
        import av

        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            self.average_rate = stream.average_rate
            self.header_frames = stream.frames
            self.header_duration = stream.duration
        self.frame_pts = np.array(media.decoder_frame_pts(path), dtype=np.int64)


class _Video:
    def __init__(self, m):
        self.path = m.path
        self.frames = media.sequential_decode(m.path)  # frame k = k-th frame a decoder outputs
        self.timing = _Timing(m.path)


@pytest.fixture(scope="module")
def h264_300(tmp_path_factory):
    return _Video(media.write_h264_mp4(tmp_path_factory.mktemp("media") / "h264_300.mp4", 300))


def test_e2e_tsm_frame_folder(tmp_path):
    folder = media.write_frame_folder(tmp_path / "frames", 45).path
    views = preprocess(Z.TSM_OFFICIAL, folder)
    assert views.shape == (6, 3, 8, 256, 256)
    assert _mm_codes(views[0]) == [2, 8, 14, 19, 25, 30, 36, 42]  # files 3, 9, ..., 43
    assert _mm_codes(views[1]) == [0, 5, 11, 16, 22, 28, 33, 39]  # files 1, 6, ..., 40

    def read_file(number):
        bgr = cv2.imread(str(folder / f"img_{number:05}.jpg"), cv2.IMREAD_COLOR)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    assert torch.equal(views, _reference_mmaction2(read_file, 45, Z.TSM_OFFICIAL.pipeline, 1))


def test_e2e_r2plus1d_short_folder_wraps(tmp_path):
    folder = media.write_frame_folder(tmp_path / "frames", 50).path
    views = build_views(str(folder), Z.R2PLUS1D_ASCEND, num_frames=50)
    assert views.shape == (3, 3, 8, 256, 256)
    assert _mm_codes(views[0]) == [0, 8, 16, 24, 32, 40, 48, 6]


def test_e2e_folder_with_fewer_files_than_num_frames(tmp_path):
    folder = media.write_frame_folder(tmp_path / "frames", 10).path
    # F = 64: one clip at offset 0 -> files 1, 9, 17, ...; img_00017.jpg does not exist
    with pytest.raises(DataError, match=r"img_00017\.jpg"):
        build_views(folder, Z.R2PLUS1D_OFFICIAL, num_frames=64)


def test_e2e_slowfast_ascend_video(h264_300):
    frames = h264_300.frames
    views = build_views(h264_300.path, Z.SLOWFAST_ASCEND)
    assert views.shape == (1, 3, 32, 224, 224)
    ref = _reference_mmaction2(lambda k: frames[k], len(frames), Z.SLOWFAST_ASCEND.pipeline, 0)
    assert torch.equal(views, ref)
    assert (view_frame_indices(h264_300.path, Z.SLOWFAST_ASCEND) == np.arange(118, 181, 2)).all()


@pytest.mark.slow
def test_e2e_slowfast_official_video(h264_300):
    views = build_views(h264_300.path, Z.SLOWFAST_OFFICIAL)
    assert views.shape == (30, 3, 32, 256, 256)
    starts = [11, 35, 59, 82, 106, 130, 154, 177, 201, 225]  # video: start_index 0
    assert _mm_codes(views[0]) == list(range(11, 75, 2))
    assert [_mm_codes(views[clip][:, :1])[0] for clip in range(10)] == starts
    # crops: left (x 0), right (x 84), middle (x 42) of the 256x341 frame, crop-major
    assert torch.equal(views[:10, ..., 84:], views[10:20, ..., :172])
    assert torch.equal(views[10:20, ..., :172], views[20:, ..., 42:214])
    assert not torch.equal(views[:10], views[20:])


def test_e2e_x3d_video(h264_300):
    views = build_views(h264_300.path, Z.X3D_OFFICIAL)
    assert views.shape == (30, 3, 13, 182, 182)
    first = [0, 23, 45, 67, 89, 111, 134, 156, 178, 200]
    for i in range(10):
        assert _sf_codes(views[3 * i]) == (first[i] + X3D_OFFSETS).tolist()
    ref = _reference_pyslowfast(h264_300.frames, h264_300.timing, Z.X3D_OFFICIAL.pipeline)
    _assert_matches_pyslowfast(views, ref)


def test_e2e_x3d_short_video_clamps(tmp_path):
    m = media.write_h264_mp4(tmp_path / "short.mp4", 60)
    views = preprocess(Z.X3D_ASCEND, m.path)
    assert views.shape == (30, 3, 13, 182, 182)
    expected = [0, 6, 12, 19, 25, 32, 38, 44, 51, 57, 59, 59, 59]
    assert _sf_codes(views[0]) == expected and _sf_codes(views[27]) == expected


@pytest.mark.parametrize(
    "writer",
    [
        lambda d: media.write_vp9_webm(d / "v.webm", 60),  # no frame count, no stream duration
        lambda d: media.write_edit_list_cut(d / "cut.mp4", 90, 40),  # header counts 60, 50 shown
        lambda d: media.write_packed_b_avi(d / "packed.avi", 40),  # pts out of order
        lambda d: media.write_vfr_mp4(d / "vfr.mp4", 60),  # timestamp gap
    ],
    ids=["webm", "edit_list", "packed_b_avi", "vfr"],
)
def test_e2e_x3d_tricky_files_match_reference(tmp_path, writer):
    m = writer(tmp_path)
    frames = media.sequential_decode(m.path)
    views = build_views(m.path, Z.X3D_OFFICIAL)
    timing = _Timing(m.path)
    if timing.header_frames == 0 and timing.header_duration is not None:
        pytest.fail("the reference divides by zero here; compare against the documented fallback")
    _assert_matches_pyslowfast(views, _reference_pyslowfast(frames, timing, Z.X3D_OFFICIAL.pipeline))


@pytest.mark.parametrize(
    ("protocol", "size"),
    [
        (Z.X3D_OFFICIAL, (360, 640)),  # downscale 640x360 -> 323x182
        (Z.SLOWFAST_PYSLOWFAST_OFFICIAL, (360, 480)),  # 480x360 -> 341x256
        (Z.X3D_OFFICIAL, (480, 272)),  # portrait: 272 -> 182, top / centre / bottom crops
    ],
    ids=["x3d_640x360", "pyslowfast_slowfast_480x360", "x3d_portrait"],
)
@pytest.mark.slow
def test_e2e_pyslowfast_resize_first_matches_reference_order(tmp_path, protocol, size):
    """The whole pipeline on real decoded frames: resize-then-normalise views against the
    reference's normalise-then-resize items, within the 1e-5 bound."""
    m = media.write_h264_mp4(tmp_path / "v.mp4", 100, size=size, gop=25)
    views = build_views(m.path, protocol)
    ref = _reference_pyslowfast(media.sequential_decode(m.path), _Timing(m.path), protocol.pipeline)
    _assert_matches_pyslowfast(views, ref)


def test_e2e_mmaction2_on_edit_list_cut_wraps(tmp_path):
    m = media.write_edit_list_cut(tmp_path / "cut.mp4", 90, 40)
    frames = media.sequential_decode(m.path)
    assert len(frames) == 50
    views = build_views(m.path, Z.SLOWFAST_ASCEND)
    ref = _reference_mmaction2(lambda k: frames[k], 50, Z.SLOWFAST_ASCEND.pipeline, 0)
    assert torch.equal(views, ref)
    assert (view_frame_indices(m.path, Z.SLOWFAST_ASCEND) == np.arange(0, 63, 2) % 50).all()
