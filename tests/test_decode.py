"""Tests of actionzoo.data.decode: frame-exact video reads and frame-folder reads.

Ground truth for a video is a plain PyAV sequential decode (frame k = the k-th frame the decoder
outputs); every frame also shows its own index (see tests/media.py), so a wrong frame is caught
even where two decoders agree with each other.
"""

from __future__ import annotations

import fractions
import struct
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from media import (
    Media,
    decode_index,
    decoder_frame_pts,
    edit_list_media_time,
    make_frame,
    packet_count,
    sequential_decode,
    write_audio_only_m4a,
    write_av1_mp4,
    write_corrupt_mp4,
    write_edit_list_cut,
    write_frame_folder,
    write_garbage_file,
    write_h264_mp4,
    write_hevc_mp4,
    write_mpeg4_avi,
    write_packed_b_avi,
    write_short_video,
    write_single_frame_video,
    write_truncated_mp4,
    write_vfr_mp4,
    write_vp8_webm,
    write_vp9_webm,
    write_zero_frame_avi,
)

from actionzoo.data import decode as decode_module
from actionzoo.data.decode import (
    FrameFolder,
    FrameSource,
    VideoFile,
    VideoTiming,
    open_source,
)
from actionzoo.errors import DataError

# name -> writer(folder) ; every kind is checked against a sequential decode
WRITERS = {
    "h264_mp4": lambda d: write_h264_mp4(d / "h264.mp4", 300, gop=30),
    "h264_open_gop_mp4": lambda d: write_h264_mp4(d / "open_gop.mp4", 150, gop=30, bframes=3, open_gop=True),
    "h264_open_gop_mkv": lambda d: write_h264_mp4(d / "open_gop.mkv", 150, gop=30, bframes=3, open_gop=True),
    "vp9_webm": lambda d: write_vp9_webm(d / "vp9.webm", 120, gop=20),
    "vp8_webm": lambda d: write_vp8_webm(d / "vp8.webm", 90, gop=30),
    "hevc_mp4": lambda d: write_hevc_mp4(d / "hevc.mp4", 90, gop=30),
    "av1_mp4": lambda d: write_av1_mp4(d / "av1.mp4", 90, gop=30),
    "mpeg4_avi": lambda d: write_mpeg4_avi(d / "plain.avi", 60),
    "mpeg4_avi_b": lambda d: write_mpeg4_avi(d / "bframes.avi", 60, bframes=2),
    "packed_b_avi": lambda d: write_packed_b_avi(d / "packed.avi", 40),
    "edit_list_cut_mp4": lambda d: write_edit_list_cut(d / "cut.mp4", 150, cut=70, gop=30),
    "vfr_mp4": lambda d: write_vfr_mp4(d / "vfr.mp4", 90, gap_after=40, gap=15),
    "short_mp4": lambda d: write_short_video(d / "short.mp4", 12),
    "single_frame_mp4": lambda d: write_single_frame_video(d / "single.mp4"),
}
# kinds in containers with presentation timestamps, where the reader seeks to keyframes
SEEKING = {
    "h264_mp4",
    "h264_open_gop_mp4",
    "h264_open_gop_mkv",
    "vp9_webm",
    "vp8_webm",
    "hevc_mp4",
    "av1_mp4",
    "edit_list_cut_mp4",
    "vfr_mp4",
}


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="module")
def written(media_dir) -> dict[str, tuple[Media, np.ndarray]]:
    """Every media kind, written once, with its sequential decode."""
    out = {}
    for name, writer in WRITERS.items():
        media = writer(media_dir)
        out[name] = (media, sequential_decode(media.path))
    return out


@pytest.fixture(params=sorted(WRITERS))
def kind(request, written):
    media, frames = written[request.param]
    return request.param, media, frames


# ------------------------------------------------------------------------------------------------
# every media kind


def test_media_helpers_are_what_they_claim(kind):
    """The synthetic files decode (sequentially) to the frames the writer promises."""
    _, media, frames = kind
    assert [decode_index(f) for f in frames] == list(media.codes)


def test_length_is_the_sequential_frame_count(kind):
    _, media, frames = kind
    video = VideoFile(media.path)
    assert len(video) == len(frames) == len(media)
    assert VideoFile(media.path, index="decode").timing.frame_pts.tolist() == video.timing.frame_pts.tolist()


def test_frame_pts_are_the_decoder_output_pts(kind):
    _, media, _ = kind
    timing = VideoFile(media.path).timing
    assert timing.frame_pts.dtype == np.int64
    assert timing.frame_pts.tolist() == decoder_frame_pts(media.path)
    assert not timing.frame_pts.flags.writeable


