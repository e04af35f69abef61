"""Decoding: a video file or a folder of frame images -> RGB uint8 frames, by frame index.

Frame ``k`` of a video is, by definition, the ``k``-th frame its decoder outputs in a sequential
decode from the start of the file (PyAV, FFmpeg bundled with it). This is the only definition that
is right for stream-copied MP4 cuts with edit lists, variable-frame-rate files and AVI files with
packed B-frames; frames are never located by ``pts * fps`` arithmetic.

How :class:`VideoFile` finds frames
-----------------------------------
A *frame index* (the pts of every output frame, in output order, plus the keyframes one may seek to)
is built once per :class:`VideoFile`, lazily:

* **demux** (MP4/MOV and Matroska/WebM holding H.264, HEVC, VP9 or AV1 — codecs whose container
  samples carry exactly one picture): one pass over the packets, no decoding. The frames are the
  packets that the demuxer does not mark as discarded (edit lists mark them), sorted by pts. It
  is used only when every packet has a distinct pts, the first packet is a keyframe and no packet
  is flagged corrupt.
* **decode** (everything else: AVI, MPEG-4 part 2, VP8, odd files): one full sequential decode that
  records the pts of every output frame, converting nothing to RGB.

Every read checks each decoded frame against the index (its pts must be the next expected one).
If a demux-built index ever disagrees with what the decoder produces, the index is rebuilt by a
full decode and the read is retried, so results always follow the definition above.

Reads decode each distinct requested frame once, in ascending order, converting only requested
frames to RGB; memory is bounded by the output array. For a far target the reader seeks (by the
keyframe's pts, backward) to the last keyframe at or before it (trusted containers only, and only
when frame pts increase strictly in output order), checks that the demuxer landed on a known
keyframe, skips the frames displayed before that keyframe (open-GOP leading pictures) and
identifies every later frame by its pts. A seek that lands anywhere else switches that file to
forward reading from the start.
AVI and other containers whose timestamps are not presentation times are always read forward from
the start (they are short in practice: UCF-101, HMDB-51).

Frame folders (mmaction2 ``RawFrameDecode``): JPEG files are decoded with simplejpeg (libjpeg-turbo,
accurate DCT and upsampling), which gives the same pixels as ``cv2.imdecode`` + BGR->RGB; any file
simplejpeg cannot take (PNG, CMYK, EXIF-rotated, truncated JPEG) goes through OpenCV itself.
"""

from __future__ import annotations

import bisect
import fractions
import re
import string
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import av
import cv2
import numpy as np
import simplejpeg

from actionzoo.errors import DataError

__all__ = [
    "NO_PTS",
    "FrameFolder",
    "FrameSource",
    "FrameTransform",
    "VideoFile",
    "VideoTiming",
    "decode_image",
    "open_source",
]

NO_PTS = np.iinfo(np.int64).min
"""Stands in :attr:`VideoTiming.frame_pts` for a frame the decoder gave no pts."""

# Containers whose packet pts are presentation timestamps and whose demuxers seek by keyframe.
_TRUSTED_FORMATS = frozenset({"mov", "mp4", "matroska", "webm"})
# Codecs for which one container sample (packet) is exactly one output picture.
_ONE_PICTURE_PER_PACKET = frozenset({"h264", "hevc", "vp9", "av1"})
# Seek only when it skips more than this many frames; otherwise decode forward.
_SEEK_MARGIN = 8


FrameTransform = Callable[[np.ndarray], np.ndarray]
"""A per-frame function applied while reading: uint8 RGB ``(H, W, 3)`` -> any array (one shape
and dtype for every frame of a read)."""