def test_read_everything_equals_sequential_decode(kind):
    _, media, frames = kind
    video = VideoFile(media.path)
    out = video.read(range(len(frames)))
    assert out.dtype == np.uint8 and out.shape == frames.shape
    assert np.array_equal(out, frames)


def test_random_access_equals_sequential_decode(kind):
    """Shuffled, repeated, backward and overlapping requests, on one reader and on fresh ones."""
    name, media, frames = kind
    n = len(frames)
    rng = np.random.default_rng(sum(map(ord, name)))
    requests = [
        rng.permutation(n)[: min(n, 25)],
        rng.integers(0, n, size=20),  # repeats
        np.arange(n - 1, -1, -7),  # backward
        np.array([n - 1, 0, n - 1, n // 2, n // 2, 0]),
        np.concatenate(
            [np.arange(n // 3, n // 3 + 16) % n, np.arange(n // 3 + 8, n // 3 + 24) % n]
        ),  # overlap
    ]
    shared = VideoFile(media.path)
    for indices in requests:
        for video in (shared, VideoFile(media.path)):
            out = video.read(indices.tolist())
            assert np.array_equal(out, frames[indices]), f"{name}: {indices.tolist()}"
            assert [decode_index(f) for f in out] == [media.codes[i] for i in indices]
    assert shared._seek_ok, "a seek landed somewhere the index did not expect"


def test_reads_with_frame_threads_equal_sequential_decode(kind):
    _, media, frames = kind
    indices = np.arange(len(frames))[::-3]
    assert np.array_equal(VideoFile(media.path, threads=2).read(indices), frames[indices])


def test_read_with_a_transform_applies_it_once_per_distinct_frame(kind):
    """A read's transform sees each distinct decoded frame once, in ascending order, and the
    result holds its outputs where the frames would be."""
    _, media, frames = kind
    n = len(frames)
    indices = [n - 1, 0, n // 2, 0, n - 1]
    seen: list[int] = []

    def halve(frame: np.ndarray) -> np.ndarray:
        seen.append(decode_index(frame))
        return frame[::2, ::2].astype(np.float32) / 2

    video = VideoFile(media.path)
    out = video.read(indices, transform=halve)
    assert seen == [media.codes[i] for i in sorted(set(indices))]
    assert out.dtype == np.float32
    assert np.array_equal(out, frames[indices][:, ::2, ::2].astype(np.float32) / 2)


def test_read_seconds_leave_out_the_transform(tmp_path):
    media = write_h264_mp4(tmp_path / "v.mp4", 10)
    video = VideoFile(media.path)

    def slow(frame: np.ndarray) -> np.ndarray:
        time.sleep(0.05)
        return frame

    start = time.perf_counter()
    video.read(range(10), transform=slow)
    wall = time.perf_counter() - start
    assert wall >= 0.5 and video.read_seconds < wall - 0.45


def test_folder_read_with_a_transform(tmp_path):
    media = write_frame_folder(tmp_path / "f", 6)
    folder = FrameFolder(media.path)
    plain = folder.read([4, 1, 4])
    count = []
    out = folder.read([4, 1, 4], transform=lambda f: (count.append(1), f[:, :, :1])[1])
    assert len(count) == 2 and np.array_equal(out, plain[..., :1])


def test_conversion_is_pyav_to_rgb(kind):
    """Frames are converted like PySlowFast does it: ``frame.to_rgb().to_ndarray()``."""
    _, media, _ = kind
    with av.open(str(media.path)) as container:
        reference = [f.to_rgb().to_ndarray() for f in container.decode(video=0)]
    last = len(reference) - 1
    assert np.array_equal(VideoFile(media.path).read([last, 0]), np.stack([reference[last], reference[0]]))


def test_out_of_range_indices_raise_data_error_naming_the_file(kind):
    _, media, frames = kind
    video = VideoFile(media.path)
    for bad in ([len(frames)], [0, -1], [len(frames) + 100]):
        with pytest.raises(DataError, match=str(media.path)):
            video.read(bad)


# ------------------------------------------------------------------------------------------------
# seeking, work done, index fallbacks


@pytest.mark.parametrize("name", sorted(SEEKING - {"vfr_mp4"}))
def test_far_reads_seek_to_the_nearest_keyframe(written, name):
    media, frames = written[name]
    video = VideoFile(media.path)
    n = len(frames)
    out = video.read([n - 1])
    assert decode_index(out[0]) == media.codes[-1]
    assert video.stats["seeks"] == 1
    # decoding from the last keyframe only: one GOP (30 or 20 frames) plus open-GOP leading frames
    assert video.stats["decoded"] <= 34, video.stats
    assert video.stats["converted"] == 1


def test_near_reads_decode_forward_without_seeking(written):
    media, frames = written["h264_mp4"]
    video = VideoFile(media.path)
    video.read([31, 33, 36])  # inside one GOP: one seek, then forward
    assert video.stats["seeks"] == 1
    video = VideoFile(media.path)
    video.read([0, 2, 5, 9])  # at the start: no seek at all
    assert video.stats["seeks"] == 0 and video.stats["decoded"] <= 10 + 3


@pytest.mark.parametrize("name", ["mpeg4_avi", "mpeg4_avi_b", "packed_b_avi"])
def test_avi_is_read_forward_only(written, name):
    """AVI timestamps are decode-order counters: never seek by them."""
    media, frames = written[name]
    video = VideoFile(media.path)
    indices = [len(frames) - 1, 3, len(frames) // 2]
    assert np.array_equal(video.read(indices), frames[indices])
    assert video.stats["seeks"] == 0
    assert video.index_source == "decode"


def test_each_distinct_frame_is_converted_once(written):
    media, frames = written["h264_mp4"]
    video = VideoFile(media.path)
    indices = [40, 5, 40, 40, 5, 200, 41, 200]
    out = video.read(indices)
    assert np.array_equal(out, frames[indices])
    assert video.stats["converted"] == 4


def test_demux_index_is_used_where_exact_and_files_are_not_decoded_twice(written):
    media, frames = written["h264_mp4"]
    video = VideoFile(media.path)
    assert len(video) == len(frames)
    assert video.index_source == "demux"
    assert video.stats["decoded"] == 0  # counting needed no decoding
    video.read([100, 101])
    assert video.stats["decoded"] < len(frames) // 2


def test_a_wrong_demux_index_is_detected_and_rebuilt(written):
    media, frames = written["vfr_mp4"]
    video = VideoFile(media.path)
    index = video._get_index()
    index.frame_pts = index.frame_pts.copy()
    index.frame_pts[50] += 1  # as if the decoder dropped or reordered something the packets did not show
    indices = [60, 10, 49, 50, 51]
    assert np.array_equal(video.read(indices), frames[indices])
    assert video.index_source == "decode"
    assert video.timing.frame_pts.tolist() == decoder_frame_pts(media.path)


def test_a_seek_that_lands_elsewhere_falls_back_to_forward_reading(written):
    media, frames = written["h264_mp4"]
    video = VideoFile(media.path)
    index = video._get_index()
    last = index.seek_points[-1]
    # aim every seek far past its keyframe: the demuxer then lands on a later keyframe than promised
    index.seek_points = [
        type(p)(first_frame=p.first_frame, key_pts=p.key_pts, target=last.target) for p in index.seek_points
    ]
    indices = [100, 299, 5]
    assert np.array_equal(video.read(indices), frames[indices])
    assert not video._seek_ok


def test_empty_request(written):
    media, _ = written["h264_mp4"]
    assert VideoFile(media.path).read([]).shape == (0, 120, 160, 3)


# ------------------------------------------------------------------------------------------------
# the tricky files, one by one


def test_edit_list_cut_drops_the_frames_before_the_cut(written):
    media, frames = written["edit_list_cut_mp4"]
    assert edit_list_media_time(media.path) > 1024  # more than the plain B-frame delay edit
    video = VideoFile(media.path)
    timing = video.timing
    assert len(video) == 80 and decode_index(video.read([0])[0]) == 70
    # the header counts every sample, including the ones the edit list hides
    assert timing.header_frames == packet_count(media.path) > len(video)
    assert timing.frame_pts[0] == 0


def test_vfr_frames_follow_the_stream_not_the_clock(written):
    media, frames = written["vfr_mp4"]
    timing = VideoFile(media.path).timing
    step = np.diff(timing.frame_pts)
    assert step[40] == 16 * step[0]  # the 15-frame hole after frame 40
    fps = timing.average_rate
    by_clock = [round(p * timing.time_base * fps) for p in timing.frame_pts]
    assert by_clock[41] != 41  # pts*fps arithmetic would pick the wrong frame ...
    assert decode_index(VideoFile(media.path).read([41])[0]) == 41  # ... the reader does not


def test_packed_b_avi_is_really_packed_and_read_in_decoder_order(written):
    media, frames = written["packed_b_avi"]
    data = media.path.read_bytes()
    assert b"DivX503b1393p" in data
    with av.open(str(media.path)) as container:
        sizes = [p.size for p in container.demux(video=0) if p.size]
    assert sum(s < 20 for s in sizes) >= 10  # the N-VOP placeholders
    pts = VideoFile(media.path).timing.frame_pts
    assert np.any(np.diff(pts) < 0)  # output pts are not monotonic: pts cannot index these frames
    assert len(VideoFile(media.path)) == len(frames) == 40


def test_webm_states_no_frame_count(written):
    media, frames = written["vp9_webm"]
    timing = VideoFile(media.path).timing
    assert timing.header_frames == 0
    assert len(VideoFile(media.path)) == len(frames) == 120


def test_timing_header_fields(written):
    media, frames = written["h264_mp4"]
    timing = VideoFile(media.path).timing
    assert isinstance(timing, VideoTiming)
    assert timing.time_base == fractions.Fraction(1, 15360)
    assert timing.average_rate == 30
    assert timing.header_frames == 300
    assert timing.header_duration == 300 * 512
    assert VideoFile(media.path).size == (120, 160)


def test_short_and_single_frame_videos(written):
    short, _ = written["short_mp4"]
    video = VideoFile(short.path)
    assert len(video) == 12
    loop = [i % 12 for i in range(0, 32, 2)]  # a 16-frame clip wrapped around, mmaction2 style
    assert [decode_index(f) for f in video.read(loop)] == loop
    single, _ = written["single_frame_mp4"]
    video = VideoFile(single.path)
    assert len(video) == 1
    out = video.read([0, 0, 0])
    assert out.shape == (3, 120, 160, 3) and [decode_index(f) for f in out] == [0, 0, 0]
    with pytest.raises(DataError, match="out of range"):
        video.read([1])


# ------------------------------------------------------------------------------------------------
# bad videos


def _one_line(error: pytest.ExceptionInfo, path: Path) -> str:
    message = str(error.value)
    assert str(path) in message and "\n" not in message
    return message


def test_missing_video(tmp_path):
    path = tmp_path / "nope.mp4"
    with pytest.raises(DataError) as error:
        VideoFile(path)
    assert "no such" in _one_line(error, path)


def test_garbage_file(tmp_path):
    path = write_garbage_file(tmp_path / "garbage.mp4")
    with pytest.raises(DataError) as error:
        VideoFile(path)
    assert "cannot open" in _one_line(error, path)


def test_truncated_file_without_index(tmp_path):
    path = write_truncated_mp4(tmp_path / "truncated.mp4")
    with pytest.raises(DataError) as error:
        VideoFile(path)
    _one_line(error, path)


def test_truncated_file_with_index(tmp_path):
    path = write_truncated_mp4(tmp_path / "truncated_faststart.mp4", faststart=True)
    video = VideoFile(path)  # the header is intact
    with pytest.raises(DataError) as error:
        video.read(range(len(video)))
    assert "undecodable" in _one_line(error, path)


def test_corrupt_frame_data(tmp_path):
    path = write_corrupt_mp4(tmp_path / "corrupt.mp4")
    video = VideoFile(path)
    assert np.array_equal(video.read([0]), sequential_decode_first(path))  # before the damage: fine
    with pytest.raises(DataError) as error:
        video.read(range(len(video)))
    assert "undecodable" in _one_line(error, path)


def sequential_decode_first(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")[None]


def test_zero_frame_video(tmp_path):
    path = write_zero_frame_avi(tmp_path / "zero.avi")
    video = VideoFile(path)
    with pytest.raises(DataError) as error:
        len(video)
    assert "no frames" in _one_line(error, path)
    with pytest.raises(DataError):
        video.read([0])


def test_file_without_video_stream(tmp_path):
    path = write_audio_only_m4a(tmp_path / "audio.m4a")
    with pytest.raises(DataError) as error:
        VideoFile(path)
    assert "no video stream" in _one_line(error, path)


# ------------------------------------------------------------------------------------------------
# frame folders


def cv2_reference(file: Path) -> np.ndarray:
    """mmaction2's RawFrameDecode with the cv2 backend."""
    bgr = cv2.imdecode(np.fromfile(file, dtype=np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@pytest.mark.parametrize(
    ("template", "start_index", "quality"),
    [("img_{:05}.jpg", 1, 90), ("img_{:05}.jpg", 1, 60), ("{:06d}.jpg", 0, 95), ("frame_{}.png", 1, 0)],
)
def test_frame_folder_equals_cv2_decode(tmp_path, template, start_index, quality):
    media = write_frame_folder(
        tmp_path / "v", 20, template=template, start_index=start_index, quality=quality
    )
    folder = FrameFolder(media.path, template=template, start_index=start_index)
    assert len(folder) == 20
    indices = [19, 0, 7, 7, 3, 19]
    out = folder.read(indices)
    reference = np.stack([cv2_reference(media.path / template.format(i + start_index)) for i in indices])
    assert out.dtype == np.uint8 and np.array_equal(out, reference)
    assert [decode_index(f) for f in out] == indices


def test_frame_folder_jpeg_variants_equal_cv2(tmp_path):
    """4:4:4, progressive, greyscale and EXIF-rotated JPEGs decode exactly as OpenCV decodes them."""
    folder = tmp_path / "v"
    folder.mkdir()
    bgr = cv2.cvtColor(make_frame(5), cv2.COLOR_RGB2BGR)
    variants = [
        cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444])[
            1
        ],
        cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1],
        cv2.imencode(".jpg", cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))[1],
    ]
    plain = cv2.imencode(".jpg", bgr)[1].tobytes()
    exif = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08" + struct.pack(">HHHIHHI", 1, 0x0112, 3, 1, 6, 0, 0)
    rotated = plain[:2] + b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif + plain[2:]
    for i, data in enumerate([*(v.tobytes() for v in variants), rotated]):
        (folder / f"img_{i + 1:05}.jpg").write_bytes(data)
    frames = FrameFolder(folder)
    out = [frames.read([i])[0] for i in range(4)]
    for i, frame in enumerate(out):
        assert np.array_equal(frame, cv2_reference(folder / f"img_{i + 1:05}.jpg")), i
    assert out[3].shape == (160, 120, 3)  # OpenCV applied the EXIF rotation; so do we


def test_frame_folder_counts_only_template_files(tmp_path):
    media = write_frame_folder(tmp_path / "v", 6)
    for stray in ("img_1.jpg", "img_00007.jpg.bak", "flow_x_00001.jpg", "img_000008.jpg", "img_00000.jpg"):
        (media.path / stray).write_bytes(b"x")
    assert len(FrameFolder(media.path)) == 6
    assert len(FrameFolder(media.path, num_frames=4)) == 4


def test_frame_folder_missing_frame(tmp_path):
    media = write_frame_folder(tmp_path / "v", 5)
    folder = FrameFolder(media.path, num_frames=8)  # the annotation promises more frames than exist
    assert len(folder) == 8
    assert decode_index(folder.read([4])[0]) == 4
    with pytest.raises(DataError) as error:
        folder.read([1, 6])
    missing = media.path / "img_00007.jpg"
    assert "missing" in _one_line(error, missing)
    with pytest.raises(DataError, match="out of range"):
        folder.read([8])


def test_frame_folder_corrupt_image(tmp_path):
    media = write_frame_folder(tmp_path / "v", 3)
    bad = media.path / "img_00002.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0not really a jpeg")
    with pytest.raises(DataError) as error:
        FrameFolder(media.path).read([0, 1])
    _one_line(error, bad)


def test_frame_folder_decodes_each_distinct_frame_once(tmp_path, monkeypatch):
    media = write_frame_folder(tmp_path / "v", 10)
    calls = []
    real = decode_module.decode_image
    monkeypatch.setattr(
        decode_module, "decode_image", lambda path, data: calls.append(path) or real(path, data)
    )
    out = FrameFolder(media.path).read([3, 3, 9, 3, 9])
    assert [decode_index(f) for f in out] == [3, 3, 9, 3, 9]
    assert len(calls) == 2


def test_missing_frame_folder(tmp_path):
    with pytest.raises(DataError, match="no such frame folder"):
        FrameFolder(tmp_path / "nope")


# ------------------------------------------------------------------------------------------------
# open_source


def test_open_source(tmp_path, written):
    media, _ = written["short_mp4"]
    video = open_source(media.path)
    assert isinstance(video, VideoFile) and isinstance(video, FrameSource)
    folder_media = write_frame_folder(tmp_path / "frames", 4, template="x_{:03}.jpg")
    folder = open_source(folder_media.path, template="x_{:03}.jpg")
    assert isinstance(folder, FrameFolder) and isinstance(folder, FrameSource) and len(folder) == 4
    assert len(open_source(folder_media.path, num_frames=3, template="x_{:03}.jpg")) == 3
    with pytest.raises(DataError, match="no such"):
        open_source(tmp_path / "missing.mp4")