@runtime_checkable
class FrameSource(Protocol):
    """Anything frames can be read from by index.

    ``has_timestamps`` declares whether the frames have presentation times (a video file: its
    ``timing`` gives them; PySlowFast's sampling needs them) or only positions (a frame folder).
    ``read_seconds`` is the wall time spent in :meth:`read` so far, less the time spent in its
    ``transform``; evaluation reports it as decode time.
    """

    path: Path
    has_timestamps: bool
    read_seconds: float

    def __len__(self) -> int:
        """The exact number of frames."""
        ...

    def read(self, indices: Sequence[int], *, transform: FrameTransform | None = None) -> np.ndarray:
        """uint8 RGB ``(len(indices), H, W, 3)`` in the order given.

        Repeated indices are allowed (each distinct frame is decoded once). ``transform``, when
        given, is applied to each distinct decoded frame as soon as it is decoded, and the result
        holds what it returns (so a resize never holds the full-size frames). Raises
        :class:`~actionzoo.errors.DataError` naming the file on an out-of-range index or
        undecodable data.
        """
        ...


@dataclass(frozen=True)
class VideoTiming:
    """What PySlowFast's pyav decode path reads from a container, plus the true frame pts."""

    frame_pts: np.ndarray  # int64, pts of every frame in output order (len == number of frames)
    time_base: fractions.Fraction
    average_rate: fractions.Fraction | None  # stream.average_rate
    header_frames: int  # stream.frames as the container states it (0 when unknown, e.g. WebM)
    header_duration: int | None  # stream.duration in time_base units, None when absent


# ------------------------------------------------------------------------------------------------
# shared helpers


def _indices_array(path: Path, indices: Sequence[int]) -> np.ndarray:
    try:
        array = np.asarray(indices)
    except Exception as error:  # pragma: no cover - exotic sequences
        raise DataError(f"{path}: frame indices are not integers ({error})") from None
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise DataError(
            f"{path}: frame indices must be a flat sequence of integers, got {array.dtype} {array.shape}"
        )
    return array.astype(np.int64, copy=False)


def _check_range(path: Path, indices: np.ndarray, count: int) -> None:
    if indices.size and (indices.min() < 0 or indices.max() >= count):
        bad = int(indices[(indices < 0) | (indices >= count)][0])
        raise DataError(f"{path}: frame index {bad} is out of range (it has {count} frames, 0..{count - 1})")


class _Output:
    """The output array, filled one distinct frame at a time (allocated at the first frame).

    With a ``transform``, each decoded frame is transformed before it is stored; the time spent
    in it is kept apart (``transform_seconds``) so that reads report decoding alone.
    """

    def __init__(self, path: Path, indices: np.ndarray, transform: FrameTransform | None = None):
        self.path = path
        self.transform = transform
        self.transform_seconds = 0.0
        self.wanted, inverse = np.unique(indices, return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[order], np.arange(len(self.wanted) + 1))
        self._positions = [order[bounds[i] : bounds[i + 1]] for i in range(len(self.wanted))]
        self._count = len(indices)
        self.array: np.ndarray | None = None

    def put(self, slot: int, rgb: np.ndarray) -> None:
        if self.array is not None and rgb.shape != self._frame_shape:
            raise DataError(
                f"{self.path}: frame {int(self.wanted[slot])} is {rgb.shape[1]}x{rgb.shape[0]}, "
                f"earlier frames are {self._frame_shape[1]}x{self._frame_shape[0]}; "
                "mixed frame sizes are not supported"
            )
        value = rgb
        if self.transform is not None:
            start = time.perf_counter()
            value = np.asarray(self.transform(rgb))
            self.transform_seconds += time.perf_counter() - start
        if self.array is None:
            self._frame_shape = rgb.shape
            self.array = np.empty((self._count, *value.shape), dtype=value.dtype)
        self.array[self._positions[slot]] = value


# ------------------------------------------------------------------------------------------------
# video files


class _IndexMismatch(Exception):
    """The decoder's output disagrees with the frame index (internal)."""


class _SeekMissed(Exception):
    """The demuxer did not land on a known keyframe after a seek (internal)."""


@dataclass(frozen=True)
class _SeekPoint:
    first_frame: int  # index of the first frame whose pts >= key_pts
    key_pts: int
    target: int  # timestamp handed to av_seek_frame (backward, keyframes only)


@dataclass
class _FrameIndex:
    frame_pts: np.ndarray  # int64, output order
    source: Literal["demux", "decode"]
    seek_points: list[_SeekPoint]  # sorted by first_frame; empty -> read forward from the start
    keyframes: dict[int, _SeekPoint]  # pts of a keyframe packet -> its point

    def __len__(self) -> int:
        return len(self.frame_pts)


@dataclass(frozen=True)
class _Header:
    format_names: frozenset[str]
    codec: str
    size: tuple[int, int]
    time_base: fractions.Fraction
    average_rate: fractions.Fraction | None
    frames: int
    duration: int | None


def _frame_pts(frame: av.VideoFrame) -> int:
    return NO_PTS if frame.pts is None else int(frame.pts)


class VideoFile:
    """A video file read with PyAV, frame-exact (see the module docstring).

    ``threads`` is the decoder's thread count: 1 (the default: no decoder threads, the decode
    workers are the parallelism), ``n > 1`` for frame+slice threading, 0 to let FFmpeg choose.
    ``index`` forces how the frame index is built: ``"auto"`` (demux pass where that is exact,
    full decode otherwise) or ``"decode"`` (always a full decode pass).
    """

    has_timestamps = True

    def __init__(self, path: str | Path, *, threads: int = 1, index: Literal["auto", "decode"] = "auto"):
        self.path = Path(path)
        self.read_seconds = 0.0
        if threads < 0:
            raise ValueError(f"threads must be >= 0, got {threads}")
        if index not in ("auto", "decode"):
            raise ValueError(f"index must be 'auto' or 'decode', got {index!r}")
        self.threads = threads
        self._index_mode = index
        if not self.path.exists():
            raise DataError(f"{self.path}: no such video file")
        if not self.path.is_file():
            raise DataError(f"{self.path}: not a regular file")
        with self._open() as container:
            stream = container.streams.video[0]
            ctx = stream.codec_context
            if ctx.width <= 0 or ctx.height <= 0:
                raise DataError(
                    f"{self.path}: the video stream states no frame size ({ctx.width}x{ctx.height})"
                )
            self._header = _Header(
                format_names=frozenset(container.format.name.split(",")),
                codec=ctx.codec.canonical_name,
                size=(ctx.height, ctx.width),
                time_base=stream.time_base,
                average_rate=stream.average_rate,
                frames=int(stream.frames or 0),
                duration=None if stream.duration is None else int(stream.duration),
            )
        self._index: _FrameIndex | None = None
        self._seek_ok = True
        # work counters (for tests and benchmarks): seeks made, frames decoded by reads, RGB conversions
        self.stats = {"seeks": 0, "decoded": 0, "converted": 0}

    def __repr__(self) -> str:
        return f"VideoFile({str(self.path)!r})"

    # -- opening ----------------------------------------------------------------------------------

    def _open(self) -> av.container.InputContainer:
        try:
            container = av.open(str(self.path), mode="r")
        except av.FFmpegError as error:
            raise DataError(f"{self.path}: cannot open video ({_ffmpeg_reason(error)})") from None
        except OSError as error:
            raise DataError(f"{self.path}: cannot open video ({error.strerror or error})") from None
        if not container.streams.video:
            container.close()
            raise DataError(f"{self.path}: the file has no video stream")
        ctx = container.streams.video[0].codec_context
        if self.threads == 1:
            # one thread, really: PyAV's default is slice threads, one per core
            ctx.thread_type, ctx.thread_count = "NONE", 1
        else:  # frame + slice threads: as exact as one thread (tests/test_decode_threads.py)
            ctx.thread_type, ctx.thread_count = "AUTO", self.threads
        return container

    # -- public properties ------------------------------------------------------------------------

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) as the stream header states it."""
        return self._header.size

    @property
    def timing(self) -> VideoTiming:
        """Header timing facts plus the pts of every frame (builds the frame index if needed)."""
        index = self._get_index()
        pts = index.frame_pts.copy()
        pts.flags.writeable = False
        h = self._header
        return VideoTiming(
            frame_pts=pts,
            time_base=h.time_base,
            average_rate=h.average_rate,
            header_frames=h.frames,
            header_duration=h.duration,
        )

    @property
    def index_source(self) -> str:
        """How the frame index was built: ``"demux"`` or ``"decode"`` (builds it if needed)."""
        return self._get_index().source

    def __len__(self) -> int:
        return len(self._get_index())

    # -- frame index --------------------------------------------------------------------------------

    def _get_index(self) -> _FrameIndex:
        if self._index is None:
            index = None
            if self._index_mode == "auto" and self._demux_is_exact():
                index = self._index_from_demux()
            if index is None:
                index = self._index_from_decode()
            self._index = index
        return self._index

    def _demux_is_exact(self) -> bool:
        return (
            bool(self._header.format_names & _TRUSTED_FORMATS)
            and self._header.codec in _ONE_PICTURE_PER_PACKET
        )

    def _seekable_container(self) -> bool:
        return bool(self._header.format_names & _TRUSTED_FORMATS)

    def _packets(self) -> list[tuple[int | None, int | None, bool, bool, bool]]:
        """(pts, dts, keyframe, discard, corrupt) of every non-empty packet, in file order."""
        rows = []
        with self._open() as container:
            stream = container.streams.video[0]
            try:
                for packet in container.demux(stream):
                    if packet.size == 0:
                        continue
                    rows.append(
                        (packet.pts, packet.dts, packet.is_keyframe, packet.is_discard, packet.is_corrupt)
                    )
            except av.FFmpegError as error:
                raise DataError(f"{self.path}: cannot read packets ({_ffmpeg_reason(error)})") from None
        return rows

    def _index_from_demux(self) -> _FrameIndex | None:
        packets = self._packets()
        if not packets:
            raise DataError(f"{self.path}: the video stream has no frames")
        if not packets[0][2] or any(p[0] is None or p[4] for p in packets):
            return None
        shown = np.array([p[0] for p in packets if not p[3]], dtype=np.int64)
        if shown.size == 0:
            raise DataError(
                f"{self.path}: the video stream has no frames (every packet is outside the edit list)"
            )
        frame_pts = np.sort(shown)
        if np.any(np.diff(frame_pts) == 0):
            return None
        return self._finish_index(frame_pts, "demux", packets)

    def _index_from_decode(self) -> _FrameIndex:
        packets = self._packets() if self._seekable_container() else []
        pts: list[int] = []
        with self._open() as container:
            stream = container.streams.video[0]
            try:
                for packet in container.demux(stream):
                    for frame in packet.decode():
                        pts.append(_frame_pts(frame))
            except av.FFmpegError as error:
                raise DataError(
                    f"{self.path}: undecodable data after frame {len(pts)} ({_ffmpeg_reason(error)})"
                ) from None
        if not pts:
            raise DataError(f"{self.path}: the video stream has no frames")
        return self._finish_index(np.array(pts, dtype=np.int64), "decode", packets)

    def _finish_index(
        self, frame_pts: np.ndarray, source: Literal["demux", "decode"], packets
    ) -> _FrameIndex:
        seek_points: list[_SeekPoint] = []
        keyframes: dict[int, _SeekPoint] = {}
        increasing = frame_pts.size > 0 and frame_pts[0] != NO_PTS and bool(np.all(np.diff(frame_pts) > 0))
        if self._seekable_container() and increasing:
            sorted_pts = frame_pts.tolist()
            # FFmpeg's mov and matroska demuxers both seek by presentation time: a backward seek to a
            # keyframe's pts lands on that keyframe (a seek to its dts lands one keyframe earlier).
            seen: set[int] = set()
            for pts, _dts, key, _discard, corrupt in packets:
                if pts is None:
                    continue
                if pts in seen:  # two packets with one pts: a landing could not be told apart
                    keyframes.pop(pts, None)
                    continue
                seen.add(pts)
                if not key or corrupt:
                    continue
                first = bisect.bisect_left(sorted_pts, pts)
                point = _SeekPoint(first_frame=first, key_pts=pts, target=pts)
                keyframes[pts] = point
            seek_points = [p for p in keyframes.values() if p.first_frame < len(sorted_pts)]
            # keep, for each first frame, the keyframe latest in the file
            best: dict[int, _SeekPoint] = {}
            for point in seek_points:
                best[point.first_frame] = point
            seek_points = [best[f] for f in sorted(best)]
        return _FrameIndex(frame_pts=frame_pts, source=source, seek_points=seek_points, keyframes=keyframes)

    # -- reading ----------------------------------------------------------------------------------

    def read(self, indices: Sequence[int], *, transform: FrameTransform | None = None) -> np.ndarray:
        start = time.perf_counter()
        self._transform_seconds = 0.0
        try:
            return self._read_checked(indices, transform)
        finally:
            self.read_seconds += time.perf_counter() - start - self._transform_seconds

    def _read_checked(self, indices: Sequence[int], transform: FrameTransform | None) -> np.ndarray:
        wanted = _indices_array(self.path, indices)
        if wanted.size == 0:
            h, w = self.size
            return np.zeros((0, h, w, 3), dtype=np.uint8)
        index = self._get_index()
        _check_range(self.path, wanted, len(index))
        try:
            return self._read(wanted, index, transform)
        except _IndexMismatch as mismatch:
            if index.source == "decode":
                raise DataError(
                    f"{self.path}: the decoder's output is not reproducible ({mismatch})"
                ) from None
        # the demux-built index was wrong for this file: rebuild it from a full decode, read again
        self._index = index = self._index_from_decode()
        _check_range(self.path, wanted, len(index))
        try:
            return self._read(wanted, index, transform)
        except _IndexMismatch as mismatch:
            raise DataError(f"{self.path}: the decoder's output is not reproducible ({mismatch})") from None

    def _read(self, indices: np.ndarray, index: _FrameIndex, transform: FrameTransform | None) -> np.ndarray:
        try:
            return self._read_once(indices, index, transform)
        except _SeekMissed:
            # the demuxer did not land where the index says: read this file forward from now on
            self._seek_ok = False
            return self._read_once(indices, index, transform)

    def _read_once(
        self, indices: np.ndarray, index: _FrameIndex, transform: FrameTransform | None
    ) -> np.ndarray:
        out = _Output(self.path, indices, transform)
        points = index.seek_points if self._seek_ok else []
        starts = [p.first_frame for p in points]
        target = -1
        with self._open() as container:
            stream = container.streams.video[0]
            run: Iterator[tuple[int, av.VideoFrame]] | None = None
            cursor = 0  # index of the next frame `run` yields (targets ascend, so cursor <= target)
            try:
                for slot, target in enumerate(out.wanted.tolist()):
                    k = bisect.bisect_right(starts, target) - 1
                    point = points[k] if k >= 0 else None
                    if point is not None and point.first_frame > cursor + _SEEK_MARGIN:
                        if run is not None:
                            run.close()
                        run = self._run_from_seek(container, stream, point, index)
                    elif run is None:
                        run = self._run_from_start(container, stream, index)
                    while True:
                        frame_index, frame = next(run)
                        if frame_index >= target:
                            break
                    if frame_index != target:
                        raise _SeekMissed()  # a seek landed after the keyframe it was aimed at
                    cursor = frame_index + 1
                    out.put(slot, frame.to_ndarray(format="rgb24"))
                    self.stats["converted"] += 1
            except StopIteration:
                raise _IndexMismatch(f"the decoder ended before frame {target}") from None
            except av.FFmpegError as error:
                raise DataError(
                    f"{self.path}: undecodable data near frame {target} ({_ffmpeg_reason(error)})"
                ) from None
            finally:
                if run is not None:
                    run.close()
                self._transform_seconds += out.transform_seconds
        assert out.array is not None
        return out.array

    def _run_from_start(self, container, stream, index: _FrameIndex) -> Iterator[tuple[int, av.VideoFrame]]:
        """Every output frame from the start of the file, as (frame index, frame), checked by pts."""
        expected = 0
        n = len(index)
        for packet in container.demux(stream):
            for frame in packet.decode():
                self.stats["decoded"] += 1
                if expected >= n:
                    raise _IndexMismatch(f"the decoder outputs more than the {n} indexed frames")
                pts = _frame_pts(frame)
                if pts != index.frame_pts[expected]:
                    raise _IndexMismatch(
                        f"frame {expected} has pts {pts}, the index says {index.frame_pts[expected]}"
                    )
                yield expected, frame
                expected += 1

    def _run_from_seek(
        self, container, stream, point: _SeekPoint, index: _FrameIndex
    ) -> Iterator[tuple[int, av.VideoFrame]]:
        """Frames from a keyframe on, as (frame index, frame); frames shown before it are skipped."""
        try:
            container.seek(point.target, stream=stream, backward=True, any_frame=False)
        except av.FFmpegError:
            raise _SeekMissed() from None
        self.stats["seeks"] += 1
        return self._frames_after_seek(container, stream, index)

    def _frames_after_seek(
        self, container, stream, index: _FrameIndex
    ) -> Iterator[tuple[int, av.VideoFrame]]:
        landed: _SeekPoint | None = None
        expected = -1
        n = len(index)
        for packet in container.demux(stream):
            if landed is None:
                if packet.size == 0:
                    continue
                landed = None if packet.pts is None else index.keyframes.get(packet.pts)
                if landed is None or not packet.is_keyframe:
                    raise _SeekMissed()
                expected = landed.first_frame
            for frame in packet.decode():
                self.stats["decoded"] += 1
                pts = _frame_pts(frame)
                if pts == NO_PTS:
                    raise _IndexMismatch("a frame without pts after a seek")
                if pts < landed.key_pts:
                    continue  # a leading picture of an open GOP: shown before the keyframe
                if expected >= n:
                    raise _IndexMismatch(f"the decoder outputs more than the {n} indexed frames")
                if pts != index.frame_pts[expected]:
                    raise _IndexMismatch(
                        f"frame {expected} has pts {pts}, the index says {index.frame_pts[expected]}"
                    )
                yield expected, frame
                expected += 1


def _ffmpeg_reason(error: Exception) -> str:
    text = getattr(error, "strerror", None) or str(error)
    return str(text).strip().rstrip(".")


# ------------------------------------------------------------------------------------------------
# frame folders


def _template_pattern(template: str) -> re.Pattern[str]:
    """A regex for the file names ``template.format(i)`` can produce (one replacement field)."""
    parts = list(string.Formatter().parse(template))
    fields = [p for p in parts if p[1] is not None]
    if len(fields) != 1:
        raise ValueError(f"frame template {template!r} must have exactly one replacement field")
    regex = ""
    for literal, field, _spec, _conv in parts:
        regex += re.escape(literal)
        if field is not None:
            regex += r"(\d+)"
    return re.compile(regex)


def _is_plain_jpeg(data: bytes) -> bool:
    """A JPEG that simplejpeg decodes exactly like ``cv2.imdecode`` (no EXIF orientation to apply)."""
    if len(data) < 4 or data[:3] != b"\xff\xd8\xff":
        return False
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return True  # malformed marker chain: simplejpeg decides (or fails and cv2 takes over)
        marker = data[pos + 1]
        if marker in (0xDA, 0xD9):  # start of scan / end of image: no EXIF before the image data
            return True
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker == 0xE1 and data[pos + 4 : pos + 10] == b"Exif\x00\x00":
            return False  # OpenCV applies the EXIF orientation, simplejpeg would not
        pos += 2 + length
    return True


def decode_image(path: Path, data: bytes) -> np.ndarray:
    """RGB uint8 (H, W, 3) of one image file's bytes, as mmaction2's cv2 backend decodes it."""
    if _is_plain_jpeg(data):
        try:
            return simplejpeg.decode_jpeg(data, colorspace="RGB", fastdct=False, fastupsample=False)
        except ValueError:
            pass  # truncated, CMYK, ...: let OpenCV decide, as the reference does
    bgr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise DataError(f"{path}: cannot decode image (corrupt or not an image)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class FrameFolder:
    """A folder of frame images, frame ``i`` (0-based) in ``template.format(i + start_index)``.

    ``num_frames`` is the annotation's frame count; when it is not given, the frames are the
    files whose names ``template`` produces (counted once, when the folder is opened).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        num_frames: int | None = None,
        template: str = "img_{:05}.jpg",
        start_index: int = 1,
    ):
        self.path = Path(path)
        self.read_seconds = 0.0
        self.template = template
        self.start_index = start_index
        if not self.path.is_dir():
            raise DataError(f"{self.path}: no such frame folder")
        if num_frames is None:
            pattern = _template_pattern(template)
            count = 0
            for name in (entry.name for entry in self.path.iterdir()):
                match = pattern.fullmatch(name)
                if (
                    match
                    and template.format(int(match.group(1))) == name
                    and int(match.group(1)) >= start_index
                ):
                    count += 1
            num_frames = count
        if num_frames < 0:
            raise ValueError(f"num_frames must be >= 0, got {num_frames}")
        self._count = int(num_frames)

    has_timestamps = False

    def __repr__(self) -> str:
        return f"FrameFolder({str(self.path)!r}, num_frames={self._count})"

    def __len__(self) -> int:
        return self._count

    def frame_path(self, index: int) -> Path:
        return self.path / self.template.format(index + self.start_index)

    def read(self, indices: Sequence[int], *, transform: FrameTransform | None = None) -> np.ndarray:
        start = time.perf_counter()
        out: _Output | None = None
        try:
            out = self._read_files(indices, transform)
            return out.array
        finally:
            spent = out.transform_seconds if out is not None else 0.0
            self.read_seconds += time.perf_counter() - start - spent

    def _read_files(self, indices: Sequence[int], transform: FrameTransform | None) -> _Output:
        wanted = _indices_array(self.path, indices)
        if wanted.size == 0:
            empty = _Output(self.path, wanted)
            empty.array = np.zeros((0, 0, 0, 3), dtype=np.uint8)
            return empty
        if self._count == 0:
            raise DataError(f"{self.path}: the frame folder has no frames matching {self.template!r}")
        _check_range(self.path, wanted, self._count)
        out = _Output(self.path, wanted, transform)
        for slot, index in enumerate(out.wanted.tolist()):
            file = self.frame_path(index)
            try:
                data = file.read_bytes()
            except FileNotFoundError:
                raise DataError(f"{file}: frame {index} of {self.path} is missing") from None
            except OSError as error:
                raise DataError(f"{file}: cannot read frame ({error.strerror or error})") from None
            out.put(slot, decode_image(file, data))
        assert out.array is not None
        return out


def open_source(
    path: str | Path,
    *,
    num_frames: int | None = None,
    template: str = "img_{:05}.jpg",
    start_index: int = 1,
    threads: int = 1,
) -> FrameSource:
    """A directory -> :class:`FrameFolder`; a file -> :class:`VideoFile`; a missing path -> DataError.

    ``num_frames``, ``template`` and ``start_index`` apply to frame folders, ``threads`` to videos.
    """
    path = Path(path)
    if path.is_dir():
        return FrameFolder(path, num_frames=num_frames, template=template, start_index=start_index)
    if path.is_file():
        return VideoFile(path, threads=threads)
    raise DataError(f"{path}: no such video file or frame folder")
